//! Dead letters stay true, tested on the shipped examples (each one is also a cookbook recipe): break
//! what the pipeline depends on, run, fix, replay — the output is exactly what a clean run writes, no
//! record missing and none twice; a `--from-start` run after the fix resolves the old entries instead
//! of leaving them to be replayed into duplicates.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

fn weir(args: &[&str], dir: &Path) -> Output {
    crate::support::cli::command(args, dir).env("WEIR_OUT", "out").output().expect("the weir binary runs")
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A copy of `pipelines/examples` (pipelines, data, tables) in a temporary folder.
fn examples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/examples");
    for sub in ["", "data", "tables"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        for entry in std::fs::read_dir(from.join(sub)).expect("read").flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), dir.path().join(sub).join(entry.file_name())).expect("copy");
            }
        }
    }
    dir
}

/// The records written to `out/NAME`, each batch's items counted one by one, in a stable order.
fn output(dir: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("out").join(name)).unwrap_or_default();
    let mut records: Vec<String> = Vec::new();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).expect("NDJSON");
        match value.get("sourceItems").and_then(Value::as_array) {
            Some(items) => records.extend(items.iter().map(Value::to_string)),
            None => records.push(line.to_string()),
        }
    }
    records.sort();
    records
}

fn dead_letters(dir: &Path) -> Vec<Value> {
    let out = weir(&["dlq", "list", "--json"], dir);
    ok(&out);
    serde_json::from_slice::<Value>(&out.stdout).expect("json").as_array().cloned().unwrap_or_default()
}

/// Replaces `from` by `to` in `file`; returns the text it had.
fn edit(dir: &Path, file: &str, from: &str, to: &str) -> String {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{file} holds {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    text
}

/// Break, run, fix, replay: the output equals a clean run's.
fn break_fix_replay(pipeline: &str, output_file: &str, file: &str, good: &str, broken: &str) {
    let clean = examples();
    ok(&weir(&["run", pipeline], clean.path()));
    let expected = output(clean.path(), output_file);
    assert!(!expected.is_empty());

    let dir = examples();
    let d = dir.path();
    let original = edit(d, file, good, broken);
    ok(&weir(&["run", pipeline], d));
    let entries = dead_letters(d);
    assert!(!entries.is_empty(), "breaking {file} dead-letters records");
    // Run again from the start, still broken: the same records are the same entries, one more attempt.
    ok(&weir(&["run", "--from-start", pipeline], d));
    let again = dead_letters(d);
    assert_eq!(again.len(), entries.len(), "failing again adds no entry");
    assert!(again.iter().all(|e| e["attempts"] == 2), "{again:?}");
    // Replays are appended after what the runs wrote; start the output over for the comparison.
    std::fs::remove_dir_all(d.join("out")).expect("rm out");
    ok(&weir(&["run", "--from-start", pipeline], d));
    std::fs::write(d.join(file), original).expect("fix");
    let replay = weir(&["dlq", "replay", "--all", "--config", pipeline], d);
    ok(&replay);
    assert!(dead_letters(d).is_empty(), "{}", String::from_utf8_lossy(&replay.stderr));
    assert_eq!(output(d, output_file), expected, "{pipeline}: exactly the clean run's records");
}

#[test]
fn product_recipe_replays_its_variants_with_their_parent() {
    break_fix_replay("catalog-to-erp-items.yaml", "erp-items.ndjson", "tables/sizes.csv", "M,MD,Medium\n", "");
}

#[test]
fn inventory_recipe_replays_into_the_same_batches_content() {
    break_fix_replay(
        "stock-to-msi.yaml",
        "msi-source-items.ndjson",
        "tables/warehouses.csv",
        "WH-EAST,east_dc,",
        "X,x,",
    );
}

#[test]
fn orders_recipe_replays_after_the_validation_is_fixed() {
    break_fix_replay(
        "order-to-erp.yaml",
        "erp-sales-orders.ndjson",
        "order-to-erp.yaml",
        "exclusiveMinimum: 0 }",
        "exclusiveMinimum: 0, maximum: 1 }",
    );
}

#[test]
fn a_from_start_run_after_the_fix_resolves_the_old_entries() {
    let dir = examples();
    let d = dir.path();
    let original = edit(d, "tables/sizes.csv", "M,MD,Medium\n", "");
    ok(&weir(&["run", "catalog-to-erp-items.yaml"], d));
    assert!(!dead_letters(d).is_empty());
    std::fs::write(d.join("tables/sizes.csv"), original).expect("fix");
    std::fs::remove_dir_all(d.join("out")).expect("rm out");
    ok(&weir(&["run", "--from-start", "catalog-to-erp-items.yaml"], d));
    assert!(dead_letters(d).is_empty(), "every record got through: nothing is left to replay into a duplicate");
    let clean = examples();
    ok(&weir(&["run", "catalog-to-erp-items.yaml"], clean.path()));
    assert_eq!(output(d, "erp-items.ndjson"), output(clean.path(), "erp-items.ndjson"));
}

#[test]
fn a_record_too_big_for_the_store_is_dead_lettered_truncated_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let huge = format!("{{\"id\":2,\"blob\":\"{}\"", "x".repeat(100_000)); // not JSON: no closing brace
    std::fs::write(d.join("in.ndjson"), format!("{{\"id\":1}}\n{huge}\n{{\"id\":3}}\n")).expect("write");
    std::fs::write(
        d.join("p.yaml"),
        "name: p\nsource: { id: in, type: file, path: in.ndjson }\nsinks:\n  - { id: out, type: file, path: out.ndjson }\n\
         dead_letter: { max_record_size: 4096 }\n",
    )
    .expect("write");
    ok(&weir(&["run", "p.yaml"], d));
    let entries = dead_letters(d);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    let error = entry["error"].as_str().expect("error");
    assert!(error.contains("in.ndjson:2") && error.contains("stored truncated"), "{error}");
    let stub = &entry["record"]["$truncated"];
    assert!(stub["bytes"].as_u64().is_some_and(|b| b > 100_000), "{entry}");
    assert!(stub["head"].as_str().is_some_and(|h| h.len() <= 1024 && h.starts_with("\"{\\\"id\\\":2")), "{entry}");
    // The next run goes on from after it; a replay keeps it and says why.
    ok(&weir(&["run", "p.yaml"], d));
    assert_eq!(dead_letters(d).len(), 1);
    let replay = weir(&["dlq", "replay", "--all", "--config", "p.yaml"], d);
    assert!(String::from_utf8_lossy(&replay.stderr).contains("truncated record"), "{replay:?}");
    assert_eq!(dead_letters(d).len(), 1);
}

#[test]
fn reconciliation_recipe_is_fixed_by_running_it_again() {
    // A reconciliation compares whole snapshots (`ignore_checkpoints`), and its dead letters go to a file:
    // after a fix it is run again, and the output is exactly a clean run's.
    let clean = examples();
    ok(&weir(&["run", "reconcile-stock.yaml"], clean.path()));
    let expected = output(clean.path(), "stock-repairs.ndjson");
    let dir = examples();
    let d = dir.path();
    let original = edit(d, "tables/warehouses.csv", "WH-EAST,east_dc,", "X,x,");
    ok(&weir(&["run", "reconcile-stock.yaml"], d));
    assert_ne!(output(d, "stock-repairs.ndjson"), expected, "breaking the table changes the findings");
    std::fs::write(d.join("tables/warehouses.csv"), original).expect("fix");
    ok(&weir(&["run", "reconcile-stock.yaml"], d));
    assert_eq!(output(d, "stock-repairs.ndjson"), expected);
}

#[test]
fn a_line_that_fails_again_without_a_key_is_still_one_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("in.ndjson"), "{\"id\":1}\n{\"id\":2,\n{\"id\":3}\n").expect("write");
    std::fs::write(
        d.join("p.yaml"),
        "name: p\nsource: { id: in, type: file, path: in.ndjson }\nsinks:\n  - { id: out, type: file, path: out.ndjson }\n",
    )
    .expect("write");
    for _ in 0..3 {
        ok(&weir(&["run", "--from-start", "p.yaml"], d));
    }
    let entries = dead_letters(d);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["attempts"], 3);
}
