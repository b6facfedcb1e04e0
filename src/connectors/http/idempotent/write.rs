//! The intent protocol of an idempotent create, per record:
//!
//! 1. hash the rendered body and `begin_intent` (durable before any request is sent);
//! 2. by what the ledger knew: nothing → create; done with the same hash → skip; done with another hash
//!    → dead-letter ("payload changed", nothing is sent); pending (an earlier attempt's outcome is
//!    unknown) → look the record up first: found → done, not found → create;
//! 3. after a definite answer, record the outcome (intent done, captured ids, audit) in one
//!    transaction; a definite rejection (4xx) forgets the intent; a 3xx (a create may precede it) or no
//!    answer leaves it pending, and the next attempt — in this write, or in a later run — starts with
//!    the lookup.

use std::cell::OnceCell;

use serde_json::{Map, Value, json};

use super::payload::{idempotency_key, payload_hash};
use super::{Captures, Delivery, Idempotency, WriteError, Writer, gave_up, refused};
use crate::connectors::http::attempts::{Attempts, Judged};
use crate::connectors::http::client::{Answer, Client};
use crate::connectors::http::request::{Prepared, scrub};
use crate::connectors::http::retry::{RetryPolicy, StatusAction};
use crate::expr::template::RenderContext;
use crate::fault;
use crate::state::{CompletedIntent, IntentId, PriorIntent, StateStore};

/// What a lookup said.
enum LookupResult {
    /// The target has the record: the value `found` selected, and the answer.
    Found(Value, Answer),
    /// The target does not have it.
    Missing,
    /// The lookup was refused for good (a 4xx other than 404, a 2xx that is not JSON), or could not be
    /// rendered.
    Refused(String),
}

/// One record's idempotent write.
pub(crate) struct Write<'a> {
    client: &'a Client,
    state: &'a dyn StateStore,
    policy: &'a RetryPolicy,
    writer: &'a Writer,
    /// Ids captured from the create's answer.
    capture: &'a Captures,
    idempotency: &'a Idempotency,
    /// The record's template context.
    ctx: &'a RenderContext,
    /// The create request.
    request: Prepared,
    /// The lookup request, rendered when first needed.
    lookup: OnceCell<Result<Prepared, String>>,
    /// The intent's key.
    idem_key: String,
    /// The key the captured ids and audit entries are recorded under.
    id_key: String,
}

/// What a write needs of the component that makes it.
pub(crate) struct Scope<'a> {
    pub(crate) client: &'a Client,
    pub(crate) state: &'a dyn StateStore,
    pub(crate) policy: &'a RetryPolicy,
    pub(crate) writer: &'a Writer,
    pub(crate) capture: &'a Captures,
    pub(crate) idempotency: &'a Idempotency,
}

/// The ids an intent's stored response holds.
fn ids_of(response: Option<&Value>) -> Map<String, Value> {
    response.and_then(|r| r.get("ids")).and_then(Value::as_object).cloned().unwrap_or_default()
}

/// The ids remembered with a done intent, as `name=value` pairs.
fn describe_ids(response: Option<&Value>) -> String {
    let ids: Vec<String> = response
        .and_then(|r| r.get("ids"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter().map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect()
        })
        .unwrap_or_default();
    if ids.is_empty() { String::new() } else { format!(" as {}", ids.join(", ")) }
}

impl<'a> Write<'a> {
    /// The write of the record in `ctx`: `request` is its rendered create, `idem_key` the intent's
    /// key, `id_key` the key its captured ids and audit entries are recorded under.
    pub(crate) fn new(
        scope: Scope<'a>,
        ctx: &'a RenderContext,
        request: Prepared,
        idem_key: String,
        id_key: String,
    ) -> Write<'a> {
        Write {
            client: scope.client,
            state: scope.state,
            policy: scope.policy,
            writer: scope.writer,
            capture: scope.capture,
            idempotency: scope.idempotency,
            ctx,
            request,
            lookup: OnceCell::new(),
            idem_key,
            id_key,
        }
    }

    fn intent(&self) -> IntentId {
        IntentId {
            pipeline: self.writer.pipeline.clone(),
            sink: self.writer.component.clone(),
            key: self.idem_key.clone(),
        }
    }

    fn rejected(&self, reason: String, detail: Value) -> Delivery {
        let reason = scrub(reason);
        let mut detail = detail;
        detail["reason"] = json!(reason);
        Delivery::Rejected(reason, self.writer.audit_entry(&self.id_key, "dead_lettered", &self.request.target, detail))
    }

    fn changed(&self, response: Option<&Value>) -> Delivery {
        self.rejected(
            format!(
                "payload changed since it was created{} (key `{}`); not sent again: the target keeps the earlier \
                 version",
                describe_ids(response),
                self.idem_key
            ),
            json!({ "changed": true }),
        )
    }

    pub(crate) fn deliver(mut self) -> Result<Delivery, WriteError> {
        let hash = payload_hash(self.request.body.as_ref().unwrap_or(&Value::Null));
        let id = self.intent();
        if let Some(name) = self.idempotency.header.as_ref()
            && let Ok(value) = reqwest::header::HeaderValue::from_str(&idempotency_key(&id, &hash))
        {
            self.request.headers.insert(name.clone(), value);
        }
        let state = self.state;
        let mut attempts = Attempts::new(self.policy, self.client, Some(self.id_key.as_str()));
        match state.begin_intent(&id, &hash)? {
            PriorIntent::Done { payload_hash, response } if payload_hash == hash => {
                let ids = ids_of(response.as_ref());
                let detail = json!({ "ids": ids });
                let entry = self.writer.audit_entry(&self.id_key, "skipped", &self.request.target, detail);
                Ok(Delivery::Skipped(entry, ids))
            }
            PriorIntent::Done { response, .. } => Ok(self.changed(response.as_ref())),
            PriorIntent::Pending { payload_hash: earlier } => match self.look_up(&mut attempts)? {
                LookupResult::Found(found, answer) => {
                    // The target has what the earlier attempt sent.
                    let response = self.found(state, &id, &earlier, &found, &answer, "lookup", attempts.made)?;
                    Ok(if earlier == hash {
                        Delivery::Written(ids_of(Some(&response)))
                    } else {
                        self.changed(Some(&response))
                    })
                }
                LookupResult::Missing => {
                    if earlier != hash {
                        // Nothing was created with the earlier payload: the intent now stands for this one.
                        state.abandon_intent(&id)?;
                        state.begin_intent(&id, &hash)?;
                    }
                    self.create(state, &id, &hash, &mut attempts)
                }
                LookupResult::Refused(why) => Ok(self.lookup_refused(&why)),
            },
            PriorIntent::None => self.create(state, &id, &hash, &mut attempts),
        }
    }

    fn lookup_refused(&self, why: &str) -> Delivery {
        self.rejected(
            format!("{why}; an earlier attempt's outcome is unknown, so the record is not sent again"),
            json!({ "lookup_failed": true }),
        )
    }

    /// Sends the create; on an unknown outcome looks the record up before sending it again.
    fn create(
        &self,
        state: &dyn StateStore,
        id: &IntentId,
        hash: &str,
        attempts: &mut Attempts,
    ) -> Result<Delivery, WriteError> {
        fault::point("after_intent");
        loop {
            attempts.sent();
            let answer = self.client.send(&self.request)?;
            fault::point("after_call");
            match &answer {
                Answer::Response { status, body, .. } if (200..300).contains(status) => {
                    let (mut outcome, ids) = self.writer.outcome(
                        &self.id_key,
                        "created",
                        &self.request,
                        &answer,
                        body,
                        self.capture,
                        attempts.made,
                    );
                    outcome.completed = Some(CompletedIntent {
                        id: id.clone(),
                        payload_hash: hash.to_string(),
                        response: Some(json!({ "status": status, "ids": ids })),
                    });
                    state.record_outcome(&outcome)?;
                    return Ok(Delivery::Written(ids));
                }
                Answer::Response { status: 409, .. } => {
                    // The target has it already; look it up for the ids when there are any to capture.
                    let found = if self.idempotency.lookup.capture.is_empty() {
                        None
                    } else {
                        match self.look_up(attempts)? {
                            LookupResult::Found(found, _) => Some(found),
                            _ => None,
                        }
                    };
                    let found = found.unwrap_or(Value::Null);
                    let response = self.found(state, id, hash, &found, &answer, "conflict", attempts.made)?;
                    return Ok(Delivery::Written(ids_of(Some(&response))));
                }
                a => match attempts.judge(a) {
                    Judged::GaveUp => return Err(gave_up(&self.request, &answer, attempts.made)),
                    Judged::Settle(StatusAction::Fail) => return Err(refused(&self.request, &answer)),
                    Judged::Settle(StatusAction::Ok | StatusAction::Ignore) => {
                        // `on_status` says the target has it, or that it does not matter: done.
                        self.found(state, id, hash, &Value::Null, &answer, "ignored", attempts.made)?;
                        return Ok(Delivery::Written(Map::new()));
                    }
                    Judged::Settle(_) => return self.definite(state, id, &answer),
                    Judged::Retried => match self.settled(a).look_up(attempts)? {
                        LookupResult::Found(found, found_answer) => {
                            let response =
                                self.found(state, id, hash, &found, &found_answer, "lookup", attempts.made)?;
                            return Ok(Delivery::Written(ids_of(Some(&response))));
                        }
                        LookupResult::Missing => {}
                        LookupResult::Refused(why) => return Ok(self.lookup_refused(&why)),
                    },
                },
            }
        }
    }

    /// Waits `settle` after an answer that leaves the create's outcome unknown (none, a 408, a 5xx;
    /// a 429 created nothing), so that the lookup sees a commit that came after the answer.
    fn settled(&self, answer: &Answer) -> &Self {
        let unknown = answer.status().is_none_or(|s| s == 408 || s >= 500);
        if unknown && !self.idempotency.settle.is_zero() {
            self.client.pauses().sleep(self.idempotency.settle);
        }
        self
    }

    /// A create the target answered with a status `on_status` dead-letters.
    fn definite(&self, state: &dyn StateStore, id: &IntentId, answer: &Answer) -> Result<Delivery, WriteError> {
        let reason = format!("{} answered {}", self.request.target, answer.describe());
        let detail = json!({ "status": answer.status() });
        if answer.status().is_some_and(|s| (300..400).contains(&s)) {
            // Not followed; a create may have happened first (post/redirect/get): the intent stays
            // pending, and the next attempt looks the record up before sending it.
            return Ok(self.rejected(
                format!("{reason}; redirects are not followed, and the record may have been created"),
                detail,
            ));
        }
        // A definite rejection: nothing was created.
        state.abandon_intent(id)?;
        Ok(self.rejected(reason, detail))
    }

    /// Records that the target has the record (found by a lookup or by a 409): the intent done with
    /// `hash`, the ids captured from `found`. Returns the intent's stored response.
    #[allow(clippy::too_many_arguments)]
    fn found(
        &self,
        state: &dyn StateStore,
        id: &IntentId,
        hash: &str,
        found: &Value,
        answer: &Answer,
        via: &str,
        attempts: u32,
    ) -> Result<Value, WriteError> {
        let (mut outcome, ids) = self.writer.outcome(
            &self.id_key,
            "found",
            &self.request,
            answer,
            found,
            &self.idempotency.lookup.capture,
            attempts,
        );
        if let Some(detail) = outcome.audit.first_mut().and_then(|a| a.detail.as_mut()) {
            detail["via"] = json!(via);
        }
        let response = json!({ "status": answer.status(), "ids": ids, "via": via });
        outcome.completed =
            Some(CompletedIntent { id: id.clone(), payload_hash: hash.to_string(), response: Some(response.clone()) });
        state.record_outcome(&outcome)?;
        Ok(response)
    }

    /// The existing record in a lookup's answer: the first value `found` selects that is not null,
    /// `[]` or `{}` and, with `where`, meets it.
    fn existing(&self, body: &Value) -> Result<Option<Value>, crate::expr::template::TemplateError> {
        let present = |v: &&Value| match v {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        };
        let lookup = &self.idempotency.lookup;
        let Some(condition) = &lookup.condition else { return Ok(lookup.found.first(body).filter(present).cloned()) };
        for candidate in lookup.found.query(body).into_iter().filter(present) {
            if condition.is_true(&self.ctx.clone().with_var("found", candidate.clone()))? {
                return Ok(Some(candidate.clone()));
            }
        }
        Ok(None)
    }

    /// Runs the lookup, retrying while its outcome is unknown.
    fn look_up(&self, attempts: &mut Attempts) -> Result<LookupResult, WriteError> {
        let lookup = match self.lookup.get_or_init(|| self.idempotency.lookup.request.render(self.ctx)) {
            Ok(l) => l,
            Err(e) => return Ok(LookupResult::Refused(format!("the lookup cannot be rendered: {e}"))),
        };
        loop {
            attempts.sent();
            let answer = self.client.send(lookup)?;
            match &answer {
                Answer::Response { status: 404, .. } => return Ok(LookupResult::Missing),
                Answer::Response { status, json: false, .. } if (200..300).contains(status) => {
                    // Not a search result (a proxy's or a login page): whether the target has the
                    // record is unknown, and creating it again could duplicate it.
                    return Ok(LookupResult::Refused(format!(
                        "the lookup {} answered {}, which is not JSON",
                        lookup.target,
                        answer.describe()
                    )));
                }
                Answer::Response { status, body, .. } if (200..300).contains(status) => {
                    return Ok(match self.existing(body) {
                        Ok(Some(v)) => LookupResult::Found(v, answer.clone()),
                        Ok(None) => LookupResult::Missing,
                        Err(e) => LookupResult::Refused(format!("the lookup {}: `where`: {e}", lookup.target)),
                    });
                }
                a => match attempts.judge(a) {
                    Judged::Retried => {}
                    Judged::GaveUp => return Err(gave_up(lookup, &answer, attempts.made)),
                    Judged::Settle(_) => {
                        return Ok(LookupResult::Refused(format!(
                            "the lookup {} answered {}",
                            lookup.target,
                            answer.describe()
                        )));
                    }
                },
            }
        }
    }
}
