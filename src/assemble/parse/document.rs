//! The top of a pipeline file: its keys, its source or sources, its steps and sinks (each parsed by
//! itself, so that one bad component hides no other's errors), and the pipeline-wide settings.

use std::sync::Arc;

use serde_json::Value;

use super::Parser;
use crate::assemble::pipeline::{
    Origin, PipelineConfig, SinkCommon, SinkSpec, SourceCommon, SourceSpec, StepCommon, StepSpec,
};
use crate::config::diagnostic::Diagnostic;
use crate::config::file::Anchor;
use crate::config::schedule::ScheduleConfig;
use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;
use crate::transforms::StepConfig;

impl Parser<'_> {
    /// Parses a pipeline document.
    pub(crate) fn pipeline(&mut self) -> Option<PipelineConfig> {
        let file = Arc::clone(self.file);
        let Some(root) = file.value.as_object() else {
            let hint = Some("a pipeline file is a mapping with `name`, `source`, `steps` and `sinks`".into());
            self.error("wrong-type", "a pipeline must be a mapping".into(), "", Anchor::Value, None, "", hint);
            return None;
        };
        const TOP: &[&str] = &[
            "name",
            "description",
            "schedule",
            "source",
            "sources",
            "steps",
            "sinks",
            "dead_letter",
            "tables",
            "retention",
            "runtime",
        ];
        self.check_keys(root, TOP, "", None, "");
        let origin = |pointer: String| Origin { file: Arc::clone(&file), pointer };
        let name: Option<String> = match root.get("name") {
            Some(v) => self.de(v, "/name", None, ""),
            None => {
                self.missing_top("name", "give the pipeline a unique name, e.g. `name: orders-to-erp`");
                None
            }
        };
        let mut unparsed = Vec::new();
        let description =
            root.get("description").and_then(|v| self.de::<Option<String>>(v, "/description", None, "")).flatten();
        let mut sources = Vec::new();
        let mut source = |parser: &mut Self, v: &Value, pointer: String| match parser
            .component::<SourceConfig, SourceCommon>(v, &pointer)
        {
            Some((common, config)) => sources.push(SourceSpec { common, config, origin: origin(pointer) }),
            None => unparsed.push(component_id(v, &pointer)),
        };
        match (root.get("source"), root.get("sources")) {
            (Some(_), Some(_)) => {
                let hint = Some("list every source under `sources`, or keep one `source`".into());
                let message = "write `source` (one) or `sources` (a list), not both".into();
                self.error("conflicting-keys", message, "/sources", Anchor::Key, None, "", hint);
                unparsed.push("sources".into());
            }
            (Some(v), None) => source(self, v, "/source".into()),
            (None, Some(Value::Array(items))) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    source(self, item, format!("/sources/{i}"));
                }
            }
            (None, Some(_)) => {
                let hint = Some("write each source as a `- { id: …, type: … }` item".into());
                self.error(
                    "wrong-type",
                    "`sources` must be a non-empty list".into(),
                    "/sources",
                    Anchor::Value,
                    None,
                    "",
                    hint,
                );
                unparsed.push("sources".into());
            }
            (None, None) => {
                self.missing_top("source", "add `source: { id: input, type: file, path: data.ndjson }`");
                unparsed.push("source".into());
            }
        }
        let mut steps = Vec::new();
        match root.get("steps") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let pointer = format!("/steps/{i}");
                    match self.component::<StepConfig, StepCommon>(item, &pointer) {
                        Some((common, config)) => steps.push(StepSpec { common, config, origin: origin(pointer) }),
                        None => unparsed.push(component_id(item, &pointer)),
                    }
                }
            }
            Some(_) => {
                unparsed.push("steps".into());
                self.error(
                    "wrong-type",
                    "`steps` must be a list".into(),
                    "/steps",
                    Anchor::Value,
                    None,
                    "",
                    Some("write each step as a `- id: …` item".into()),
                );
            }
        }
        let mut sinks = Vec::new();
        match root.get("sinks") {
            Some(Value::Array(items)) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    let pointer = format!("/sinks/{i}");
                    match self.component::<SinkConfig, SinkCommon>(item, &pointer) {
                        Some((common, config)) => sinks.push(SinkSpec { common, config, origin: origin(pointer) }),
                        None => unparsed.push(component_id(item, &pointer)),
                    }
                }
            }
            Some(Value::Array(_)) => {
                self.error(
                    "no-sink",
                    "a pipeline needs at least one sink".into(),
                    "/sinks",
                    Anchor::Key,
                    None,
                    "",
                    Some("add `- { id: out, type: stdout }`".into()),
                );
            }
            Some(_) => {
                unparsed.push("sinks".into());
                self.error("wrong-type", "`sinks` must be a list".into(), "/sinks", Anchor::Value, None, "", None);
            }
            None => {
                unparsed.push("sinks".into());
                self.missing_top("sinks", "add `sinks: [{ id: out, type: stdout }]`");
            }
        }
        let dead_letter = root.get("dead_letter").map(|v| self.de(v, "/dead_letter", None, ""));
        let tables = root.get("tables").map(|v| self.de(v, "/tables", None, ""));
        let runtime = root.get("runtime").map(|v| self.de(v, "/runtime", None, ""));
        let retention = root.get("retention").map(|v| self.de(v, "/retention", None, ""));
        let schedule: Option<Option<ScheduleConfig>> = root.get("schedule").map(|v| self.de(v, "/schedule", None, ""));
        if let Some(Some(config)) = &schedule
            && let Err(e) = config.build()
        {
            let at = format!("/schedule/{}", e.key);
            let anchor = if root["schedule"].get(e.key).is_some() { Anchor::Key } else { Anchor::Value };
            let at = if anchor == Anchor::Key { at } else { "/schedule".to_string() };
            self.error("invalid-schedule", e.message, &at, anchor, None, "", Some(e.hint));
        }
        Some(PipelineConfig {
            name: name?,
            description,
            schedule: match schedule {
                None => None,
                Some(parsed) => Some(parsed?),
            },
            sources,
            steps,
            sinks,
            dead_letter: dead_letter.unwrap_or(Some(None))?,
            tables: tables.unwrap_or(Some(Default::default()))?,
            retention: retention.unwrap_or(Some(Default::default()))?,
            runtime: runtime.unwrap_or(Some(Default::default()))?,
            unparsed,
        })
    }

    fn missing_top(&mut self, key: &str, hint: &str) {
        let first = self.file.text.lines().next().unwrap_or("").to_string();
        let location = Some(crate::config::diagnostic::Location {
            file: self.file.display.clone(),
            pos: Default::default(),
            line_text: first,
        });
        self.diagnostics.push(
            Diagnostic::new("missing-field", format!("missing field `{key}`"))
                .with_hint(hint)
                .at(location)
                .with_field(key),
        );
    }
}

/// The id of a component that failed to parse, or its position when it has none.
fn component_id(item: &Value, pointer: &str) -> String {
    item.get("id").and_then(Value::as_str).map_or_else(|| pointer.to_string(), str::to_string)
}
