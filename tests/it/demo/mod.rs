//! The shipped client folder `pipelines/demo/` end to end: its pipelines run with the `weir` binary
//! against the two simulators (`weir sim commerce`, `weir sim erp`, as processes), and what they did
//! is read back from the **simulators' state** — the commerce sim's source items, prices, orders and
//! the requests it received, the ERP's documents — not from Weir's counters. One module per flow; this
//! one holds the harness. `examples.rs` leaves this folder out (it needs the simulators);
//! `every_demo_pipeline_is_run_here` keeps that honest.

mod chaos;
mod customers;
mod inventory;
mod orders;
mod prices;
mod products;
mod reconciliation;
mod sales_prices;
mod shipments;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::cli::{command, outcome};
use crate::support::commerce::Sim as Commerce;
use crate::support::repo;
use crate::support::sim::Simulator;

/// The pipeline files in `pipelines/demo/` and its sub-folders (`tryton/orders.yaml`), not
/// `connections.yaml`, `shared.yaml`, nor the folders Weir skips (`tables/`, `tests/`, …).
pub(crate) fn demo_pipeline_files() -> Vec<String> {
    let mut files = Vec::new();
    pipeline_files_under(&repo().join("pipelines/demo"), "", &mut files);
    files.sort();
    files
}

/// Appends the pipeline files of `dir` (named with `prefix`) and of its sub-folders to `files`.
fn pipeline_files_under(dir: &std::path::Path, prefix: &str, files: &mut Vec<String>) {
    const SKIPPED: &[&str] = &["tables", "tests", "schemas", "data", "expected", "out"];
    for entry in std::fs::read_dir(dir).expect("a demo folder is readable").flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        if path.is_dir() && !name.starts_with('.') && !SKIPPED.contains(&name.as_str()) {
            pipeline_files_under(&path, &format!("{prefix}{name}/"), files);
        } else if path.is_file()
            && (name.ends_with(".yaml") || name.ends_with(".yml"))
            && name != "connections.yaml"
            && name != "shared.yaml"
        {
            files.push(format!("{prefix}{name}"));
        }
    }
}

/// The pipeline files of `pipelines/demo/` that no test of this folder, nor `tryton.rs` (the Tryton
/// variant in `tryton/`, against a real Tryton), runs (`demo.run("FILE")`).
pub(crate) fn demo_pipelines_not_run_here() -> Vec<String> {
    let mut sources: String = std::fs::read_dir(repo().join("tests/it/demo"))
        .expect("tests/it/demo is readable")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| std::fs::read_to_string(e.path()).expect("a test source"))
        .collect();
    sources.push_str(&std::fs::read_to_string(repo().join("tests/it/tryton.rs")).expect("tests/it/tryton.rs"));
    demo_pipeline_files().into_iter().filter(|f| !sources.contains(&format!("demo.run(\"{f}\")"))).collect()
}

#[test]
fn every_demo_pipeline_is_run_here() {
    assert!(demo_pipeline_files().len() >= 3, "{:?}", demo_pipeline_files());
    assert_eq!(
        demo_pipelines_not_run_here(),
        Vec::<String>::new(),
        "pipelines of pipelines/demo/ without an end-to-end test"
    );
}

/// Both simulators and a state store for the demo's runs.
pub(crate) struct Demo {
    pub(crate) commerce: Commerce,
    pub(crate) erp: Simulator,
    pub(crate) company: String,
    pub(crate) state: tempfile::TempDir,
}

impl Demo {
    pub(crate) fn start() -> Demo {
        let commerce = Commerce::start(&["--input-limit"]);
        let erp = Simulator::start("erp", &["--seed", "7"]);
        let company = erp.control("GET", "state", None)["companyId"].as_str().expect("a company id").to_string();
        Demo { commerce, erp, company, state: tempfile::tempdir().expect("tempdir") }
    }

    /// `weir run pipelines/demo/FILE --state …` with the connections' environment pointing at the sims,
    /// and the files the pipelines write (`${env:WEIR_OUT:-out}`) in [`Demo::out`].
    pub(crate) fn run(&self, file: &str) -> String {
        let path = format!("pipelines/demo/{file}");
        self.run_path(&repo().join(&path))
    }

    /// `weir run PATH --state …` (a pipeline of a copy of the demo folder, say).
    pub(crate) fn run_path(&self, path: &std::path::Path) -> String {
        let path = path.display().to_string();
        let (code, stdout, stderr) = self.weir(&["run", &path, "--state", &self.state_path()]);
        assert_eq!(code, Some(0), "weir run {path}:\n{stdout}\n{stderr}");
        stdout
    }

    /// The state store's path, for `--state`.
    pub(crate) fn state_path(&self) -> String {
        self.state.path().join("state.db").display().to_string()
    }

    /// `weir ARGS` in the repository with the connections' environment pointing at the sims: the exit
    /// code, stdout and stderr.
    pub(crate) fn weir(&self, args: &[&str]) -> (Option<i32>, String, String) {
        self.weir_with(args, &[])
    }

    /// [`Demo::weir`] with more environment variables.
    pub(crate) fn weir_with(&self, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
        let out = self.weir_command(args).envs(env.iter().copied()).output().expect("weir runs");
        outcome(out)
    }

    /// `weir ARGS…` in the repository with the connections' environment pointing at the sims, the
    /// demo's state file as `WEIR_STATE` and its output folder as `WEIR_OUT`, to be given more
    /// arguments or environment and run (or spawned, to be killed).
    pub(crate) fn weir_command(&self, args: &[&str]) -> std::process::Command {
        let mut weir = command(args, &repo());
        weir.env("COMMERCE_URL", &self.commerce.base)
            .env("COMMERCE_ADMIN_PASSWORD", "admin123")
            .env("ERP_URL", &self.erp.base)
            .env("ERP_COMPANY", &self.company)
            .env("ERP_TOKEN_URL", format!("{}/tenant-1/oauth2/v2.0/token", self.erp.base))
            .env("ERP_CLIENT_SECRET", "sim-client-secret")
            .env("WEIR_OUT", self.out())
            .env("WEIR_STATE", self.state.path().join("state.db"));
        weir
    }

    /// Where the pipelines' file sinks write: a folder of this run's own, not the repository.
    pub(crate) fn out(&self) -> std::path::PathBuf {
        self.state.path().join("out")
    }

    /// The dead-letter queue of the demo's state store (`weir dlq list --json`).
    pub(crate) fn dead_letters(&self) -> Vec<Value> {
        let (code, stdout, stderr) = self.weir(&["dlq", "list", "--json", "--state", &self.state_path()]);
        assert_eq!(code, Some(0), "{stderr}");
        let dead: Value = serde_json::from_str(&stdout).expect("a JSON list");
        dead.as_array().expect("a list").clone()
    }

    pub(crate) fn erp_state(&self) -> Value {
        self.erp.control("GET", "state", None)
    }

    /// The bodies of the commerce sim's requests to `path` since the last call, and forgets them.
    pub(crate) fn commerce_posts(&self, path: &str) -> Vec<Value> {
        let (status, log) = self.commerce.send("GET", "/__sim/requests", None, None);
        assert_eq!(status, 200);
        let (status, _) = self.commerce.send("DELETE", "/__sim/requests", None, None);
        assert_eq!(status, 200);
        log.as_array()
            .expect("a list")
            .iter()
            .filter(|r| r["method"] == "POST" && r["path"] == path)
            .map(|r| serde_json::from_str(r["body"].as_str().expect("a body")).expect("a JSON body"))
            .collect()
    }
}

/// `tables/NAME.csv` of the demo folder as (first column → second column).
pub(crate) fn table(name: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo().join(format!("pipelines/demo/tables/{name}.csv"))).expect("the table");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[0].to_string(), cells[1].to_string())
        })
        .collect()
}
