//! Every pipeline shipped in `pipelines/` validates and runs; the examples' outputs are checked against
//! `pipelines/examples/expected/` and against the facts each example exists to show.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::Value;
use weir::api::{Execution, RunOptions, RunSummary, compile, load_paths};

use crate::support::repo;

/// Runs every pipeline under `dir` with `WEIR_OUT` pointing at `out`; returns the summaries by name.
fn run_all(dir: &Path, out: &Path) -> BTreeMap<String, RunSummary> {
    let out_text = out.display().to_string();
    let env = move |name: &str| if name == "WEIR_OUT" { Some(out_text.clone()) } else { std::env::var(name).ok() };
    let pipelines = load_paths(&[dir.to_path_buf()], &env).unwrap_or_else(|d| panic!("pipelines must load:\n{d}"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut summaries = BTreeMap::new();
    for p in pipelines {
        let plan = compile(&p).unwrap_or_else(|d| panic!("{} must compile:\n{d}", p.config.name));
        let summary = runtime.block_on(async {
            Execution::start(plan, RunOptions { stop: Arc::new(AtomicBool::new(false)), ..RunOptions::default() })
                .wait()
                .await
        });
        summaries.insert(p.config.name.clone(), summary);
    }
    summaries
}

fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| serde_json::from_str(l).expect("NDJSON")).collect()
}

#[test]
fn shipped_pipelines_run_and_match_expected_outputs() {
    let out = tempfile::tempdir().expect("tempdir");
    let summaries = run_all(&repo().join("pipelines"), out.path());
    assert!(summaries.len() >= 4, "expected the four examples, ran {:?}", summaries.keys());
    for (name, s) in &summaries {
        assert!(s.is_success(), "{name} failed:\n{s}");
        assert!(s.balances(), "{name}: received != delivered + filtered + dead-lettered:\n{s}");
        // reconcile-stock dead-letters the ERP export's two duplicate rows on purpose; see (d).
        let dead = if name == "reconcile-stock" { 2 } else { 0 };
        assert_eq!(s.records.dead_lettered, dead, "{name} dead-lettered records:\n{s}");
    }
    let expected_dir = repo().join("pipelines/examples/expected");
    for entry in std::fs::read_dir(&expected_dir).expect("expected/ exists").flatten() {
        let name = entry.file_name();
        let actual = out.path().join(&name);
        assert_eq!(
            lines(&actual),
            lines(&entry.path()),
            "{} differs from expected/{}",
            actual.display(),
            name.to_string_lossy()
        );
    }

    // (a) one ERP item per size/color variant of the 147 configurable products, sizes from the table.
    let items = lines(&out.path().join("erp-items.ndjson"));
    assert_eq!(items.len(), 1847);
    let sizes = std::fs::read_to_string(repo().join("pipelines/examples/tables/sizes.csv")).expect("table");
    let erp_sizes: Vec<&str> = sizes.lines().skip(1).filter_map(|l| l.split(',').nth(1)).collect();
    for item in &items {
        let no = item["item_no"].as_str().expect("item_no");
        let parent = item["parent_item_no"].as_str().expect("parent");
        assert!(no.starts_with(&format!("{parent}-")), "{item}");
        assert!(erp_sizes.contains(&item["size"].as_str().expect("size")), "{item}");
    }
    let s = &summaries["catalog-to-erp-items"];
    assert_eq!((s.records.received, s.records.delivered, s.records.filtered), (1994, 147, 1847));

    // (b) MSI bodies of at most 20 source items, every unblocked stock row once.
    let bodies = lines(&out.path().join("msi-source-items.ndjson"));
    let counts: Vec<usize> = bodies.iter().map(|b| b["sourceItems"].as_array().expect("list").len()).collect();
    assert_eq!(counts, vec![20, 20, 7]);

    // (c) paid orders only, configurable parent lines skipped, children priced from their parent.
    let orders = lines(&out.path().join("erp-sales-orders.ndjson"));
    let refs: Vec<&str> = orders.iter().map(|o| o["reference"].as_str().expect("reference")).collect();
    assert_eq!(refs, vec!["000000042", "000000044"]);
    let skus: Vec<&str> = orders
        .iter()
        .flat_map(|o| o["lines"].as_array().expect("lines"))
        .map(|l| l["item_no"].as_str().expect("sku"))
        .collect();
    assert_eq!(skus, vec!["MH01-M-Black", "24-MB01", "WS03-XS-Red", "MP01-32-Gray"]);
    assert_eq!(orders[0]["lines"][0]["unit_price"], serde_json::json!(52.0));

    // (d) stock drift ERP ↔ commerce: every kind of finding, each turned into an MSI request; the
    // ERP export's duplicate rows are dead-lettered with the key; 100.0 (ERP) == 100 (commerce).
    let repairs = lines(&out.path().join("stock-repairs.ndjson"));
    let found: Vec<(&str, &str)> =
        repairs.iter().map(|r| (r["finding"].as_str().expect("finding"), r["key"].as_str().expect("key"))).collect();
    assert_eq!(
        found,
        vec![
            ("different", "MH01-XL-Gray@default"),
            ("different", "MH02-L-Red@default"),
            ("missing_right", "MH03-M-Green@default"),
            ("missing_right", "MH01-M-Orange@east_dc"),
            ("missing_left", "MH01-M-Gray@default"),
            ("missing_left", "MH04-XS-Blue@default"),
        ]
    );
    assert!(repairs.iter().all(|r| r["path"] == "/V1/inventory/source-items"));
    let s = &summaries["reconcile-stock"];
    assert_eq!((s.records.received, s.records.delivered, s.records.filtered), (49, 4, 43));
    let drift = s.components.iter().find(|c| c.id == "stock_drift").expect("reconcile step");
    let counts = drift.report.as_ref().expect("reconcile reports its counts");
    assert_eq!(counts.0, vec![("matching", 41), ("different", 2), ("missing_left", 2), ("missing_right", 2)]);
    let dead = lines(&out.path().join("reconcile-stock.dead-letter.ndjson"));
    let reasons: Vec<&str> = dead.iter().map(|d| d["error"].as_str().expect("error")).collect();
    assert_eq!(
        reasons,
        vec![
            "duplicate left key `MH01-XS-Black@east_dc`: an earlier record has the same key",
            "duplicate left key `MH01-S-Orange@east_dc`: an earlier record has the same key",
        ]
    );
}
