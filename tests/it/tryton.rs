//! The Tryton variant of the demo's ERP-facing flows, `pipelines/demo/tryton/`, end to end: the
//! commerce simulator (`weir sim commerce`) on one side, a real Tryton 8.2 on the other
//! (`scripts/tryton.sh`: trytond from the package index in a cached virtual environment, SQLite, on
//! loopback). What the flows did is read back from Tryton's REST API and the simulator's API, not
//! from Weir's counters. Skipped, with a message, when Python or the package index is unavailable.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::cli::{command, outcome};
use crate::support::commerce::Sim as Commerce;
use crate::support::repo;
use crate::support::tryton::Tryton;

/// A Tryton sale: its number, state and lines (product code, quantity).
type Sale = (String, String, Vec<(String, f64)>);

/// Both systems and a state store for the runs of `pipelines/demo/tryton/`.
struct Flows {
    commerce: Commerce,
    tryton: Tryton,
    state: tempfile::TempDir,
}

impl Flows {
    /// Both systems, or `None` (after saying why) when Tryton cannot run here.
    fn start() -> Option<Flows> {
        match Tryton::start() {
            Ok(tryton) => Some(Flows {
                commerce: Commerce::start(&["--input-limit"]),
                tryton,
                state: tempfile::tempdir().expect("tempdir"),
            }),
            Err(skip) => {
                eprintln!("SKIPPED: Tryton unavailable: {}", skip.0);
                None
            }
        }
    }

    /// `weir ARGS` in the repository, the connections pointing at both systems.
    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = command(args, &repo());
        command
            .env("COMMERCE_URL", &self.commerce.base)
            .env("COMMERCE_ADMIN_PASSWORD", "admin123")
            .env("TRYTON_URL", &self.tryton.rest)
            .env("TRYTON_KEY", &self.tryton.key)
            .env("TRYTON_CONTEXT", self.tryton.context());
        command
    }

    /// `weir ARGS`: exit code, stdout, stderr. The REST key is never printed.
    fn weir(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let (code, stdout, stderr) = outcome(self.command(args).output().expect("weir runs"));
        assert!(!stdout.contains(&self.tryton.key) && !stderr.contains(&self.tryton.key), "the REST key was printed");
        (code, stdout, stderr)
    }

    /// `weir run pipelines/demo/FILE` with the fault point `fault` armed (`WEIR_FAULT`): whether it
    /// aborted there.
    fn run_aborted(&self, file: &str, fault: &str) -> bool {
        use std::os::unix::process::ExitStatusExt;
        let path = repo().join("pipelines/demo").join(file).display().to_string();
        let state = self.state_path();
        let out =
            self.command(&["run", &path, "--state", &state]).env("WEIR_FAULT", fault).output().expect("weir runs");
        out.status.signal() == Some(6)
    }

    /// `weir run pipelines/demo/FILE --json` (a file of `tryton/`): its summary.
    fn run(&self, file: &str) -> Value {
        let path = repo().join("pipelines/demo").join(file).display().to_string();
        let state = self.state_path();
        let (code, stdout, stderr) = self.weir(&["run", &path, "--state", &state, "--json"]);
        assert_eq!(code, Some(0), "weir run {file}:\n{stdout}\n{stderr}");
        serde_json::from_str(&stdout).expect("a JSON summary")
    }

    fn state_path(&self) -> String {
        self.state.path().join("state.db").display().to_string()
    }

    /// Adds a shop order of these SKUs; its increment id and entity id.
    fn shop_order(&self, skus: &[&str]) -> (String, u64) {
        let (status, answer) = self.commerce.send("POST", "/__sim/orders", None, Some(json!({"skus": skus})));
        assert_eq!(status, 200, "{answer}");
        let order = &answer["created"][0];
        (
            order["increment_id"].as_str().expect("an increment id").to_string(),
            order["entity_id"].as_u64().expect("an id"),
        )
    }

    /// The shop's orders: (increment id, status, ext_order_id, comments naming an ERP order).
    fn shop_orders(&self) -> Vec<(String, String, Value, Vec<String>)> {
        let token = self.commerce.token();
        let page = self.commerce.get("/rest/V1/orders?searchCriteria[pageSize]=300", &token);
        let orders = page["items"].as_array().expect("items");
        orders
            .iter()
            .map(|o| {
                let comments = o["status_histories"].as_array().into_iter().flatten();
                let comments = comments.filter_map(|h| h["comment"].as_str()).filter(|c| c.starts_with("ERP order "));
                let text = |k: &str| o[k].as_str().unwrap_or_default().to_string();
                (
                    text("increment_id"),
                    text("status"),
                    o["ext_order_id"].clone(),
                    comments.map(str::to_string).collect(),
                )
            })
            .collect()
    }

    /// Tryton's sales of shop orders: reference → [(number, state, [(product code, quantity)])].
    fn sales(&self) -> BTreeMap<String, Vec<Sale>> {
        let found = self.tryton.search(
            "sale.sale",
            &json!([["reference", "!=", null]]),
            &["reference", "number", "state", "lines.product.code", "lines.quantity"],
        );
        let mut sales: BTreeMap<String, Vec<Sale>> = BTreeMap::new();
        for sale in found {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let mut lines: Vec<(String, f64)> = sale["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .map(|l| (text(&l["product"]["code"]), l["quantity"].as_f64().unwrap_or(-1.0)))
                .collect();
            lines.sort_by(|a, b| a.0.cmp(&b.0));
            sales.entry(text(&sale["reference"])).or_default().push((
                text(&sale["number"]),
                text(&sale["state"]),
                lines,
            ));
        }
        sales
    }

    /// Every pending or processing shop order is one processing Tryton sale, its number written back
    /// once (`ext_order_id` and one comment); no other order is in Tryton.
    fn assert_each_order_once(&self) {
        let sales = self.sales();
        let mut eligible = 0;
        for (reference, status, ext_order_id, comments) in self.shop_orders() {
            let copies = sales.get(&reference).map_or(0, Vec::len);
            if status == "pending" || status == "processing" {
                eligible += 1;
                assert_eq!(copies, 1, "order {reference} in Tryton");
                let (number, state, _) = &sales[&reference][0];
                assert_eq!(state, "processing", "order {reference}'s sale");
                assert_eq!(ext_order_id, json!(number), "order {reference}'s ext_order_id");
                assert_eq!(comments, [format!("ERP order {number}")], "order {reference}'s comments");
            } else if status != "complete" {
                // A shipped order completes: its sale stays.
                assert_eq!(copies, 0, "order {reference} is {status}: not for Tryton");
            }
        }
        assert!(eligible > 5, "{eligible} eligible orders");
    }

    /// Counts `quantity` of each product code into Tryton's storage zone (a confirmed inventory).
    fn count_stock(&self, counts: &[(&str, f64)]) {
        let storage = self.tryton.search("stock.location", &json!([["code", "=", "STO"]]), &[])[0]["id"].clone();
        let codes: Vec<&str> = counts.iter().map(|(code, _)| *code).collect();
        let products = self.tryton.search("product.product", &json!([["code", "in", codes]]), &["code"]);
        let id = |code: &str| products.iter().find(|p| p["code"] == code).expect("the product")["id"].clone();
        let lines: Vec<Value> =
            counts.iter().map(|(code, qty)| json!({"product": id(code), "quantity": qty})).collect();
        let inventory = self.tryton.call(
            "POST",
            "/model/stock.inventory",
            &json!({"location": storage, "lines": [["create", lines]]}),
        );
        self.tryton.call("POST", &format!("/model/stock.inventory/{}/confirm", inventory["id"]), &json!({}));
    }

    /// Ships the sale of shop order `reference` in Tryton, the way a warehouse does: its customer
    /// shipment gets `tracking` as its reference (when given), then assigned, picked, packed and done.
    fn ship_in_tryton(&self, reference: &str, tracking: Option<&str>) -> String {
        let sale = &self.tryton.search("sale.sale", &json!([["reference", "=", reference]]), &["shipments"])[0];
        let shipment = sale["shipments"][0].clone();
        if let Some(tracking) = tracking {
            self.tryton.call("PUT", &format!("/model/stock.shipment.out/{shipment}"), &json!({"reference": tracking}));
        }
        for button in ["assign_try", "pick", "pack", "do"] {
            self.tryton.call("POST", &format!("/model/stock.shipment.out/{shipment}/{button}"), &json!({}));
        }
        let done = &self.tryton.search("stock.shipment.out", &json!([["id", "=", shipment]]), &["state", "number"])[0];
        assert_eq!(done["state"], "done", "{done}");
        done["number"].as_str().expect("a number").to_string()
    }

    /// The shop's shipments of order `entity_id`: their tracks' numbers.
    fn shop_shipments(&self, entity_id: u64) -> Vec<Vec<String>> {
        let token = self.commerce.token();
        let path = format!(
            "/rest/V1/shipments?searchCriteria[filter_groups][0][filters][0][field]=order_id&searchCriteria[filter_groups][0][filters][0][value]={entity_id}"
        );
        let found = self.commerce.get(&path, &token);
        let tracks = |s: &Value| -> Vec<String> {
            s["tracks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["track_number"].as_str())
                .map(str::to_string)
                .collect()
        };
        found["items"].as_array().expect("items").iter().map(tracks).collect()
    }

    /// The shop's MSI source item of `sku` at `source`: (quantity, status).
    fn source_item(&self, sku: &str, source: &str) -> (f64, u64) {
        let token = self.commerce.token();
        // The SKU in a query value: `%`, `+`, `&` and the space percent-encoded.
        let value = sku.replace('%', "%25").replace('+', "%2B").replace('&', "%26").replace(' ', "%20");
        let path = format!(
            "/rest/V1/inventory/source-items?searchCriteria[filter_groups][0][filters][0][field]=sku&searchCriteria[filter_groups][0][filters][0][value]={value}"
        );
        let found = self.commerce.get(&path, &token);
        let item = found["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["sku"] == sku && i["source_code"] == source)
            .unwrap_or_else(|| panic!("no source item {sku} at {source}"))
            .clone();
        (item["quantity"].as_f64().expect("a quantity"), item["status"].as_u64().expect("a status"))
    }
}

#[test]
fn tryton_orders_become_processed_sales_once_and_their_numbers_go_back_once() {
    let Some(demo) = Flows::start() else { return };
    let (known, _) = demo.shop_order(&["MH01-S-Black", "WT/09 Blue"]);
    // The first run dies right after Tryton answered the first create, before Weir recorded it: the
    // next run finds that sale by its reference instead of creating it again.
    assert!(demo.run_aborted("tryton/orders.yaml", "after_call:1"), "the fault point aborts the run");
    assert_eq!(demo.sales().len(), 1, "Tryton holds the sale created before the crash");
    let first = demo.run("tryton/orders.yaml");
    assert_eq!(first["records"]["dead_lettered"], 0, "{first}");
    demo.assert_each_order_once();
    let s = |text: &str| text.to_string();
    assert_eq!(demo.sales()[&known][0].2, vec![(s("MH01-S-Black"), 1.0), (s("WT/09 Blue"), 1.0)], "its lines");
    // The write-backs changed the orders, so the next run reads them again — and creates nothing, nor
    // writes anything back again; the one after reads nothing.
    demo.run("tryton/orders.yaml");
    let third = demo.run("tryton/orders.yaml");
    assert_eq!(third["records"]["received"], 0, "{third}");
    demo.assert_each_order_once();
    // A new order: only it goes on the next run.
    let (new, _) = demo.shop_order(&["MH01-XS-Black"]);
    let fourth = demo.run("tryton/orders.yaml");
    assert_eq!(fourth["records"]["delivered"], 1, "{fourth}");
    demo.assert_each_order_once();
    assert_eq!(demo.sales()[&new][0].2, vec![(s("MH01-XS-Black"), 1.0)]);
}

#[test]
fn tryton_shipments_reach_the_shop_with_their_tracking_once_and_its_stock_the_source_items() {
    let Some(demo) = Flows::start() else { return };
    // SKUs only these orders use (the seeded orders sell configurable children), so the stock is exact.
    demo.count_stock(&[("WT/09 Blue", 10.0), ("GIFT+CARD 50", 5.0)]);
    let (tracked, tracked_id) = demo.shop_order(&["WT/09 Blue", "GIFT+CARD 50"]);
    let (untracked, untracked_id) = demo.shop_order(&["WT/09 Blue"]);
    let (waiting, _) = demo.shop_order(&["WT/09 Blue"]);
    demo.run("tryton/orders.yaml");
    let shipment = demo.ship_in_tryton(&tracked, Some("1Z999AA10123456784"));
    let bare = demo.ship_in_tryton(&untracked, None);

    let first = demo.run("tryton/shipments.yaml");
    assert_eq!(
        (first["records"]["delivered"].clone(), first["records"]["dead_lettered"].clone()),
        (json!(1), json!(1)),
        "{first}"
    );
    assert_eq!(demo.shop_shipments(tracked_id), vec![vec![s("1Z999AA10123456784")]], "shipped once, with its track");
    assert!(demo.shop_shipments(untracked_id).is_empty(), "no tracking number: not shipped in the shop");
    let (_, dead, _) = demo.weir(&["dlq", "list", "--json", "--state", &demo.state_path()]);
    let dead: Value = serde_json::from_str(&dead).expect("the dead letters as JSON");
    let reasons = dead.to_string();
    assert!(reasons.contains(&format!("shipment:{bare}")), "{reasons}");
    assert!(reasons.contains(&format!("shipment {bare} is done without a tracking number")), "{reasons}");
    // Nothing new in Tryton: nothing is read, nothing shipped again.
    let again = demo.run("tryton/shipments.yaml");
    assert_eq!(again["records"]["delivered"], 0, "{again}");
    assert_eq!(demo.shop_shipments(tracked_id).len(), 1, "shipment {shipment} reached the shop once");

    // Counted 10 and 5; shipped 1 + 1 and 1; one more waits to be shipped (processed, not done).
    let stock = demo.run("tryton/inventory.yaml");
    assert_eq!(stock["records"]["dead_lettered"], 0, "{stock}");
    assert_eq!(demo.source_item("WT/09 Blue", "default"), (7.0, 1), "on hand 8, one promised to {waiting}");
    assert_eq!(demo.source_item("GIFT+CARD 50", "default"), (4.0, 1));
    assert_eq!(demo.source_item("100%-COTTON", "default"), (0.0, 0));
}

fn s(text: &str) -> String {
    text.to_string()
}
