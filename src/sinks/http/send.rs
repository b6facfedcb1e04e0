//! Sending a request without intents — one record's, a batch's or a bulk's: the tries the retry
//! policy judges ([`HttpSink::exchange`], blocking; [`HttpSink::exchange_async`] for the requests in
//! flight), and the outcome of the records a settled answer wrote.

use serde_json::Value;

use super::client::Answer;
use super::request::{Prepared, scrub};
use super::{Attempts, HttpSink, Judged, Run, Settled};
use crate::connectors::http::retry::StatusAction;
use crate::kernel::record::Record;
use crate::sinks::SinkError;

/// The last answer to a request, as the retry policy judged it.
pub(super) enum Exchanged {
    /// `ok` or `ignore`, after this many tries.
    Accepted(StatusAction, Answer, u32),
    /// To be dead-lettered.
    Refused(Answer),
}

/// The key of a request's only record (a batch's requests log none).
fn one_key<'k>(keys: &[&'k str]) -> Option<&'k str> {
    match keys {
        [one] => Some(one),
        _ => None,
    }
}

impl HttpSink {
    /// Sends `request` (the record `key`'s, when it is one record's) until the retry policy settles its
    /// answer.
    pub(super) fn exchange(&self, run: &Run, request: &Prepared, key: Option<&str>) -> Result<Exchanged, SinkError> {
        let mut attempts = Attempts::new(&self.policy, &run.client, key);
        loop {
            attempts.sent();
            let answer = run.client.send(request)?;
            let judged = attempts.judge(&answer);
            if let Some(exchanged) = self.concluded(request, answer, judged, attempts.made) {
                return exchanged;
            }
        }
    }

    /// [`HttpSink::exchange`] from async code (the requests in flight).
    async fn exchange_async(&self, run: &Run, request: &Prepared, key: Option<&str>) -> Result<Exchanged, SinkError> {
        let mut attempts = Attempts::new(&self.policy, &run.client, key);
        loop {
            attempts.sent();
            let answer = run.client.send_async(request).await?;
            let judged = attempts.judge_async(&answer).await;
            if let Some(exchanged) = self.concluded(request, answer, judged, attempts.made) {
                return exchanged;
            }
        }
    }

    /// What a judged answer means for the exchange after `made` tries; `None` when it is tried again.
    fn concluded(
        &self,
        request: &Prepared,
        answer: Answer,
        judged: Judged,
        made: u32,
    ) -> Option<Result<Exchanged, SinkError>> {
        Some(match (judged, &answer) {
            (Judged::Retried, _) => return None,
            (Judged::GaveUp, _) => Err(self.gave_up(request, &answer, made)),
            (Judged::Settle(StatusAction::Fail), _) => Err(self.refused(request, &answer)),
            (Judged::Settle(how @ (StatusAction::Ok | StatusAction::Ignore)), Answer::Response { .. }) => {
                Ok(Exchanged::Accepted(how, answer, made))
            }
            _ => Ok(Exchanged::Refused(answer)),
        })
    }

    /// Writes the records of one request sent plainly ([`HttpSink::sends_plainly`]: one record or a
    /// batch, no intents), from async code: the same request, answer and outcome as
    /// [`HttpSink::deliver_unit`].
    pub(super) async fn deliver_unit_async(&self, records: &[Record]) -> Result<Settled, SinkError> {
        let run = self.run()?;
        let prepared = match records {
            [record] if self.batch_size == 1 => self.prepare_one(run, record).map(|(r, k)| (r, k.to_vec())),
            _ => self.prepare_batch(run, records),
        };
        match prepared {
            Ok((request, keys)) => {
                let exchanged = self.exchange_async(run, &request, one_key(&keys)).await?;
                self.settle(run, &request, &keys, exchanged)
            }
            Err(rejected) => Ok(rejected),
        }
    }

    /// A write without intents of the records with `keys`: send (retrying when the outcome is unknown;
    /// this may repeat a create). Each record is audited under its key.
    pub(super) fn send_once(&self, run: &Run, request: &Prepared, keys: &[&str]) -> Result<Settled, SinkError> {
        let exchanged = self.exchange(run, request, one_key(keys))?;
        self.settle(run, request, keys, exchanged)
    }

    /// The outcome of the records with `keys` once `request`'s answer is settled.
    pub(super) fn settle(
        &self,
        run: &Run,
        request: &Prepared,
        keys: &[&str],
        exchanged: Exchanged,
    ) -> Result<Settled, SinkError> {
        match exchanged {
            Exchanged::Accepted(how, answer, attempts) => {
                let (status, body) = match &answer {
                    Answer::Response { status, body, .. } => (*status, body),
                    Answer::NoResponse { .. } => (0, &Value::Null),
                };
                let action = match (how, status) {
                    (_, 409) => "exists",
                    (StatusAction::Ignore, _) => "ignored",
                    _ => "sent",
                };
                // Committed with the write's other outcomes (`Settled::commit`), before it is acknowledged.
                let mut settled = Settled::default();
                for key in keys {
                    let (one, _) = run.writer.outcome(key, action, request, &answer, body, &self.capture, attempts);
                    settled.ids.extend(one.ids);
                    settled.audit.extend(one.audit);
                }
                Ok(settled)
            }
            Exchanged::Refused(answer) => {
                let mut reason = format!("{} answered {}", request.target, answer.describe());
                if keys.len() > 1 {
                    reason.push_str(&format!(" (a batch of {} records, all dead-lettered)", keys.len()));
                }
                Ok(Settled::all_rejected(run, keys, &request.target, answer.status(), scrub(reason)))
            }
        }
    }
}
