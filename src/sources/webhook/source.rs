//! The webhook source: reads the events the ingress stored in the pipeline's inbox, after the source's
//! checkpoint, in arrival order. Each event's JSON body is one record, keyed `event:{id}` unless the
//! pipeline writes a `key`; an event stored as malformed goes to the dead-letter queue with its reason.
//!
//! Position: the checkpoint holds the inbox sequence number up to which every event is settled
//! (`{"seq": N}`), so an event accepted but not settled when a run crashed is read again by the next
//! run — and file sinks cut back to the checkpoint deliver it exactly once. Each event's outcome
//! (delivered, filtered, dead-lettered with the reason) is recorded in the inbox as its acknowledgement
//! comes back, for `reply: sync` answers and duplicates; the reason comes with the acknowledgement (the
//! error its dead-letter entry was written with), whatever key the record carried by then.
//!
//! Two modes, chosen by the run (`SourceContext::follow`):
//! - **drain** (`weir run`): reads the events stored before the run started, then ends once their
//!   outcomes are recorded;
//! - **follow** (`weir serve` with a long-lived run): goes on reading new events as they are stored
//!   (woken by the ingress in the same process, and looking every 500 ms for other processes') until
//!   the run is stopped, then ends the same way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use super::{Settings, signal};
use crate::kernel::ack::{AckListener, InputEnd, InputPosition, Outcome};
use crate::kernel::checkpoint::{Acknowledged, Resumable};
use crate::kernel::fused::Chain;
use crate::sources::emit::{Emitter, Input};
use crate::sources::{Source, SourceContext, SourceError, SourceRun};
use crate::state::{InboxEvent, OutcomeKind, Settlement, StateStore};

/// Events read from the state store at once.
const PAGE: usize = 256;
/// How often the end of a run looks for the last outcomes, besides being told.
const SETTLE_POLL: Duration = Duration::from_millis(50);
/// How long a stopped run waits for the outcomes of the events still in flight.
const STOPPED_WAIT: Duration = Duration::from_secs(30);

/// The built `webhook` source.
#[derive(Debug)]
pub(crate) struct WebhookSource {
    settings: Arc<Settings>,
    acks: Arc<InboxAcks>,
    /// The checkpoint's position, once restored (runs with a state store, not dry runs).
    position: Option<Arc<InboxPosition>>,
}

/// The position kept in the checkpoint: the sequence number of the last event settled with all before it.
#[derive(Debug)]
struct InboxPosition {
    restored: i64,
}

impl Resumable for InboxPosition {
    fn resumes(&self) -> bool {
        self.restored > 0
    }

    fn position(&self, acknowledged: &Acknowledged) -> Map<String, Value> {
        // Each input ends at its event's sequence number (`InputEnd::offset`).
        let (count, end) = acknowledged.stream(0);
        let seq = if count > 0 { i64::try_from(end.offset).unwrap_or(i64::MAX) } else { self.restored };
        Map::from_iter([("seq".to_string(), json!(seq))])
    }
}

/// The sequence number a checkpoint saved (0 when it has none).
fn saved_seq(saved: &Map<String, Value>) -> Result<i64, String> {
    match saved.get("seq") {
        None => Ok(0),
        Some(v) => v.as_i64().filter(|n| *n >= 0).ok_or_else(|| format!("`seq` is not an event number: {v}")),
    }
}

/// An event's outcome, heard and not yet recorded.
#[derive(Debug)]
struct Heard {
    event_id: String,
    kind: OutcomeKind,
    /// Why it was dead-lettered.
    reason: Option<String>,
}

/// Outcomes heard and not yet recorded, and the events still in flight (by input number).
#[derive(Debug, Default)]
struct AckState {
    in_flight: HashMap<u64, String>,
    settled: Vec<Heard>,
}

/// Hears each event's outcome; the source records them in the inbox.
#[derive(Debug, Default)]
struct InboxAcks {
    state: Mutex<AckState>,
    heard: Notify,
}

impl InboxAcks {
    fn lock(&self) -> std::sync::MutexGuard<'_, AckState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AckListener for InboxAcks {
    fn completed(&self, position: InputPosition, outcome: Outcome, reason: Option<&str>) {
        let mut state = self.lock();
        let Some(event_id) = state.in_flight.remove(&position.seq) else { return };
        let kind = match outcome {
            Outcome::Delivered => OutcomeKind::Delivered,
            Outcome::Filtered => OutcomeKind::Filtered,
            Outcome::DeadLettered => OutcomeKind::DeadLettered,
            // Not settled: the checkpoint stops before it and the next run reads it again.
            Outcome::Unacknowledged => {
                drop(state);
                self.heard.notify_one();
                return;
            }
        };
        state.settled.push(Heard { event_id, kind, reason: reason.map(str::to_string) });
        drop(state);
        self.heard.notify_one();
    }
}

/// Runs a store call on a blocking thread.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> crate::state::StateResult<T> + Send + 'static,
) -> Result<T, SourceError> {
    match tokio::task::spawn_blocking(call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            Err(SourceError::Read { message: format!("the webhook inbox: {e}"), retryable: e.is_retryable() })
        }
        Err(e) => Err(SourceError::Read { message: format!("the webhook inbox: {e}"), retryable: false }),
    }
}

/// The key of an event's record when the pipeline writes none.
fn event_key(event_id: &str) -> String {
    format!("event:{event_id}")
}

impl WebhookSource {
    pub(super) fn new(settings: Arc<Settings>) -> WebhookSource {
        WebhookSource { settings, acks: Arc::default(), position: None }
    }

    fn input(number: u64, event: &InboxEvent) -> Input {
        let parsed = match &event.malformed {
            Some(why) => Err((why.clone(), Value::String(String::from_utf8_lossy(&event.body).into_owned()))),
            None => crate::exact_json::from_slice(&event.body).map_err(|e| {
                (format!("the body is not JSON: {e}"), Value::String(String::from_utf8_lossy(&event.body).into_owned()))
            }),
        };
        Input {
            position: InputPosition { stream: 0, seq: number },
            parsed,
            original: None,
            end: InputEnd { offset: u64::try_from(event.seq).unwrap_or(0), lines: 0 },
            size: event.body.len(),
            key: Some(event_key(&event.event_id).into()),
        }
    }

    /// Records the outcomes heard since the last call (not in a dry run), and wakes `reply: sync`
    /// answers waiting for them. A failure is logged: the checkpoint, not the outcome, decides what is
    /// read again.
    async fn record_outcomes(&self, state: &Arc<dyn StateStore>, pipeline: &str, dry_run: bool) {
        let settled = std::mem::take(&mut self.acks.lock().settled);
        if settled.is_empty() || dry_run {
            return;
        }
        let (store, name) = (Arc::clone(state), pipeline.to_string());
        let written = blocking(move || {
            let settlements: Vec<Settlement<'_>> = settled
                .iter()
                .map(|h| Settlement { event_id: &h.event_id, kind: h.kind, reason: h.reason.as_deref() })
                .collect();
            store.inbox_settle(&name, &settlements)
        })
        .await;
        match written {
            Ok(()) => signal::notify(pipeline),
            Err(e) => tracing::warn!(pipeline, error = %e, "cannot record the outcomes of webhook events"),
        }
    }

    async fn read(self, ctx: SourceContext, chain: Chain) -> Result<(), SourceError> {
        let Some(state) = ctx.state.clone() else {
            let message = "the webhook source reads its events from the state store; this run has none".into();
            return Err(SourceError::Read { message, retryable: false });
        };
        let pipeline = ctx.pipeline.clone();
        let mut after = match &self.position {
            Some(position) => position.restored,
            // No checkpoint kept (a dry run): start after the saved one all the same.
            None => {
                let (store, name, id) = (Arc::clone(&state), pipeline.clone(), ctx.id.clone());
                let saved = blocking(move || store.checkpoint(&name, &id)).await?;
                saved.as_ref().and_then(Value::as_object).map_or(Ok(0), saved_seq).unwrap_or(0)
            }
        };
        if !ctx.dry_run {
            let retain_ms = i64::try_from(self.settings.retain.as_millis()).unwrap_or(i64::MAX);
            let now_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let (store, name) = (Arc::clone(&state), pipeline.clone());
            if let Err(e) = blocking(move || store.inbox_prune(&name, after, now_ms.saturating_sub(retain_ms))).await {
                tracing::warn!(pipeline, error = %e, "cannot prune old webhook events");
            }
        }
        let through = if ctx.follow {
            None
        } else {
            let (store, name) = (Arc::clone(&state), pipeline.clone());
            Some(blocking(move || store.inbox_last_seq(&name)).await?)
        };
        let mut changes = signal::subscribe(&pipeline);
        let mut emitter = Emitter::collecting(&ctx, chain);
        let mut number = 0u64;
        'reading: while !ctx.should_stop() {
            self.record_outcomes(&state, &pipeline, ctx.dry_run).await;
            let (store, name) = (Arc::clone(&state), pipeline.clone());
            let page = blocking(move || store.inbox_events(&name, after, through, PAGE)).await?;
            if page.is_empty() {
                if !ctx.follow {
                    break;
                }
                tokio::select! {
                    () = signal::wait(&mut changes, signal::POLL) => {}
                    () = self.acks.heard.notified() => {}
                    () = ctx.stopped() => {}
                }
                continue;
            }
            for event in &page {
                if emitter.should_stop() {
                    break 'reading;
                }
                after = event.seq;
                // Expected before it is pushed: a fused filter may settle it inside `push`.
                self.acks.lock().in_flight.insert(number, event.event_id.clone());
                let input = Self::input(number, event);
                number += 1;
                if !emitter.push(input) {
                    break 'reading;
                }
            }
            if !emitter.send_finished().await {
                break;
            }
        }
        emitter.send_finished().await;
        drop(emitter);
        // Everything read is on its way: close the output, so that the steps downstream see the end
        // of the input, then record the outcomes as they come back.
        // Records in flight when the run is stopped still drain (delivered, or dropped unacknowledged),
        // so this ends; a run stopped for good waits at most `STOPPED_WAIT` for them.
        let SourceContext { output, stop, dry_run, .. } = ctx;
        drop(output);
        let mut stopped_at = None;
        loop {
            self.record_outcomes(&state, &pipeline, dry_run).await;
            if self.acks.lock().in_flight.is_empty() {
                break;
            }
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                let since = *stopped_at.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > STOPPED_WAIT {
                    tracing::warn!(pipeline, "stopped with webhook events in flight; their outcomes are not recorded");
                    break;
                }
            }
            let _ = tokio::time::timeout(SETTLE_POLL, self.acks.heard.notified()).await;
        }
        self.record_outcomes(&state, &pipeline, dry_run).await;
        Ok(())
    }
}

impl Source for WebhookSource {
    fn checkpointed(&self) -> bool {
        true
    }

    fn restore(&mut self, saved: &Map<String, Value>) -> Result<Option<Arc<dyn Resumable>>, String> {
        let position = Arc::new(InboxPosition { restored: saved_seq(saved)? });
        self.position = Some(Arc::clone(&position));
        Ok(Some(position))
    }

    fn acknowledgements(&self) -> Option<Arc<dyn AckListener>> {
        Some(Arc::clone(&self.acks) as Arc<dyn AckListener>)
    }

    fn run(self: Box<Self>, ctx: SourceContext, chain: Chain) -> SourceRun {
        SourceRun::Async(Box::pin(async move { (*self).read(ctx, chain).await }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_is_the_last_event_settled_with_all_before_it() {
        let position = InboxPosition { restored: 7 };
        assert!(position.resumes());
        assert_eq!(position.position(&Acknowledged::default())["seq"], json!(7), "nothing new settled");
        assert!(!InboxPosition { restored: 0 }.resumes());
        assert_eq!(saved_seq(&Map::new()), Ok(0));
        let saved = |v: Value| saved_seq(v.as_object().expect("object"));
        assert_eq!(saved(json!({ "seq": 12 })), Ok(12));
        assert!(saved(json!({ "seq": "12" })).expect_err("unreadable").contains("not an event number"));
        assert!(saved(json!({ "seq": -1 })).is_err());
    }

    #[test]
    fn an_event_becomes_an_input_keyed_by_its_id_ending_at_its_number() {
        let event = |malformed: Option<&str>, body: &[u8]| InboxEvent {
            seq: 41,
            event_id: "evt-9".into(),
            received_at_ms: 0,
            body: body.to_vec(),
            malformed: malformed.map(str::to_string),
        };
        let input = WebhookSource::input(3, &event(None, br#"{"n":1.50}"#));
        assert_eq!((input.position.seq, input.end.offset), (3, 41));
        assert_eq!(input.key.as_deref(), Some("event:evt-9"));
        assert_eq!(input.parsed.expect("parsed").to_string(), r#"{"n":1.50}"#, "numbers as written");
        let (why, raw) = WebhookSource::input(4, &event(Some("no id"), b"\xff{")).parsed.expect_err("dead letter");
        assert_eq!((why.as_str(), raw.as_str().is_some()), ("no id", true));
        let unreadable = WebhookSource::input(5, &event(None, b"{oops")).parsed.expect_err("not JSON");
        assert!(unreadable.0.starts_with("the body is not JSON"));
    }
}
