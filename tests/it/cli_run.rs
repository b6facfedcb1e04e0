//! `weir run` as users call it: a folder run goes on after a failing pipeline and lists the failures;
//! a dry run's summary says that nothing was written.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::cli::weir;

/// A folder with `a-fails.yaml` (stops on a lookup miss) and `b-ok.yaml` (copies its input).
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
    write("in.ndjson", "{\"id\":1,\"size\":\"M\"}\n{\"id\":2,\"size\":\"XXL\"}\n");
    write(
        "a-fails.yaml",
        r#"name: a-fails
source: { id: in, type: file, path: in.ndjson }
steps:
  - id: map
    type: lookup
    rows: [ { k: M, v: MD } ]
    key: "{{ record.size }}"
    key_column: k
    column: v
    target: erp
    on_miss: error
sinks:
  - { id: out, type: file, path: a.ndjson }
"#,
    );
    write(
        "b-ok.yaml",
        "name: b-ok\nsource: { id: in, type: file, path: in.ndjson }\nsinks:\n  - { id: out, type: file, path: b.ndjson }\n",
    );
    dir
}

#[test]
fn a_failing_pipeline_does_not_stop_the_folder_run() {
    let dir = folder();
    let out = weir(&["run", "."], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pipeline `a-fails`: FAILED"), "{stderr}");
    assert!(stderr.contains("pipeline `b-ok`: ok"), "the pipeline after the failure ran:\n{stderr}");
    assert!(stderr.contains("failed: 1 of 2 pipelines: a-fails"), "{stderr}");
    let written = std::fs::read_to_string(dir.path().join("b.ndjson")).expect("b-ok wrote its output");
    assert_eq!(written.lines().count(), 2);
}

#[test]
fn a_dry_run_summary_says_nothing_was_written() {
    let dir = folder();
    let out = weir(&["run", "b-ok.yaml", "--dry-run"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("pipeline `b-ok`: ok (dry run: nothing was written)"), "{stderr}");
    assert!(stderr.contains("delivered 2"), "the counts are kept: {stderr}");
    assert!(!dir.path().join("b.ndjson").exists(), "a dry run writes nothing");

    // A dry run prints the records on stdout first; the summary is the last line.
    let out = weir(&["run", "b-ok.yaml", "--dry-run", "--json"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let summary: serde_json::Value = serde_json::from_str(last).expect("the JSON summary");
    assert_eq!(summary["dry_run"], serde_json::json!(true));
    assert_eq!(summary["records"]["delivered"], serde_json::json!(2));

    let out = weir(&["run", "b-ok.yaml", "--json"], dir.path());
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("one JSON summary");
    assert_eq!(summary["dry_run"], serde_json::json!(false));
}

/// `weir run` with logs at `info`, stderr and stdout captured (not terminals).
fn weir_logging(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.args(args).current_dir(dir).env("WEIR_LOG", "info").env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the weir binary runs")
}

#[test]
fn the_json_summary_is_not_mixed_with_logs() {
    let dir = folder();
    // A folder run with a failing pipeline logs errors; stdout still holds only the summaries.
    let out = weir_logging(&["run", ".", "--json"], dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pipeline failed"), "the logs are on stderr: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summaries: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).expect("every stdout line is a JSON summary")).collect();
    assert_eq!(summaries.len(), 2, "{stdout}");
    assert_eq!(summaries[1]["pipeline"], serde_json::json!("b-ok"));
}

#[test]
fn no_colours_off_a_terminal_unless_forced() {
    let dir = folder();
    let text = ["run", "a-fails.yaml", "--log-format", "text"];
    let plain = weir_logging(&text, dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(stderr.contains("pipeline failed"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "ANSI codes on a stderr that is not a terminal: {stderr:?}");
    let forced = weir_logging(&text, dir.path(), &[("CLICOLOR_FORCE", "1")]);
    assert!(String::from_utf8_lossy(&forced.stderr).contains('\u{1b}'), "CLICOLOR_FORCE=1 forces colours");
    let off = weir_logging(&text, dir.path(), &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(String::from_utf8_lossy(&off.stderr).contains('\u{1b}'), "CLICOLOR_FORCE wins over NO_COLOR");
}

#[test]
fn logs_off_a_terminal_are_json_lines_unless_text_is_asked_for() {
    let dir = folder();
    let auto = weir_logging(&["run", "a-fails.yaml"], dir.path(), &[("CLICOLOR_FORCE", "1")]);
    let stderr = String::from_utf8_lossy(&auto.stderr);
    let logged: Vec<serde_json::Value> = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let failed = logged.iter().find(|l| l["message"] == "pipeline failed").unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!((&failed["level"], &failed["span"]["pipeline"]), (&"ERROR".into(), &"a-fails".into()), "{failed}");
    assert!(!stderr.contains('\u{1b}'), "no colours in JSON: {stderr:?}");
    let text = weir_logging(&["run", "a-fails.yaml"], dir.path(), &[("WEIR_LOG_FORMAT", "text")]);
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(stderr.lines().any(|l| l.contains("pipeline failed") && !l.starts_with('{')), "{stderr}");
}

/// A folder with `in.csv` and `p.yaml` reading it with the source options `options`.
fn csv_folder(options: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.csv"), "id,name\n1,a\n2,b\n3,c\n").expect("write");
    let pipeline = format!(
        "name: p\nsource: {{ id: in, type: file, path: in.csv{options} }}\nsinks:\n  - {{ id: out, type: file, path: out.ndjson }}\n"
    );
    std::fs::write(dir.path().join("p.yaml"), pipeline).expect("write");
    dir
}

#[test]
fn the_format_follows_the_extension_when_not_given() {
    let dir = csv_folder("");
    let out = weir(&["run", "p.yaml", "--json"], dir.path());
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary["records"]["delivered"], serde_json::json!(3), "{summary}");
    let written = std::fs::read_to_string(dir.path().join("out.ndjson")).expect("output");
    assert!(written.starts_with("{\"id\":\"1\""), "{written}");
}

#[test]
fn validate_warns_when_the_format_contradicts_the_extension() {
    let dir = csv_folder(", format: ndjson");
    let out = weir(&["validate", "p.yaml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "a warning, not an error: {stderr}");
    assert!(stderr.contains("warning:") && stderr.contains("`format: ndjson`") && stderr.contains(".csv"), "{stderr}");
    let fine = weir(&["validate", "p.yaml"], csv_folder(", format: csv").path());
    assert!(!String::from_utf8_lossy(&fine.stderr).contains("warning"), "no warning when they agree");
}

#[test]
fn most_records_dead_lettered_is_said_plainly_and_can_fail_the_run() {
    // Declared NDJSON, but the file is CSV: every line is dead-lettered.
    let dir = csv_folder(", format: ndjson");
    let out = weir(&["run", "p.yaml", "--state", "st/state.db"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "dead letters alone do not fail a run: {stderr}");
    assert!(stderr.contains("most records were dead-lettered (4 of 4)"), "{stderr}");
    assert!(stderr.contains("warning:") && stderr.contains("`format: ndjson`"), "run warns too: {stderr}");
    assert!(stderr.contains("weir dlq list --state st/state.db p"), "the hint keeps --state: {stderr}");
    for (limit, code) in [("0", 1), ("4", 0), ("50%", 1), ("100%", 0)] {
        let out = weir(&["run", "p.yaml", "--from-start", "--max-dead-letters", limit], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "--max-dead-letters {limit}: {stderr}");
        if code == 1 {
            assert!(stderr.contains("more than --max-dead-letters"), "{stderr}");
        }
    }
    let bad = weir(&["run", "p.yaml", "--max-dead-letters", "lots"], dir.path());
    assert_eq!(bad.status.code(), Some(2), "a bad value is a usage error");
}

#[test]
fn errors_naming_a_relative_path_show_where_it_resolved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let abs = d.canonicalize().expect("canonical");
    std::fs::create_dir(d.join("sub")).expect("mkdir");
    std::fs::write(
        d.join("sub/a.yaml"),
        "name: a\nsource: { id: in, type: file, path: nothere.ndjson }\nsinks:\n  - { id: out, type: stdout }\n",
    )
    .expect("write");
    std::fs::write(
        d.join("sub/b.yaml"),
        "name: b\nsource: { id: in, type: file, path: in.ndjson }\ntables:\n  t: missing.csv\nsinks:\n  - { id: out, type: stdout }\n",
    )
    .expect("write");
    let cases: [(&[&str], String); 4] = [
        (&["run", "sub/a.yaml"], abs.join("sub/nothere.ndjson").display().to_string()),
        (&["dlq", "list"], abs.join(".weir/state.db").display().to_string()),
        (&["validate", "nope.yaml"], abs.join("nope.yaml").display().to_string()),
        (&["validate", "sub/b.yaml"], abs.join("sub/missing.csv").display().to_string()),
    ];
    for (args, resolved) in cases {
        let out = weir(args, d);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(stderr.contains(&resolved), "{args:?} must name {resolved}: {stderr}");
    }
}
