//! `id_map` sink: records ids in the state store's id map — reference data another pipeline's
//! templates read with `ids_for(key)`, e.g. each ERP item variant's id under
//! `variant:{item}/{code}`, so that an order line can name it without a request per line.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{RecordRejection, Sink, SinkContext, SinkError};
use crate::connectors::http::idempotent::{Captures, compile_captures};
use crate::expr::template::StringTemplate;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::{Record, with_context};
use crate::state::{CapturedId, StateStore, WriteOutcome};

/// Records ids in the id map (needs the state store).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdMapSinkConfig {
    /// The key the ids are recorded under, a template (default: the record's key), e.g.
    /// `variant:{{ record.itemNumber }}/{{ record.code }}`. Templates read them back with
    /// `ids_for('variant:MH01-SM/BLK').variant_id`.
    #[serde(default)]
    pub(crate) key: Option<String>,
    /// The ids: name → JSONPath into the record, e.g. `{ variant_id: "$.id" }`. A path that selects
    /// nothing (or null) records nothing for that name.
    pub(crate) ids: BTreeMap<String, String>,
}

impl IdMapSinkConfig {
    /// Compiles the key template and the JSONPaths.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<IdMapSink, BuildErrors> {
        let mut errors = BuildErrors::default();
        let key = self.key.as_ref().map(|k| errors.string_template(ctx, &["key"], k));
        let ids = compile_captures(&mut errors, &["ids"], &self.ids);
        if self.ids.is_empty() {
            errors.push(
                &["ids"],
                "bad-value",
                "`ids` names at least one id",
                Some("e.g. `ids: { erp_id: \"$.id\" }`".into()),
            );
        }
        errors.finish(|| {
            Some(IdMapSink {
                key: match key {
                    Some(k) => Some(k?),
                    None => None,
                },
                ids,
                state: None,
            })
        })
    }
}

/// Built `id_map` sink.
#[derive(Debug)]
pub(crate) struct IdMapSink {
    key: Option<StringTemplate>,
    ids: Captures,
    state: Option<std::sync::Arc<dyn StateStore>>,
}

impl Sink for IdMapSink {
    fn writes_only_state(&self) -> bool {
        true
    }

    fn open(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.state = Some(ctx.state.clone().ok_or_else(|| {
            SinkError {
                message: "the `id_map` sink needs the state store (the id map lives there): run with `--state PATH` \
                      (or WEIR_STATE)"
                    .into(),
                retryable: false,
            }
        })?);
        Ok(())
    }

    fn write(&mut self, batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError> {
        let mut rejected = Vec::new();
        let mut ids = Vec::new();
        for (i, record) in batch.iter().enumerate() {
            let key = match &self.key {
                None => record.key.as_deref().map(str::to_string).ok_or_else(|| {
                    "the record has no key to record its ids under (set the source's `key` or this sink's `key`)"
                        .to_string()
                }),
                Some(template) => {
                    let mut record = record.clone();
                    with_context(&mut record, |ctx| template.render(ctx)).map_err(|e| format!("key: {e}"))
                }
            };
            let key = match key {
                Ok(k) if !k.trim().is_empty() => k,
                Ok(_) => {
                    rejected.push((i, "the key is empty".to_string()));
                    continue;
                }
                Err(e) => {
                    rejected.push((i, e));
                    continue;
                }
            };
            for (name, path) in &self.ids {
                if let Some(value) = path.first(&record.value).filter(|v| !v.is_null()) {
                    ids.push(CapturedId { key: key.clone(), name: name.clone(), value: value.clone() });
                }
            }
        }
        if let Some(state) = &self.state
            && !ids.is_empty()
        {
            let outcome = WriteOutcome { completed: None, ids, audit: Vec::new() };
            state
                .record_outcome(&outcome)
                .map_err(|e| SinkError { message: format!("state store: {e}"), retryable: e.is_retryable() })?;
        }
        Ok(rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::sqlite::SqliteStore;
    use serde_json::json;

    #[test]
    fn records_the_ids_under_the_rendered_key_and_rejects_a_record_without_one() {
        let ctx = crate::transforms::testing::context();
        let config: IdMapSinkConfig = serde_json::from_value(json!({
            "key": "variant:{{ record.itemNumber }}/{{ record.code }}", "ids": {"variant_id": "$.id", "none": "$.nope"}
        }))
        .expect("config");
        let mut sink = config.build(&ctx).expect("builds");
        let state: std::sync::Arc<dyn StateStore> = std::sync::Arc::new(SqliteStore::open_in_memory().expect("store"));
        let open = SinkContext {
            pipeline: "p".into(),
            sink: "s".into(),
            state: Some(state.clone()),
            run_id: None,
            resumed: false,
        };
        sink.open(&open).expect("opens");
        let batch = vec![
            Record::new(json!({"itemNumber": "MH01-SM", "code": "BLK", "id": "g-1"})),
            Record::new(json!({"itemNumber": "MH01-SM", "code": " ", "id": "g-2"})),
        ];
        let rejected = sink.write(&batch).expect("writes");
        assert!(rejected.is_empty(), "{rejected:?}");
        let ids = state.ids("variant:MH01-SM/BLK").expect("reads");
        assert_eq!(ids.get("variant_id"), Some(&json!("g-1")));
        assert!(!ids.contains_key("none"), "a path selecting nothing records nothing");
        let keyless = IdMapSinkConfig { key: None, ids: BTreeMap::from([("x".into(), "$.id".into())]) };
        let mut sink = keyless.build(&ctx).expect("builds");
        sink.open(&open).expect("opens");
        let rejected = sink.write(&[Record::new(json!({"id": 1}))]).expect("writes");
        assert_eq!(rejected.len(), 1);
        assert!(rejected[0].1.contains("no key"), "{rejected:?}");
        let no_state = SinkContext { state: None, ..open };
        assert!(sink.open(&no_state).expect_err("no state").message.contains("--state"));
    }
}
