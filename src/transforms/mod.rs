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
pub mod reconcile;
pub mod template;
#[cfg(test)]
pub(crate) mod testing;
pub mod validate;

use crate::kernel::build::{BuildContext, BuildErrors};

pub use crate::kernel::step::{Output, Rejected, Transform};

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
        "reconcile" => Reconcile(reconcile::ReconcileConfig),
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
            StepConfig::Reconcile(c) => Box::new(c.build(ctx)?),
        })
    }
}
