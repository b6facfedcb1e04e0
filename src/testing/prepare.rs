//! One test made ready to run: its inputs read (inline or from fixtures), its tables built, its mocks
//! and expectations compiled (JSONPath, regular expressions, snapshots read), and every component id it
//! names checked against the pipeline — each problem reported at its place in the test file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

use super::cassette::CassetteUse;
use super::compare::{RecordChecks, Snapshot};
use super::components::{Context, child, unknown_component};
use super::fixture::{read_fixture, read_snapshot};
use super::mock::{CompiledRule, compile_rules};
use super::spec::{CounterExpectation, Defaults, Expect, RecordsExpectation, TestCase};
use crate::assemble::parse::Parser;
use crate::config::diagnostic::{Diagnostic, Location};
use crate::config::file::Anchor;
use crate::expr::jsonpath::JsonPath;
use crate::tables::Table;

/// A test ready to run.
pub(crate) struct PreparedTest {
    /// Its name.
    pub(crate) name: String,
    /// Where it is written.
    pub(crate) location: Option<Location>,
    /// Records given, `(component id, records)`, in order; empty: the sources read.
    pub(crate) given: Vec<(String, Vec<Value>)>,
    /// Tables replacing the pipeline's of the same name.
    pub(crate) tables: Vec<Arc<Table>>,
    /// Id-map entries present before the run.
    pub(crate) ids: BTreeMap<String, Map<String, Value>>,
    /// HTTP answers by component id.
    pub(crate) mocks: BTreeMap<String, Vec<CompiledRule>>,
    /// The cassette answering (or recording) the HTTP components without mocks.
    pub(crate) cassette: Option<CassetteUse>,
    /// What must be true afterwards.
    pub(crate) expect: Expectations,
}

/// Compiled expectations.
#[derive(Default)]
pub(crate) struct Expectations {
    /// By sink id.
    pub(crate) sinks: Vec<(String, RecordChecks)>,
    /// By step id.
    pub(crate) steps: Vec<(String, RecordChecks)>,
    /// Every dead letter, when given.
    pub(crate) dead_letters: Option<Vec<DeadLetterCheck>>,
    /// Run totals.
    pub(crate) counters: Option<CounterExpectation>,
    /// The run must fail with this.
    pub(crate) error: Option<Regex>,
    /// The id map afterwards.
    pub(crate) ids: BTreeMap<String, Map<String, Value>>,
}

/// One expected dead letter.
pub(crate) struct DeadLetterCheck {
    pub(crate) step: String,
    pub(crate) reason: Option<Regex>,
    pub(crate) key: Option<String>,
}

/// Prepares `case` (at `pointer` of the test file), with the file's `defaults` under it.
pub(crate) fn prepare_test(
    parser: &mut Parser<'_>,
    cx: &Context<'_>,
    defaults: &Defaults,
    case: TestCase,
    pointer: &str,
) -> Option<PreparedTest> {
    let errors_before = parser.diagnostics.0.len();
    let dir = cx.file.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let sources_and_steps = cx.components.ids(&["source", "step"]);
    let mut given = Vec::new();
    for (i, g) in case.given.iter().enumerate() {
        let at = format!("{pointer}/given/{i}");
        let to = match &g.to {
            Some(to) if cx.components.get(to).is_some_and(|(kind, _)| kind != "sink") => to.clone(),
            Some(to) => {
                let what = "sources and steps";
                unknown_component(parser, &child(&at, "to"), Anchor::Value, to, what, &sources_and_steps);
                continue;
            }
            None => match cx.components.ids(&["source"])[..] {
                [only] => only.to_string(),
                _ => {
                    let hint = Some("the pipeline has several sources: say which with `to: <source id>`".into());
                    parser.error("missing-field", "missing field `to`".into(), &at, Anchor::Key, None, "", hint);
                    continue;
                }
            },
        };
        let records = match (&g.rows, &g.fixture) {
            (Some(rows), None) => rows.clone(),
            (None, Some(fixture)) => match read_fixture(&dir.join(fixture)) {
                Ok(records) => records,
                Err(d) => {
                    let d = *d;
                    let d = if d.location.is_none() {
                        d.at(cx.file.locate(&child(&at, "fixture"), Anchor::Value))
                    } else {
                        d
                    };
                    parser.diagnostics.push(d);
                    continue;
                }
            },
            _ => {
                let hint =
                    Some("give the records inline (`rows: [...]`) or from a file (`fixture: data/x.ndjson`)".into());
                let message = "give either `rows` or `fixture`".to_string();
                parser.error("bad-value", message, &at, Anchor::Value, None, "", hint);
                continue;
            }
        };
        given.push((to, records));
    }
    let tables = prepare_tables(parser, cx, defaults, &case, pointer, &dir);
    let mut ids = defaults.ids.clone();
    ids.extend(case.ids.clone());
    let mut mocks = BTreeMap::new();
    let requesting: Vec<&str> = cx
        .components
        .all
        .iter()
        .filter(|(id, _, _)| cx.components.makes_requests(id))
        .map(|(id, _, _)| id.as_str())
        .collect();
    for (id, rules, at) in defaults
        .mocks
        .iter()
        .filter(|(id, _)| !case.mocks.contains_key(*id))
        .map(|(id, r)| (id, r, child("/defaults/mocks", id)))
        .chain(case.mocks.iter().map(|(id, r)| (id, r, child(&format!("{pointer}/mocks"), id))))
    {
        match cx.components.get(id) {
            None => unknown_component(parser, &at, Anchor::Key, id, "components", &requesting),
            Some((kind, type_name)) if !cx.components.makes_requests(id) => {
                let hint = Some(if requesting.is_empty() {
                    "this pipeline makes no HTTP request: nothing to mock".to_string()
                } else {
                    format!("components that make requests: {}", requesting.join(", "))
                });
                let message = format!("{kind} `{id}` (type `{type_name}`) makes no HTTP request: it cannot be mocked");
                parser.error("not-mockable", message, &at, Anchor::Key, None, "", hint);
            }
            Some(_) => {
                if let Some(compiled) = compile_rules(parser, rules, &at) {
                    mocks.insert(id.clone(), compiled);
                }
            }
        }
    }
    let cassette = case.cassette.as_deref().and_then(|name| {
        let answered = requesting.iter().filter(|id| !mocks.contains_key(**id)).map(|id| id.to_string()).collect();
        super::cassette::prepare(parser, cx, name, answered, &child(pointer, "cassette"), &dir)
    });
    if case.cassette.is_none() {
        // Mocks written for a component count even when they have errors (reported above).
        let written: std::collections::BTreeSet<&String> = defaults.mocks.keys().chain(case.mocks.keys()).collect();
        check_requests_are_answered(parser, cx, &given, &|id| written.iter().any(|w| *w == id), pointer);
    }
    let expect = prepare_expect(parser, cx, &case.expect, &format!("{pointer}/expect"), &dir);
    (parser.diagnostics.0.len() == errors_before).then(|| PreparedTest {
        name: case.name,
        location: cx.file.locate(&format!("{pointer}/name"), Anchor::Value),
        given,
        tables,
        ids,
        mocks,
        cassette,
        expect,
    })
}

fn prepare_tables(
    parser: &mut Parser<'_>,
    cx: &Context<'_>,
    defaults: &Defaults,
    case: &TestCase,
    pointer: &str,
    dir: &Path,
) -> Vec<Arc<Table>> {
    let mut known: Vec<String> = cx.pipeline.folder.tables.names();
    known.extend(cx.pipeline.config.tables.keys().cloned());
    let mut tables = Vec::new();
    let entries = defaults
        .tables
        .iter()
        .filter(|(name, _)| !case.tables.contains_key(*name))
        .map(|(name, t)| (name, t, child("/defaults/tables", name)))
        .chain(case.tables.iter().map(|(name, t)| (name, t, child(&format!("{pointer}/tables"), name))));
    for (name, config, at) in entries {
        if !known.contains(name) {
            let refs: Vec<&str> = known.iter().map(String::as_str).collect();
            unknown_component(parser, &at, Anchor::Key, name, "tables", &refs);
            continue;
        }
        match crate::assemble::load::load_table(name, config, dir, parser.file, &at) {
            Ok(t) => tables.push(Arc::new(t)),
            Err(message) => parser.error("bad-table", message, &at, Anchor::Value, None, "", None),
        }
    }
    tables
}

/// A component that makes requests and that the test's records reach must have mocks (this is not
/// checked for a test with a cassette, which answers the others): a test run never sends a request
/// anywhere. An HTTP sink without mocks is not a problem: it only records what
/// it receives, like every sink of a test.
fn check_requests_are_answered(
    parser: &mut Parser<'_>,
    cx: &Context<'_>,
    given: &[(String, Vec<Value>)],
    mocked: &dyn Fn(&str) -> bool,
    pointer: &str,
) {
    let Ok(plan) = crate::graph::plan::compile(cx.pipeline) else { return };
    let starts: Vec<&str> = given.iter().map(|(id, _)| id.as_str()).collect();
    for (id, kind, type_name) in cx.components.unanswered_requests(&plan.graph, &starts, mocked) {
        let message =
            format!("{kind} `{id}` (type `{type_name}`) would send requests, and this test has no mock for it");
        let hint = format!(
            "a test never reaches a real URL: add `mocks: {{ {id}: [{{ when: {{ path: \"/…\" }}, then: {{ status: 200, body: … }} }}] }}`, name a recorded `cassette:`, or give records to a step after it"
        );
        parser.diagnostics.push(
            Diagnostic::new("unmocked-request", message)
                .at(parser.file.locate(&format!("{pointer}/name"), Anchor::Value))
                .with_hint(hint),
        );
    }
}

fn prepare_expect(
    parser: &mut Parser<'_>,
    cx: &Context<'_>,
    expect: &Expect,
    pointer: &str,
    dir: &Path,
) -> Expectations {
    let mut out = Expectations::default();
    for (kind, map, target) in [("sinks", &expect.sinks, &mut out.sinks), ("steps", &expect.steps, &mut out.steps)] {
        let singular = kind.trim_end_matches('s');
        let candidates = cx.components.ids(&[singular]);
        for (id, checks) in map {
            let at = child(&format!("{pointer}/{kind}"), id);
            if !candidates.contains(&id.as_str()) {
                unknown_component(parser, &at, Anchor::Key, id, kind, &candidates);
                continue;
            }
            if let Some(compiled) = prepare_records(parser, cx, checks, &at, dir) {
                target.push((id.clone(), compiled));
            }
        }
    }
    if let Some(letters) = &expect.dead_letters {
        let ids = cx.components.ids(&["source", "step", "sink"]);
        let mut checks = Vec::new();
        for (i, letter) in letters.iter().enumerate() {
            let at = format!("{pointer}/dead_letters/{i}");
            if !ids.contains(&letter.step.as_str()) {
                unknown_component(parser, &child(&at, "step"), Anchor::Value, &letter.step, "components", &ids);
                continue;
            }
            let reason = letter.reason.as_deref().and_then(|r| regex(parser, r, &child(&at, "reason")));
            checks.push(DeadLetterCheck { step: letter.step.clone(), reason, key: letter.key.clone() });
        }
        out.dead_letters = Some(checks);
    }
    out.counters = expect.counters.clone();
    out.ids = expect.ids.clone();
    out.error = expect.error.as_deref().and_then(|r| regex(parser, r, &child(pointer, "error")));
    out
}

fn prepare_records(
    parser: &mut Parser<'_>,
    cx: &Context<'_>,
    checks: &RecordsExpectation,
    pointer: &str,
    dir: &Path,
) -> Option<RecordChecks> {
    let mut out = RecordChecks {
        records: checks.records.clone(),
        contains: checks.contains.clone(),
        count: checks.count,
        ..RecordChecks::default()
    };
    for (i, condition) in checks.each.iter().enumerate() {
        match JsonPath::compile(&format!("$[?{condition}]")) {
            Ok(path) => out.each.push((condition.clone(), path)),
            Err(e) => {
                let hint = Some("a JSONPath filter expression on the record as `@`: `@.quantity >= 0`".into());
                let message = format!("bad condition: {e}");
                parser.error("bad-jsonpath", message, &format!("{pointer}/each/{i}"), Anchor::Value, None, "", hint);
            }
        }
    }
    if let Some(key) = &checks.key {
        match JsonPath::compile(key) {
            Ok(path) => out.key = Some(path),
            Err(e) => {
                let hint = Some("a JSONPath to the pairing field: `$.reference`".into());
                parser.error(
                    "bad-jsonpath",
                    format!("bad key: {e}"),
                    &child(pointer, "key"),
                    Anchor::Value,
                    None,
                    "",
                    hint,
                );
            }
        }
    }
    if let Some(file) = &checks.snapshot {
        let path = dir.join(file);
        let entries = if cx.update {
            None
        } else {
            match read_snapshot(&path) {
                Ok(entries) => Some(entries),
                Err(d) => {
                    let d = *d;
                    let d = if d.location.is_none() {
                        d.at(cx.file.locate(&child(pointer, "snapshot"), Anchor::Value))
                    } else {
                        d
                    };
                    parser.diagnostics.push(d);
                    return None;
                }
            }
        };
        out.snapshot = Some(Snapshot { path, entries });
    }
    Some(out)
}

fn regex(parser: &mut Parser<'_>, pattern: &str, pointer: &str) -> Option<Regex> {
    match Regex::new(pattern) {
        Ok(r) => Some(r),
        Err(e) => {
            let hint =
                Some("a regular expression (Rust `regex` syntax); escape `(`, `[`, `.` to match them as text".into());
            parser.error("bad-regex", format!("bad regular expression: {e}"), pointer, Anchor::Value, None, "", hint);
            None
        }
    }
}
