//! `weir test --coverage`: what the tests of each pipeline never exercised — steps no record reached,
//! `filter`s never seen both keeping and dropping, steps whose `on_error` path was never taken, and
//! table rows no lookup found — gathered over every test of every file naming the pipeline.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{LoadedTestFile, TestOutcome};

/// What the tests of one pipeline exercised.
#[derive(Debug, Default)]
struct PipelineCoverage {
    /// Steps, in pipeline order: `(id, type)`.
    steps: Vec<(String, &'static str)>,
    /// Per step: reached, kept a record, dropped one, rejected one.
    ways: BTreeMap<String, [bool; 4]>,
    /// Per table: which rows were found, and how each row is named.
    tables: BTreeMap<String, (Vec<bool>, Vec<String>)>,
}

/// Coverage of every pipeline under test, by pipeline file.
#[derive(Debug, Default)]
pub(crate) struct Coverage {
    pipelines: BTreeMap<String, PipelineCoverage>,
}

/// Starts counting table hits for the pipelines of `files` (before their tests run).
pub(crate) fn track(files: &[LoadedTestFile]) {
    for file in files {
        for name in file.pipeline.folder.tables.names() {
            if let Some(table) = file.pipeline.folder.tables.get(&name) {
                table.track_hits();
            }
        }
    }
}

impl Coverage {
    /// Adds what the tests of `file` exercised.
    pub(crate) fn add(&mut self, file: &LoadedTestFile, outcomes: &[TestOutcome]) {
        let entry = self.pipelines.entry(file.pipeline.file.display.clone()).or_default();
        entry.steps = file.steps.clone();
        for outcome in outcomes {
            for (step, ways) in &outcome.ways {
                let w = entry.ways.entry(step.clone()).or_default();
                w[0] = true;
                w[1] |= ways.passed;
                w[2] |= ways.filtered;
                w[3] |= ways.rejected;
            }
        }
        let tables = &file.pipeline.folder.tables;
        for name in tables.names().into_iter().filter(|n| names_table(&file.pipeline.file.text, n)) {
            let Some(table) = tables.get(&name) else { continue };
            let Some(hits) = table.hits() else { continue };
            let labels = (0..hits.len()).map(|i| table.row_label(i)).collect();
            let (seen, _) = entry.tables.entry(name).or_insert_with(|| (vec![false; hits.len()], labels));
            for (s, h) in seen.iter_mut().zip(hits) {
                *s |= h;
            }
        }
    }

    /// The report: one block per pipeline, each gap on its own line; `None` when nothing was missed.
    pub(crate) fn report(&self) -> String {
        let mut out = String::from("coverage:\n");
        for (pipeline, c) in &self.pipelines {
            let _ = writeln!(out, "  {pipeline}");
            let way = |id: &str, i: usize| c.ways.get(id).is_some_and(|w| w[i]);
            let unreached: Vec<&str> =
                c.steps.iter().filter(|(id, _)| !way(id, 0)).map(|(id, _)| id.as_str()).collect();
            let one_way: Vec<String> = c
                .steps
                .iter()
                .filter(|(id, t)| *t == "filter" && way(id, 0) && !(way(id, 1) && way(id, 2)))
                .map(|(id, _)| {
                    format!("{id} (never {})", if way(id, 1) { "dropped a record" } else { "kept a record" })
                })
                .collect();
            let no_error: Vec<&str> = c.steps.iter().filter(|(id, _)| !way(id, 3)).map(|(id, _)| id.as_str()).collect();
            line(&mut out, "steps no test reached", &unreached);
            line(&mut out, "filters not seen both ways", &one_way);
            line(&mut out, "on_error never taken", &no_error);
            let mut rows = Vec::new();
            for (name, (seen, labels)) in &c.tables {
                let missed: Vec<&str> =
                    labels.iter().zip(seen).filter(|(_, s)| !**s).map(|(l, _)| l.as_str()).collect();
                if !missed.is_empty() {
                    rows.push(format!("{name}: {} of {} — {}", missed.len(), seen.len(), missed.join(", ")));
                }
            }
            line(&mut out, "table rows never hit", &rows);
        }
        out
    }
}

/// True when the pipeline's text names table `name`: a `lookup('name'…)` in a template, or a step's
/// `table: name`. Tables of the folder that the pipeline never names are not its to cover.
fn names_table(text: &str, name: &str) -> bool {
    let quoted = [format!("lookup('{name}'"), format!("lookup(\"{name}\"")];
    quoted.iter().any(|q| text.replace(' ', "").contains(q.as_str()))
        || text.lines().any(|l| {
            l.trim().strip_prefix("table:").is_some_and(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == name)
        })
}

fn line<S: AsRef<str>>(out: &mut String, what: &str, items: &[S]) {
    let shown = if items.is_empty() {
        "none".to_string()
    } else {
        items.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ")
    };
    let _ = writeln!(out, "    {what}: {shown}");
}
