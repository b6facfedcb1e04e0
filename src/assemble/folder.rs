//! The files of a client folder besides its pipelines: `connections.yaml` (named endpoints and shared
//! rate limits) and `shared.yaml` (definitions every pipeline of the folder sees, such as tables).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::pipeline::TableConfig;

/// `connections.yaml`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsFile {
    /// Named connections that components refer to by name.
    #[serde(default)]
    pub connections: BTreeMap<String, ConnectionConfig>,
    /// Named rate limits shared by every component that names them.
    #[serde(default)]
    pub rate_limits: BTreeMap<String, RateLimitConfig>,
}

pub use crate::sinks::http::connection::{ConnectionConfig, ConnectionType};

/// A request budget shared by the components that name it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per second.
    #[serde(default)]
    pub per_second: Option<f64>,
    /// Requests per minute.
    #[serde(default)]
    pub per_minute: Option<f64>,
    /// Requests that may be sent at once after an idle period.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// `shared.yaml`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedFile {
    /// Lookup tables visible to every pipeline of the folder.
    #[serde(default)]
    pub tables: BTreeMap<String, TableConfig>,
}
