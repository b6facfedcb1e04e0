//! `filter`: keeps the records for which a condition holds and drops the rest (counted as filtered).

use schemars::JsonSchema;
use serde::Deserialize;

use super::context::with_context;
use super::{Output, Transform};
use crate::expr::template::ExprTemplate;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;

/// Keeps records matching a condition.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilterConfig {
    /// A minijinja expression, e.g. `record.status in ['processing', 'complete']` (may be wrapped in
    /// `{{ }}`). Records for which it is true pass; the others are dropped and counted as filtered.
    /// Jinja truthiness: `false`, `none`, `0`, `""`, empty lists and empty maps are false.
    pub(crate) when: String,
}

/// Built `filter` step.
#[derive(Debug)]
pub(crate) struct Filter {
    when: ExprTemplate,
}

impl FilterConfig {
    /// Compiles the condition.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<Filter, BuildErrors> {
        let mut errors = BuildErrors::default();
        let when = errors.expression(ctx, &["when"], &self.when);
        errors.finish(|| Some(Filter { when: when? }))
    }
}

impl Transform for Filter {
    fn reads(&self) -> crate::expr::reads::Reads {
        self.when.reads().clone()
    }

    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        for mut record in batch {
            match with_context(&mut record, |ctx| self.when.is_true(ctx)) {
                Ok(true) => out.emit(record),
                Ok(false) => out.filter(record),
                Err(e) => out.reject(record, format!("condition failed: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::testing::{context, run};
    use serde_json::json;

    #[test]
    fn keeps_matching_drops_others_rejects_errors() {
        let ctx = context();
        let mut step = FilterConfig { when: "{{ record.status == 'paid' }}".into() }.build(&ctx).expect("builds");
        let out = run(&mut step, vec![json!({"status": "paid"}), json!({"status": "new"}), json!({"nostatus": 1})]);
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.filtered, 1);
        assert_eq!(out.rejected.len(), 1);
        assert!(out.rejected[0].error.contains("condition failed"), "{}", out.rejected[0].error);
    }

    #[test]
    fn bad_expression_fails_build_at_field() {
        let err = FilterConfig { when: "record.status ==".into() }.build(&context()).expect_err("must fail");
        assert_eq!(err.0[0].field, vec!["when"]);
        assert_eq!(err.0[0].code, "bad-template");
    }
}
