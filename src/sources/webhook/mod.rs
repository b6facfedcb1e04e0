//! `webhook` source: events pushed to Weir over HTTP (`/hooks/{pipeline}` of `weir serve`). Two halves
//! share one compiled config ([`Settings`]):
//!
//! - the **ingress** ([`WebhookIngress`], built by the server for the pipeline) checks each request —
//!   its signature (Adobe Commerce, Adobe I/O Events, HMAC, or none when written so), its size, its
//!   body, its time against the replay window — and keeps the event in the state store's inbox
//!   (`state::inbox`) before it answers 2xx, so an event answered is never lost; an event id seen
//!   before is a duplicate, answered 200 and not stored again;
//! - the **source** ([`WebhookSource`]) reads the inbox's events after its checkpoint as records, in
//!   arrival order, and records each event's outcome as its acknowledgement comes back. In `weir run`
//!   it reads what is there and ends; with `SourceContext::follow` it waits for new events until the run
//!   is stopped.
//!
//! With `reply: sync` (Adobe Commerce's synchronous webhooks), the answer waits for the event's outcome.

mod adobe_io;
mod auth;
mod event;
pub(crate) mod ingress;
mod rsa_key;
mod signal;
mod source;
mod verdict;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests_auth;
#[cfg(test)]
mod tests_ingress;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::duration::Duration;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::state::StateStore;
pub(crate) use auth::WebhookAuthConfig;
use event::{EventIds, EventTimes};
pub(crate) use ingress::WebhookIngress;
pub(crate) use source::WebhookSource;

/// Default of `max_body_bytes`: 1 MiB.
const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Default of `replay_window`.
const DEFAULT_REPLAY_WINDOW: StdDuration = StdDuration::from_secs(24 * 3600);
/// Default of `retain`.
const DEFAULT_RETAIN: StdDuration = StdDuration::from_secs(7 * 24 * 3600);
/// Default of `sync_timeout`: under the 5 s Adobe Commerce gives a webhook unless its `timeout` says
/// otherwise.
const DEFAULT_SYNC_TIMEOUT: StdDuration = StdDuration::from_secs(4);

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY
}

/// When the sender is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reply {
    /// 200 as soon as the event is stored durably; the pipeline processes it later.
    #[default]
    Accepted,
    /// Adobe Commerce's synchronous webhooks: the answer waits for the event's outcome and says
    /// `{"op":"success"}` (delivered or filtered) or `{"op":"exception","message":…}` (dead-lettered,
    /// with the reason).
    Sync,
}

/// The answer of `reply: sync` when the outcome is not known within `sync_timeout`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SyncTimeout {
    /// `{"op":"exception",…}`: Commerce stops the operation that sent the event.
    #[default]
    Exception,
    /// `{"op":"success"}`: Commerce goes on; the event is still processed.
    Success,
}

/// What happens to an authentic request whose body the source cannot read: not JSON, or without the
/// event id or time where `event_id` / `event_time` say they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OnMalformed {
    /// Answer 400 with the reason; nothing is stored.
    #[default]
    Reject,
    /// Answer 200, store it, and let the next run put it in the dead-letter queue with the reason.
    DeadLetter,
}

/// Receives events pushed over HTTP to `weir serve` (`/hooks/{pipeline}`), signed by Adobe Commerce,
/// Adobe I/O Events or a shared secret; each event's JSON body is one record.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookSourceConfig {
    /// How a request proves it comes from its sender: `{ type: adobe_commerce | adobe_io | hmac | none, … }`.
    pub(crate) auth: WebhookAuthConfig,
    /// Where each event's id is: a header name (`x-event-id`) or a JSONPath into the body (`$.id`). An
    /// event whose id was accepted before is a duplicate: answered 200 and not stored again (default:
    /// for `adobe_io`, `$.event_id` or else `$.id`; for the other kinds, the SHA-256 of the body, so that
    /// only an identical body is a duplicate).
    #[serde(default)]
    pub(crate) event_id: Option<String>,
    /// Where each event's time is: a header name or a JSONPath into the body, holding RFC 3339 text or
    /// Unix seconds (default: `adobe_io` reads CloudEvents' `$.time` when there is one; the other kinds
    /// none). `hmac`'s signed `timestamp_header` is checked as well.
    #[serde(default)]
    pub(crate) event_time: Option<String>,
    /// An event whose time is further than this from now is refused (401), and event ids are remembered
    /// at least this long (default: `24h`, the time Adobe I/O Events retries a delivery).
    #[serde(default)]
    pub(crate) replay_window: Option<Duration>,
    /// How long events stay in the state store once the source read past them, for de-duplication and
    /// `weir run --from-start` (default: `7d`; never less than `replay_window`).
    #[serde(default)]
    pub(crate) retain: Option<Duration>,
    /// The largest body accepted, in bytes (default: 1048576, 1 MiB); a larger one is refused (413).
    #[serde(default = "default_max_body")]
    pub(crate) max_body_bytes: usize,
    /// When the sender is answered: `accepted` (default) or `sync`.
    #[serde(default)]
    pub(crate) reply: Reply,
    /// With `reply: sync`, how long the answer waits for the event's outcome (default: `4s`); keep it
    /// below the sender's own time limit.
    #[serde(default)]
    pub(crate) sync_timeout: Option<Duration>,
    /// With `reply: sync`, the answer when the outcome is not known in time: `exception` (default) or
    /// `success`.
    #[serde(default)]
    pub(crate) sync_on_timeout: SyncTimeout,
    /// An authentic request whose body cannot be read: `reject` (default) or `dead_letter`.
    #[serde(default)]
    pub(crate) on_malformed: OnMalformed,
}

impl std::fmt::Debug for WebhookSourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `auth` prints its kind only: it may hold a secret.
        f.debug_struct("WebhookSourceConfig")
            .field("auth", &self.auth)
            .field("event_id", &self.event_id)
            .field("reply", &self.reply)
            .finish_non_exhaustive()
    }
}

/// The compiled config, shared by the ingress and the source.
#[derive(Debug)]
pub(crate) struct Settings {
    verifier: auth::Verifier,
    ids: EventIds,
    times: EventTimes,
    replay_window: StdDuration,
    retain: StdDuration,
    max_body: usize,
    reply: Reply,
    sync_timeout: StdDuration,
    sync_on_timeout: SyncTimeout,
    on_malformed: OnMalformed,
}

impl WebhookSourceConfig {
    /// Compiles everything: the auth (keys read, secrets registered for masking, the key host
    /// checked), where ids and times are, the limits.
    fn compile(&self) -> Result<Settings, BuildErrors> {
        let mut errors = BuildErrors::default();
        let verifier = self.auth.build(&mut errors);
        let ids = EventIds::compile(self.event_id.as_deref(), &self.auth, &mut errors);
        let times = EventTimes::compile(self.event_time.as_deref(), &self.auth, &mut errors);
        let replay_window = self.replay_window.map_or(DEFAULT_REPLAY_WINDOW, |d| d.0);
        if replay_window.is_zero() {
            errors.push(&["replay_window"], "bad-value", "`replay_window` must be longer than 0s", None);
        }
        if self.max_body_bytes == 0 {
            errors.push(&["max_body_bytes"], "bad-value", "`max_body_bytes` must be at least 1", None);
        }
        let sync_timeout = self.sync_timeout.map_or(DEFAULT_SYNC_TIMEOUT, |d| d.0);
        if self.reply == Reply::Accepted
            && (self.sync_timeout.is_some() || self.sync_on_timeout != SyncTimeout::default())
        {
            let hint = "add `reply: sync`, or remove the `sync_*` keys".to_string();
            errors.push(&["sync_timeout"], "bad-value", "`sync_*` keys apply to `reply: sync` only", Some(hint));
        }
        errors.finish(|| {
            Some(Settings {
                verifier: verifier?,
                ids: ids?,
                times: times?,
                replay_window,
                retain: self.retain.map_or(DEFAULT_RETAIN, |d| d.0).max(replay_window),
                max_body: self.max_body_bytes,
                reply: self.reply,
                sync_timeout,
                sync_on_timeout: self.sync_on_timeout,
                on_malformed: self.on_malformed,
            })
        })
    }

    /// The source half, for a run.
    pub(crate) fn build(&self, _ctx: &BuildContext) -> Result<WebhookSource, BuildErrors> {
        Ok(WebhookSource::new(Arc::new(self.compile()?)))
    }

    /// The ingress half, for a server: accepts the requests of `pipeline` into `store`'s inbox.
    pub(crate) fn ingress(&self, pipeline: &str, store: Arc<dyn StateStore>) -> Result<WebhookIngress, BuildErrors> {
        Ok(WebhookIngress::new(pipeline, Arc::new(self.compile()?), store))
    }
}
