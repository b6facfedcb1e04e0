//! Comparing what came out with what a test expects, record by record and field by field: a failure
//! names the record (by key) and the field (`$.lines[2].unit_price: expected 52.00, got 52`), never a
//! text diff of a long line. Numbers compare as written. `weir diff` phrases the same differences as
//! changes (`52.0 → 52.00`).

use std::path::PathBuf;

use serde_json::Value;

use super::fixture::sort_entries;
use crate::expr::jsonpath::JsonPath;

/// Checks of the records one component received or passed on.
#[derive(Default)]
pub(crate) struct RecordChecks {
    pub(crate) records: Option<Vec<Value>>,
    pub(crate) contains: Option<Vec<Value>>,
    /// `(as written, compiled)`.
    pub(crate) each: Vec<(String, JsonPath)>,
    pub(crate) count: Option<usize>,
    pub(crate) key: Option<JsonPath>,
    pub(crate) snapshot: Option<Snapshot>,
}

/// A snapshot file and what it holds now (`None`: missing, to be written by `--update`).
pub(crate) struct Snapshot {
    pub(crate) path: PathBuf,
    pub(crate) entries: Option<Vec<(Option<String>, Value)>>,
}

/// At most this many differences are listed per check; the rest are counted.
const MAX_LISTED: usize = 12;

/// A record that came out: its key (if it has one) and its value.
pub(crate) type Received = (Option<String>, Value);

/// True when `want` is part of `got`: every field of a mapping present with a matching value, lists of
/// the same length matched item by item, scalars equal.
pub(crate) fn is_subset(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w.iter().all(|(k, v)| g.get(k).is_some_and(|gv| is_subset(v, gv))),
        (Value::Array(w), Value::Array(g)) => w.len() == g.len() && w.iter().zip(g).all(|(a, b)| is_subset(a, b)),
        _ => want == got,
    }
}

/// A value as shown in a message: compact JSON, long ones cut.
pub(crate) fn shown(v: &Value) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    if text.chars().count() > 80 { format!("{}…", text.chars().take(79).collect::<String>()) } else { text }
}

/// One difference between two values: where, and what each side holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Difference {
    /// Both hold a value at `path`, not the same.
    Value { path: String, want: Value, got: Value },
    /// Only the first (`want`, the old) holds a field at `path`.
    Missing { path: String, want: Value },
    /// Only the second (`got`, the new) holds a field at `path`.
    Extra { path: String, got: Value },
    /// Lists of different lengths at `path` (their common items are compared too).
    Length { path: String, want: usize, got: usize },
}

impl Difference {
    /// As a test failure: `$.price: expected 52, got 52.00`.
    pub(crate) fn expected(&self) -> String {
        match self {
            Difference::Value { path, want, got } => format!("{path}: expected {}, got {}", shown(want), shown(got)),
            Difference::Missing { path, want } => format!("{path}: expected {}, missing", shown(want)),
            Difference::Extra { path, got } => format!("{path}: not expected, got {}", shown(got)),
            Difference::Length { path, want, got } => {
                format!("{path}: expected {want} item{}, got {got}", plural(*want))
            }
        }
    }

    /// As a change from an old value to a new one: `$.price: 52.0 → 52.00`.
    pub(crate) fn change(&self) -> String {
        match self {
            Difference::Value { path, want, got } => format!("{path}: {} → {}", shown(want), shown(got)),
            Difference::Missing { path, want } => format!("{path}: {} → (absent)", shown(want)),
            Difference::Extra { path, got } => format!("{path}: (absent) → {}", shown(got)),
            Difference::Length { path, want, got } => {
                format!("{path}: {want} item{} → {got} item{}", plural(*want), plural(*got))
            }
        }
    }
}

/// The differences between `want` and `got` at `path`, one line each. `subset`: fields `want` leaves
/// out are not compared.
pub(crate) fn diff(path: &str, want: &Value, got: &Value, subset: bool, out: &mut Vec<String>) {
    let mut found = Vec::new();
    differences(path, want, got, subset, &mut found);
    out.extend(found.iter().map(Difference::expected));
}

/// The differences between `want` and `got` at `path`. `subset`: fields `want` leaves out are not
/// compared.
pub(crate) fn differences(path: &str, want: &Value, got: &Value, subset: bool, out: &mut Vec<Difference>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let here = field_path(path, k);
                match g.get(k) {
                    Some(gv) => differences(&here, wv, gv, subset, out),
                    None => out.push(Difference::Missing { path: here, want: wv.clone() }),
                }
            }
            if !subset {
                for (k, gv) in g.iter().filter(|(k, _)| !w.contains_key(*k)) {
                    out.push(Difference::Extra { path: field_path(path, k), got: gv.clone() });
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                out.push(Difference::Length { path: path.to_string(), want: w.len(), got: g.len() });
            }
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                differences(&format!("{path}[{i}]"), wv, gv, subset, out);
            }
        }
        _ if want == got => {}
        _ => out.push(Difference::Value { path: path.to_string(), want: want.clone(), got: got.clone() }),
    }
}

fn field_path(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain { format!("{path}.{key}") } else { format!("{path}[{}]", Value::String(key.to_string())) }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// How a received record is named in messages: by the pairing field, else its key, else its place.
fn label(i: usize, received: &Received, key: Option<&JsonPath>) -> String {
    if let Some(v) = key.and_then(|k| k.first(&received.1)) {
        return format!("record {}", shown(v));
    }
    match &received.0 {
        Some(k) => format!("record `{k}`"),
        None => format!("record #{}", i + 1),
    }
}

/// Every failed check of `checks` against `got`; `what` names the component (`sink `erp``).
pub(crate) fn check_records(what: &str, checks: &RecordChecks, got: &[Received]) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(count) = checks.count.filter(|c| *c != got.len()) {
        failures.push(format!("{what}: expected {count} record{}, got {}", plural(count), got.len()));
    }
    if let Some(want) = &checks.records {
        let mut lines = Vec::new();
        exact(want, got, checks.key.as_ref(), &mut lines);
        push_listed(&mut failures, what, "records", lines);
    }
    if let Some(want) = &checks.contains {
        let mut lines = Vec::new();
        contains(want, got, &mut lines);
        push_listed(&mut failures, what, "contains", lines);
    }
    let mut lines = Vec::new();
    for (condition, path) in &checks.each {
        for (i, r) in got.iter().enumerate() {
            if path.query(&Value::Array(vec![r.1.clone()])).is_empty() {
                lines.push(format!(
                    "{}: does not meet `{condition}`: {}",
                    label(i, r, checks.key.as_ref()),
                    shown(&r.1)
                ));
            }
        }
    }
    push_listed(&mut failures, what, "each", lines);
    if let Some(snapshot) = &checks.snapshot
        && let Some(want) = &snapshot.entries
    {
        let mut lines = Vec::new();
        snapshot_diff(want, got, &mut lines);
        let file = snapshot.path.display().to_string();
        if !lines.is_empty() {
            lines.push(format!("(if the new output is right: `weir test --update` rewrites {file})"));
        }
        push_listed(&mut failures, what, &format!("snapshot {file}"), lines);
    }
    failures
}

fn push_listed(failures: &mut Vec<String>, what: &str, check: &str, lines: Vec<String>) {
    if lines.is_empty() {
        return;
    }
    let mut text = format!("{what} ({check}):");
    for line in lines.iter().take(MAX_LISTED) {
        text.push_str("\n    ");
        text.push_str(line);
    }
    if lines.len() > MAX_LISTED {
        text.push_str(&format!("\n    … and {} more", lines.len() - MAX_LISTED));
    }
    failures.push(text);
}

/// Exactly `want`: paired by `key` when given (order free), else by position.
fn exact(want: &[Value], got: &[Received], key: Option<&JsonPath>, out: &mut Vec<String>) {
    if let Some(key) = key {
        let key_of = |v: &Value| key.first(v).map(shown);
        let mut used = vec![false; got.len()];
        for w in want {
            let Some(k) = key_of(w) else {
                out.push(format!("an expected record has no pairing field: {}", shown(w)));
                continue;
            };
            match got.iter().enumerate().position(|(i, g)| !used[i] && key_of(&g.1).as_ref() == Some(&k)) {
                Some(i) => {
                    used[i] = true;
                    let mut fields = Vec::new();
                    diff("$", w, &got[i].1, false, &mut fields);
                    out.extend(fields.into_iter().map(|f| format!("record {k}: {f}")));
                }
                None => out.push(format!("record {k}: expected, not received")),
            }
        }
        for (i, g) in got.iter().enumerate().filter(|(i, _)| !used[*i]) {
            out.push(format!("{}: received, not expected: {}", label(i, g, Some(key)), shown(&g.1)));
        }
        return;
    }
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        let mut fields = Vec::new();
        diff("$", w, &g.1, false, &mut fields);
        out.extend(fields.into_iter().map(|f| format!("{}: {f}", label(i, g, None))));
    }
    if want.len() != got.len() {
        out.push(format!("expected {} record{}, got {}", want.len(), plural(want.len()), got.len()));
        for (i, g) in got.iter().enumerate().skip(want.len()) {
            out.push(format!("{}: received, not expected: {}", label(i, g, None), shown(&g.1)));
        }
        for w in want.iter().skip(got.len()) {
            out.push(format!("expected, not received: {}", shown(w)));
        }
    }
    if !out.is_empty() && want.len() == got.len() && same_multiset(want, got) {
        out.clear();
        out.push("the same records arrived in another order; set `key:` (a JSONPath to a field) to compare them in any order".into());
    }
}

fn same_multiset(want: &[Value], got: &[Received]) -> bool {
    let mut a: Vec<String> = want.iter().map(|v| serde_json::to_string(v).unwrap_or_default()).collect();
    let mut b: Vec<String> = got.iter().map(|g| serde_json::to_string(&g.1).unwrap_or_default()).collect();
    a.sort();
    b.sort();
    a == b
}

/// Each of `want` matches a different received record; for one that does not, the closest record's
/// differences.
fn contains(want: &[Value], got: &[Received], out: &mut Vec<String>) {
    let mut used = vec![false; got.len()];
    for w in want {
        if let Some(i) = (0..got.len()).find(|&i| !used[i] && is_subset(w, &got[i].1)) {
            used[i] = true;
            continue;
        }
        let closest = (0..got.len())
            .filter(|&i| !used[i])
            .map(|i| {
                let mut fields = Vec::new();
                diff("$", w, &got[i].1, true, &mut fields);
                (fields.len(), i, fields)
            })
            .min_by_key(|(n, i, _)| (*n, *i));
        match closest {
            Some((_, i, fields)) => {
                out.push(format!("no record matches {}; closest is {}:", shown(w), label(i, &got[i], None)));
                out.extend(fields.into_iter().map(|f| format!("  {f}")));
            }
            None => out.push(format!("no record matches {} (no record left to compare)", shown(w))),
        }
    }
}

/// A snapshot against what came out, both in the snapshot's order: paired by key where records have
/// keys, by position otherwise.
fn snapshot_diff(want: &[Received], got: &[Received], out: &mut Vec<String>) {
    let mut got = got.to_vec();
    sort_entries(&mut got);
    let keyed = want.iter().chain(got.iter()).all(|(k, _)| k.is_some()) && unique_keys(want) && unique_keys(&got);
    if keyed {
        for (k, w) in want {
            match got.iter().find(|(gk, _)| gk == k) {
                Some((_, g)) => {
                    let mut fields = Vec::new();
                    diff("$", w, g, false, &mut fields);
                    out.extend(fields.into_iter().map(|f| format!("record `{}`: {f}", k.as_deref().unwrap_or(""))));
                }
                None => out.push(format!("record `{}`: in the snapshot, not received", k.as_deref().unwrap_or(""))),
            }
        }
        for (k, g) in got.iter().filter(|(k, _)| !want.iter().any(|(wk, _)| wk == k)) {
            out.push(format!("record `{}`: received, not in the snapshot: {}", k.as_deref().unwrap_or(""), shown(g)));
        }
        return;
    }
    let want_values: Vec<Value> = want.iter().map(|(_, v)| v.clone()).collect();
    exact(&want_values, &got, None, out);
}

fn unique_keys(entries: &[Received]) -> bool {
    let mut keys: Vec<&Option<String>> = entries.iter().map(|(k, _)| k).collect();
    keys.sort();
    keys.windows(2).all(|w| w[0] != w[1])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn number(text: &str) -> Value {
        crate::exact_json::from_str(text).expect("a number")
    }

    #[test]
    fn a_field_difference_names_the_field_path_and_both_values_as_written() {
        let want = json!({"lines": [{"p": 1}, {"p": 2}, {"unit_price": number("52.00")}]});
        let got = json!({"lines": [{"p": 1}, {"p": 2}, {"unit_price": number("52")}], "extra": true});
        let mut out = Vec::new();
        diff("$", &want, &got, false, &mut out);
        assert_eq!(out, vec!["$.lines[2].unit_price: expected 52.00, got 52", "$.extra: not expected, got true"]);
    }

    #[test]
    fn records_paired_by_key_report_missing_extra_and_changed_records() {
        let checks = RecordChecks {
            records: Some(vec![json!({"ref": "A", "q": 1}), json!({"ref": "B", "q": 2})]),
            key: Some(JsonPath::compile("$.ref").expect("valid")),
            ..RecordChecks::default()
        };
        let got = vec![(None, json!({"ref": "C", "q": 3})), (None, json!({"ref": "A", "q": 5}))];
        let failures = check_records("sink `s`", &checks, &got);
        let text = failures.join("\n");
        assert!(text.contains("record \"A\": $.q: expected 1, got 5"), "{text}");
        assert!(text.contains("record \"B\": expected, not received"), "{text}");
        assert!(text.contains("record \"C\": received, not expected"), "{text}");
    }

    #[test]
    fn the_same_records_in_another_order_say_so() {
        let checks = RecordChecks { records: Some(vec![json!(1), json!(2)]), ..RecordChecks::default() };
        let got = vec![(None, json!(2)), (None, json!(1))];
        let text = check_records("sink `s`", &checks, &got).join("\n");
        assert!(text.contains("another order"), "{text}");
    }

    #[test]
    fn contains_matches_subsets_and_shows_the_closest_record_otherwise() {
        let checks = RecordChecks {
            contains: Some(vec![json!({"sku": "A"}), json!({"sku": "B", "qty": 2})]),
            ..RecordChecks::default()
        };
        let got = vec![
            (Some("k1".into()), json!({"sku": "A", "qty": 1})),
            (Some("k2".into()), json!({"sku": "B", "qty": 3})),
        ];
        let text = check_records("sink `s`", &checks, &got).join("\n");
        assert!(text.contains("closest is record `k2`"), "{text}");
        assert!(text.contains("$.qty: expected 2, got 3"), "{text}");
        assert!(!text.contains("\"A\""), "the first expectation matched: {text}");
    }

    #[test]
    fn each_condition_names_every_record_that_fails_it() {
        let checks = RecordChecks {
            each: vec![("@.qty >= 0".into(), JsonPath::compile("$[?@.qty >= 0]").expect("valid"))],
            ..RecordChecks::default()
        };
        let got = vec![(Some("a".into()), json!({"qty": 1})), (Some("b".into()), json!({"qty": -1}))];
        let text = check_records("sink `s`", &checks, &got).join("\n");
        assert!(text.contains("record `b`: does not meet `@.qty >= 0`"), "{text}");
        assert!(!text.contains("record `a`"), "{text}");
    }
}
