//! The shipped client folder `pipelines/demo/` end to end: its pipelines run with the `weir` binary
//! against the two simulators (`weir sim commerce`, `weir sim erp`, as processes), and what they did
//! is read back from the **simulators' state** — the commerce sim's source items, prices, orders and
//! the requests it received, the ERP's documents — not from Weir's counters. One module per flow; this
//! one holds the harness. `examples.rs` leaves this folder out (it needs the simulators);
//! `every_demo_pipeline_is_run_here` keeps that honest.

mod chaos;
mod customers;
mod inventory;
mod prices;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::cli::{command, outcome};
use crate::support::commerce::Sim as Commerce;
use crate::support::repo;
use crate::support::sim::Simulator;

/// The pipeline files in `pipelines/demo/` (not `connections.yaml`, `shared.yaml`, nor `tests/`).
pub(crate) fn demo_pipeline_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("pipelines/demo"))
        .expect("pipelines/demo is readable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .filter(|n| n != "connections.yaml" && n != "shared.yaml")
        .collect();
    files.sort();
    files
}

/// The pipeline files of `pipelines/demo/` that no test of this folder runs (`demo.run("FILE")`).
pub(crate) fn demo_pipelines_not_run_here() -> Vec<String> {
    let sources: String = std::fs::read_dir(repo().join("tests/it/demo"))
        .expect("tests/it/demo is readable")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| std::fs::read_to_string(e.path()).expect("a test source"))
        .collect();
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

    /// `weir ARGS…` in the repository with the connections' environment pointing at the sims and the
    /// demo's state file as `WEIR_STATE`, to be given more arguments or environment and run (or spawned,
    /// to be killed).
    pub(crate) fn weir(&self, args: &[&str]) -> std::process::Command {
        let mut weir = command(args, &repo());
        weir.env("COMMERCE_URL", &self.commerce.base)
            .env("COMMERCE_ADMIN_PASSWORD", "admin123")
            .env("ERP_URL", &self.erp.base)
            .env("ERP_COMPANY", &self.company)
            .env("ERP_TOKEN_URL", format!("{}/tenant-1/oauth2/v2.0/token", self.erp.base))
            .env("ERP_CLIENT_SECRET", "sim-client-secret")
            .env("WEIR_STATE", self.state.path().join("state.db"));
        weir
    }

    /// `weir run pipelines/demo/FILE --state …` with the connections' environment pointing at the sims.
    pub(crate) fn run(&self, file: &str) -> String {
        let path = format!("pipelines/demo/{file}");
        let out = self.weir(&["run", &path]).output().expect("weir runs");
        let (code, stdout, stderr) = outcome(out);
        assert_eq!(code, Some(0), "weir run {path}:\n{stdout}\n{stderr}");
        stdout
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
