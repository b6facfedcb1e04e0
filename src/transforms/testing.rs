//! Test helpers for steps: a build context with a small table, and running a batch through a step.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Output, Transform};
use crate::expr::template::{TemplateEngine, TemplateOptions};
use crate::kernel::build::BuildContext;
use crate::kernel::record::Record;
use crate::tables::{Table, Tables};

/// A build context with one table `sizes` (magento,erp: S→SM, M→MD).
pub(crate) fn context() -> BuildContext {
    let mut tables = Tables::default();
    let rows = vec![serde_json::json!({"magento": "S", "erp": "SM"}), serde_json::json!({"magento": "M", "erp": "MD"})]
        .into_iter()
        .filter_map(|v| v.as_object().cloned())
        .collect();
    tables.insert(Table::from_rows("sizes", rows).expect("valid table"));
    let tables = Arc::new(tables);
    BuildContext {
        templates: TemplateEngine::new(Arc::clone(&tables), TemplateOptions::default()),
        tables,
        base_dir: PathBuf::from("."),
        connections: Default::default(),
        connections_unreadable: false,
        request_hook: None,
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
