//! The `weir` command line as a user meets it: exit codes, `--help`, `--dry-run` (writes nothing, masks
//! secrets), `--limit`, `graph` and `schema`.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::repo;

fn weir(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.args(args).current_dir(dir).env_remove("WEIR_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("weir runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn validate_exit_codes() {
    let ok = weir(&["validate", "pipelines"], &repo(), &[]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("pipelines valid"));
    let bad = weir(&["validate", "tests/bad_configs/10-unknown-step-type.yaml"], &repo(), &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("unknown step type"));
    let missing = weir(&["validate", "no/such/file.yaml"], &repo(), &[]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn every_subcommand_has_help_with_exit_codes() {
    for sub in
        [&["--help"][..], &["validate", "--help"], &["run", "--help"], &["graph", "--help"], &["schema", "--help"]]
    {
        let out = weir(sub, &repo(), &[]);
        assert_eq!(out.status.code(), Some(0), "{sub:?}");
        let help = text(&out.stdout);
        assert!(help.contains("Usage:"), "{sub:?}: {help}");
        if sub[0] != "schema" {
            assert!(help.contains("Exit codes:"), "{sub:?} help must document exit codes: {help}");
        }
    }
}

#[test]
fn dry_run_writes_nothing_and_masks_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.ndjson"), "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n").expect("write");
    std::fs::write(
        dir.path().join("p.yaml"),
        r#"
name: dry
source: { id: in, type: file, path: in.ndjson }
steps:
  - id: sign
    type: template
    value: { id: "{{ record.id }}", auth: "Bearer ${secret:WEIR_CLI_TOKEN}" }
sinks:
  - { id: out, type: file, path: out.ndjson }
"#,
    )
    .expect("write");
    let secret = "tok-s3cr3t-value";
    let out = weir(&["run", "--dry-run", "--limit", "2", "p.yaml"], dir.path(), &[("WEIR_CLI_TOKEN", secret)]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!dir.path().join("out.ndjson").exists(), "a dry run must not write the sink's file");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("[out] ")).count(), 2, "--limit 2: {stdout}");
    assert!(!stdout.contains(secret) && !stderr.contains(secret), "the secret leaked: {stdout}{stderr}");
    assert!(stdout.contains("Bearer ***"), "{stdout}");
    assert!(stderr.contains("received 2"), "{stderr}");
}

#[test]
fn graph_prints_dot_and_mermaid() {
    let p = "pipelines/examples/order-to-erp.yaml";
    let dot = text(&weir(&["graph", p, "--format", "dot"], &repo(), &[]).stdout);
    assert!(dot.starts_with("digraph \"order-to-erp\""), "{dot}");
    assert!(dot.contains("\"orders\" -> \"paid_only\";"), "{dot}");
    let mermaid = text(&weir(&["graph", p, "--format", "mermaid"], &repo(), &[]).stdout);
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("erp_order_shape --> erp_sales_orders"), "{mermaid}");
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let out = weir(&["schema"], &repo(), &[]);
    let committed = std::fs::read_to_string(repo().join("schema/pipeline.schema.json")).expect("committed");
    assert_eq!(text(&out.stdout), committed);
}
