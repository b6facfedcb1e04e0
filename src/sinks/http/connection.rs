//! An HTTP connection of the folder (`connections.yaml`, `type: http`): the base URL, headers and time
//! limit every HTTP component naming it shares. The HTTP connector owns this config; the build context
//! hands it to the components that name it (`BuildContext::connection`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::duration::Duration;

/// The kind a connection of this config is (`type:`), as named in errors.
pub const KIND: &str = "http";

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
