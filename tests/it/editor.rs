//! The committed schemas as an editor sees them: yaml-language-server (the server behind VS Code's YAML
//! extension, installed by `scripts/test.sh`) is driven over LSP stdio against `schema/`, and what a
//! user gets is checked: diagnostics on the right line, completions that insert `key: ` and offer the
//! allowed values with their descriptions, and hovers that show the key's Markdown.

use crate::support::lsp;

use serde_json::Value;

use crate::support::repo;

fn committed(kind: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("schema").join(format!("{kind}.schema.json"))).expect("schema");
    serde_json::from_str(&text).expect("schema is JSON")
}

/// A document whose first line is the modeline pointing at the committed schema of `kind`.
fn document(kind: &str, body: &str) -> String {
    let schema = repo().join("schema").join(format!("{kind}.schema.json"));
    format!("# yaml-language-server: $schema={}\n{body}", lsp::uri(&schema))
}

/// The zero-based number of the line of `text` that is exactly `line`.
fn line_of(text: &str, line: &str) -> u32 {
    let index = text.lines().position(|l| l == line).unwrap_or_else(|| panic!("no line `{line}` in:\n{text}"));
    u32::try_from(index).expect("small document")
}

/// The text of an item's `documentation` (a string or a `MarkupContent`).
fn documentation(item: &Value) -> &str {
    item["documentation"].as_str().or_else(|| item["documentation"]["value"].as_str()).unwrap_or("")
}

fn labels(items: &[Value]) -> Vec<&str> {
    items.iter().filter_map(|i| i["label"].as_str()).collect()
}

const PIPELINE: &str = "\
name: p
source:
  id: in
  type: file
  path: x.ndjson
  format: ndjson
steps:
  - id: l
    type: lookup
    key: '{{ record.k }}'
    target: t
    table: sizes
    on_miss: dead_letter
  - id: b
    type: batch
    size: 10
sinks:
  - id: out
    type: stdout
";

/// `PIPELINE` with `line` (exactly) replaced by `by`.
fn edited(line: &str, by: &str) -> String {
    assert!(PIPELINE.lines().any(|l| l == line), "no line `{line}`");
    document("pipeline", &PIPELINE.replacen(&format!("{line}\n"), &format!("{by}\n"), 1))
}

#[test]
fn diagnostics_land_on_the_line_of_the_mistake() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = lsp::Server::start(dir.path());
    let text = edited("    size: 10", "    size: 10\n    timeout: 5 minutes please")
        .replace("    on_miss: dead_letter\n", "    on_miss: sometimes\n")
        .replace("    type: stdout\n", "    type: stdout\n    formatt: json\n");
    let uri = server.open(&dir.path().join("bad.yaml"), &text);
    let diagnostics = server.diagnostics(&uri);
    let at = |line: u32| -> Vec<&str> {
        diagnostics
            .iter()
            .filter(|d| d["range"]["start"]["line"] == line)
            .filter_map(|d| d["message"].as_str())
            .collect()
    };
    let duration = at(line_of(&text, "    timeout: 5 minutes please"));
    assert!(
        duration.iter().any(|m| m.contains("duration") && m.contains("`30s`") && !m.contains("[0-9]")),
        "a bad duration is explained in words on its line: {duration:?}\nall: {diagnostics:#?}"
    );
    let on_miss = at(line_of(&text, "    on_miss: sometimes"));
    assert!(on_miss.iter().any(|m| m.contains("dead_letter")), "bad enum value on its line: {diagnostics:#?}");
    let unknown = at(line_of(&text, "    formatt: json"));
    assert!(!unknown.is_empty(), "unknown key on its line: {diagnostics:#?}");
    let expected =
        ["    timeout: 5 minutes please", "    on_miss: sometimes", "    formatt: json"].map(|l| line_of(&text, l));
    for d in &diagnostics {
        let line = d["range"]["start"]["line"].as_u64().and_then(|l| u32::try_from(l).ok()).unwrap_or(u32::MAX);
        assert!(expected.contains(&line), "a diagnostic away from the mistakes: {d:#}");
    }
}

#[test]
fn completion_after_type_offers_each_type_with_what_it_does() {
    let schema = committed("pipeline");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = lsp::Server::start(dir.path());
    for (what, line) in [("step", "    type: batch"), ("sink", "    type: stdout"), ("source", "  type: file")] {
        let indent = line.len() - line.trim_start().len();
        let by = format!("{}type: ", " ".repeat(indent));
        let text = edited(line, &by);
        let uri = server.open(&dir.path().join(format!("{what}.yaml")), &text);
        let items = server.completion(&uri, line_of(&text, &by), u32::try_from(by.len()).expect("short"));
        let types: Vec<&str> = schema["$defs"][match what {
            "step" => "Step",
            "sink" => "Sink",
            _ => "Source",
        }]["properties"]["type"]["enum"]
            .as_array()
            .expect("the type list")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for ty in &types {
            let item = items
                .iter()
                .find(|i| i["label"] == *ty)
                .unwrap_or_else(|| panic!("`{ty}` is not offered after `type: ` in a {what}: {:?}", labels(&items)));
            let own = schema["$defs"][format!("{what}_{ty}")]["description"].as_str().expect("described");
            assert_eq!(documentation(item), own, "the {what} type `{ty}` is offered with what it does");
            assert!(!own.contains(&format!("The {what} type")), "{ty}: {own}");
        }
    }
}

/// Every property completion inserts `key:` followed by a value place (a space or a new line), never
/// the bare key nor a `null` to delete.
fn assert_keys_complete_with_a_colon(items: &[Value], context: &str) {
    let properties: Vec<&Value> = items.iter().filter(|i| i["kind"] == 10).collect();
    assert!(properties.len() >= 3, "{context}: few keys offered: {:?}", labels(items));
    for item in properties {
        let label = item["label"].as_str().expect("label");
        let insert = item["insertText"].as_str().or_else(|| item["textEdit"]["newText"].as_str()).unwrap_or("");
        assert!(
            insert.starts_with(&format!("{label}: ")) || insert.starts_with(&format!("{label}:\n")),
            "{context}: completing `{label}` inserts {insert:?}, not `{label}: `"
        );
        assert!(!insert.contains("null"), "{context}: completing `{label}` inserts {insert:?}");
        assert!(!documentation(item).is_empty(), "{context}: `{label}` offered without its description");
    }
}

#[test]
fn completion_on_a_new_key_line_inserts_the_key_and_a_colon() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = lsp::Server::start(dir.path());
    for (i, (after, indent)) in
        [("    on_miss: dead_letter", 4), ("    size: 10", 4), ("  format: ndjson", 2)].iter().enumerate()
    {
        let blank = " ".repeat(*indent);
        let text = edited(after, &format!("{after}\n{blank}"));
        let uri = server.open(&dir.path().join(format!("keys{i}.yaml")), &text);
        let line = u32::try_from(text.lines().position(|l| l == blank).expect("blank line")).expect("short");
        let items = server.completion(&uri, line, u32::try_from(*indent).expect("short"));
        assert_keys_complete_with_a_colon(&items, &format!("a new key after `{after}`"));
        if *after == "    on_miss: dead_letter" {
            for key in ["on_error", "column", "key_column", "default"] {
                assert!(labels(&items).contains(&key), "`{key}` not offered in a lookup step: {:?}", labels(&items));
            }
        }
    }
    let text = document("connections", "connections:\n  shop:\n    base_url: https://shop.example.com\n    \n");
    let uri = server.open(&dir.path().join("connections.yaml"), &text);
    let items = server.completion(&uri, line_of(&text, "    "), 4);
    assert!(labels(&items).contains(&"type"), "a connection's `type` is offered: {:?}", labels(&items));
    assert_keys_complete_with_a_colon(&items, "a new key in a connection");
}

#[test]
fn completion_of_an_enum_value_offers_the_values_with_their_descriptions() {
    let schema = committed("pipeline");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = lsp::Server::start(dir.path());
    for (line, by, def) in [
        ("    on_miss: dead_letter", "    on_miss: ", "OnMiss"),
        ("  format: ndjson", "  format: ", "FileFormat"),
        ("    on_miss: dead_letter", "    on_error: ", "OnError"),
    ] {
        let text = edited(line, by);
        let uri = server.open(&dir.path().join(format!("{def}.yaml")), &text);
        let items = server.completion(&uri, line_of(&text, by), u32::try_from(by.len()).expect("short"));
        let values = schema["$defs"][def]["enum"].as_array().expect("an enum");
        let descriptions = schema["$defs"][def]["markdownEnumDescriptions"].as_array().expect("described values");
        for (value, description) in values.iter().zip(descriptions) {
            let value = value.as_str().expect("string value");
            let item = items
                .iter()
                .find(|i| i["label"] == value)
                .unwrap_or_else(|| panic!("`{by}` does not offer `{value}`: {:?}", labels(&items)));
            let description = description.as_str().expect("text");
            assert!(!description.is_empty(), "{def}: `{value}` has no description");
            assert!(documentation(item).contains(description), "`{value}` offered without its description: {item:#}");
        }
    }
}

#[test]
fn hover_on_a_key_shows_the_keys_markdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = lsp::Server::start(dir.path());
    let text = document("pipeline", PIPELINE);
    let uri = server.open(&dir.path().join("hover.yaml"), &text);
    let hover = server.hover(&uri, line_of(&text, "    on_miss: dead_letter"), 6);
    let shown = hover["contents"]["value"].as_str().unwrap_or_else(|| panic!("no Markdown hover: {hover:#}"));
    assert_eq!(hover["contents"]["kind"], "markdown");
    assert!(
        shown.contains("Policy for keys not in the table: `error`, `dead_letter` (default)"),
        "hovering `on_miss` shows the key's description as Markdown: {shown:?}"
    );
    assert!(!shown.contains("\\`"), "the Markdown is escaped: {shown:?}");
    // A doc comment wrapped over lines stays one paragraph (no hard line break).
    let hover = server.hover(&uri, line_of(&text, "    table: sizes"), 6);
    let shown = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(shown.contains("`tables/NAME.csv`") && !shown.contains("\\"), "table: {shown:?}");
}
