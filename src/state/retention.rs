//! What the state store keeps of a pipeline's history (the `retention:` key of a pipeline): its settings,
//! read from the pipeline file and applied by the store after every run (`sqlite::retention`).

use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::duration::Duration;

/// What the state store keeps of a pipeline's history, per kind. Writing a kind replaces its defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetentionConfig {
    /// The per-record audit log read by `weir trace` (default: 90 days).
    #[serde(default = "default_audit_retention")]
    pub(crate) audit: RetentionRule,
    /// The run history read by `weir runs` (default: 365 days).
    #[serde(default = "default_runs_retention")]
    pub(crate) runs: RetentionRule,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { audit: default_audit_retention(), runs: default_runs_retention() }
    }
}

fn default_audit_retention() -> RetentionRule {
    RetentionRule { max_age: Some(Duration(std::time::Duration::from_secs(90 * 86_400))), max_entries: None }
}

fn default_runs_retention() -> RetentionRule {
    RetentionRule { max_age: Some(Duration(std::time::Duration::from_secs(365 * 86_400))), max_entries: None }
}

/// How much of one kind of history to keep; both limits apply when both are set. Neither: keep all.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    /// Remove entries older than this (e.g. `30d`, `12h`).
    #[serde(default)]
    pub(crate) max_age: Option<Duration>,
    /// Keep at most this many of the newest entries.
    #[serde(default)]
    pub(crate) max_entries: Option<u64>,
}
