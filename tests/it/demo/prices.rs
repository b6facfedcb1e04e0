//! `prices.yaml` against both simulators: the shop's base prices read back.

use std::collections::BTreeMap;

use serde_json::json;

use super::Demo;
use crate::support::commerce::Sim as Commerce;

/// The shop's base prices of `skus`.
fn base_prices(sim: &Commerce, skus: &[&str]) -> BTreeMap<String, f64> {
    let token = sim.token();
    let (status, answer) =
        sim.send("POST", "/rest/V1/products/base-prices-information", Some(&token), Some(json!({"skus": skus})));
    assert_eq!(status, 200, "{answer}");
    answer
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| (p["sku"].as_str().expect("a sku").to_string(), p["price"].as_f64().expect("a price")))
        .collect()
}

#[test]
fn prices_sends_the_erps_unit_prices_rounded_and_then_only_what_changed() {
    let demo = Demo::start();
    // Prices the shop does not have yet, one with three decimals (USD has two).
    demo.erp.control("POST", "items/1952-W", Some(json!({"unitPrice": 55.555})));
    demo.erp.control("POST", "items/1954-W", Some(json!({"unitPrice": 36.004})));
    demo.commerce_posts("");

    demo.run("prices.yaml");
    let skus = ["MH01-XS-Black", "WT/09 Blue", "GIFT+CARD 50", "100%-COTTON"];
    let want: BTreeMap<String, f64> =
        [("MH01-XS-Black", 55.56), ("WT/09 Blue", 36.0), ("GIFT+CARD 50", 50.0), ("100%-COTTON", 19.0)]
            .into_iter()
            .map(|(s, p)| (s.to_string(), p))
            .collect();
    assert_eq!(base_prices(&demo.commerce, &skus), want);
    let posts = demo.commerce_posts("/rest/V1/products/base-prices");
    let mut sent: Vec<String> = posts
        .iter()
        .flat_map(|p| p["prices"].as_array().expect("prices").clone())
        .map(|p| {
            assert_eq!(p["store_id"], 0, "{p}");
            p["sku"].as_str().expect("a sku").to_string()
        })
        .collect();
    sent.sort();
    let mut all: Vec<String> = skus.iter().map(|s| s.to_string()).collect();
    all.sort();
    assert_eq!(sent, all, "each shop item once, and no item the shop does not sell");

    demo.run("prices.yaml");
    assert!(demo.commerce_posts("/rest/V1/products/base-prices").is_empty(), "nothing changed, nothing sent");

    demo.erp.control("POST", "items/1956-W", Some(json!({"unitPrice": 21.499})));
    demo.run("prices.yaml");
    assert_eq!(
        demo.commerce_posts("/rest/V1/products/base-prices"),
        vec![json!({"prices": [{"sku": "100%-COTTON", "price": 21.5, "store_id": 0}]})]
    );
    assert_eq!(base_prices(&demo.commerce, &["100%-COTTON"])["100%-COTTON"], 21.5);
}
