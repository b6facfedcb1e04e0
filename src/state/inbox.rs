//! The webhook inbox: events a webhook ingress accepted, kept durably before the sender is answered,
//! until the pipeline's webhook source has read them and their outcome is known. Each event has a
//! sequence number in arrival (commit) order; the source's checkpoint is the last sequence number whose
//! event — and every one before it — was settled, so an event accepted but not yet settled when a run
//! crashed is read again by the next run. Events are de-duplicated per pipeline by their id: the same
//! id accepted again is a duplicate, stored once.

use super::StateResult;

/// An event to keep, as the ingress accepted it.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    /// The event's id (unique per pipeline): the sender's id, or a hash of the body.
    pub event_id: &'a str,
    /// When it was received, in milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    /// What is kept of the request's headers (a JSON object, for diagnostics; never a signature).
    pub headers: &'a serde_json::Value,
    /// The raw body, as received.
    pub body: &'a [u8],
    /// Why the event cannot be read as a record, when it was accepted to be dead-lettered.
    pub malformed: Option<&'a str>,
}

/// What the inbox made of an event handed to [`EventInbox::inbox_accept`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// Stored (durably, before this returns) with this sequence number.
    Accepted {
        /// Its sequence number.
        seq: i64,
    },
    /// An event with the same id was stored before; nothing was written.
    Duplicate {
        /// The sequence number of the event stored first.
        seq: i64,
        /// Its outcome, when it is settled.
        outcome: Option<EventOutcome>,
    },
}

/// One stored event, as the webhook source reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEvent {
    /// Its sequence number (arrival order).
    pub seq: i64,
    /// Its id.
    pub event_id: String,
    /// When it was received, in milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    /// The raw body.
    pub body: Vec<u8>,
    /// Why it cannot be read as a record, when it was accepted to be dead-lettered.
    pub malformed: Option<String>,
}

/// How an event ended in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    /// Its record reached the sinks.
    Delivered,
    /// Its record was dropped on purpose (a filter).
    Filtered,
    /// Its record went to the dead-letter queue.
    DeadLettered,
}

impl OutcomeKind {
    /// As stored.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Delivered => "delivered",
            OutcomeKind::Filtered => "filtered",
            OutcomeKind::DeadLettered => "dead_lettered",
        }
    }

    /// From its stored name.
    pub(crate) fn parse(text: &str) -> Option<OutcomeKind> {
        match text {
            "delivered" => Some(OutcomeKind::Delivered),
            "filtered" => Some(OutcomeKind::Filtered),
            "dead_lettered" => Some(OutcomeKind::DeadLettered),
            _ => None,
        }
    }
}

/// A settled event's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    /// How it ended.
    pub kind: OutcomeKind,
    /// Why it was dead-lettered (the dead-letter entry's error), when known.
    pub reason: Option<String>,
}

/// One event's outcome to record.
#[derive(Debug, Clone, Copy)]
pub struct Settlement<'a> {
    /// The event's id.
    pub event_id: &'a str,
    /// How it ended.
    pub kind: OutcomeKind,
    /// For a dead-lettered event: why (its dead-letter entry's error); ignored for other outcomes.
    pub reason: Option<&'a str>,
}

/// Where an event stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventStatus {
    /// No event of that id is kept (never accepted, or pruned).
    Unknown,
    /// Accepted, outcome not known yet.
    Pending,
    /// Settled.
    Settled(EventOutcome),
}

/// The webhook inbox of a state store. Every method commits durably before it returns.
pub trait EventInbox {
    /// Keeps an event unless one with the same id is kept for `pipeline` (then nothing is written).
    fn inbox_accept(&self, pipeline: &str, event: &NewEvent<'_>) -> StateResult<Acceptance>;

    /// The events of `pipeline` after sequence number `after` (up to `through`, when given), in
    /// arrival order, at most `limit`.
    fn inbox_events(
        &self,
        pipeline: &str,
        after: i64,
        through: Option<i64>,
        limit: usize,
    ) -> StateResult<Vec<InboxEvent>>;

    /// The sequence number of the newest event of `pipeline` (0 when there is none).
    fn inbox_last_seq(&self, pipeline: &str) -> StateResult<i64>;

    /// Records the outcomes of events (one transaction).
    fn inbox_settle(&self, pipeline: &str, settlements: &[Settlement<'_>]) -> StateResult<()>;

    /// Where the event `event_id` of `pipeline` stands.
    fn inbox_status(&self, pipeline: &str, event_id: &str) -> StateResult<EventStatus>;

    /// Forgets the events of `pipeline` up to sequence number `through` (those the source's checkpoint
    /// has passed) received before `received_before_ms`; returns how many.
    fn inbox_prune(&self, pipeline: &str, through: i64, received_before_ms: i64) -> StateResult<u64>;
}
