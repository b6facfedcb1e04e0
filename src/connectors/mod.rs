//! Connectors: what the components talking to one kind of remote system share — the kinds of
//! connection `connections.yaml` may name (one registry line each), and, per connector, its connection's
//! config, its checks and its runtime object. Components (the HTTP sink, later the HTTP source and
//! request step) take a built connection by name from the build context; nothing here knows them.

pub(crate) mod http;

use crate::kernel::build::{BuildErrors, NamedConnection};

/// What a connection's `build()` may check against: the rest of `connections.yaml`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionContext {
    /// The name of the connection being built (what its metrics are labelled with).
    pub name: String,
    /// The names of the file's `rate_limits`.
    pub rate_limits: Vec<String>,
    /// Those that are valid, built: one per name for the whole process, shared by every connection
    /// (and so every component) naming it.
    pub limits: crate::kernel::rate_limit::RateLimits,
    /// The folder `connections.yaml` is in: relative paths (a CA bundle) are resolved against it.
    pub base_dir: std::path::PathBuf,
}

// One line per kind of connection: its `type:`, its variant and its config struct, whose
// `build(&ConnectionContext)` checks it and returns the runtime connection components take by name.
crate::config::registry::component_registry! {
    /// A named connection of `connections.yaml`, by its `type:`.
    ConnectionConfig, "connection", build(ConnectionContext) -> Box<dyn std::any::Any + Send + Sync>, BuildErrors {
        "http" => Http(http::HttpConnectionConfig),
    }
}

impl ConnectionConfig {
    /// Checks the connection and builds what the build context holds under its name: its kind (the
    /// `type:`) and its runtime connection.
    pub(crate) fn connect(&self, ctx: &ConnectionContext) -> Result<NamedConnection, BuildErrors> {
        Ok(NamedConnection::from_box(self.type_name(), self.build(ctx)?))
    }
}
