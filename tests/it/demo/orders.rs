//! `erp-variants.yaml` and `orders.yaml` against both simulators: every eligible shop order once in the
//! ERP with its lines mapped, its number written back once (attribute and comment), nothing sent again
//! by later runs; bad data dead-lettered, and an order whose size was missing from the table arriving
//! once after the table is fixed and the dead letter replayed.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Demo;
use crate::support::repo;

/// Adds an order of these SKUs to the shop; its increment id.
fn shop_order(demo: &Demo, skus: &[&str]) -> String {
    let (status, answer) = demo.commerce.send("POST", "/__sim/orders", None, Some(json!({"skus": skus})));
    assert_eq!(status, 200, "{answer}");
    answer["created"][0]["increment_id"].as_str().expect("an increment id").to_string()
}

/// The ERP's sales orders by external document number (the shop's increment id).
fn erp_orders(demo: &Demo) -> BTreeMap<String, Vec<Value>> {
    let mut by_reference: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for order in demo.erp_state()["salesOrders"].as_array().expect("salesOrders") {
        let reference = order["externalDocumentNumber"].as_str().expect("a reference").to_string();
        by_reference.entry(reference).or_default().push(order.clone());
    }
    by_reference
}

/// The shop's orders, each with its `ext_order_id` and the comments that name an ERP order.
fn shop_orders(demo: &Demo) -> Vec<(String, String, Value, Vec<String>)> {
    let token = demo.commerce.token();
    let page = demo.commerce.get("/rest/V1/orders?searchCriteria[pageSize]=300", &token);
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| {
            let comments = o["status_histories"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h["comment"].as_str())
                .filter(|c| c.starts_with("ERP order "))
                .map(str::to_string)
                .collect();
            let text = |k: &str| o[k].as_str().unwrap_or_default().to_string();
            (text("increment_id"), text("status"), o["ext_order_id"].clone(), comments)
        })
        .collect()
}

/// The ERP's id of the variant `code` of item `item`.
fn variant_id(demo: &Demo, item: &str, code: &str) -> Value {
    let state = demo.erp_state();
    let variants = state["itemVariants"].as_array().expect("itemVariants");
    variants.iter().find(|v| v["itemNumber"] == item && v["code"] == code).expect("the variant")["id"].clone()
}

/// Every pending or processing shop order is in the ERP exactly once, with its number written back
/// exactly once; the others are not in the ERP.
fn assert_each_order_once(demo: &Demo) {
    let erp = erp_orders(demo);
    let shop = shop_orders(demo);
    let mut eligible = 0;
    for (reference, status, ext_order_id, comments) in &shop {
        let copies = erp.get(reference).map_or(0, Vec::len);
        if status == "pending" || status == "processing" {
            eligible += 1;
            assert_eq!(copies, 1, "order {reference} in the ERP");
            let number = erp[reference][0]["number"].as_str().expect("a number");
            assert_eq!(ext_order_id, &json!(number), "order {reference}'s ext_order_id");
            assert_eq!(comments, &[format!("ERP order {number}")], "order {reference}'s comments");
        } else {
            assert_eq!(copies, 0, "order {reference} is {status}: not for the ERP");
        }
    }
    assert!(eligible > 5, "{eligible} eligible orders");
    assert_eq!(erp.len(), eligible, "no ERP order without a shop order");
}

#[test]
fn orders_reach_the_erp_once_and_their_number_goes_back_once() {
    let demo = Demo::start();
    let known = shop_order(&demo, &["MH01-S-Black", "WT/09 Blue"]);
    demo.run("erp-variants.yaml");
    demo.run("orders.yaml");
    assert_each_order_once(&demo);
    let erp = erp_orders(&demo);
    let lines: Vec<(Value, Value, Value)> = erp[&known][0]["salesOrderLines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| (l["lineObjectNumber"].clone(), l["itemVariantId"].clone(), l["quantity"].clone()))
        .collect();
    assert_eq!(
        lines,
        [
            (json!("MH01-SM"), variant_id(&demo, "MH01-SM", "BLK"), json!(1.0)),
            (json!("1954-W"), json!("00000000-0000-0000-0000-000000000000"), json!(1.0)),
        ],
        "size S → MH01-SM, color Black → its BLK variant; the simple product through tables/products.csv"
    );
    let before = demo.erp.requests().len();
    // The write-backs changed the orders, so the next run reads them again — and sends nothing; the one
    // after reads nothing.
    demo.run("orders.yaml");
    demo.run("orders.yaml");
    assert_each_order_once(&demo);
    let posts = demo.erp.requests()[before..]
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/salesOrders")))
        .count();
    assert_eq!(posts, 0, "no order sent to the ERP again");
    // A new order in the shop: only it goes on the next run.
    let new = shop_order(&demo, &["MH01-XS-Gray"]);
    demo.run("orders.yaml");
    assert_each_order_once(&demo);
    assert_eq!(erp_orders(&demo)[&new][0]["salesOrderLines"][0]["lineObjectNumber"], "MH01-XS");
}

#[test]
fn bad_orders_are_dead_lettered_and_one_arrives_once_after_its_table_is_fixed_and_it_is_replayed() {
    let demo = Demo::start();
    // A copy of the demo folder whose size table lacks XS.
    let folder = tempfile::tempdir().expect("tempdir");
    crate::support::copy_dir(&repo().join("pipelines/demo"), folder.path(), &[]);
    let sizes = folder.path().join("tables/sizes.csv");
    let full = std::fs::read_to_string(&sizes).expect("sizes");
    let without_xs: String = full.lines().filter(|l| !l.starts_with("XS,")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&sizes, without_xs).expect("sizes without XS");
    let no_size = shop_order(&demo, &["MH01-XS-Black"]);
    let unknown_sku = shop_order(&demo, &["24-MB01"]);
    demo.run_path(&folder.path().join("erp-variants.yaml"));
    demo.run_path(&folder.path().join("orders.yaml"));
    let erp = erp_orders(&demo);
    assert!(!erp.contains_key(&no_size) && !erp.contains_key(&unknown_sku), "neither reached the ERP");
    let (code, stdout, stderr) = demo.weir(&["dlq", "list", "--json", "--state", &demo.state_path()]);
    assert_eq!(code, Some(0), "{stderr}");
    let dead: Value = serde_json::from_str(&stdout).expect("a JSON list");
    let reasons: BTreeMap<String, String> = dead
        .as_array()
        .expect("a list")
        .iter()
        .map(|d| (d["key"].as_str().unwrap_or("").to_string(), d["error"].as_str().unwrap_or("").to_string()))
        .collect();
    // Ours, and the seeded orders with a line in size XS.
    let xs = "no row with option_id = \"166\" in table `sizes`";
    assert!(reasons[&format!("order:{no_size}")].contains(xs), "{reasons:?}");
    assert!(reasons[&format!("order:{unknown_sku}")].contains("no row with sku = \"24-MB01\" in table `products`"));
    let unknown_key = format!("order:{unknown_sku}");
    let others: Vec<&String> = reasons.iter().filter(|(k, _)| **k != unknown_key).map(|(_, r)| r).collect();
    assert!(others.len() >= 2 && others.iter().all(|r| r.contains(xs)), "{reasons:?}");
    // The other orders went on.
    assert!(erp_orders(&demo).len() > 5);
    // Fix the table, replay: the order arrives, once; a second replay finds nothing to do for it.
    std::fs::write(&sizes, &full).expect("sizes fixed");
    let config = folder.path().display().to_string();
    for _ in 0..2 {
        let (code, stdout, stderr) = demo.weir(&[
            "dlq",
            "replay",
            "--all",
            "--pipeline",
            "orders",
            "--config",
            &config,
            "--state",
            &demo.state_path(),
        ]);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    }
    let erp = erp_orders(&demo);
    assert_eq!(erp.get(&no_size).map(Vec::len), Some(1), "the fixed order, once");
    assert!(!erp.contains_key(&unknown_sku), "the unknown SKU is still not mapped");
    // Every other order too: once in the ERP, its number written back once.
    let shop = shop_orders(&demo);
    for (reference, status, ext_order_id, comments) in &shop {
        if reference == &unknown_sku || !(status == "pending" || status == "processing") {
            continue;
        }
        assert_eq!(erp.get(reference).map(Vec::len), Some(1), "order {reference}");
        let number = erp[reference][0]["number"].clone();
        assert_eq!(ext_order_id, &number, "order {reference}");
        assert_eq!(comments.len(), 1, "order {reference}: {comments:?}");
    }
    let (_, stdout, _) = demo.weir(&["dlq", "list", "--json", "--state", &demo.state_path()]);
    let left: Value = serde_json::from_str(&stdout).expect("a JSON list");
    assert_eq!(left.as_array().map(Vec::len), Some(1), "only the unknown SKU is left: {left}");
}
