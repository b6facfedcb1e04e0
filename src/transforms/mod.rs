//! Steps: the components between a source and its sinks. Each step is one file holding its config struct
//! (serde + schemars), its `build()` that compiles every expression up front, its runtime type
//! implementing [`Transform`], and its tests. [`StepConfig`] is the closed registry of step types.

pub(crate) mod batch;
pub(crate) mod context;
pub(crate) mod dedupe;
pub(crate) mod explode;
pub(crate) mod fields;
pub(crate) mod filter;
pub(crate) mod group;
pub(crate) mod http;
pub(crate) mod jsonpath;
pub(crate) mod lookup;
pub(crate) mod reconcile;
pub(crate) mod template;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod validate;

use crate::kernel::build::{BuildContext, BuildErrors};

pub(crate) use crate::kernel::step::{Output, Transform};

crate::config::registry::component_registry! {
    /// Every step type, selected by `type:`.
    StepConfig, "step", build(BuildContext) -> Box<dyn Transform>, BuildErrors {
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
        "http" => Http(Box<http::HttpStepConfig>),
    }
}
