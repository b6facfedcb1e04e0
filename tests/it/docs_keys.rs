//! The key tables of `docs/steps.md` and `docs/connectors.md` are generated from the pipeline schema
//! and, for connection kinds, the connections schema (the config structs' doc comments, types and
//! defaults): between `<!-- weir:keys def=DEF -->` and
//! `<!-- /weir:keys -->` a table of the keys of `$defs/DEF` is written, and this test fails when one is
//! stale. `WEIR_UPDATE_DOCS=1 cargo test --test it docs_keys::` rewrites them.
//!
//! Columns: the key (nested keys of a mapping as `key.sub`, of a map of mappings as `key.NAME.sub`),
//! its type as the schema states it, its default (the schema's `default`, else `required`, else the
//! description's `(default: …)` or "`value` (default)", else none) and its description.

use serde_json::Value;

use crate::support::repo;

/// Keys every component of a kind has, documented once in `configuration.md` rather than per type.
const COMMON: &[&str] = &["id", "type", "inputs", "on_error"];

const OPEN: &str = "<!-- weir:keys def=";
const CLOSE: &str = "<!-- /weir:keys -->";

/// Follows a local `$ref`, and an `anyOf` of one schema and `null` (an optional key).
fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
        return resolve(&root["$defs"][target], root);
    }
    if let Some(Value::Array(options)) = schema.get("anyOf") {
        let not_null: Vec<&Value> = options.iter().filter(|o| o.get("type") != Some(&Value::from("null"))).collect();
        if let [only] = not_null.as_slice() {
            return resolve(only, root);
        }
    }
    schema
}

fn type_of(schema: &Value, root: &Value) -> String {
    // A duration (optional or not) is named as such rather than as the string it is written as.
    let is_duration = |s: &Value| s.get("$ref").and_then(Value::as_str) == Some("#/$defs/Duration");
    if is_duration(schema) || schema.get("anyOf").and_then(Value::as_array).is_some_and(|o| o.iter().any(is_duration)) {
        return "duration".into();
    }
    let schema = resolve(schema, root);
    if let Some(Value::Array(values)) = schema.get("enum") {
        return values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| format!("`{}`", spelled(v)))
            .collect::<Vec<_>>()
            .join(" / ");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            let mut kinds: Vec<String> = Vec::new();
            for o in options {
                if o.get("type") == Some(&Value::from("null")) {
                    continue;
                }
                let k = type_of(o, root);
                if !kinds.contains(&k) {
                    kinds.push(k);
                }
            }
            return kinds.join(" or ");
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => Vec::new(),
    };
    if types.len() != 1 {
        return "any".into();
    }
    let minimum = schema.get("minimum").and_then(Value::as_f64).filter(|m| *m > 0.0 || types[0] == "number");
    match types[0] {
        "boolean" => "bool".into(),
        "integer" | "number" => {
            let name = if types[0] == "integer" { "integer" } else { "number" };
            match (minimum, schema.get("exclusiveMinimum").and_then(Value::as_f64)) {
                (Some(m), _) => format!("{name} ≥ {m}"),
                (None, Some(m)) => format!("{name} > {m}"),
                _ => name.into(),
            }
        }
        "string" => match schema.get("maxLength").and_then(Value::as_u64) {
            Some(1) => "one character".into(),
            _ => "string".into(),
        },
        "array" => match schema.get("items") {
            Some(items) => format!("list of {}", plural(&type_of(items, root))),
            None => "list".into(),
        },
        "object" => match schema.get("additionalProperties") {
            Some(Value::Object(_)) if schema.get("properties").is_none() => {
                format!("map: name → {}", type_of(&schema["additionalProperties"], root))
            }
            _ if schema.get("properties").is_some() => "mapping".into(),
            _ => "map".into(),
        },
        other => other.into(),
    }
}

fn spelled(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
}

/// What each allowed value does (from `markdownEnumDescriptions`), for the meaning column.
fn values_meaning(schema: &Value, root: &Value) -> String {
    let schema = resolve(schema, root);
    let (Some(Value::Array(values)), Some(Value::Array(texts))) =
        (schema.get("enum"), schema.get("markdownEnumDescriptions"))
    else {
        return String::new();
    };
    let parts: Vec<String> = values
        .iter()
        .zip(texts)
        .filter(|(v, t)| !v.is_null() && t.as_str().is_some_and(|t| !t.is_empty()))
        .map(|(v, t)| format!("`{}`: {}", spelled(v), one_line(t.as_str().unwrap_or_default()).trim_end_matches('.')))
        .collect();
    if parts.is_empty() { String::new() } else { format!(" {}.", parts.join("; ")) }
}

fn plural(kind: &str) -> String {
    match kind {
        "string" => "strings".into(),
        "mapping" | "map" => "maps".into(),
        other => other.into(),
    }
}

/// The description on one line (doc comments wrap), with `|` escaped for the table.
fn one_line(text: &str) -> String {
    text.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn default_of(schema: &Value, required: bool, description: &str) -> String {
    if let Some(default) = schema.get("default") {
        return match default {
            Value::Object(m) if m.is_empty() => "`{}`".into(),
            Value::Array(a) if a.is_empty() => "`[]`".into(),
            Value::String(s) => format!("`{s}`"),
            // A float default written as a whole number is shown as one (`0`, not `0.0`).
            Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) && !n.is_i64() && !n.is_u64() => {
                format!("`{}`", n.as_f64().unwrap_or_default() as i64)
            }
            other => format!("`{other}`"),
        };
    }
    if required {
        return "required".into();
    }
    if let Some(start) = description.find("(default: ").or_else(|| description.find("(default ")) {
        let rest = &description[start..];
        let rest = rest.strip_prefix("(default: ").or_else(|| rest.strip_prefix("(default ")).unwrap_or(rest);
        let mut depth = 0;
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => return one_line(&rest[..i]),
                ')' => depth -= 1,
                _ => {}
            }
        }
    }
    if let Some(end) = description.find("` (default)")
        && let Some(start) = description[..end].rfind('`')
    {
        return format!("`{}`", &description[start + 1..end]);
    }
    "none".into()
}

fn rows(prefix: &str, object: &Value, root: &Value, skip: &[&str], out: &mut Vec<String>) {
    let Some(Value::Object(props)) = object.get("properties") else { return };
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, prop) in props {
        if skip.contains(&name.as_str()) {
            continue;
        }
        let key = format!("{prefix}{name}");
        let description = prop.get("description").and_then(Value::as_str).unwrap_or("");
        out.push(format!(
            "| `{key}` | {} | {} | {} |",
            type_of(prop, root),
            default_of(prop, required.contains(&name.as_str()), description),
            one_line(description) + &values_meaning(prop, root)
        ));
        let inner = resolve(prop, root);
        if inner.get("properties").is_some() {
            rows(&format!("{key}."), inner, root, &[], out);
        } else if let Some(values) = inner.get("additionalProperties").filter(|v| v.is_object()) {
            let value = resolve(values, root);
            let mapping = value.get("properties").map(|_| value).or_else(|| {
                ["anyOf", "oneOf"].iter().find_map(|k| {
                    value
                        .get(*k)
                        .and_then(Value::as_array)
                        .and_then(|o| o.iter().map(|o| resolve(o, root)).find(|o| o.get("properties").is_some()))
                })
            });
            if let Some(mapping) = mapping {
                rows(&format!("{key}.NAME."), mapping, root, &[], out);
            }
        }
    }
}

/// The table of the keys of `$defs/DEF`, from the first of `roots` (the pipeline schema, then the
/// connections schema) that defines it.
fn table(def: &str, roots: &[Value]) -> String {
    let root = roots
        .iter()
        .find(|root| root["$defs"][def].is_object())
        .unwrap_or_else(|| panic!("no `$defs/{def}` in the pipeline or connections schema"));
    let schema = &root["$defs"][def];
    let mut out = vec!["| key | type | default | meaning |".to_string(), "|---|---|---|---|".to_string()];
    rows("", schema, root, COMMON, &mut out);
    out.join("\n")
}

/// `text` with every marked table regenerated.
fn regenerate(text: &str, roots: &[Value]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after_open = start + rest[start..].find("-->").expect("marker closed") + 3;
        let def = rest[start + OPEN.len()..after_open - 3].trim().to_string();
        let end = after_open + rest[after_open..].find(CLOSE).unwrap_or_else(|| panic!("`{def}` table has no {CLOSE}"));
        out.push_str(&rest[..after_open]);
        out.push('\n');
        out.push_str(&table(&def, roots));
        out.push('\n');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn key_tables_match_the_schema() {
    let roots = [weir::api::pipeline_schema(), weir::api::connections_schema()];
    let update = std::env::var_os("WEIR_UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for doc in ["docs/steps.md", "docs/connectors.md"] {
        let path = repo().join(doc);
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(text.contains(OPEN), "{doc} has no generated key table");
        let generated = regenerate(&text, &roots);
        if generated != text {
            if update {
                std::fs::write(&path, generated).expect("writable");
            } else {
                stale.push(doc);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale key tables in {stale:?}: run `WEIR_UPDATE_DOCS=1 cargo test --test it docs_keys::`"
    );
}
