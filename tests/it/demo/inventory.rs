//! `inventory.yaml` and `inventory-full.yaml` against both simulators: the shop's source items read
//! back, the requests the shop received, the dead letters.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Demo, table};
use crate::support::commerce::Sim as Commerce;

/// The commerce sim's source items, by (SKU, source code) → (quantity, status).
fn source_items(sim: &Commerce) -> BTreeMap<(String, String), (f64, i64)> {
    let token = sim.token();
    let answer = sim.get("/rest/V1/inventory/source-items", &token);
    answer["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let text = |k: &str| i[k].as_str().expect("a string").to_string();
            (
                (text("sku"), text("source_code")),
                (i["quantity"].as_f64().expect("a quantity"), i["status"].as_i64().expect("a status")),
            )
        })
        .collect()
}

/// What the shop must hold for the ERP's stock rows of the items the products table maps.
fn expected_stock(erp: &Value) -> BTreeMap<(String, String), (f64, i64)> {
    let products = table("products");
    let warehouses = table("warehouses");
    erp["itemStocks"]
        .as_array()
        .expect("itemStocks")
        .iter()
        .filter_map(|s| {
            let sku = products.get(s["itemNumber"].as_str()?)?;
            let source = warehouses.get(s["locationCode"].as_str()?).expect("every ERP location is in the table");
            let on_hand = s["inventory"].as_f64()?;
            Some(((sku.clone(), source.clone()), (on_hand.max(0.0), i64::from(on_hand > 0.0))))
        })
        .collect()
}

fn assert_shop_has(shop: &BTreeMap<(String, String), (f64, i64)>, expected: &BTreeMap<(String, String), (f64, i64)>) {
    for (at, want) in expected {
        assert_eq!(shop.get(at), Some(want), "source item {at:?}");
    }
}

#[test]
fn inventory_sends_the_erps_stock_per_warehouse_and_then_only_what_changed() {
    let demo = Demo::start();
    let expected = expected_stock(&demo.erp_state());
    assert_eq!(expected.len(), 4 * 3, "four shop items in three warehouses");
    demo.commerce_posts("");

    demo.run("inventory.yaml");
    assert_shop_has(&source_items(&demo.commerce), &expected);
    let posts = demo.commerce_posts("/rest/V1/inventory/source-items");
    let sent: usize = posts.iter().map(|p| p["sourceItems"].as_array().expect("sourceItems").len()).sum();
    assert_eq!(sent, 12, "{posts:?}");
    assert!(posts.iter().all(|p| p["sourceItems"].as_array().is_some_and(|l| l.len() <= 20)), "{posts:?}");

    // Stock changes in the ERP: one goes negative (sold more than on hand), one is restocked.
    for (item, location, quantity) in [("1952-W", "EAST", -3), ("1955-W", "WEST", 41)] {
        demo.erp.control("POST", "stock", Some(json!({"item": item, "location": location, "quantity": quantity})));
    }
    demo.run("inventory.yaml");
    let posts = demo.commerce_posts("/rest/V1/inventory/source-items");
    assert_eq!(
        posts,
        vec![json!({"sourceItems": [
            {"sku": "MH01-XS-Black", "source_code": "east_dc", "quantity": 0.0, "status": 0},
            {"sku": "GIFT+CARD 50", "source_code": "west_dc", "quantity": 41.0, "status": 1},
        ]})],
        "only the two changed stock rows are sent"
    );
    let shop = source_items(&demo.commerce);
    assert_eq!(shop.get(&("MH01-XS-Black".into(), "east_dc".into())), Some(&(0.0, 0)));
    assert_eq!(shop.get(&("GIFT+CARD 50".into(), "west_dc".into())), Some(&(41.0, 1)));
    assert_shop_has(&shop, &expected_stock(&demo.erp_state()));

    demo.run("inventory.yaml");
    assert!(demo.commerce_posts("/rest/V1/inventory/source-items").is_empty(), "nothing changed, nothing sent");
    // The later runs asked the ERP from the watermark (form-encoded), not from the configured start.
    let asked: Vec<String> = demo
        .erp
        .requests()
        .iter()
        .filter(|r| r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.ends_with("/itemStocks")))
        .map(|r| {
            let form = r["query"].as_str().unwrap_or_default().replace('+', " ");
            percent_encoding::percent_decode_str(&form).decode_utf8_lossy().into_owned()
        })
        .collect();
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(asked[0].contains("lastModifiedDateTime ge 2026-01-01T00:00:00Z"), "{asked:?}");
    assert!(
        asked[1..].iter().all(|q| q.contains("lastModifiedDateTime ge ") && !q.contains("ge 2026-01-01T00:00:00Z")),
        "{asked:?}"
    );
}

#[test]
fn a_full_inventory_resync_goes_through_async_bulk_and_dead_letters_what_magento_refuses() {
    let demo = Demo::start();
    // Stock the shop must end with: one row negative in the ERP, one refused by Magento's consumer.
    demo.erp.control("POST", "stock", Some(json!({"item": "1954-W", "location": "MAIN", "quantity": -5})));
    let outcomes = json!({"open_polls": 1, "outcomes": [
        {"match": "100%-COTTON\",\"source_code\":\"west_dc", "status": 3, "message": "The source item is not valid"},
    ]});
    let (status, answer) = demo.commerce.send("POST", "/__sim/bulk", None, Some(outcomes));
    assert_eq!(status, 200, "{answer}");
    let before = source_items(&demo.commerce);
    demo.commerce_posts("");

    demo.run("inventory-full.yaml");
    let shop = source_items(&demo.commerce);
    let refused = ("100%-COTTON".to_string(), "west_dc".to_string());
    let mut expected = expected_stock(&demo.erp_state());
    assert_eq!(expected.get(&("WT/09 Blue".into(), "default".into())), Some(&(0.0, 0)), "never negative");
    expected.remove(&refused);
    assert_shop_has(&shop, &expected);
    assert_eq!(shop.get(&refused), before.get(&refused), "status 3: not saved");
    let bulks = demo.commerce_posts("/rest/async/bulk/V1/inventory/source-items");
    assert_eq!(bulks.len(), 1, "one bulk of 12 operations: {bulks:?}");
    assert_eq!(bulks[0].as_array().map(Vec::len), Some(12), "{bulks:?}");
    assert!(demo.commerce_posts("/rest/V1/inventory/source-items").is_empty(), "nothing went the synchronous way");
    let dead = demo.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["key"], "stock:1956-W@WEST", "{dead:?}");
    assert!(dead[0]["error"].as_str().is_some_and(|e| e.contains("The source item is not valid")), "{dead:?}");
}

#[test]
fn many_changes_go_through_the_bulk_api_and_a_few_through_the_synchronous_one() {
    let demo = Demo::start();
    let expected = expected_stock(&demo.erp_state());
    demo.commerce_posts("");
    // Above 5 changes, bulk: the first run's 12 source items go in one bulk.
    let bulk_above = [("INVENTORY_BULK_ABOVE", "5")];
    let run = |demo: &Demo| {
        let state = demo.state_path();
        let (code, stdout, stderr) =
            demo.weir_with(&["run", "pipelines/demo/inventory.yaml", "--state", &state], &bulk_above);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    };
    run(&demo);
    assert_shop_has(&source_items(&demo.commerce), &expected);
    let bulks = demo.commerce_posts("/rest/async/bulk/V1/inventory/source-items");
    assert_eq!(bulks.len(), 1, "{bulks:?}");
    assert_eq!(bulks[0].as_array().map(Vec::len), Some(12), "one operation per source item");
    // Two changes: the synchronous API.
    for (item, location, quantity) in [("1952-W", "EAST", 9), ("1955-W", "WEST", 4)] {
        demo.erp.control("POST", "stock", Some(json!({"item": item, "location": location, "quantity": quantity})));
    }
    run(&demo);
    let (_, log) = demo.commerce.send("GET", "/__sim/requests", None, None);
    let bulk_posts =
        log.as_array().expect("a list").iter().filter(|r| {
            r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.starts_with("/rest/async/bulk/"))
        });
    assert_eq!(bulk_posts.count(), 0, "two changes do not go through bulk");
    let posts = demo.commerce_posts("/rest/V1/inventory/source-items");
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["sourceItems"].as_array().map(Vec::len), Some(2), "{posts:?}");
    assert_shop_has(&source_items(&demo.commerce), &expected_stock(&demo.erp_state()));
}
