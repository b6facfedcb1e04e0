//! How the `http` sink's requests are driven: up to `max_in_flight` at once ([`ConcurrentWrites`]) —
//! always when they are sent plainly, as futures, even one at a time — or, for a sink with intents, an
//! ETag read or a bulk and `max_in_flight: 1`, one after another on the sink's thread
//! ([`Sink::write`]). In flight, each request is a task holding
//! one of `max_in_flight` permits shared by every write, so the limit holds across writes too: a future
//! on the async client when it is sent plainly (retries and their waits included), else its blocking
//! delivery (intents, ETag reads, bulk follow-ups) on tokio's blocking pool. Within a write,
//! requests whose records share no key run together; a request holding a key that an earlier request
//! of the same write holds waits until that one is settled, so updates of one key arrive in order.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::Arc;

use std::panic::AssertUnwindSafe;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::Semaphore;

use super::{HttpSink, Settled};
use crate::kernel::channel::Batch;
use crate::kernel::record::Record;
use crate::sinks::concurrent::{ConcurrentWrites, FailedWrite, WriteFuture, WriteOutcome};
use crate::sinks::{RecordRejection, Sink, SinkContext, SinkError};

/// The built `http` sink as the runtime drives it.
#[derive(Debug)]
pub(crate) struct HttpSinkWrites {
    pub(super) core: Arc<HttpSink>,
    /// One permit per request in flight, shared by every write.
    permits: Arc<Semaphore>,
    /// After a failed write: the records of that batch settled before it (see
    /// [`Sink::settled_before_failure`]).
    settled: Option<(usize, Vec<RecordRejection>)>,
}

impl HttpSinkWrites {
    pub(super) fn new(core: HttpSink) -> Self {
        let permits = Arc::new(Semaphore::new(core.max_in_flight.get()));
        Self { core: Arc::new(core), permits, settled: None }
    }
}

/// The records of each request: `batch_size` at a time.
fn requests(len: usize, size: usize) -> impl Iterator<Item = Range<usize>> {
    (0..len).step_by(size.max(1)).map(move |start| start..(start + size).min(len))
}

/// The requests of `batch` in waves: the requests of one wave share no record key; a request holding a
/// key of the wave being formed starts the next one.
fn waves(batch: &[Record], size: usize) -> Vec<Vec<Range<usize>>> {
    let mut waves = Vec::new();
    let mut wave = Vec::new();
    let mut held: HashSet<&str> = HashSet::new();
    for range in requests(batch.len(), size) {
        let keys: Vec<&str> = batch[range.clone()].iter().filter_map(|r| r.key.as_deref()).collect();
        if keys.iter().any(|k| held.contains(k)) {
            waves.push(std::mem::take(&mut wave));
            held.clear();
        }
        held.extend(keys);
        wave.push(range);
    }
    if !wave.is_empty() {
        waves.push(wave);
    }
    waves
}

/// Adds the rejections of the request whose records start at `start` in the batch.
fn reject(rejected: &mut Vec<RecordRejection>, start: usize, of_request: Vec<RecordRejection>) {
    rejected.extend(of_request.into_iter().map(|(i, reason)| (start + i, reason)));
}

/// Header names whose values are masked whole in `--dry-run` output, whatever they hold.
const SENSITIVE: [&str; 6] = ["authorization", "cookie", "token", "secret", "key", "password"];

impl HttpSink {
    /// A rendered request as `--dry-run` shows it.
    fn describe(&self, request: Result<super::request::Prepared, String>) -> serde_json::Value {
        let request = match request {
            Ok(r) => r,
            Err(e) => return serde_json::json!({ "error": super::request::scrub(e) }),
        };
        let mut headers = serde_json::Map::new();
        for (name, value) in &request.headers {
            let shown = if SENSITIVE.iter().any(|s| name.as_str().contains(s)) {
                "***".to_string()
            } else {
                super::request::scrub(String::from_utf8_lossy(value.as_bytes()))
            };
            headers.insert(name.to_string(), shown.into());
        }
        let (method, url) = request.target.split_once(' ').unwrap_or(("", &request.target));
        let mut shown = serde_json::json!({ "method": method, "url": url, "headers": headers });
        if let Some(auth) = &self.auth {
            use crate::connectors::http::auth::Auth;
            shown["auth"] = match auth {
                Auth::Static(name, _) => format!("{name}: *** (the connection's auth, added when sent)"),
                Auth::OAuth1(_) => "an OAuth 1.0a signature (the connection's auth, added when sent)".into(),
                Auth::Token(_) => "a token from the connection's login (added when sent)".into(),
            }
            .into();
        }
        if let Some(body) = request.body {
            shown["body"] = body;
        }
        shown
    }
}

/// The answers to a wave's requests in the wave's order, and where it stopped starting requests (and
/// why), if it did.
type WaveAnswers = (Vec<(Range<usize>, Result<Settled, SinkError>)>, Option<(usize, SinkError)>);

/// The error when the permits are closed. They never are; were they, the rest of the batch stays
/// unacknowledged.
fn closed() -> SinkError {
    SinkError { message: "the http sink's requests were closed".into(), retryable: true }
}

/// Sends a wave of plain requests as futures of this write's own task, each holding a permit: no task
/// per request (its allocation, the move of its future, a wake-up), and a permit freed by an answer
/// starts the next request at once. Once an answer fails the write, no further request starts (as in
/// a write one request after another); those running are awaited. A request that panics fails the
/// write, like any other error.
async fn send_wave(core: &HttpSink, batch: &Batch, wave: Vec<Range<usize>>, permits: &Arc<Semaphore>) -> WaveAnswers {
    let mut answers: Vec<Option<Result<Settled, SinkError>>> = wave.iter().map(|_| None).collect();
    let mut running = FuturesUnordered::new();
    let (mut next, mut stopped, mut failed) = (0, None, false);
    while (next < wave.len() && stopped.is_none() && !failed) || !running.is_empty() {
        tokio::select! {
            // Answers first: they free permits, and a failure stops the wave.
            biased;
            Some((i, out)) = running.next(), if !running.is_empty() => {
                let out: Result<Settled, SinkError> = out;
                failed |= out.is_err();
                answers[i] = Some(out);
            }
            permit = Arc::clone(permits).acquire_owned(), if next < wave.len() && stopped.is_none() && !failed => {
                match permit {
                    Ok(permit) => {
                        let (i, records) = (next, wave[next].clone());
                        next += 1;
                        running.push(async move {
                            let out = AssertUnwindSafe(core.deliver_unit_async(&batch[records]))
                                .catch_unwind()
                                .await
                                .unwrap_or_else(|_| Err(panicked()));
                            drop(permit);
                            (i, out)
                        });
                    }
                    Err(_) => stopped = Some((wave[next].start, closed())),
                }
            }
            else => break,
        }
    }
    answered(wave, answers, next, stopped)
}

/// The answers of a wave whose first `started` requests were started: one started without an answer
/// is an error (a record never vanishes); those not started are after a failure or `stopped`, or
/// stop the wave themselves.
fn answered(
    wave: Vec<Range<usize>>,
    answers: Vec<Option<Result<Settled, SinkError>>>,
    started: usize,
    mut stopped: Option<(usize, SinkError)>,
) -> WaveAnswers {
    let mut out = Vec::with_capacity(started);
    for (i, (range, answer)) in wave.into_iter().zip(answers).enumerate() {
        match answer {
            Some(answer) => out.push((range, answer)),
            None if i < started => out.push((range, Err(unanswered()))),
            None => {
                let failed = out.iter().any(|(_, answer)| answer.is_err());
                if !failed && stopped.is_none() {
                    stopped = Some((range.start, unanswered()));
                }
                break;
            }
        }
    }
    (out, stopped)
}

/// The error of a request started that ended without an answer.
fn unanswered() -> SinkError {
    SinkError { message: "a request of the http sink ended without an answer".into(), retryable: true }
}

/// The error of a request that panicked (its message is not shown: it may hold anything the request
/// held).
fn panicked() -> SinkError {
    SinkError { message: "a request of the http sink stopped unexpectedly (a panic)".into(), retryable: false }
}

/// Sends a wave of requests that block between their tries (intents, ETag reads and bulk follow-ups use
/// the state store and the blocking client): a thread of the blocking pool each, holding a permit.
async fn spawn_wave(
    core: &Arc<HttpSink>,
    batch: &Arc<Batch>,
    wave: Vec<Range<usize>>,
    permits: &Arc<Semaphore>,
) -> WaveAnswers {
    let mut started = Vec::with_capacity(wave.len());
    let mut stopped = None;
    for range in wave {
        let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
            stopped = Some((range.start, closed()));
            break;
        };
        let (core, batch, records) = (Arc::clone(core), Arc::clone(batch), range.clone());
        let task = tokio::task::spawn_blocking(move || {
            let out = core.deliver_unit(&batch[records]);
            drop(permit);
            out
        });
        started.push((range, task));
    }
    // Every request of the wave is awaited, even after a failure: none keeps the batch afterwards.
    let mut answered = Vec::with_capacity(started.len());
    for (range, task) in started {
        let out = task.await.unwrap_or_else(|e| {
            Err(SinkError { message: format!("a request stopped unexpectedly: {e}"), retryable: false })
        });
        answered.push((range, out));
    }
    (answered, stopped)
}

/// Writes `batch` wave by wave, each wave's requests at once (within the permits).
async fn write_in_flight(core: Arc<HttpSink>, batch: Arc<Batch>, permits: Arc<Semaphore>) -> WriteOutcome {
    let mut rejected = Vec::new();
    for wave in waves(&batch, core.batch_size) {
        // What earlier waves settled (committed), should this one's commit fail.
        let (wave_start, rejected_before) = (wave.first().map_or(0, |r| r.start), rejected.len());
        let (answered, stopped) = if core.sends_plainly() {
            send_wave(&core, &batch, wave, &permits).await
        } else {
            spawn_wave(&core, &batch, wave, &permits).await
        };
        let mut failure = None;
        let mut outcomes = Settled::default();
        for (range, out) in answered {
            match (out, &failure) {
                (Ok(mut of_request), None) => {
                    outcomes.absorb(&mut of_request);
                    reject(&mut rejected, range.start, of_request.rejected);
                }
                (Ok(mut of_request), Some(_)) => outcomes.absorb(&mut of_request),
                (Err(error), None) => failure = Some((range.start, error)),
                (Err(_), Some(_)) => {}
            }
        }
        // The wave's outcomes in one transaction (a commit waits for the disk), before any of its
        // records is acknowledged; the outcomes of requests after a failure are kept too (they are sent
        // again, and audited again).
        let committed = {
            let core = Arc::clone(&core);
            tokio::task::spawn_blocking(move || core.run().and_then(|run| outcomes.commit(run))).await
        };
        let error = match committed {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error),
            Err(e) => Some(SinkError { message: format!("committing the outcomes stopped: {e}"), retryable: true }),
        };
        if let Some(error) = error {
            rejected.truncate(rejected_before);
            return Err(FailedWrite { error, settled: wave_start, rejected });
        }
        if let Some((settled, error)) = failure.or(stopped) {
            return Err(FailedWrite { error, settled, rejected });
        }
    }
    Ok(rejected)
}

impl Sink for HttpSinkWrites {
    /// Every request is audited by the sink itself (`created`, `found`, `skipped`, `sent`, with the
    /// URL and the status), in the same transaction as its outcome.
    fn audits_itself(&self) -> bool {
        true
    }

    fn open(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        let core = Arc::get_mut(&mut self.core)
            .ok_or_else(|| SinkError { message: "the http sink was opened twice".into(), retryable: false })?;
        core.open(ctx)
    }

    fn write(&mut self, batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError> {
        let mut rejected = Vec::new();
        let mut outcomes = Settled::default();
        let mut failure = None;
        for range in requests(batch.len(), self.core.batch_size) {
            match self.core.deliver_unit(&batch[range.clone()]) {
                Ok(mut settled) => {
                    outcomes.absorb(&mut settled);
                    reject(&mut rejected, range.start, settled.rejected);
                }
                Err(e) => {
                    failure = Some((range.start, e));
                    break;
                }
            }
        }
        // The batch's outcomes (audit entries, captured ids) in one transaction, even when the batch
        // failed: the records before the failure are settled.
        outcomes.commit(self.core.run()?)?;
        match failure {
            Some((i, e)) => {
                // Each request's outcome is committed as it is written: the records before the failure
                // are settled, whatever the batch size.
                self.settled = Some((i, rejected));
                Err(e)
            }
            None => Ok(rejected),
        }
    }

    fn settled_before_failure(&mut self) -> Option<(usize, Vec<RecordRejection>)> {
        self.settled.take()
    }

    /// Each request as one JSON line: method, URL, headers (sensitive ones masked whole, the connection's
    /// `auth` named, not shown) and body; or why it cannot be rendered.
    fn describe(&self, batch: &[Record]) -> Option<Vec<String>> {
        Some(self.core.render_all(batch).into_iter().map(|r| self.core.describe(r).to_string()).collect())
    }

    /// Requests sent plainly are futures whatever `max_in_flight` (one request at a time included:
    /// a future on the runtime answers sooner than a blocking call handed to reqwest's own thread);
    /// the others go in flight only when more than one may.
    fn concurrent(&mut self) -> Option<&mut dyn ConcurrentWrites> {
        if self.core.max_in_flight.get() > 1 || self.core.sends_plainly() { Some(self) } else { None }
    }
}

impl ConcurrentWrites for HttpSinkWrites {
    fn max_in_flight(&self) -> NonZeroUsize {
        self.core.max_in_flight
    }

    fn start_write(&mut self, batch: Arc<Batch>) -> WriteFuture {
        Box::pin(write_in_flight(Arc::clone(&self.core), batch, Arc::clone(&self.permits)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keyed(keys: &[&str]) -> Vec<Record> {
        keys.iter()
            .map(|k| {
                let mut r = Record::new(json!({}));
                r.key = Some(Arc::from(*k));
                r
            })
            .collect()
    }

    #[test]
    fn requests_holding_a_key_of_their_wave_start_the_next() {
        let batch = keyed(&["a", "b", "a", "c", "b", "d"]);
        assert_eq!(waves(&batch, 1), vec![vec![0..1, 1..2], vec![2..3, 3..4, 4..5, 5..6]]);
        assert_eq!(waves(&batch, 2), vec![vec![0..2], vec![2..4, 4..6]]);
        assert_eq!(waves(&batch, 4), vec![vec![0..4], vec![4..6]], "a key twice in one request keeps its order");
        assert_eq!(waves(&[], 3), Vec::<Vec<Range<usize>>>::new());
        let unkeyed = vec![Record::new(json!(1)), Record::new(json!(2))];
        assert_eq!(waves(&unkeyed, 1), vec![vec![0..1, 1..2]], "records without a key are unordered");
    }

    #[test]
    fn a_request_started_without_an_answer_is_an_error_not_a_vanished_record() {
        let ok = || Some(Ok(Settled::default()));
        let (out, stopped) = answered(vec![0..1, 1..2, 2..3], vec![ok(), None, None], 2, None);
        let ranges: Vec<_> = out.iter().map(|(r, a)| (r.clone(), a.is_err())).collect();
        assert_eq!(ranges, [(0..1, false), (1..2, true)]);
        assert!(stopped.is_none(), "the error stops the write");
        // Not started, with no failure or stop to say why: the wave stops there.
        let (out, stopped) = answered(vec![0..1, 1..2], vec![ok(), None], 1, None);
        assert_eq!(out.len(), 1);
        assert_eq!(stopped.map(|(at, _)| at), Some(1));
    }
}
