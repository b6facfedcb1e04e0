//! Steps: the components between a source and its sinks. Each step is one file holding its config struct
//! (serde + schemars), its `build()` that compiles every expression up front, its runtime type
//! implementing [`Transform`], and its tests. [`StepConfig`] is the closed registry of step types.

pub mod batch;
pub mod context;
pub mod dedupe;
pub mod explode;
pub mod fields;
pub mod filter;
pub mod group;
pub mod jsonpath;
pub mod lookup;
pub mod template;
pub mod validate;

use std::time::Instant;

use crate::build::{BuildContext, BuildErrors};
use crate::record::Record;

/// A record that a step could not process, bound for the dead-letter output.
#[derive(Debug)]
pub struct Rejected {
    /// The record as it entered the step.
    pub record: Record,
    /// Why it was rejected.
    pub error: String,
}

/// What a step produced from one call.
#[derive(Debug, Default)]
pub struct Output {
    /// Records passed downstream.
    pub records: Vec<Record>,
    /// Records bound for the dead-letter output.
    pub rejected: Vec<Rejected>,
    /// How many records were dropped on purpose.
    pub filtered: u64,
    /// A fatal error that must stop the pipeline (e.g. a lookup miss with policy `error`).
    pub fatal: Option<String>,
}

impl Output {
    /// Passes a record downstream.
    pub fn emit(&mut self, record: Record) {
        self.records.push(record);
    }

    /// Drops a record on purpose; its inputs count it as filtered.
    pub fn filter(&mut self, record: Record) {
        record.mark_filtered();
        self.filtered += 1;
    }

    /// Sends a record to the dead-letter output.
    pub fn reject(&mut self, record: Record, error: impl std::fmt::Display) {
        self.rejected.push(Rejected { record, error: error.to_string() });
    }

    /// Stops the pipeline; the record is not acknowledged and will be read again on the next run.
    pub fn fail(&mut self, record: Record, error: impl std::fmt::Display) {
        drop(record);
        if self.fatal.is_none() {
            self.fatal = Some(error.to_string());
        }
    }
}

/// A built step.
pub trait Transform: Send {
    /// Processes a batch of records.
    fn process(&mut self, batch: Vec<Record>, out: &mut Output);

    /// Called once when every input has ended: emit whatever is buffered.
    fn flush(&mut self, _out: &mut Output) {}

    /// When the step wants [`Transform::on_deadline`] called (time-based batches).
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// Called at or after [`Transform::deadline`].
    fn on_deadline(&mut self, _out: &mut Output) {}
}

crate::config::registry::component_registry! {
    /// Every step type, selected by `type:`.
    StepConfig, "step" {
        "jsonpath" => Jsonpath(jsonpath::JsonpathConfig),
        "template" => Template(template::TemplateConfig),
        "lookup" => Lookup(lookup::LookupConfig),
        "explode" => Explode(explode::ExplodeConfig),
        "group" => Group(group::GroupConfig),
        "filter" => Filter(filter::FilterConfig),
        "set" => Set(fields::SetConfig),
        "rename" => Rename(fields::RenameConfig),
        "remove" => Remove(fields::RemoveConfig),
        "validate" => Validate(validate::ValidateConfig),
        "dedupe" => Dedupe(dedupe::DedupeConfig),
        "batch" => Batch(batch::BatchConfig),
    }
}

impl StepConfig {
    /// Compiles the step.
    pub fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Transform>, BuildErrors> {
        Ok(match self {
            StepConfig::Jsonpath(c) => Box::new(c.build(ctx)?),
            StepConfig::Template(c) => Box::new(c.build(ctx)?),
            StepConfig::Lookup(c) => Box::new(c.build(ctx)?),
            StepConfig::Explode(c) => Box::new(c.build(ctx)?),
            StepConfig::Group(c) => Box::new(c.build(ctx)?),
            StepConfig::Filter(c) => Box::new(c.build(ctx)?),
            StepConfig::Set(c) => Box::new(c.build(ctx)?),
            StepConfig::Rename(c) => Box::new(c.build(ctx)?),
            StepConfig::Remove(c) => Box::new(c.build(ctx)?),
            StepConfig::Validate(c) => Box::new(c.build(ctx)?),
            StepConfig::Dedupe(c) => Box::new(c.build(ctx)?),
            StepConfig::Batch(c) => Box::new(c.build(ctx)?),
        })
    }
}

/// Test helpers for steps.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::{Output, Transform};
    use crate::build::BuildContext;
    use crate::expr::template::{TemplateEngine, TemplateOptions};
    use crate::record::Record;
    use crate::tables::{Table, Tables};

    /// A build context with one table `sizes` (magento,erp: S→SM, M→MD).
    pub(crate) fn context() -> BuildContext {
        let mut tables = Tables::default();
        let rows =
            vec![serde_json::json!({"magento": "S", "erp": "SM"}), serde_json::json!({"magento": "M", "erp": "MD"})]
                .into_iter()
                .filter_map(|v| v.as_object().cloned())
                .collect();
        tables.insert(Table::from_rows("sizes", rows).expect("valid table"));
        let tables = Arc::new(tables);
        BuildContext {
            templates: TemplateEngine::new(Arc::clone(&tables), TemplateOptions::default()),
            tables,
            base_dir: PathBuf::from("."),
            pipeline: "test".into(),
        }
    }

    /// Runs one batch through a step and flushes it.
    pub(crate) fn run(step: &mut dyn Transform, values: Vec<serde_json::Value>) -> Output {
        let mut out = Output::default();
        step.process(values.into_iter().map(Record::new).collect(), &mut out);
        step.flush(&mut out);
        out
    }

    /// The values of the emitted records.
    pub(crate) fn values(out: &Output) -> Vec<serde_json::Value> {
        out.records.iter().map(|r| r.value.clone()).collect()
    }
}
