//! Log output: `tracing` events on stderr as human text on a terminal and as JSON lines otherwise
//! (`--log-format json|text|auto`, `WEIR_LOG_FORMAT`), every registered secret masked as it is
//! written. Runs and nodes have spans ([`run_span`], [`node_span`]); a JSON line shows the innermost
//! span's fields under `span`, so a node's span repeats its run's `pipeline` and `run_id`: each line
//! holds them all. Record-level events (a dead letter, a retry) carry the record's `key` themselves.

use std::io::{IsTerminal, Write};

use tracing_subscriber::fmt::MakeWriter;

use crate::config::secrets;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Text on a terminal, JSON lines otherwise (a container, a pipe, a file).
    #[default]
    Auto,
    /// One JSON object per line: `timestamp`, `level`, `message`, the event's fields, `target`, and the
    /// innermost span's fields under `span` (`pipeline`, `run_id`, `node`, `kind`).
    Json,
    /// Human-readable lines.
    Text,
}

impl LogFormat {
    /// Whether lines are JSON, for stderr that is a terminal or not.
    fn is_json(self, terminal: bool) -> bool {
        match self {
            LogFormat::Auto => !terminal,
            LogFormat::Json => true,
            LogFormat::Text => false,
        }
    }
}

/// A writer that masks every registered secret (as written, and as JSON escapes it) in what passes
/// through it.
pub(crate) struct Redacting<W: Write>(pub(crate) W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = secrets::redact(&String::from_utf8_lossy(buf));
        self.0.write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The process's log output: events passing `filter` (tracing `EnvFilter` syntax: `warn`,
/// `weir=debug`; an invalid one is `warn`) written to `writer` as JSON lines or as text (with ANSI
/// `colors`).
pub(crate) fn subscriber<W>(
    filter: &str,
    json: bool,
    colors: bool,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    if json {
        Box::new(builder.json().flatten_event(true).with_current_span(true).with_span_list(false).finish())
    } else {
        Box::new(builder.with_ansi(colors).with_target(false).finish())
    }
}

/// Installs the process's log output on stderr (once; later calls change nothing): `filter` as for
/// [`subscriber`], `format` deciding text or JSON, `colors` for text.
pub(crate) fn init(filter: &str, format: LogFormat, colors: bool) {
    use tracing_subscriber::util::SubscriberInitExt;
    let json = format.is_json(std::io::stderr().is_terminal());
    let _ = subscriber(filter, json, colors, || Redacting(std::io::stderr())).try_init();
}

/// The span of one run of `pipeline` (`run_id`: its id in the run history, when it has one).
pub(crate) fn run_span(pipeline: &str, run_id: Option<i64>) -> tracing::Span {
    tracing::info_span!("run", pipeline = %pipeline, run_id)
}

/// The span of one node (`kind`: `source`, `step` or `sink`) of a run, with the run's fields.
pub(crate) fn node_span(pipeline: &str, run_id: Option<i64>, node: &str, kind: &'static str) -> tracing::Span {
    tracing::info_span!("node", pipeline = %pipeline, run_id, node = %node, kind)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A log destination the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<serde_json::Value> {
            let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
            String::from_utf8(bytes)
                .expect("UTF-8")
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
                .collect()
        }
    }

    #[test]
    fn json_lines_carry_the_pipeline_node_run_and_key_and_mask_secrets() {
        let secret = "tel\"emetry-s3cret\\x";
        secrets::register(secret);
        let captured = Captured::default();
        let out = captured.clone();
        let logs = subscriber("debug", true, false, move || Redacting(out.clone()));
        tracing::subscriber::with_default(logs, || {
            let run = run_span("orders", Some(7));
            run.in_scope(|| tracing::info!("run started"));
            node_span("orders", Some(7), "erp", "sink").in_scope(|| {
                tracing::debug!(key = "order:42", reason = %format!("bearer {secret}"), "record dead-lettered");
            });
        });
        let lines = captured.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["span"]["pipeline"], "orders");
        assert_eq!(lines[0]["span"]["run_id"], 7);
        let event = &lines[1];
        assert_eq!(event["message"], "record dead-lettered");
        assert_eq!(event["key"], "order:42");
        assert_eq!(event["level"], "DEBUG");
        assert_eq!(
            (&event["span"]["pipeline"], &event["span"]["run_id"], &event["span"]["node"], &event["span"]["kind"]),
            (&"orders".into(), &7.into(), &"erp".into(), &"sink".into())
        );
        assert_eq!(event["reason"], "bearer ***", "masked as JSON escapes it");
    }

    #[test]
    fn auto_is_text_on_a_terminal_and_json_elsewhere() {
        assert!(!LogFormat::Auto.is_json(true));
        assert!(LogFormat::Auto.is_json(false));
        assert!(LogFormat::Json.is_json(true));
        assert!(!LogFormat::Text.is_json(false));
    }
}
