//! `products.yaml` against both simulators: a new style in the ERP (items per size, variants per
//! color) becomes a configurable product in the shop with its children, options and links, read back
//! from the commerce simulator; a size the table lacks is dead-lettered; a second run duplicates
//! nothing, and a changed price sends only its style's requests.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Demo;
use crate::support::cli::{command, outcome};
use crate::support::commerce::Sim as Commerce;
use crate::support::repo;

/// The writes the shop received since the last call, as `METHOD path` (the pipeline only writes; the
/// test's own reads and the token requests are left out), and forgets every request.
fn catalog_requests(sim: &Commerce) -> Vec<String> {
    let (status, log) = sim.send("GET", "/__sim/requests", None, None);
    assert_eq!(status, 200);
    assert_eq!(sim.send("DELETE", "/__sim/requests", None, None).0, 200);
    log.as_array()
        .expect("a list")
        .iter()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap_or_default(), r["path"].as_str().unwrap_or_default()))
        .filter(|r| !r.starts_with("GET ") && !r.ends_with("/integration/admin/token"))
        .collect()
}

fn count(requests: &[String], wanted: &str) -> usize {
    requests.iter().filter(|r| r.as_str() == wanted).count()
}

/// A configurable product's children as SKU → (price, visibility, size option id, color option id).
fn children(sim: &Commerce, token: &str, sku: &str) -> BTreeMap<String, (f64, i64, String, String)> {
    let answer = sim.get(&format!("/rest/V1/configurable-products/{sku}/children"), token);
    let attribute = |p: &Value, code: &str| -> String {
        let found = p["custom_attributes"].as_array().into_iter().flatten().find(|a| a["attribute_code"] == code);
        found.and_then(|a| a["value"].as_str()).unwrap_or_default().to_string()
    };
    answer
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| {
            let price = p["price"].as_f64().expect("a price");
            let visibility = p["visibility"].as_i64().expect("a visibility");
            (
                p["sku"].as_str().expect("a sku").to_string(),
                (price, visibility, attribute(p, "size"), attribute(p, "color")),
            )
        })
        .collect()
}

/// How many products the shop has.
fn product_count(sim: &Commerce, token: &str) -> u64 {
    sim.get("/rest/V1/products?searchCriteria[pageSize]=1", token)["total_count"].as_u64().expect("a count")
}

#[test]
fn products_makes_a_new_erp_style_a_configurable_product_once() {
    let demo = Demo::start();
    let token = demo.commerce.token();
    let before = product_count(&demo.commerce, &token);
    let hoodie = children(&demo.commerce, &token, "MH01");
    // A style the shop does not have: sizes S and M (and XXL, which tables/sizes.csv lacks), each in
    // black and blue.
    for (size, price) in [("SM", 61.0), ("MD", 63.5), ("XXL", 65.0)] {
        let number = format!("MJ99-{size}");
        let item = json!({"displayName": format!("Weir Rain Jacket, size {size}"), "itemCategoryCode": "APPAREL",
                          "unitPrice": price, "blocked": false});
        demo.erp.control("POST", &format!("items/{number}"), Some(item));
        for (code, description) in [("BLK", "Black"), ("BLU", "Blue")] {
            let variant = json!({"itemNumber": number, "code": code, "description": description});
            demo.erp.control("POST", "itemVariants", Some(variant));
        }
    }
    catalog_requests(&demo.commerce);

    // The first run reads every apparel item: the seeded catalog (the shop has it: upserts, and
    // options and links answered "already …") and the new style.
    demo.run("products.yaml");
    let sent = catalog_requests(&demo.commerce);
    assert_eq!(count(&sent, "PUT /rest/V1/products/MJ99"), 1, "the configurable product once");
    assert_eq!(count(&sent, "POST /rest/V1/configurable-products/MJ99/options"), 2, "size and color");
    assert_eq!(count(&sent, "POST /rest/V1/configurable-products/MJ99/child"), 4, "two sizes × two colors");
    let parent = demo.commerce.get("/rest/V1/products/MJ99", &token);
    assert_eq!((parent["type_id"].clone(), parent["name"].clone()), (json!("configurable"), json!("Weir Rain Jacket")));
    let options = demo.commerce.get("/rest/V1/configurable-products/MJ99/options/all", &token);
    let values = |i: usize| options[i]["values"].clone();
    assert_eq!(
        (options[0]["label"].clone(), values(0)),
        (json!("Size"), json!([{"value_index": 167}, {"value_index": 168}]))
    );
    assert_eq!(
        (options[1]["label"].clone(), values(1)),
        (json!("Color"), json!([{"value_index": 49}, {"value_index": 50}]))
    );
    let jacket = children(&demo.commerce, &token, "MJ99");
    let want: BTreeMap<String, (f64, i64, String, String)> = [
        ("MJ99-M-Black", 63.5, "168", "49"),
        ("MJ99-M-Blue", 63.5, "168", "50"),
        ("MJ99-S-Black", 61.0, "167", "49"),
        ("MJ99-S-Blue", 61.0, "167", "50"),
    ]
    .into_iter()
    .map(|(sku, price, size, color)| (sku.to_string(), (price, 1, size.to_string(), color.to_string())))
    .collect();
    assert_eq!(jacket, want);
    let found = demo.commerce.get(
        "/rest/V1/products?searchCriteria[filter_groups][0][filters][0][field]=sku&searchCriteria[filter_groups][0][filters][0][value]=MJ99-S-Blue",
        &token,
    );
    assert_eq!(found["items"][0]["name"], "Weir Rain Jacket-S-Blue", "the search finds a new child");
    assert_eq!(product_count(&demo.commerce, &token), before + 5, "one parent and four children, nothing else");
    assert_eq!(children(&demo.commerce, &token, "MH01"), hoodie, "a seeded style is as it was");

    // The size the table lacks is in the dead-letter queue, with a reason that names it.
    let state = demo.state.path().join("state.db");
    let (code, stdout, stderr) = outcome(
        command(&["dlq", "list", "--json", "--state", &state.display().to_string()], &repo())
            .output()
            .expect("weir runs"),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let entries: Value = serde_json::from_str(&stdout).expect("a JSON list");
    let entries: Vec<(&str, &str, &str)> = entries
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| (e["step"].as_str().unwrap_or(""), e["key"].as_str().unwrap_or(""), e["error"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        entries,
        [("size", "item:MJ99-XXL", "key `XXL` not found in table `sizes` (column `erp_size`)")],
        "one entry; the answers \"already …\" to repeats are none"
    );

    // Nothing changed in the ERP: nothing is sent.
    demo.run("products.yaml");
    assert_eq!(catalog_requests(&demo.commerce), Vec::<String>::new());

    // A new price for size M: only that style's requests, only size M's children and links.
    demo.erp.control("POST", "items/MJ99-MD", Some(json!({"unitPrice": 64.0})));
    demo.run("products.yaml");
    let sent = catalog_requests(&demo.commerce);
    let expected = [
        "PUT /rest/V1/products/MJ99",
        "POST /rest/V1/configurable-products/MJ99/options",
        "POST /rest/V1/configurable-products/MJ99/options",
        "PUT /rest/V1/products/MJ99-M-Black",
        "PUT /rest/V1/products/MJ99-M-Blue",
        "POST /rest/V1/configurable-products/MJ99/child",
        "POST /rest/V1/configurable-products/MJ99/child",
    ];
    assert_eq!(sent, expected.map(String::from).to_vec());
    let jacket = children(&demo.commerce, &token, "MJ99");
    assert_eq!(jacket.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "the same children, once each");
    assert_eq!(jacket["MJ99-M-Blue"].0, 64.0);
    assert_eq!(jacket["MJ99-S-Blue"].0, 61.0);
    assert_eq!(product_count(&demo.commerce, &token), before + 5);
}
