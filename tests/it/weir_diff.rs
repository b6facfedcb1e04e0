//! `weir diff` from the command line, on a client folder committed to a git repository made for each
//! test and then changed: changed fields with their old and new values, added and removed records, new
//! dead letters, `--check`'s exit code, bad revisions (exit 2), and no state file left behind.

use std::path::Path;
use std::process::Command;

use crate::support::cli::{command, outcome, weir};
use crate::weir_test::PIPELINE;

const TABLE: &str = "item,sku\nI-1,MH01-XS-Black\nI-2,MH01-S-Black\nI-3,MH03\n";
const DATA: &str =
    "{\"item\":\"I-1\",\"price\":52.00}\n{\"item\":\"I-2\",\"price\":48}\n{\"item\":\"I-3\",\"price\":1}\n";

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.email=t@t", "-c", "user.name=t", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// A git repository with the client folder `acme/` (pipeline, table, data) committed once.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "acme/prices.yaml", PIPELINE);
    write(dir.path(), "acme/tables/skus.csv", TABLE);
    write(dir.path(), "acme/data/prices.ndjson", DATA);
    write(dir.path(), "input.ndjson", DATA);
    git(dir.path(), &["init", "-q", "."]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "one"]);
    dir
}

fn diff(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["diff", "acme/prices.yaml", "--against", "HEAD"];
    all.extend_from_slice(args);
    outcome(weir(&all, dir))
}

#[test]
fn nothing_changed_is_no_change_and_check_exits_0() {
    let dir = repo();
    let (code, stdout, stderr) = diff(dir.path(), &["--check"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("sink commerce: 0 changed, 0 added, 0 removed, 3 unchanged"), "{stdout}");
    assert!(stdout.contains("dead letters: 0 new, 0 gone"), "{stdout}");
    assert!(stdout.trim_end().ends_with("no change"), "{stdout}");
}

#[test]
fn a_changed_table_row_shows_the_field_with_old_and_new_values_and_check_exits_1() {
    let dir = repo();
    write(dir.path(), "acme/tables/skus.csv", &TABLE.replace("MH01-XS-Black", "MH01-XS-Blue"));
    let (code, stdout, stderr) = diff(dir.path(), &["--check"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("sink commerce: 1 changed, 0 added, 0 removed, 2 unchanged"), "{stdout}");
    assert!(stdout.contains("  ~ price:I-1\n      $.sku: \"MH01-XS-Black\" → \"MH01-XS-Blue\"\n"), "{stdout}");
    assert!(stdout.trim_end().ends_with("1 record changed"), "{stdout}");
    let (code, _, _) = diff(dir.path(), &[]);
    assert_eq!(code, Some(0), "without --check, a change is not a failure");
    assert!(!dir.path().join("acme/.weir").exists() && !dir.path().join(".weir").exists(), "no state file");
    assert!(!dir.path().join("acme/out").exists(), "no sink wrote anything");
}

#[test]
fn a_removed_table_row_is_a_removed_record_and_a_new_dead_letter() {
    let dir = repo();
    write(dir.path(), "acme/tables/skus.csv", &TABLE.replace("I-3,MH03\n", ""));
    let (code, stdout, stderr) = diff(dir.path(), &["--check"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("0 changed, 0 added, 1 removed, 2 unchanged"), "{stdout}");
    assert!(stdout.contains("  - price:I-3  {\"sku\":\"MH03\",\"price\":1,\"store_id\":0}"), "{stdout}");
    assert!(stdout.contains("dead letters: 1 new, 0 gone\n  + price:I-3 at base_price: "), "{stdout}");
    assert!(stdout.contains("no row with item = \"I-3\""), "{stdout}");
}

#[test]
fn inputs_given_go_to_both_versions_and_a_changed_template_changes_every_record() {
    let dir = repo();
    write(dir.path(), "acme/prices.yaml", &PIPELINE.replace("store_id: 0", "store_id: 1"));
    write(dir.path(), "input.ndjson", "{\"item\":\"I-2\",\"price\":7}\n{\"item\":\"I-9\",\"price\":1}\n");
    let (code, stdout, stderr) = diff(dir.path(), &["--input", "input.ndjson", "--check"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("sink commerce: 1 changed, 0 added, 0 removed, 0 unchanged"), "{stdout}");
    assert!(stdout.contains("  ~ price:I-2\n      $.store_id: 0 → 1"), "{stdout}");
    assert!(!stdout.contains("I-1"), "only the given records run: {stdout}");
    assert!(stdout.contains("dead letters: 0 new, 0 gone"), "I-9 fails in both versions: {stdout}");
}

#[test]
fn new_records_in_the_current_input_are_added_and_a_field_can_pair_them() {
    let dir = repo();
    write(dir.path(), "acme/tables/skus.csv", &format!("{TABLE}I-4,MH04\n"));
    write(dir.path(), "acme/data/prices.ndjson", &format!("{DATA}{{\"item\":\"I-4\",\"price\":9}}\n"));
    let (code, stdout, stderr) = diff(dir.path(), &["--key", "$.sku"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("sink commerce: 0 changed, 1 added, 0 removed, 3 unchanged"), "{stdout}");
    assert!(stdout.contains("  + MH04  {\"sku\":\"MH04\",\"price\":9,\"store_id\":0}"), "{stdout}");
}

#[test]
fn an_unknown_revision_or_a_pipeline_that_did_not_exist_exits_2_with_a_message() {
    let dir = repo();
    let out = weir(&["diff", "acme/prices.yaml", "--against", "no-such-branch"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown revision `no-such-branch`"), "{stderr}");

    write(dir.path(), "acme/other.yaml", &PIPELINE.replace("name: prices", "name: other"));
    let out = weir(&["diff", "acme/other.yaml", "--against", "HEAD"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("acme/other.yaml did not exist at HEAD"), "{stderr}");
}

#[test]
fn outside_a_git_repository_or_with_an_invalid_pipeline_it_exits_2() {
    let plain = tempfile::tempdir().expect("tempdir");
    write(plain.path(), "acme/prices.yaml", PIPELINE);
    write(plain.path(), "acme/tables/skus.csv", TABLE);
    let parent = plain.path().parent().expect("parent").to_string_lossy().into_owned();
    let out = command(&["diff", "acme/prices.yaml", "--against", "HEAD"], plain.path())
        .env("GIT_CEILING_DIRECTORIES", parent)
        .output()
        .expect("weir runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not in a git repository"), "{stderr}");

    let dir = repo();
    write(dir.path(), "acme/prices.yaml", &PIPELINE.replace("type: template", "type: templat"));
    let (code, stdout, stderr) = diff(dir.path(), &[]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("templat"), "the usual diagnostics: {stderr}");
}
