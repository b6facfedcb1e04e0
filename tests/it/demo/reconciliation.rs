//! `reconciliation.yaml` against both simulators: drift made on both sides (the shop's source items
//! changed through its API, the ERP's stock through `/__sim/stock`), every drift found in the report,
//! the shop's source items read back repaired, the one the ERP does not know left alone, a bad ERP row
//! dead-lettered, and a second run finding nothing new.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{Demo, table};
use crate::support::commerce::Sim as Commerce;

/// (SKU, source code).
type At = (String, String);

/// The shop's source items of the SKUs the products table maps: (quantity, status).
fn shop_items(sim: &Commerce) -> BTreeMap<At, (f64, i64)> {
    let managed: BTreeSet<String> = table("products").into_values().collect();
    let answer = sim.get("/rest/V1/inventory/source-items", &sim.token());
    answer["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["sku"].as_str().is_some_and(|s| managed.contains(s)))
        .map(|i| {
            let text = |k: &str| i[k].as_str().expect("a string").to_string();
            (
                (text("sku"), text("source_code")),
                (i["quantity"].as_f64().expect("quantity"), i["status"].as_i64().expect("status")),
            )
        })
        .collect()
}

/// What the shop must hold for the ERP's stock rows (locations missing from the table left out: they
/// are dead-lettered).
fn erp_items(erp: &Value) -> BTreeMap<At, (f64, i64)> {
    let (products, warehouses) = (table("products"), table("warehouses"));
    erp["itemStocks"]
        .as_array()
        .expect("itemStocks")
        .iter()
        .filter_map(|s| {
            let sku = products.get(s["itemNumber"].as_str()?)?;
            let source = warehouses.get(s["locationCode"].as_str()?)?;
            let on_hand = s["inventory"].as_f64()?;
            Some(((sku.clone(), source.clone()), (on_hand.max(0.0), i64::from(on_hand > 0.0))))
        })
        .collect()
}

/// The drift the report must name, from the two sides as they are before the run.
fn expected_drift(erp: &BTreeMap<At, (f64, i64)>, shop: &BTreeMap<At, (f64, i64)>) -> BTreeMap<At, String> {
    let mut drift = BTreeMap::new();
    for (at, (quantity, status)) in erp {
        let kind = match shop.get(at) {
            None => "missing_in_shop",
            Some((q, s)) => match (q != quantity, s != status) {
                (true, true) => "quantity+status",
                (true, false) => "quantity",
                (false, true) => "status",
                (false, false) => continue,
            },
        };
        drift.insert(at.clone(), kind.to_string());
    }
    for at in shop.keys().filter(|at| !erp.contains_key(*at)) {
        drift.insert(at.clone(), "unknown_in_erp".to_string());
    }
    drift
}

/// The run's report, `out/stock-drift.csv`: (SKU, source) → drift, and each line's action.
fn report(demo: &Demo) -> (BTreeMap<At, String>, Vec<String>) {
    let text = std::fs::read_to_string(demo.out().join("stock-drift.csv")).unwrap_or_default();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header = rows.headers().cloned().unwrap_or_default();
    let column = |name: &str| header.iter().position(|h| h == name).expect("a report column");
    let (mut drift, mut actions) = (BTreeMap::new(), Vec::new());
    for row in rows.records() {
        let row = row.expect("a CSV row");
        let at = (row[column("sku")].to_string(), row[column("source_code")].to_string());
        assert!(drift.insert(at, row[column("drift")].to_string()).is_none(), "one line per source item: {text}");
        actions.push(row[column("action")].to_string());
    }
    (drift, actions)
}

/// The source items the shop was sent, from its request log (and forgets it).
fn repairs_sent(demo: &Demo) -> BTreeMap<At, (f64, i64)> {
    let posts = demo.commerce_posts("/rest/V1/inventory/source-items");
    assert!(posts.iter().all(|p| p["sourceItems"].as_array().is_some_and(|l| l.len() <= 20)), "{posts:?}");
    posts
        .iter()
        .flat_map(|p| p["sourceItems"].as_array().expect("sourceItems").clone())
        .map(|i| {
            let text = |k: &str| i[k].as_str().expect("a string").to_string();
            (
                (text("sku"), text("source_code")),
                (i["quantity"].as_f64().expect("quantity"), i["status"].as_i64().expect("status")),
            )
        })
        .collect()
}

fn save_in_shop(demo: &Demo, items: Value) {
    let token = demo.commerce.token();
    let body = json!({ "sourceItems": items });
    let (status, answer) = demo.commerce.send("POST", "/rest/V1/inventory/source-items", Some(&token), Some(body));
    assert_eq!(status, 200, "{answer}");
}

/// Runs the reconciliation on the sims as they are and checks it against what they held before.
fn reconcile_and_check(demo: &Demo) -> BTreeMap<At, String> {
    let (erp_before, shop_before) = (erp_items(&demo.erp_state()), shop_items(&demo.commerce));
    let expected = expected_drift(&erp_before, &shop_before);
    demo.commerce_posts("");
    demo.run("reconciliation.yaml");
    let (found, actions) = report(demo);
    assert_eq!(found, expected, "the report names every drift, and nothing else");
    let unknown = found.values().filter(|d| *d == "unknown_in_erp").count();
    assert_eq!(actions.iter().filter(|a| a.starts_with("not repaired")).count(), unknown, "{actions:?}");
    // Repaired: exactly the ERP's source items that drifted were sent, and the shop now holds them.
    let sent = repairs_sent(demo);
    let repaired: BTreeMap<At, (f64, i64)> =
        expected.iter().filter(|(_, d)| *d != "unknown_in_erp").map(|(at, _)| (at.clone(), erp_before[at])).collect();
    assert_eq!(sent, repaired);
    let shop_after = shop_items(&demo.commerce);
    for (at, want) in &erp_before {
        assert_eq!(shop_after.get(at), Some(want), "source item {at:?}");
    }
    // What only the shop has is left as it was: never deleted, never changed.
    for at in shop_before.keys().filter(|at| !erp_before.contains_key(*at)) {
        assert_eq!(shop_after.get(at), shop_before.get(at), "{at:?}");
    }
    found
}

#[test]
fn reconciliation_reports_every_drift_repairs_what_the_erp_knows_and_then_finds_none() {
    let demo = Demo::start();
    // A bad row: stock at a warehouse the ERP has but tables/warehouses.csv does not map.
    demo.erp.control("POST", "locations", Some(json!({"code": "NORTH", "displayName": "North Warehouse"})));
    demo.erp.control("POST", "stock", Some(json!({"item": "1952-W", "location": "NORTH", "quantity": 5})));

    // The seeded shop has the ERP's items on its default source only, with other quantities.
    let first = reconcile_and_check(&demo);
    assert!(first.values().any(|d| d == "missing_in_shop") && first.values().any(|d| d == "quantity"), "{first:?}");
    assert!(reconcile_and_check(&demo).is_empty(), "repaired: a second run finds no drift");

    // Drift on both sides: edits in the shop's admin, stock moves in the ERP.
    let shop = shop_items(&demo.commerce);
    let at = |sku: &str, source: &str| shop[&(sku.to_string(), source.to_string())];
    let (q, _) = at("MH01-XS-Black", "east_dc");
    let (q2, _) = at("WT/09 Blue", "default");
    save_in_shop(
        &demo,
        json!([
            {"sku": "MH01-XS-Black", "source_code": "east_dc", "quantity": q + 7.0, "status": 1},
            {"sku": "WT/09 Blue", "source_code": "default", "quantity": q2, "status": 0},
            {"sku": "100%-COTTON", "source_code": "outlet", "quantity": 3, "status": 1},
        ]),
    );
    demo.erp.control("POST", "stock", Some(json!({"item": "1956-W", "location": "MAIN", "quantity": -3})));
    demo.erp.control("POST", "stock", Some(json!({"item": "1955-W", "location": "WEST", "quantity": 61})));
    let found = reconcile_and_check(&demo);
    let kinds: BTreeSet<&str> = found.values().map(String::as_str).collect();
    assert_eq!(kinds, BTreeSet::from(["quantity", "status", "quantity+status", "unknown_in_erp"]), "{found:?}");
    assert_eq!(found.len(), 5, "{found:?}");

    // Again: only what a person must decide on is left, reported and not touched.
    let again = reconcile_and_check(&demo);
    let outlet = ("100%-COTTON".to_string(), "outlet".to_string());
    assert_eq!(again, BTreeMap::from([(outlet, "unknown_in_erp".to_string())]));

    // The bad row was dead-lettered with a reason a support person can act on, run after run.
    let dead = demo.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["key"], "stock:1952-W@NORTH", "{dead:?}");
    assert!(dead[0]["error"].as_str().is_some_and(|e| e.contains("\"NORTH\" in table `warehouses`")), "{dead:?}");
}
