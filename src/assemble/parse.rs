//! Positioned JSON values → typed configs. Deserializes piece by piece (each component's common keys,
//! then its type's struct) so that one bad component does not hide the errors of the others, checks
//! unknown keys against what the struct accepts (all of them, each with a did-you-mean), and maps serde's
//! error paths back to `file:line:col` through the file's position index.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::diagnostic::{Diagnostic, Diagnostics, suggestion};
use crate::config::file::{Anchor, ConfigFile};
use crate::config::registry::{Registry, schema_fields};
pub(crate) use crate::config::source_map::{escape, field_name};

mod document;

/// Parsing state for one file.
pub(crate) struct Parser<'a> {
    /// The file being parsed.
    pub(crate) file: &'a Arc<ConfigFile>,
    /// Errors found so far.
    pub(crate) diagnostics: &'a mut Diagnostics,
}

/// The JSON Pointer of the value serde failed on: `base` plus serde_path_to_error's path.
fn error_pointer(base: &str, path: &serde_path_to_error::Path) -> String {
    let mut at = base.to_string();
    for seg in path.iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => at.push_str(&format!("/{index}")),
            serde_path_to_error::Segment::Map { key } => {
                at.push('/');
                at.push_str(&escape(key));
            }
            _ => {}
        }
    }
    at
}

/// Extracts the backticked names from serde's "expected one of `a`, `b`" tail.
fn backticked(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

impl Parser<'_> {
    /// Records an error at `pointer`.
    #[allow(clippy::too_many_arguments)] // every argument is a distinct part of the diagnostic
    pub(crate) fn error(
        &mut self,
        code: &'static str,
        message: String,
        pointer: &str,
        anchor: Anchor,
        component: Option<&str>,
        base: &str,
        hint: Option<String>,
    ) {
        let mut d = Diagnostic::new(code, message)
            .at(self.file.locate(pointer, anchor))
            .with_component(component.map(str::to_string))
            .with_field(field_name(pointer, base));
        d.hint = hint;
        self.diagnostics.push(d);
    }

    /// Deserializes `value` (found at `pointer`) as `T`, reporting a failure with its exact position.
    pub(crate) fn de<T: DeserializeOwned>(
        &mut self,
        value: &Value,
        pointer: &str,
        component: Option<&str>,
        base: &str,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let at = error_pointer(pointer, e.path());
                self.serde_error(&e.into_inner().to_string(), &at, component, base);
                None
            }
        }
    }

    fn serde_error(&mut self, message: &str, at: &str, component: Option<&str>, base: &str) {
        if let Some(rest) = message.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or("");
            let hint = Some(format!("add `{name}: …` here"));
            self.error("missing-field", format!("missing field `{name}`"), at, Anchor::Key, component, base, hint);
        } else if let Some(rest) = message.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or("").to_string();
            let expected = backticked(rest.split_once(", expected").map_or("", |(_, t)| t));
            let refs: Vec<&str> = expected.iter().map(String::as_str).collect();
            let hint = Some(suggestion(&name, &refs, "allowed keys"));
            let key_at = if at.ends_with(&format!("/{}", escape(&name))) {
                at.to_string()
            } else {
                format!("{at}/{}", escape(&name))
            };
            self.error("unknown-field", format!("unknown field `{name}`"), &key_at, Anchor::Key, component, base, hint);
        } else if let Some(rest) = message.strip_prefix("unknown variant `") {
            let name = rest.split('`').next().unwrap_or("").to_string();
            let expected = backticked(rest.split_once(", expected").map_or("", |(_, t)| t));
            let refs: Vec<&str> = expected.iter().map(String::as_str).collect();
            let hint = Some(suggestion(&name, &refs, "allowed values"));
            self.error("bad-value", format!("unknown value `{name}`"), at, Anchor::Value, component, base, hint);
        } else if message.starts_with("invalid type")
            || message.starts_with("invalid value")
            || message.starts_with("invalid length")
        {
            self.error("wrong-type", message.to_string(), at, Anchor::Value, component, base, None);
        } else if message.starts_with("data did not match any variant") {
            let hint = Some("check the shape of this value against the documentation or the JSON Schema".into());
            self.error(
                "wrong-type",
                "this value has none of the accepted shapes".into(),
                at,
                Anchor::Value,
                component,
                base,
                hint,
            );
        } else {
            self.error("invalid", message.to_string(), at, Anchor::Value, component, base, None);
        }
    }

    /// Reports every key of `obj` not in `allowed`, each with a did-you-mean; true when there were none.
    pub(crate) fn check_keys(
        &mut self,
        obj: &Map<String, Value>,
        allowed: &[&str],
        pointer: &str,
        component: Option<&str>,
        base: &str,
    ) -> bool {
        let mut ok = true;
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                ok = false;
                let hint = Some(suggestion(key, allowed, "allowed keys"));
                let at = format!("{pointer}/{}", escape(key));
                self.error("unknown-field", format!("unknown field `{key}`"), &at, Anchor::Key, component, base, hint);
            }
        }
        ok
    }

    /// Parses one entry of a map of named components (the connections of `connections.yaml`): `type`
    /// and the type's keys, at `pointer`; errors name it as "KIND `name`".
    pub(crate) fn named<R: Registry>(&mut self, name: &str, value: &Value, pointer: &str) -> Option<R> {
        self.component_named::<R, NoCommonKeys>(value, pointer, Some(name)).map(|(_, own)| own)
    }

    /// Parses one component (`id`, `type`, common keys, the type's keys) at `pointer`.
    fn component<R: Registry, C: DeserializeOwned + schemars::JsonSchema>(
        &mut self,
        value: &Value,
        pointer: &str,
    ) -> Option<(C, R)> {
        self.component_named(value, pointer, None)
    }

    /// [`Parser::component`], named by `name` (a map's key) instead of by its `id`, if given.
    fn component_named<R: Registry, C: DeserializeOwned + schemars::JsonSchema>(
        &mut self,
        value: &Value,
        pointer: &str,
        name: Option<&str>,
    ) -> Option<(C, R)> {
        let common_fields = schema_fields::<C>();
        let Some(obj) = value.as_object() else {
            let id =
                if common_fields.iter().any(|f| f == "id") { format!("id: my_{}, ", R::KIND) } else { String::new() };
            let hint = Some(format!("write a mapping such as `{{ {id}type: … }}`"));
            self.error(
                "wrong-type",
                format!("a {} must be a mapping", R::KIND),
                pointer,
                Anchor::Value,
                None,
                pointer,
                hint,
            );
            return None;
        };
        let id = name.or_else(|| obj.get("id").and_then(Value::as_str));
        let label = match id {
            Some(id) => format!("{} `{id}`", R::KIND),
            None => format!("{} at {}", R::KIND, field_name(pointer, "")),
        };
        let label = Some(label.as_str());
        let type_name = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => {
                self.error(
                    "wrong-type",
                    "`type` must be a string".into(),
                    &format!("{pointer}/type"),
                    Anchor::Value,
                    label,
                    pointer,
                    None,
                );
                return None;
            }
            None => {
                let hint = Some(format!(
                    "add `type:` — one of {}",
                    R::TYPES.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
                ));
                self.error("missing-field", "missing field `type`".into(), pointer, Anchor::Key, label, pointer, hint);
                return None;
            }
        };
        let Some(fields) = R::fields(type_name) else {
            let hint = Some(suggestion(type_name, R::TYPES, &format!("{} types", R::KIND)));
            self.error(
                "unknown-type",
                format!("unknown {} type `{type_name}`", R::KIND),
                &format!("{pointer}/type"),
                Anchor::Value,
                label,
                pointer,
                hint,
            );
            return None;
        };
        let mut allowed: Vec<&str> = common_fields.iter().map(String::as_str).collect();
        allowed.push("type");
        allowed.extend(fields.iter().map(String::as_str));
        let keys_ok = self.check_keys(obj, &allowed, pointer, label, pointer);
        let (mut common, mut own) = (Map::new(), Map::new());
        for (k, v) in obj {
            if common_fields.iter().any(|c| c == k) {
                common.insert(k.clone(), v.clone());
            } else if k != "type" && fields.iter().any(|f| f == k) {
                own.insert(k.clone(), v.clone());
            }
        }
        let common: Option<C> = self.de(&Value::Object(common), pointer, label, pointer);
        let own = Value::Object(own);
        let own = match R::from_value(type_name, &own) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                let at = error_pointer(pointer, e.path());
                let message = e.into_inner().to_string();
                let explained = message.starts_with("data did not match any variant")
                    && R::schema(type_name)
                        .is_some_and(|schema| self.explain_shape(&schema, &own, &at, label, pointer));
                if !explained {
                    self.serde_error(&message, &at, label, pointer);
                }
                None
            }
            None => None,
        };
        if !keys_ok {
            return None;
        }
        Some((common?, own?))
    }
}

/// The common keys of a component that has none but `type` (a connection: its name is its map key).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoCommonKeys {}
