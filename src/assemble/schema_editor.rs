//! Reshapes the generated JSON Schema for editors (yaml-language-server, which VS Code's YAML extension
//! runs): the same constraints, written in the forms the server turns into completions and hovers.
//! Each rule answers something the server did with schemars' output as generated (see
//! `tests/it/editor.rs`, which drives the server).

use serde_json::{Map, Value};

/// The accepted duration spellings, shown on a bad value and offered as examples.
const DURATION_EXAMPLES: [&str; 4] = ["500ms", "30s", "5m", "1h 30m"];

/// Applies every rule to a root schema (its `$defs` included).
pub(crate) fn for_editors(schema: &mut Value) {
    describe_component_types(schema);
    walk(schema);
    durations(schema);
}

/// Every object of the schema, depth first, gets the per-node rules.
fn walk(node: &mut Value) {
    match node {
        Value::Object(obj) => {
            consts_to_enum(obj);
            // A `null` default is the absence of a value: completion would insert `key: null`.
            if obj.get("default") == Some(&Value::Null) {
                obj.remove("default");
            }
            markdown(obj);
            if let Some(Value::Object(props)) = obj.get_mut("properties") {
                props.values_mut().for_each(any_value);
            }
            for value in obj.values_mut() {
                walk(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(walk),
        _ => {}
    }
}

/// `oneOf` of `const`s (how schemars writes a documented unit enum) becomes `enum` plus the values'
/// descriptions: the server completes a key whose schema is a `oneOf` without `: ` and, hovering the
/// key, shows the matching value's description instead of the key's.
fn consts_to_enum(obj: &mut Map<String, Value>) {
    let Some(Value::Array(alternatives)) = obj.get("oneOf") else { return };
    // A bare YAML `null` accepted as a spelling of one of the values is an alternative `{"type": "null"}`.
    let is_null = |a: &Value| a.get("type").and_then(Value::as_str) == Some("null") && a.get("const").is_none();
    if !alternatives.iter().any(|a| a.get("const").is_some())
        || !alternatives.iter().all(|a| a.get("const").is_some() || is_null(a))
    {
        return;
    }
    let values: Vec<Value> = alternatives.iter().map(|a| a.get("const").cloned().unwrap_or(Value::Null)).collect();
    let descriptions: Vec<Value> = alternatives
        .iter()
        .map(|a| a.get("description").cloned().unwrap_or_else(|| Value::String(String::new())))
        .collect();
    let nullable = alternatives.iter().any(is_null);
    if values.iter().all(|v| v.is_string() || v.is_null()) {
        let ty = if nullable { serde_json::json!(["string", "null"]) } else { Value::String("string".into()) };
        obj.insert("type".into(), ty);
    }
    obj.remove("oneOf");
    obj.insert("enum".into(), Value::Array(values));
    obj.insert("enumDescriptions".into(), Value::Array(descriptions.clone()));
    obj.insert("markdownEnumDescriptions".into(), Value::Array(descriptions));
}

/// A property taking any value (no keyword but its description) gets every JSON type spelled out,
/// which accepts the same values: given no type at all, the server completes the bare key, without
/// `: `.
fn any_value(property: &mut Value) {
    let Value::Object(obj) = property else { return };
    // The `null` default (removed later in the walk) says nothing about the type either.
    let describes_only = obj.iter().all(|(k, v)| {
        matches!(k.as_str(), "description" | "markdownDescription" | "title") || (k == "default" && v.is_null())
    });
    if describes_only {
        let every = ["string", "number", "boolean", "object", "array", "null"];
        obj.insert("type".into(), Value::Array(every.iter().map(|t| Value::String((*t).to_string())).collect()));
    }
}

/// The server escapes `description` as plain text (literal backticks, lines broken where the doc
/// comment wrapped); `markdownDescription` is rendered. Both are kept: other tools read `description`.
fn markdown(obj: &mut Map<String, Value>) {
    if let Some(Value::String(text)) = obj.get("description") {
        let text = text.clone();
        obj.insert("markdownDescription".into(), Value::String(text));
    }
}

/// One `type:` value of a registry: (its variant definition, the type, its description).
type ComponentType = (String, String, String);

/// The `type` of a step, source or sink is described by its config struct's doc comment (the variant
/// definition's `description`) rather than "The step type.": in the list of types (`enum` +
/// `markdownEnumDescriptions`) and on each variant's `const`, which is what completion shows.
fn describe_component_types(schema: &mut Value) {
    let Some(Value::Object(defs)) = schema.get("$defs") else { return };
    let mut registries: Vec<(String, Vec<ComponentType>)> = Vec::new();
    for (name, def) in defs {
        let Some(Value::Array(variants)) = def.get("oneOf") else { continue };
        if def.pointer("/properties/type/enum").is_none() {
            continue;
        }
        let mut types = Vec::new();
        for variant in variants {
            let Some(target) = variant.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/"))
            else {
                continue;
            };
            let Some(body) = defs.get(target) else { continue };
            let (Some(tag), Some(text)) = (
                body.pointer("/properties/type/const").and_then(Value::as_str),
                body.get("description").and_then(Value::as_str),
            ) else {
                continue;
            };
            types.push((target.to_string(), tag.to_string(), text.to_string()));
        }
        registries.push((name.clone(), types));
    }
    let Some(Value::Object(defs)) = schema.get_mut("$defs") else { return };
    for (registry, types) in registries {
        for (target, _, text) in &types {
            if let Some(Value::Object(ty)) = defs.get_mut(target).and_then(|d| d.pointer_mut("/properties/type")) {
                ty.insert("description".into(), Value::String(text.clone()));
            }
        }
        let Some(Value::Object(list)) = defs.get_mut(&registry).and_then(|d| d.pointer_mut("/properties/type")) else {
            continue;
        };
        let listed: Vec<&str> = list
            .get("enum")
            .and_then(Value::as_array)
            .map(|values| values.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let descriptions: Vec<Value> = listed
            .iter()
            .map(|tag| {
                let text = types.iter().find(|(_, t, _)| t == tag).map(|(_, _, text)| text.as_str()).unwrap_or("");
                Value::String(text.to_string())
            })
            .collect();
        list.insert("enumDescriptions".into(), Value::Array(descriptions.clone()));
        list.insert("markdownEnumDescriptions".into(), Value::Array(descriptions));
    }
}

/// A bad duration is explained in words rather than by the regular expression, and the accepted
/// spellings are offered as examples.
fn durations(schema: &mut Value) {
    let Some(Value::Object(duration)) = schema.pointer_mut("/$defs/Duration") else { return };
    let examples = DURATION_EXAMPLES.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ");
    duration.insert(
        "patternErrorMessage".into(),
        Value::String(format!(
            "Not a duration: write a number and a unit (`ms`, `s`, `m`, `h`, `d`), e.g. {examples}."
        )),
    );
    duration.insert(
        "examples".into(),
        Value::Array(DURATION_EXAMPLES.iter().map(|e| Value::String((*e).to_string())).collect()),
    );
}
