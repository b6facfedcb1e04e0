//! `weir sim commerce` as a process: base, special and tier prices with Magento's per-item
//! failures, and async bulk — operations accepted at once, run when polled, kept open or made to
//! fail by the control endpoint — with the web API input limits on lists and async requests.

use serde_json::{Value, json};

use crate::support::commerce::Sim;

fn post(sim: &Sim, token: &str, path: &str, body: Value) -> Value {
    let (status, answer) = sim.send("POST", path, Some(token), Some(body));
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

#[test]
fn base_special_and_tier_prices_are_saved_and_unknown_skus_answered_per_item() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    let failures = post(
        &sim,
        &token,
        "/rest/V1/products/base-prices",
        json!({"prices": [{"sku": "MH01-XS-Black", "price": 49.5, "store_id": 0},
                          {"sku": "NOPE", "price": 1, "store_id": 0},
                          {"sku": "MH01", "price": 10, "store_id": 0},
                          {"sku": "24-MB01", "price": -1, "store_id": 0}]}),
    );
    assert_eq!(
        failures,
        json!([
            {"message": "Invalid attribute %fieldName = %fieldValue.", "parameters": ["SKU", "NOPE"]},
            {"message": "Invalid attribute %fieldName = %fieldValue.", "parameters": ["SKU", "MH01"]},
            {"message": "Invalid attribute %fieldName = %fieldValue.", "parameters": ["Price", "-1"]},
        ])
    );
    assert_eq!(sim.get("/rest/V1/products/MH01-XS-Black", &token)["price"], 49.5);
    let base =
        post(&sim, &token, "/rest/V1/products/base-prices-information", json!({"skus": ["MH01-XS-Black", "NOPE"]}));
    assert_eq!(base, json!([{"price": 49.5, "store_id": 0, "sku": "MH01-XS-Black"}]));

    let special = json!({"sku": "24-MB01", "price": 29.5, "store_id": 0, "price_from": "2026-01-01 00:00:00",
                         "price_to": "2026-02-01 00:00:00"});
    let failures = post(
        &sim,
        &token,
        "/rest/V1/products/special-price",
        json!({"prices": [special, {"sku": "NOPE", "price": 1, "store_id": 0, "price_from": "", "price_to": ""}]}),
    );
    assert_eq!(failures[0]["parameters"], json!(["NOPE", "0", "", ""]));
    assert!(
        failures[0]["message"]
            .as_str()
            .expect("a message")
            .starts_with("The product that was requested doesn't exist.")
    );
    let read = post(&sim, &token, "/rest/V1/products/special-price-information", json!({"skus": ["24-MB01"]}));
    assert_eq!(read, json!([special]));
    assert_eq!(post(&sim, &token, "/rest/V1/products/special-price-delete", json!({"prices": [special]})), json!([]));
    assert_eq!(
        post(&sim, &token, "/rest/V1/products/special-price-information", json!({"skus": ["24-MB01"]})),
        json!([])
    );

    let tier = |qty: u32, price: f64| json!({"sku": "24-MB01", "price": price, "price_type": "fixed", "website_id": 0, "customer_group": "ALL GROUPS", "quantity": f64::from(qty)});
    let failures = post(
        &sim,
        &token,
        "/rest/V1/products/tier-prices",
        json!({"prices": [tier(5, 30.0), tier(10, 28.0), {"sku": "NOPE", "price": 1, "price_type": "fixed",
               "website_id": 0, "customer_group": "ALL GROUPS", "quantity": 2}]}),
    );
    assert_eq!(
        failures[0]["message"],
        "Invalid attribute SKU = %SKU. Row ID: SKU = %SKU, Website ID: %websiteId, Customer Group: %customerGroup, Quantity: %qty."
    );
    assert_eq!(failures[0]["parameters"], json!(["NOPE", "0", "ALL GROUPS", "2"]));
    let read = post(&sim, &token, "/rest/V1/products/tier-prices-information", json!({"skus": ["24-MB01"]}));
    assert_eq!(read.as_array().map(Vec::len), Some(2), "{read}");
    // PUT replaces the SKU's tier prices.
    let (status, _) =
        sim.send("PUT", "/rest/V1/products/tier-prices", Some(&token), Some(json!({"prices": [tier(20, 25.0)]})));
    assert_eq!(status, 200);
    let read = post(&sim, &token, "/rest/V1/products/tier-prices-information", json!({"skus": ["24-MB01"]}));
    assert_eq!(read, json!([tier(20, 25.0)]));
    let (status, body) = sim.send("POST", "/rest/V1/products/base-prices", Some(&token), Some(json!({"skus": []})));
    assert_eq!((status, body["parameters"]["fieldName"].clone()), (400, json!("prices")));
}

fn source_item(sku: &str, quantity: u32) -> Value {
    json!({"sourceItems": [{"sku": sku, "source_code": "default", "quantity": quantity, "status": 1}]})
}

fn statuses(detail: &Value) -> Vec<u64> {
    detail["operations_list"]
        .as_array()
        .expect("operations")
        .iter()
        .map(|o| o["status"].as_u64().expect("a status"))
        .collect()
}

#[test]
fn async_bulk_operations_run_when_polled_and_end_as_the_control_endpoint_says() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    let plan = json!({"open_polls": 1, "outcomes": [
        {"match": "\"BULK-2\"", "status": 2, "message": "Deadlock found when trying to get lock"},
        {"match": "\"BULK-3\"", "status": 3, "message": "The SKU is locked."},
        {"match": "\"BULK-5\"", "status": 5},
    ]});
    assert_eq!(sim.send("POST", "/__sim/bulk", None, Some(plan)).0, 200);
    let body =
        json!([source_item("BULK-1", 1), source_item("BULK-2", 2), source_item("BULK-3", 3), source_item("BULK-5", 5)]);
    let (status, accepted) =
        sim.send("POST", "/rest/default/async/bulk/V1/inventory/source-items", Some(&token), Some(body));
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["errors"], false);
    let items = accepted["request_items"].as_array().expect("request items");
    assert_eq!(items.len(), 4);
    assert!(items.iter().enumerate().all(|(i, r)| r["id"] == i
        && r["status"] == "accepted"
        && r["data_hash"].as_str().is_some_and(|h| h.len() == 64)));
    let uuid = accepted["bulk_uuid"].as_str().expect("a uuid");
    let detail = |view: &str| sim.get(&format!("/rest/V1/bulk/{uuid}/{view}"), &token);
    // Open for one poll; then run.
    assert_eq!(statuses(&detail("status")), [4, 4, 4, 4]);
    let done = detail("detailed-status");
    assert_eq!(statuses(&done), [1, 2, 3, 5]);
    assert_eq!(done["operation_count"], 4);
    assert_eq!(done["operations_list"][1]["result_message"], "Deadlock found when trying to get lock");
    assert!(done["operations_list"][0]["serialized_data"].as_str().expect("data").contains("BULK-1"));
    let saved = |sku: &str| {
        sim.get(
            &format!("/rest/V1/inventory/source-items?searchCriteria[filter_groups][0][filters][0][field]=sku&searchCriteria[filter_groups][0][filters][0][value]={sku}"),
            &token,
        )["total_count"]
            .clone()
    };
    assert_eq!((saved("BULK-1"), saved("BULK-2")), (json!(1), json!(0)));
    // The retried operation succeeds: an outcome applies once by default.
    let (_, again) = sim.send(
        "POST",
        "/rest/async/bulk/V1/inventory/source-items",
        Some(&token),
        Some(json!([source_item("BULK-2", 2)])),
    );
    let uuid = again["bulk_uuid"].as_str().expect("a uuid");
    assert_eq!(statuses(&sim.get(&format!("/rest/V1/bulk/{uuid}/status"), &token)), [4]);
    assert_eq!(statuses(&sim.get(&format!("/rest/V1/bulk/{uuid}/status"), &token)), [1]);
    assert_eq!(saved("BULK-2"), json!(1));
    // An operation the endpoint refuses ends failed (3) with Magento's message; a product is saved.
    assert_eq!(sim.send("DELETE", "/__sim/bulk", None, None).0, 200);
    let body = json!([{"sourceItems": [{"sku": "X"}]}, {"product": {"sku": "NEW-BULK", "name": "New", "price": 5, "type_id": "simple"}}]);
    let (_, mixed) = sim.send("POST", "/rest/async/bulk/V1/products", Some(&token), Some(json!([body[1].clone()])));
    let (_, refused) =
        sim.send("POST", "/rest/async/bulk/V1/inventory/source-items", Some(&token), Some(json!([body[0].clone()])));
    let ended =
        sim.get(&format!("/rest/V1/bulk/{}/detailed-status", refused["bulk_uuid"].as_str().expect("a uuid")), &token);
    assert_eq!(statuses(&ended), [3]);
    assert_eq!(ended["operations_list"][0]["result_message"], "Validation Failed");
    // Never polled, the product's operation ran anyway, before the next request was answered.
    assert_eq!(sim.get("/rest/V1/products/NEW-BULK", &token)["price"], 5);
    let ran = sim.get(&format!("/rest/V1/bulk/{}/status", mixed["bulk_uuid"].as_str().expect("a uuid")), &token);
    assert_eq!(statuses(&ran), [1]);
    let (status, body) = sim.send("GET", "/rest/V1/bulk/not-a-bulk/status", Some(&token), None);
    assert_eq!((status, body["message"].clone()), (404, json!("Bulk uuid %bulkUuid not exist")));
    let (status, _) =
        sim.send("POST", "/rest/async/bulk/V1/inventory/source-items", Some(&token), Some(source_item("A", 1)));
    assert_eq!(status, 400, "an async bulk body is a list");
}

#[test]
fn input_limits_refuse_long_price_lists_and_async_requests_over_5000_in_magentos_shape() {
    let sim = Sim::start(&["--input-limit"]);
    let token = sim.token();
    let prices: Vec<Value> = (0..21).map(|i| json!({"sku": format!("S{i}"), "price": 1, "store_id": 0})).collect();
    let (status, body) =
        sim.send("POST", "/rest/V1/products/base-prices", Some(&token), Some(json!({"prices": prices})));
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Maximum items of type \"%type\" is %max");
    assert_eq!(body["parameters"]["max"], 20);
    let many = |n: u32| Some(Value::Array((0..n).map(|i| source_item(&format!("A{i}"), i)).collect()));
    let (status, body) = sim.send("POST", "/rest/async/bulk/V1/inventory/source-items", Some(&token), many(5_001));
    assert_eq!(status, 400);
    assert_eq!(body["parameters"]["max"], 5_000);
    let (status, body) = sim.send("POST", "/rest/async/bulk/V1/inventory/source-items", Some(&token), many(5_000));
    assert_eq!(status, 202);
    assert_eq!(body["request_items"].as_array().map(Vec::len), Some(5_000));
}
