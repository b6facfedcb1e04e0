//! What `build()` needs and what it reports: the shared build context (template engine, tables, the
//! pipeline's folder) and build errors that name the offending field so the loader can point at it.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::expr::jsonpath::JsonPath;
use crate::expr::template::{ExprTemplate, StringTemplate, TemplateEngine, TemplateError, ValueTemplate};
use crate::tables::Tables;

/// Shared inputs of every component's `build()`.
#[derive(Debug, Clone)]
pub(crate) struct BuildContext {
    /// Compiles templates; knows the tables.
    pub(crate) templates: TemplateEngine,
    /// Lookup tables visible to the pipeline.
    pub(crate) tables: Arc<Tables>,
    /// The folder relative paths are resolved against.
    pub(crate) base_dir: PathBuf,
    /// The folder's named connections (`connections.yaml`), each as its connector's config; a component
    /// takes the one it names with [`BuildContext::connection`].
    pub(crate) connections: Arc<BTreeMap<String, NamedConnection>>,
    /// True when the folder's `connections.yaml` could not be read at all (its errors are reported
    /// there): no name is then known to be wrong, and every connection is taken as one with errors.
    pub(crate) connections_unreadable: bool,
    /// Answers the HTTP requests of the component being built instead of the network (`weir test`);
    /// `None` in normal runs.
    pub(crate) request_hook: Option<super::mock::RequestHook>,
}

/// One named connection: its kind (`type:`) and its connector's runtime connection, which only that
/// connector's components know the type of; or, when the connection has errors of its own, only that.
#[derive(Clone)]
pub(crate) struct NamedConnection {
    /// The connection's `type:` (`http`).
    pub(crate) kind: &'static str,
    /// `None` when the connection did not parse or build (its errors are reported where it is written).
    config: Option<Arc<dyn Any + Send + Sync>>,
}

impl NamedConnection {
    /// A connection of `kind` with its connector's `config`.
    #[cfg(test)]
    pub(crate) fn new<T: Any + Send + Sync>(kind: &'static str, config: T) -> Self {
        Self { kind, config: Some(Arc::new(config)) }
    }

    /// A connection of `kind` whose connector's `config` was built into a box (the registry's `build`).
    pub(crate) fn from_box(kind: &'static str, config: Box<dyn Any + Send + Sync>) -> Self {
        Self { kind, config: Some(Arc::from(config)) }
    }

    /// A connection that is written but has errors of its own: components naming it fail without
    /// reporting anything more ([`ConnectionError::Invalid`]).
    pub(crate) fn invalid() -> Self {
        Self { kind: "invalid", config: None }
    }
}

impl std::fmt::Debug for NamedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedConnection").field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// Why a component cannot have the connection it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConnectionError {
    /// No connection has that name.
    #[error("unknown connection `{name}`")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: Vec<String>,
    },
    /// The connection is of another kind than the component needs.
    #[error("connection `{name}` is a `{kind}` connection, not `{wanted}`")]
    WrongKind {
        /// The name asked for.
        name: String,
        /// Its kind.
        kind: &'static str,
        /// The kind the component needs.
        wanted: &'static str,
    },
    /// The connection has errors of its own, already reported where it is written.
    #[error("connection `{name}` has errors (reported where it is written)")]
    Invalid {
        /// The name asked for.
        name: String,
    },
}

/// The code of a [`BuildError`] that fails a component without being reported: its cause is reported
/// elsewhere (a connection the component names has errors of its own), and a second error pointing
/// at the component would only repeat it.
pub(crate) const FOLLOW_ON: &str = "follow-on";

impl BuildContext {
    /// The connection `name`, as the config `T` of connections of kind `wanted`.
    pub(crate) fn connection<T: Any + Send + Sync>(
        &self,
        name: &str,
        wanted: &'static str,
    ) -> Result<&T, ConnectionError> {
        let Some(named) = self.connections.get(name) else {
            if self.connections_unreadable {
                return Err(ConnectionError::Invalid { name: name.to_string() });
            }
            return Err(ConnectionError::Unknown {
                name: name.to_string(),
                known: self.connections.keys().cloned().collect(),
            });
        };
        let Some(config) = &named.config else {
            return Err(ConnectionError::Invalid { name: name.to_string() });
        };
        config.downcast_ref::<T>().ok_or(ConnectionError::WrongKind {
            name: name.to_string(),
            kind: named.kind,
            wanted,
        })
    }
}

/// One problem found while building a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildError {
    /// Path of the field inside the component, as JSON Pointer segments (`["set", "size"]`).
    pub(crate) field: Vec<String>,
    /// Short code (`bad-jsonpath`, `bad-template`, `unknown-table` …).
    pub(crate) code: &'static str,
    /// What is wrong.
    pub(crate) message: String,
    /// How to fix it.
    pub(crate) hint: Option<String>,
    /// Where inside the field's string value the problem is (1-based line and column), so the caret
    /// can point into an expression rather than at its start.
    pub(crate) offset: Option<(usize, usize)>,
}

/// Every problem found while building one component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BuildErrors(pub(crate) Vec<BuildError>);

impl BuildErrors {
    /// Records a problem at `field`.
    pub(crate) fn push(
        &mut self,
        field: &[&str],
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.0.push(BuildError {
            field: field.iter().map(|s| s.to_string()).collect(),
            code,
            message: message.into(),
            hint,
            offset: None,
        });
    }

    /// The connection `name` (written at `field`) as the runtime connection `T` of kind `wanted`, or
    /// `None` with the reason recorded: an unknown name (with a did-you-mean), a connection of another
    /// kind, or — as a [`FOLLOW_ON`] that is not reported again — one with errors of its own.
    pub(crate) fn connection<'c, T: Any + Send + Sync>(
        &mut self,
        ctx: &'c BuildContext,
        field: &[&str],
        name: &str,
        wanted: &'static str,
    ) -> Option<&'c T> {
        let e = match ctx.connection::<T>(name, wanted) {
            Ok(c) => return Some(c),
            Err(e) => e,
        };
        let hint = match &e {
            ConnectionError::Unknown { known, .. } if known.is_empty() => {
                "no connections are defined: add one to the folder's connections.yaml".to_string()
            }
            ConnectionError::Unknown { known, .. } => {
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                crate::config::diagnostic::suggestion(name, &known, "known connections")
            }
            ConnectionError::WrongKind { .. } => format!("name a connection of `type: {wanted}`"),
            ConnectionError::Invalid { .. } => {
                self.push(field, FOLLOW_ON, e.to_string(), None);
                return None;
            }
        };
        self.push(field, "unknown-connection", e.to_string(), Some(hint));
        None
    }

    /// Sets the in-value position of the most recent problem.
    fn at_offset(&mut self, offset: Option<(usize, usize)>) {
        if let Some(last) = self.0.last_mut() {
            last.offset = offset;
        }
    }

    /// `Ok` with what `build` makes of the parts compiled so far, when nothing was recorded. `build`
    /// takes each part with `?`: a part is missing only when its error was recorded; should one be
    /// missing without, that is reported as an internal error of the component, not a panic.
    pub(crate) fn finish<T>(mut self, build: impl FnOnce() -> Option<T>) -> Result<T, BuildErrors> {
        if !self.0.is_empty() {
            return Err(self);
        }
        match build() {
            Some(built) => Ok(built),
            None => {
                self.push(&[], "internal", "a part of this component did not compile and no error says why", None);
                Err(self)
            }
        }
    }

    /// Compiles a JSONPath, recording a failure at `field`.
    pub(crate) fn jsonpath(&mut self, field: &[&str], expr: &str) -> Option<JsonPath> {
        match JsonPath::compile(expr) {
            Ok(p) => Some(p),
            Err(e) => {
                let offset = e.column.map(|c| (1, c));
                self.push(
                    field,
                    "bad-jsonpath",
                    e.to_string(),
                    Some("JSONPath starts with `$`, e.g. `$.items[*].sku` (RFC 9535)".into()),
                );
                self.at_offset(offset);
                None
            }
        }
    }

    /// Compiles a string template, recording a failure at `field`.
    pub(crate) fn string_template(
        &mut self,
        ctx: &BuildContext,
        field: &[&str],
        source: &str,
    ) -> Option<StringTemplate> {
        ctx.templates.compile_string(source).map_err(|e| self.template_error(field, e)).ok()
    }

    /// Compiles a structured template, recording a failure at `field`.
    pub(crate) fn value_template(
        &mut self,
        ctx: &BuildContext,
        field: &[&str],
        value: &serde_json::Value,
    ) -> Option<ValueTemplate> {
        ctx.templates.compile_value(value).map_err(|e| self.template_error(field, e)).ok()
    }

    /// Compiles an expression (`{{ … }}` around it is allowed), recording a failure at `field`.
    pub(crate) fn expression(&mut self, ctx: &BuildContext, field: &[&str], source: &str) -> Option<ExprTemplate> {
        let trimmed = source.trim();
        let expr = trimmed.strip_prefix("{{").and_then(|s| s.strip_suffix("}}")).map_or(trimmed, str::trim);
        ctx.templates.compile_expression(expr).map_err(|e| self.template_error(field, e)).ok()
    }

    fn template_error(&mut self, field: &[&str], e: TemplateError) {
        match e {
            TemplateError::UnknownTable { name, known } => {
                let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
                let hint = if known.is_empty() {
                    "no tables are defined: add one under `tables:` or as tables/NAME.csv".to_string()
                } else {
                    crate::config::diagnostic::suggestion(&name, &known_refs, "known tables")
                };
                self.push(field, "unknown-table", format!("template uses unknown table `{name}`"), Some(hint));
            }
            other => {
                let offset = match &other {
                    TemplateError::Syntax { line, col, .. } => Some((*line, *col)),
                    _ => None,
                };
                let hint = match &other {
                    TemplateError::TooLarge { .. } => "a template builds at most 64 MiB of text per record: repeat or \
                                                       join less, or read the large value from the record"
                        .to_string(),
                    _ => "templates use minijinja syntax: `{{ record.field }}`".into(),
                };
                self.push(field, "bad-template", other.to_string(), Some(hint));
                self.at_offset(offset);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_hands_back_the_parts_or_every_error_never_panics() {
        assert_eq!(BuildErrors::default().finish(|| Some(7)).ok(), Some(7));
        let mut recorded = BuildErrors::default();
        recorded.push(&["when"], "bad-template", "broken", None);
        let part: Option<u8> = None;
        let errors = recorded.finish(|| part).err().map(|e| e.0.len());
        assert_eq!(errors, Some(1), "the recorded error, not a second one");
        // A part missing with nothing recorded is an internal error of the component.
        let internal = BuildErrors::default().finish(|| None::<u8>).err().map(|e| e.0.iter().map(|e| e.code).collect());
        assert_eq!(internal, Some(vec!["internal"]));
    }
}
