//! How test results are shown: one line per test as it ends (as `cargo test` does), then each
//! failure in full, a summary line — and the same results as JUnit XML for CI.

use std::fmt::Write as _;
use std::time::Duration;

use super::{LoadedTestFile, TestOutcome};

/// The line printed when a test ends.
pub(crate) fn line(file: &LoadedTestFile, outcome: &TestOutcome) -> String {
    let status = if outcome.failures.is_empty() { "ok" } else { "FAILED" };
    format!("test {} :: {} ... {status} ({})", file.file.display, outcome.name, millis(outcome.duration))
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Every failure in full, after the per-test lines.
pub(crate) fn failures(files: &[LoadedTestFile], outcomes: &[Vec<TestOutcome>]) -> String {
    let mut out = String::new();
    for (file, outcomes) in files.iter().zip(outcomes) {
        for outcome in outcomes.iter().filter(|o| !o.failures.is_empty()) {
            let at = file
                .tests
                .iter()
                .find(|t| t.name == outcome.name)
                .and_then(|t| t.location.as_ref())
                .map_or(String::new(), |l| format!(" ({}:{}:{})", l.file, l.pos.line, l.pos.col));
            let _ = writeln!(out, "\n---- {} :: {}{at} ----", file.file.display, outcome.name);
            for failure in &outcome.failures {
                let _ = writeln!(out, "  {}", failure.replace('\n', "\n  "));
            }
        }
    }
    out
}

/// Counts of a run of tests.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    pub(crate) filtered_out: usize,
}

impl Totals {
    pub(crate) fn of(outcomes: &[Vec<TestOutcome>], filtered_out: usize) -> Self {
        let all = outcomes.iter().flatten();
        let failed = all.clone().filter(|o| !o.failures.is_empty()).count();
        Self { passed: all.count() - failed, failed, filtered_out }
    }

    /// `test result: ok. 3 passed; 0 failed; 1 filtered out; finished in 0.12s`
    pub(crate) fn summary(&self, elapsed: Duration) -> String {
        format!(
            "test result: {}. {} passed; {} failed; {} filtered out; finished in {:.2}s",
            if self.failed == 0 { "ok" } else { "FAILED" },
            self.passed,
            self.failed,
            self.filtered_out,
            elapsed.as_secs_f64()
        )
    }
}

fn xml(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The results as JUnit XML: a suite per test file, a case per test.
pub(crate) fn junit(files: &[LoadedTestFile], outcomes: &[Vec<TestOutcome>]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"weir test\">\n");
    for (file, outcomes) in files.iter().zip(outcomes) {
        let failed = outcomes.iter().filter(|o| !o.failures.is_empty()).count();
        let time: f64 = outcomes.iter().map(|o| o.duration.as_secs_f64()).sum();
        let suite = xml(&file.file.display);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" time=\"{time:.3}\">",
            outcomes.len()
        );
        for o in outcomes {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{suite}\" time=\"{:.3}\"",
                xml(&o.name),
                o.duration.as_secs_f64()
            );
            if o.failures.is_empty() {
                out.push_str("/>\n");
            } else {
                let first = o.failures[0].lines().next().unwrap_or("");
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    xml(first),
                    xml(&o.failures.join("\n"))
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
