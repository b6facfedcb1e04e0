//! The `http` step's idempotent creates and captured ids: with `idempotency`, each record's request is
//! a create made once — the intent protocol the `http` sink uses (`connectors::http::idempotent`) —
//! and what goes on in the record is the ids captured (from the create's answer, from the record a
//! lookup found, or remembered with the intent when an earlier run made it). Without it, `capture`
//! records ids from the selected answer in the id map.

use serde_json::Value;

use super::call::HttpStep;
use crate::connectors::http::client::{Prepared, scrub};
use crate::connectors::http::idempotent::{Delivery, Scope, Write};
use crate::kernel::record::{Record, with_context};
use crate::kernel::step::Output;
use crate::state::{CapturedId, WriteOutcome};

/// What one record's create came to.
enum Created {
    /// The ids to pass on.
    Ids(serde_json::Map<String, Value>),
    /// Dead-lettered, with the reason.
    Rejected(String),
    /// The run stops; the record stays unacknowledged.
    Fatal(String),
}

impl HttpStep {
    /// One record's create, made once.
    pub(super) fn create(&mut self, mut record: Record, out: &mut Output) {
        match self.create_once(&mut record) {
            Created::Ids(ids) => self.write(record, Value::Object(ids), out),
            Created::Rejected(reason) => out.reject(record, scrub(reason)),
            Created::Fatal(reason) => {
                self.stopped = true;
                out.fail(record, scrub(format!("http step: {reason}")));
            }
        }
    }

    fn create_once(&mut self, record: &mut Record) -> Created {
        if let Err(e) = self.client() {
            return Created::Fatal(e);
        }
        let (Some(idempotency), Some(client), Some(writer)) = (&self.c.idempotency, &self.client, &self.writer) else {
            return Created::Fatal("the step was not opened".into());
        };
        let Some(state) = self.state.as_deref() else {
            // A dry run: nothing is created, nothing is captured.
            tracing::info!(key = record.key.as_deref().unwrap_or("-"), "dry run: the create is not sent");
            return Created::Ids(serde_json::Map::new());
        };
        let key = record.key.clone();
        let delivered = with_context(record, |ctx| {
            let request = self.c.request.render(ctx).map_err(|e| format!("the request cannot be made: {e}"))?;
            let idem_key = match (&idempotency.key, &key) {
                (Some(t), _) => match t.render(ctx) {
                    Ok(k) if !k.trim().is_empty() => k,
                    Ok(_) => return Err("the idempotency key is empty".to_string()),
                    Err(e) => return Err(format!("idempotency key: {e}")),
                },
                (None, Some(k)) => k.to_string(),
                (None, None) => {
                    return Err("the record has no key; an idempotent step needs one (set the source's `key` or \
                                `idempotency.key`)"
                        .to_string());
                }
            };
            let id_key = key.as_deref().map_or_else(|| idem_key.clone(), str::to_string);
            let scope = Scope { client, state, policy: &self.c.policy, writer, capture: &self.c.capture, idempotency };
            Ok(Write::new(scope, ctx, request, idem_key, id_key).deliver())
        });
        match delivered {
            Err(reason) => Created::Rejected(format!("http step: {reason}")),
            Ok(Err(e)) => Created::Fatal(e.message),
            Ok(Ok(Delivery::Written(ids))) => {
                self.created += 1;
                Created::Ids(ids)
            }
            Ok(Ok(Delivery::Skipped(entry, ids))) => {
                self.skipped += 1;
                let outcome = WriteOutcome { completed: None, ids: Vec::new(), audit: vec![entry] };
                match state.record_outcome(&outcome) {
                    Ok(()) => Created::Ids(ids),
                    Err(e) => Created::Fatal(format!("state store: {e}")),
                }
            }
            Ok(Ok(Delivery::Rejected(reason, entry))) => {
                let outcome = WriteOutcome { completed: None, ids: Vec::new(), audit: vec![entry] };
                match state.record_outcome(&outcome) {
                    Ok(()) => Created::Rejected(reason),
                    Err(e) => Created::Fatal(format!("state store: {e}")),
                }
            }
        }
    }

    /// Records the ids `capture` selects in `answer` (the selected part of a request's answer) under
    /// the record's key. Errors are the state store's.
    pub(super) fn capture_ids(&self, record: &Record, request: &Prepared, answer: &Value) -> Result<(), String> {
        let Some(state) = self.state.as_deref().filter(|_| !self.c.capture.is_empty()) else { return Ok(()) };
        let Some(key) = record.key.as_deref() else {
            tracing::warn!(target = %request.target, "the record has no key to record the captured ids under");
            return Ok(());
        };
        let ids: Vec<CapturedId> = self
            .c
            .capture
            .iter()
            .filter_map(|(name, path)| {
                let value = path.first(answer).filter(|v| !v.is_null())?;
                Some(CapturedId { key: key.to_string(), name: name.clone(), value: value.clone() })
            })
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let outcome = WriteOutcome { completed: None, ids, audit: Vec::new() };
        state.record_outcome(&outcome).map_err(|e| format!("state store: {e}"))
    }
}
