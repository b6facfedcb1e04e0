//! Per-component counters and the run summary shown after every run.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::ack::AckSummary;

/// Live counters of one component.
#[derive(Debug, Default)]
pub(crate) struct NodeCounters {
    /// Records that arrived.
    pub(crate) received: AtomicU64,
    /// Records passed downstream.
    pub(crate) emitted: AtomicU64,
    /// Records dropped on purpose.
    pub(crate) filtered: AtomicU64,
    /// Records sent to the dead-letter output.
    pub(crate) dead_lettered: AtomicU64,
    /// Records written (sinks).
    pub(crate) delivered: AtomicU64,
    /// What the step reported about its work at the end (see [`crate::kernel::step::Transform::report`]).
    pub(crate) report: Mutex<Option<StepReport>>,
}

impl NodeCounters {
    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A snapshot.
    pub(crate) fn snapshot(&self, id: &str, kind: &'static str, type_name: &'static str) -> NodeSummary {
        NodeSummary {
            id: id.to_string(),
            kind,
            type_name,
            received: self.received.load(Ordering::Acquire),
            emitted: self.emitted.load(Ordering::Acquire),
            filtered: self.filtered.load(Ordering::Acquire),
            dead_lettered: self.dead_lettered.load(Ordering::Acquire),
            delivered: self.delivered.load(Ordering::Acquire),
            report: self.report.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// Keeps what a step reported at the end of the run.
    pub(crate) fn set_report(&self, report: StepReport) {
        *self.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
    }
}

/// What the metrics read of a run in progress, at scrape time.
impl crate::telemetry::nodes::LiveRecords for NodeCounters {
    fn records(&self) -> crate::telemetry::nodes::RecordCounts {
        crate::telemetry::nodes::RecordCounts {
            received: self.received.load(Ordering::Relaxed),
            emitted: self.emitted.load(Ordering::Relaxed),
            filtered: self.filtered.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
        }
    }
}

/// Counts a step keeps about its own work, by name, in the order it gives them (e.g. `reconcile`'s
/// findings: `matching`, `different`, `missing_left`, `missing_right`). In the JSON summary, an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport(pub Vec<(&'static str, u64)>);

impl Serialize for StepReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, count) in &self.0 {
            map.serialize_entry(name, count)?;
        }
        map.end()
    }
}

impl fmt::Display for StepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, count)) in self.0.iter().enumerate() {
            write!(f, "{}{name} {count}", if i == 0 { "" } else { ", " })?;
        }
        Ok(())
    }
}

/// Counters of one component at the end of a run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeSummary {
    /// Component id.
    pub id: String,
    /// `source`, `step` or `sink`.
    pub(crate) kind: &'static str,
    /// Its `type:`.
    #[serde(rename = "type")]
    pub(crate) type_name: &'static str,
    /// Records that arrived (for the source: records read).
    pub received: u64,
    /// Records passed downstream.
    pub emitted: u64,
    /// Records dropped on purpose.
    pub filtered: u64,
    /// Records dead-lettered here.
    pub dead_lettered: u64,
    /// Records written (sinks).
    pub(crate) delivered: u64,
    /// Counts the step reported about its work (only steps that keep any, e.g. `reconcile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<StepReport>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The pipeline's name.
    pub(crate) pipeline: String,
    /// Wall time.
    #[serde(serialize_with = "as_secs")]
    pub(crate) duration: Duration,
    /// Outcomes of the source's records: received = delivered + filtered + dead_lettered (+ unacknowledged
    /// when the run failed).
    pub records: AckSummary,
    /// Per-component counters.
    pub components: Vec<NodeSummary>,
    /// Where dead-lettered records were written, if any were.
    pub(crate) dead_letter_path: Option<String>,
    /// True when SIGINT/SIGTERM stopped the source early.
    pub(crate) interrupted: bool,
    /// Why the run failed, if it did.
    pub error: Option<String>,
    /// True for `weir run --dry-run`: every sink was replaced by a stand-in that printed what it would
    /// have received, so "delivered" counts printed records and nothing was written.
    pub(crate) dry_run: bool,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl RunSummary {
    /// How the run ended, for the run history.
    pub(crate) fn run_status(&self) -> crate::state::RunStatus {
        use crate::state::RunStatus;
        if self.error.is_some() {
            RunStatus::Failed
        } else if self.interrupted {
            RunStatus::Interrupted
        } else if self.is_success() {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        }
    }

    /// Records the run's end in its state-store session (and releases the pipeline's lease).
    pub(crate) fn record_in(&self, session: crate::state::session::RunSession) -> crate::state::StateResult<()> {
        let summary = serde_json::to_value(self).unwrap_or_default();
        session.finish(self.run_status(), &summary, self.error.as_deref())
    }

    /// True when every record read got an outcome and nothing failed.
    pub fn is_success(&self) -> bool {
        self.error.is_none() && self.records.unacknowledged == 0 && self.records.in_flight() == 0
    }

    /// True when the books balance: every record read is delivered, filtered or dead-lettered.
    pub fn balances(&self) -> bool {
        let r = &self.records;
        r.received == r.delivered + r.filtered + r.dead_lettered
    }
}

/// The summary's text; a dry run says so in its first line and after the counts.
impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dry_run = self.dry_run;
        let r = &self.records;
        let secs = self.duration.as_secs_f64();
        let rate = if secs > 0.0 { r.received as f64 / secs } else { 0.0 };
        let status = match (&self.error, self.interrupted) {
            (Some(_), _) => "FAILED",
            (None, true) => "interrupted (drained)",
            (None, false) => "ok",
        };
        let mode = if dry_run { " (dry run: nothing was written)" } else { "" };
        writeln!(f, "pipeline `{}`: {status}{mode} in {secs:.2}s ({rate:.0} records/s)", self.pipeline)?;
        write!(
            f,
            "  records: received {} = delivered {} + filtered {} + dead-lettered {}",
            r.received, r.delivered, r.filtered, r.dead_lettered
        )?;
        if r.unacknowledged > 0 {
            write!(f, " + unacknowledged {}", r.unacknowledged)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "  {:<24} {:<9} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "component", "type", "received", "emitted", "filtered", "dead", "delivered"
        )?;
        for n in &self.components {
            let id = format!("{} {}", n.kind, n.id);
            writeln!(
                f,
                "  {:<24} {:<9} {:>10} {:>10} {:>10} {:>10} {:>10}",
                id, n.type_name, n.received, n.emitted, n.filtered, n.dead_lettered, n.delivered
            )?;
        }
        for n in &self.components {
            if let Some(report) = &n.report {
                writeln!(f, "  {} {}: {report}", n.kind, n.id)?;
            }
        }
        if dry_run {
            writeln!(
                f,
                "  dry run: \"delivered\" counts the records the sinks' stand-ins printed; no sink wrote anything"
            )?;
        }
        if let Some(p) = &self.dead_letter_path {
            writeln!(f, "  dead-letter entries written to {p}")?;
        }
        if let Some(e) = &self.error {
            writeln!(f, "  error: {e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> RunSummary {
        RunSummary {
            pipeline: "p".into(),
            duration: Duration::from_millis(10),
            records: AckSummary::default(),
            components: Vec::new(),
            dead_letter_path: None,
            interrupted: false,
            error: None,
            dry_run: false,
        }
    }

    #[test]
    fn a_dry_run_says_so_in_text_and_json() {
        let dry = RunSummary { dry_run: true, ..summary() };
        let text = dry.to_string();
        assert!(text.starts_with("pipeline `p`: ok (dry run: nothing was written) in "), "{text}");
        assert!(text.contains("no sink wrote anything"), "{text}");
        let json = serde_json::to_value(&dry).expect("serializes");
        assert_eq!(json["dry_run"], serde_json::json!(true));
        assert_eq!(json["pipeline"], serde_json::json!("p"));

        let real = summary();
        assert!(!real.to_string().contains("dry run"));
        assert_eq!(serde_json::to_value(&real).expect("serializes")["dry_run"], serde_json::json!(false));
    }

    #[test]
    fn step_reports_show_in_text_and_json_and_only_where_kept() {
        let node = |id: &str, report: Option<StepReport>| NodeSummary {
            id: id.into(),
            kind: "step",
            type_name: "reconcile",
            received: 3,
            emitted: 2,
            filtered: 1,
            dead_lettered: 0,
            delivered: 0,
            report,
        };
        let counts = StepReport(vec![("matching", 1), ("missing_left", 4)]);
        let s = RunSummary { components: vec![node("drift", Some(counts)), node("plain", None)], ..summary() };
        let text = s.to_string();
        assert!(text.contains("\n  step drift: matching 1, missing_left 4\n"), "{text}");
        assert!(!text.contains("step plain:"), "{text}");
        let json = serde_json::to_value(&s).expect("serializes");
        assert_eq!(json["components"][0]["report"], serde_json::json!({"matching": 1, "missing_left": 4}));
        assert!(json["components"][1].get("report").is_none());
    }
}
