//! Records kept in files next to tests: fixtures (`.ndjson`/`.jsonl`, `.json`, `.csv`) read with the
//! place of any error, snapshots read and written in their stable form (one record per line, sorted by
//! key), and numbers of the test file kept as written (`52.00` stays `52.00`).

use std::path::Path;

use serde_json::{Map, Value};

use crate::config::diagnostic::{Diagnostic, Location};
use crate::config::file::ConfigFile;
use crate::config::source_map::Pos;

/// Puts back the text of every plain number of a YAML file into `value` (the file's document, or the
/// part of it at `pointer`): YAML reads `52.00` as the float 52, which serde writes `52.0`, while
/// expectations compare numbers as written.
pub(crate) fn exact_numbers(file: &ConfigFile, value: &mut Value, pointer: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                exact_numbers(file, v, &format!("{pointer}/{}", crate::config::source_map::escape(k)));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                exact_numbers(file, v, &format!("{pointer}/{i}"));
            }
        }
        Value::Number(n) => {
            let Some(span) = file.map.get(pointer).filter(|s| s.plain) else { return };
            let Some(text) = token(&file.text, span.value) else { return };
            if let Some(Value::Number(exact)) = crate::exact_json::scalar(text)
                && exact.as_f64() == n.as_f64()
            {
                *n = exact;
            }
        }
        _ => {}
    }
}

/// The text of the token at `pos` of `text`.
fn token(text: &str, pos: Pos) -> Option<&str> {
    let line = text.lines().nth(pos.line.checked_sub(1)?)?;
    let start = line.char_indices().nth(pos.col.checked_sub(1)?)?.0;
    let end = line[start..].char_indices().nth(pos.width).map_or(line.len(), |(i, _)| start + i);
    Some(line[start..end].trim())
}

/// serde_json's message without its ` at line L column C` (the diagnostic shows the place).
pub(crate) fn reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Where a fixture's problem is, for a diagnostic.
pub(crate) fn at(shown: &str, text: &str, line: usize, col: usize) -> Option<Location> {
    let line_text = text.lines().nth(line.saturating_sub(1)).unwrap_or("").to_string();
    Some(Location { file: shown.to_string(), pos: Pos { line: line.max(1), col: col.max(1), width: 1 }, line_text })
}

/// The records of a fixture file, by its extension.
pub(crate) fn read_fixture(path: &Path) -> Result<Vec<Value>, Box<Diagnostic>> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        Box::new(
            Diagnostic::new("bad-fixture", format!("cannot read fixture `{shown}`: {e}"))
                .with_hint("the path is relative to the test file"),
        )
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Box::new(Diagnostic::new("bad-fixture", format!("fixture `{shown}` is not UTF-8 text: {e}"))))?;
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match extension.as_str() {
        "ndjson" | "jsonl" => read_lines(&text, &shown),
        "json" => match crate::exact_json::from_str(&text) {
            Ok(Value::Array(items)) => Ok(items),
            Ok(one) => Ok(vec![one]),
            Err(e) => Err(Box::new(
                Diagnostic::new("bad-fixture", format!("fixture `{shown}` is not valid JSON: {}", reason(&e)))
                    .at(at(&shown, &text, e.line(), e.column()))
                    .with_hint("a `.json` fixture holds an array of records, or one record"),
            )),
        },
        "csv" => read_csv(&text, &shown),
        _ => Err(Box::new(
            Diagnostic::new("bad-fixture", format!("fixture `{shown}`: unknown format `.{extension}`"))
                .with_hint("use `.ndjson` (or `.jsonl`), `.json` or `.csv`"),
        )),
    }
}

/// One JSON value per non-blank line.
pub(crate) fn read_lines(text: &str, shown: &str) -> Result<Vec<Value>, Box<Diagnostic>> {
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match crate::exact_json::from_str(line) {
            Ok(v) => records.push(v),
            Err(e) => {
                return Err(Box::new(
                    Diagnostic::new("bad-fixture", format!("`{shown}` line {}: not valid JSON: {}", i + 1, reason(&e)))
                        .at(at(shown, text, i + 1, e.column()))
                        .with_hint("one JSON value per line"),
                ));
            }
        }
    }
    Ok(records)
}

fn read_csv(text: &str, shown: &str) -> Result<Vec<Value>, Box<Diagnostic>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let bad = |e: csv::Error| {
        let line = e.position().map_or(1, |p| p.line() as usize);
        Box::new(
            Diagnostic::new(
                "bad-fixture",
                format!("fixture `{shown}` is not valid CSV: {}", crate::csv_text::reason(&e)),
            )
            .at(at(shown, text, line, 1))
            .with_hint("a header row, then one row per record, each with as many fields as the header"),
        )
    };
    let headers: Vec<String> = reader.headers().map_err(bad)?.iter().map(str::to_string).collect();
    if let Some(column) = crate::csv_text::repeated_column(&headers) {
        return Err(Box::new(
            Diagnostic::new("bad-fixture", format!("fixture `{shown}`: column `{column}` appears twice"))
                .at(at(shown, text, 1, 1)),
        ));
    }
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.map_err(bad)?;
        let record: Map<String, Value> =
            headers.iter().cloned().zip(row.iter().map(|f| Value::String(f.to_string()))).collect();
        records.push(Value::Object(record));
    }
    Ok(records)
}

/// One line of a snapshot: the record's key and the record.
pub(crate) fn snapshot_line(key: Option<&str>, record: &Value) -> String {
    let mut line = Map::new();
    line.insert("key".into(), key.map_or(Value::Null, |k| Value::String(k.to_string())));
    line.insert("record".into(), record.clone());
    serde_json::to_string(&Value::Object(line)).unwrap_or_default()
}

/// A snapshot's entries: `(key, record)` per line.
pub(crate) fn read_snapshot(path: &Path) -> Result<Vec<(Option<String>, Value)>, Box<Diagnostic>> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Box::new(
            Diagnostic::new("missing-snapshot", format!("cannot read snapshot `{shown}`: {e}"))
                .with_hint("run `weir test --update` to write it from the current output, then review it"),
        )
    })?;
    let mut entries = Vec::new();
    for (i, line) in read_lines(&text, &shown)?.into_iter().enumerate() {
        let mut line = match line {
            Value::Object(map) if map.contains_key("record") => map,
            _ => {
                return Err(Box::new(
                    Diagnostic::new("bad-snapshot", format!("`{shown}` line {}: not a snapshot line", i + 1))
                        .at(at(&shown, &text, i + 1, 1))
                        .with_hint(
                            "each line is `{\"key\": …, \"record\": …}`; `weir test --update` rewrites the file",
                        ),
                ));
            }
        };
        let key = line.remove("key").and_then(|k| k.as_str().map(str::to_string));
        entries.push((key, line.remove("record").unwrap_or(Value::Null)));
    }
    Ok(entries)
}

/// Sorts snapshot entries into their stable order: by key (unkeyed last), then by the record's text.
pub(crate) fn sort_entries(entries: &mut [(Option<String>, Value)]) {
    entries.sort_by_cached_key(|(k, v)| (k.is_none(), k.clone(), serde_json::to_string(v).unwrap_or_default()));
}

/// Writes a snapshot in its stable form.
pub(crate) fn write_snapshot(path: &Path, entries: &[(Option<String>, Value)]) -> std::io::Result<()> {
    let mut entries = entries.to_vec();
    sort_entries(&mut entries);
    let mut text = String::new();
    for (k, v) in &entries {
        text.push_str(&snapshot_line(k.as_deref(), v));
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixture_line_that_is_not_json_is_reported_at_its_line_and_column() {
        let e = read_lines("{\"a\":1}\n{\"a\": nope}\n", "f.ndjson").expect_err("bad line");
        let at = e.location.expect("located");
        // Where the parser stopped: the `o` of `nope` (an `n` starts `null`).
        assert_eq!((at.pos.line, at.pos.col), (2, 8));
        assert!(e.message.contains("line 2"), "{}", e.message);
    }

    #[test]
    fn csv_fields_are_strings_and_a_short_row_is_an_error() {
        let records = read_csv("sku,qty\nA,1\n", "f.csv").expect("valid");
        assert_eq!(records, vec![serde_json::json!({"sku": "A", "qty": "1"})]);
        let e = read_csv("sku,qty\nA,1\nB\n", "f.csv").expect_err("short row");
        assert_eq!(e.location.expect("located").pos.line, 3);
    }

    #[test]
    fn snapshots_are_sorted_by_key_with_unkeyed_records_last() {
        let mut entries = vec![
            (None, serde_json::json!(1)),
            (Some("b".into()), serde_json::json!(2)),
            (Some("a".into()), serde_json::json!(3)),
        ];
        sort_entries(&mut entries);
        let keys: Vec<Option<&str>> = entries.iter().map(|(k, _)| k.as_deref()).collect();
        assert_eq!(keys, vec![Some("a"), Some("b"), None]);
    }
}
