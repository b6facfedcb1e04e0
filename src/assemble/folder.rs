//! The files of a client folder besides its pipelines: `connections.yaml` (named connections, each of
//! a kind from the connectors' registry, and shared rate limits) and `shared.yaml` (definitions every
//! pipeline of the folder sees, such as tables). Connections are parsed one by one (so every error of
//! every connection is reported, each at its own line) and built once per folder.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde_json::Value;

use super::parse::{NoCommonKeys, Parser, escape};
use super::pipeline::{TableConfig, component_schema};
use crate::config::diagnostic::{Diagnostic, Diagnostics};
use crate::config::file::{Anchor, ConfigFile};
use crate::config::registry::schema_fields;
pub(crate) use crate::connectors::ConnectionConfig;
use crate::connectors::ConnectionContext;
use crate::kernel::build::NamedConnection;

/// `connections.yaml`.
#[derive(Debug, Clone, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct ConnectionsFile {
    /// Named connections that components refer to by name.
    #[serde(default)]
    #[schemars(schema_with = "connections_schema")]
    pub(crate) connections: BTreeMap<String, ConnectionConfig>,
    /// Named rate limits shared by every component that names them.
    #[serde(default)]
    pub(crate) rate_limits: BTreeMap<String, RateLimitConfig>,
}

/// A map of names to connections, each `type:` and the keys of that type.
fn connections_schema(generator: &mut SchemaGenerator) -> Schema {
    let connection = component_schema::<ConnectionConfig, NoCommonKeys>(generator, "connection");
    generator.definitions_mut().insert("Connection".into(), connection.to_value());
    json_schema!({ "type": "object", "additionalProperties": { "$ref": "#/$defs/Connection" }, "default": {} })
}

pub(crate) use crate::kernel::rate_limit::RateLimitConfig;

/// `shared.yaml`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SharedFile {
    /// Lookup tables visible to every pipeline of the folder.
    #[serde(default)]
    pub(crate) tables: BTreeMap<String, TableConfig>,
}

/// `connections.yaml` as parsed: what parsed, and which connections did not.
#[derive(Debug, Default)]
pub(super) struct ParsedConnections {
    /// The connections and rate limits that parsed.
    pub(crate) file: ConnectionsFile,
    /// The names of the connections that did not (their errors are reported).
    pub(crate) failed: Vec<String>,
    /// True when no connection could be read (`connections` is not a mapping): every name is unknown.
    pub(crate) unreadable: bool,
}

/// Parses `connections.yaml` (the parser's file): every connection by itself, by the registry of
/// connection kinds, each error reported at its place.
pub(super) fn parse_connections(parser: &mut Parser<'_>) -> ParsedConnections {
    let file = std::sync::Arc::clone(parser.file);
    let mut parsed = ParsedConnections::default();
    let Some(root) = file.value.as_object() else {
        if !file.value.is_null() {
            let hint = Some("`connections.yaml` is a mapping with `connections` and `rate_limits`".into());
            let message = "`connections.yaml` must be a mapping".to_string();
            parser.error("wrong-type", message, "", Anchor::Value, None, "", hint);
            parsed.unreadable = true;
        }
        return parsed;
    };
    let top = schema_fields::<ConnectionsFile>();
    parser.check_keys(root, &top.iter().map(String::as_str).collect::<Vec<_>>(), "", None, "");
    if let Some(limits) = root.get("rate_limits") {
        parsed.file.rate_limits = parser.de(limits, "/rate_limits", None, "").unwrap_or_default();
    }
    match root.get("connections") {
        None | Some(Value::Null) => {}
        Some(Value::Object(connections)) => {
            for (name, value) in connections {
                let pointer = format!("/connections/{}", escape(name));
                match parser.named::<ConnectionConfig>(name, value, &pointer) {
                    Some(c) => {
                        parsed.file.connections.insert(name.clone(), c);
                    }
                    None => parsed.failed.push(name.clone()),
                }
            }
        }
        Some(_) => {
            let hint = Some("write each connection as `NAME: { type: http, base_url: … }`".into());
            let message = "`connections` must be a mapping of names to connections".to_string();
            parser.error("wrong-type", message, "/connections", Anchor::Value, None, "", hint);
            parsed.unreadable = true;
        }
    }
    parsed
}

/// Builds every connection (its kind's `build()`: the checks deserialization cannot make), reporting
/// each problem at its line in `file`. A connection that did not parse (`failed`) or build is still
/// named, as one with errors: the components naming it fail without a second report.
pub(super) fn build_connections(
    connections: &ConnectionsFile,
    failed: &[String],
    file: &ConfigFile,
    diagnostics: &mut Diagnostics,
) -> BTreeMap<String, NamedConnection> {
    let mut limits = crate::kernel::rate_limit::RateLimits::default();
    for (name, limit) in &connections.rate_limits {
        match limit.build(name) {
            Ok(built) => limits.insert(built),
            Err(e) => diagnostics.push(
                Diagnostic::new("bad-rate-limit", e.to_string())
                    .with_component(Some(format!("rate limit `{name}`")))
                    .with_hint("e.g. `{ per_second: 20, burst: 40 }` or `{ per_minute: 1200 }`")
                    .at(file.locate(&format!("/rate_limits/{}", escape(name)), Anchor::Key)),
            ),
        }
    }
    let base_dir = file.path.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let ctx = ConnectionContext {
        name: String::new(),
        rate_limits: connections.rate_limits.keys().cloned().collect(),
        limits,
        base_dir,
    };
    let mut built: BTreeMap<String, NamedConnection> =
        failed.iter().map(|name| (name.clone(), NamedConnection::invalid())).collect();
    // In the order they are written, so errors read top to bottom.
    let mut written: Vec<(&String, &ConnectionConfig)> = connections.connections.iter().collect();
    written.sort_by_key(|(name, _)| {
        file.span(&format!("/connections/{}", escape(name))).map(|s| (s.value.line, s.value.col))
    });
    for (name, connection) in written {
        let base = format!("/connections/{}", escape(name));
        let named =
            connection.connect(&ConnectionContext { name: name.clone(), ..ctx.clone() }).unwrap_or_else(|errors| {
                for e in errors.0 {
                    let pointer: String = e.field.iter().fold(base.clone(), |p, f| format!("{p}/{}", escape(f)));
                    // A structure is pointed at by its key; a scalar at its value.
                    let container = file.value.pointer(&pointer).is_some_and(|v| v.is_object() || v.is_array());
                    let anchor = if e.field.is_empty() || container { Anchor::Key } else { Anchor::Value };
                    let mut d = Diagnostic::new(e.code, e.message)
                        .with_component(Some(format!("connection `{name}`")))
                        .with_field(e.field.join("."))
                        .at(file.locate(&pointer, anchor));
                    d.hint = e.hint;
                    diagnostics.push(d);
                }
                NamedConnection::invalid()
            });
        built.insert(name.clone(), named);
    }
    built
}
