//! The files of a client folder besides its pipelines: `connections.yaml` (named endpoints and shared
//! rate limits) and `shared.yaml` (definitions every pipeline of the folder sees, such as tables).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::pipeline::TableConfig;
use crate::config::duration::Duration;

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

/// Kinds of connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionType {
    /// An HTTP API.
    Http,
}

/// A named connection to an API.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// The kind of connection.
    #[serde(rename = "type")]
    pub kind: ConnectionType,
    /// Base URL every path is joined to, e.g. `https://shop.example.com`.
    pub base_url: String,
    /// Headers sent with every request (values may use `${secret:NAME}`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Time limit for one request (e.g. `30s`).
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Name of a rate limit from `rate_limits`.
    #[serde(default)]
    pub rate_limit: Option<String>,
}

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
