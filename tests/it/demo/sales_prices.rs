//! `sales-prices.yaml` against both simulators: the ERP's sales price lines read back from the shop as
//! special and tier prices (`special-price-information`, `tier-prices-information`), a changed line
//! sent alone, a line for an unmapped price group dead-lettered.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{Demo, table};
use crate::support::commerce::Sim as Commerce;

/// A special price as (SKU, from, to) → price in cents; a tier price as (SKU, group, quantity) → cents.
type Specials = BTreeMap<(String, String, String), i64>;
type Tiers = BTreeMap<(String, String, i64), i64>;

fn cents(price: f64) -> i64 {
    (price * 100.0).round() as i64
}

fn text(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// What the shop must hold for the ERP's lines, worked out here from the tables: the pipeline's rules.
fn expected(erp: &Value) -> (Specials, Tiers, BTreeSet<String>) {
    let (products, groups) = (table("products"), table("price-groups"));
    let (mut specials, mut tiers, mut dead) = (Specials::new(), Tiers::new(), BTreeSet::new());
    for line in erp["salesPrices"].as_array().expect("salesPrices") {
        let Some(sku) = products.get(line["itemNumber"].as_str().expect("an item")) else { continue };
        if !matches!(line["currencyCode"].as_str(), Some("" | "USD")) {
            continue;
        }
        let (start, end) = (text(line, "startingDate"), text(line, "endingDate"));
        let minimum = line["minimumQuantity"].as_f64().expect("a quantity");
        let price = cents(line["unitPrice"].as_f64().expect("a price"));
        let all = line["salesType"] == "All Customers";
        let blank = |d: &str| d == "0001-01-01";
        if all && minimum <= 1.0 && !(blank(&start) && blank(&end)) {
            let from = if blank(&start) { String::new() } else { format!("{start} 00:00:00") };
            let to = if blank(&end) { String::new() } else { format!("{end} 23:59:59") };
            specials.insert((sku.clone(), from, to), price);
            continue;
        }
        let group = if all { Some("ALL GROUPS".to_string()) } else { groups.get(&text(line, "salesCode")).cloned() };
        match group {
            Some(group) => {
                tiers.insert((sku.clone(), group, minimum.max(1.0) as i64), price);
            }
            None => {
                dead.insert(line["itemNumber"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    (specials, tiers, dead)
}

/// The shop's special and tier prices of the SKUs the products table maps.
fn shop_prices(sim: &Commerce) -> (Specials, Tiers) {
    let token = sim.token();
    let skus: Vec<String> = table("products").into_values().collect();
    let read = |endpoint: &str| -> Vec<Value> {
        let (status, answer) =
            sim.send("POST", &format!("/rest/V1/products/{endpoint}"), Some(&token), Some(json!({"skus": skus})));
        assert_eq!(status, 200, "{answer}");
        answer.as_array().expect("a list").clone()
    };
    let price = |p: &Value| cents(p["price"].as_f64().expect("a price"));
    let specials = read("special-price-information")
        .iter()
        .map(|p| ((text(p, "sku"), text(p, "price_from"), text(p, "price_to")), price(p)))
        .collect();
    let tiers = read("tier-prices-information")
        .iter()
        .map(|p| {
            assert_eq!((p["price_type"].as_str(), p["website_id"].as_i64()), (Some("fixed"), Some(0)), "{p}");
            let quantity = p["quantity"].as_f64().expect("a quantity") as i64;
            ((text(p, "sku"), text(p, "customer_group"), quantity), price(p))
        })
        .collect();
    (specials, tiers)
}

/// How many prices the shop was sent on each endpoint since the last call.
fn sent(demo: &Demo) -> (usize, usize) {
    let count = |posts: Vec<Value>| -> usize {
        assert!(posts.iter().all(|p| p["prices"].as_array().is_some_and(|l| l.len() <= 20)), "{posts:?}");
        posts.iter().map(|p| p["prices"].as_array().map_or(0, Vec::len)).sum()
    };
    let (status, log) = demo.commerce.send("GET", "/__sim/requests", None, None);
    assert_eq!(status, 200);
    let posts = |path: &str| -> Vec<Value> {
        log.as_array()
            .expect("a list")
            .iter()
            .filter(|r| r["method"] == "POST" && r["path"] == path)
            .map(|r| serde_json::from_str(r["body"].as_str().expect("a body")).expect("JSON"))
            .collect()
    };
    let counts = (count(posts("/rest/V1/products/special-price")), count(posts("/rest/V1/products/tier-prices")));
    demo.commerce_posts("");
    counts
}

#[test]
fn sales_prices_become_special_and_tier_prices_and_then_only_what_changed() {
    let demo = Demo::start();
    // A price for a customer price group the table does not map.
    demo.erp.control(
        "POST",
        "salesPrices",
        Some(json!({"itemNumber": "1954-W", "salesType": "Customer Price Group",
        "salesCode": "VIP", "unitPrice": 28.0})),
    );
    demo.commerce_posts("");

    demo.run("sales-prices.yaml");
    let (specials, tiers, dead) = expected(&demo.erp_state());
    assert!(!specials.is_empty() && tiers.len() >= 2, "the seed has both kinds: {specials:?} {tiers:?}");
    assert_eq!(dead, BTreeSet::from(["1954-W".to_string()]));
    assert_eq!(shop_prices(&demo.commerce), (specials.clone(), tiers.clone()));
    assert_eq!(sent(&demo), (specials.len(), tiers.len()), "each price once");

    demo.run("sales-prices.yaml");
    assert_eq!(sent(&demo), (0, 0), "nothing changed, nothing sent");

    // The spring sale gets cheaper, a new quantity price is added, both with three decimals.
    demo.erp.control(
        "POST",
        "salesPrices",
        Some(json!({"itemNumber": "1952-W", "salesType": "All Customers",
        "startingDate": "2026-03-01", "minimumQuantity": 0.0, "unitPrice": 39.994})),
    );
    demo.erp.control(
        "POST",
        "salesPrices",
        Some(json!({"itemNumber": "1955-W", "minimumQuantity": 5,
        "unitPrice": 45.125})),
    );
    demo.run("sales-prices.yaml");
    assert_eq!(sent(&demo), (1, 1), "only the two changed lines");
    let (specials, tiers, _) = expected(&demo.erp_state());
    let (shop_specials, shop_tiers) = shop_prices(&demo.commerce);
    assert_eq!(shop_specials, specials);
    assert_eq!(shop_tiers, tiers);
    let sale = ("MH01-XS-Black".to_string(), "2026-03-01 00:00:00".to_string(), "2026-03-31 23:59:59".to_string());
    assert_eq!(shop_specials.get(&sale), Some(&3999), "rounded to USD's two decimals");
    assert_eq!(shop_tiers.get(&("GIFT+CARD 50".to_string(), "ALL GROUPS".to_string(), 5)), Some(&4513));

    let dead = demo.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["key"], "sales-price:1954-W/Customer Price Group/VIP/0001-01-01/0.0/", "{dead:?}");
    assert!(dead[0]["error"].as_str().is_some_and(|e| e.contains("\"VIP\" in table `price-groups`")), "{dead:?}");
}
