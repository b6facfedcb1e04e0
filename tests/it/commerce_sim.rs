//! `weir sim commerce` as a process, called over HTTP: the admin token, searchCriteria filters, sort
//! and paging (with Magento's repeated last page), SKUs with `/` and spaces, the input limit, the
//! request log and injected faults; OAuth 1.0a signed by `weir run` through an `oauth1` connection
//! (the verification's finer cases are unit tests of `sim::commerce::auth`); the answers' shapes
//! against the OpenAPI document.

use serde_json::{Value, json};

use crate::support::commerce::Sim;

fn skus(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|i| i["sku"].as_str().expect("a sku").to_string()).collect()
}

#[test]
fn admin_token_is_accepted_and_anything_else_refused_in_magentos_shape() {
    let sim = Sim::start(&[]);
    let (status, body) = sim.send("GET", "/rest/V1/products", None, None);
    assert_eq!(status, 401);
    assert_eq!(body["message"], "The consumer isn't authorized to access %resources.");
    assert_eq!(body["parameters"]["resources"], "Magento_Catalog::products");
    let (status, _) = sim.send("GET", "/rest/V1/products", Some("not-issued"), None);
    assert_eq!(status, 401);
    let (status, _) = sim.send(
        "POST",
        "/rest/V1/integration/admin/token",
        None,
        Some(json!({"username": "admin", "password": "wrong"})),
    );
    assert_eq!(status, 401);
    let token = sim.token();
    let page = sim.get("/rest/V1/products?searchCriteria[pageSize]=1", &token);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert!(page["total_count"].as_u64().expect("a count") > 90);
}

#[test]
fn filters_sort_and_pages_as_magento_does_including_the_repeated_last_page() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    // One group, two filters: ORed. Two groups: ANDed.
    let q = "searchCriteria[filter_groups][0][filters][0][field]=sku&searchCriteria[filter_groups][0][filters][0][value]=MH01-%25\
             &searchCriteria[filter_groups][0][filters][0][condition_type]=like\
             &searchCriteria[filter_groups][0][filters][1][field]=sku&searchCriteria[filter_groups][0][filters][1][value]=24-MB01\
             &searchCriteria[filter_groups][1][filters][0][field]=color&searchCriteria[filter_groups][1][filters][0][value]=49,52\
             &searchCriteria[filter_groups][1][filters][0][condition_type]=in\
             &searchCriteria[sortOrders][0][field]=sku&searchCriteria[sortOrders][0][direction]=DESC";
    let all = sim.get(&format!("/rest/V1/products?{q}"), &token);
    assert_eq!(all["total_count"], 10, "{all}");
    let expected = skus(&all);
    assert_eq!(expected[0], "MH01-XS-Gray");
    assert!(expected.windows(2).all(|w| w[0] >= w[1]), "{expected:?}");
    assert!(expected.iter().all(|s| s.starts_with("MH01-") && !s.ends_with("Orange")));
    // Pages of 4: 4, 4, 2, and page 9 is page 3 again.
    let page = |n: u32| {
        sim.get(&format!("/rest/V1/products?{q}&searchCriteria[pageSize]=4&searchCriteria[currentPage]={n}"), &token)
    };
    let pages: Vec<Vec<String>> = (1..=3).map(|n| skus(&page(n))).collect();
    assert_eq!(pages.concat(), expected);
    let past = page(9);
    assert_eq!(skus(&past), pages[2]);
    assert_eq!(past["total_count"], 10);
    assert_eq!(past["search_criteria"]["current_page"], 9);
    // Orders: numeric comparison, sorted ascending by a date.
    let orders = sim.get(
        "/rest/V1/orders?searchCriteria[filter_groups][0][filters][0][field]=entity_id\
         &searchCriteria[filter_groups][0][filters][0][value]=40&searchCriteria[filter_groups][0][filters][0][condition_type]=gteq\
         &searchCriteria[sortOrders][0][field]=created_at&searchCriteria[sortOrders][0][direction]=ASC",
        &token,
    );
    let ids: Vec<u64> =
        orders["items"].as_array().expect("items").iter().map(|o| o["entity_id"].as_u64().expect("an id")).collect();
    assert_eq!(ids, (40..=45).collect::<Vec<u64>>());
    let order = &orders["items"][0];
    assert_eq!(order["items"][1]["parent_item_id"], order["items"][0]["item_id"]);
    // A malformed searchCriteria is a 400 in Magento's shape.
    let (status, body) = sim.send("GET", "/rest/V1/orders?searchCriteria[pageSize]=ten", Some(&token), None);
    assert_eq!(status, 400);
    assert_eq!(body["parameters"]["value"], "ten");
    let (status, _) = sim.send("GET", "/rest/V1/orders?searchCriteria[nonsense]=1", Some(&token), None);
    assert_eq!(status, 400);
}

#[test]
fn a_sku_with_a_slash_a_plus_and_a_space_is_found_url_encoded() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    assert_eq!(sim.get("/rest/V1/products/WT%2F09%20Blue", &token)["sku"], "WT/09 Blue");
    assert_eq!(sim.get("/rest/V1/products/GIFT%2BCARD%2050", &token)["sku"], "GIFT+CARD 50");
    assert_eq!(sim.get("/rest/default/V1/products/100%25-COTTON", &token)["sku"], "100%-COTTON");
    let (status, body) = sim.send("GET", "/rest/V1/products/WT%2F10", Some(&token), None);
    assert_eq!(status, 404);
    assert!(body["message"].as_str().expect("a message").contains("doesn't exist"));
}

#[test]
fn source_items_over_the_input_limit_are_refused_and_the_rest_saved() {
    let sim = Sim::start(&["--input-limit"]);
    let token = sim.token();
    let items = |n: usize| {
        let list: Vec<Value> = (0..n)
            .map(|i| json!({"sku": format!("NEW-{i}"), "source_code": "default", "quantity": i, "status": 1}))
            .collect();
        Some(json!({"sourceItems": list}))
    };
    let (status, body) = sim.send("POST", "/rest/V1/inventory/source-items", Some(&token), items(21));
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Maximum items of type \"%type\" is %max");
    assert_eq!(body["parameters"]["max"], 20);
    let (status, _) = sim.send("POST", "/rest/V1/inventory/source-items", Some(&token), items(20));
    assert_eq!(status, 200);
    let saved = sim.get(
        "/rest/V1/inventory/source-items?searchCriteria[filter_groups][0][filters][0][field]=sku\
         &searchCriteria[filter_groups][0][filters][0][value]=NEW-%25&searchCriteria[filter_groups][0][filters][0][condition_type]=like",
        &token,
    );
    assert_eq!(saved["total_count"], 20);
    let (status, body) = sim.send("GET", "/rest/V1/orders?searchCriteria[pageSize]=301", Some(&token), None);
    assert_eq!(status, 400);
    assert_eq!(body["parameters"]["max"], 300);
}

#[test]
fn the_request_log_masks_credentials_and_faults_are_served_in_order() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    let (status, _) = sim.send(
        "POST",
        "/__sim/faults",
        None,
        Some(json!([{"status": 429, "retry_after": 7}, {"status": 503}, {"html": true}])),
    );
    assert_eq!(status, 200);
    let first = sim.client.get(format!("{}/rest/V1/orders", sim.base)).bearer_auth(&token).send().expect("an answer");
    assert_eq!(first.status().as_u16(), 429);
    assert_eq!(first.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    assert_eq!(sim.send("GET", "/rest/V1/orders", Some(&token), None).0, 503);
    let (status, body) = sim.send("GET", "/rest/V1/orders", Some(&token), None);
    assert_eq!(status, 200);
    assert!(body.as_str().is_some_and(|b| b.starts_with("<html>")), "{body}");
    assert_eq!(sim.send("GET", "/rest/V1/orders", Some(&token), None).0, 200);
    let (_, log) = sim.send("GET", "/__sim/requests", None, None);
    let log = log.as_array().expect("a list");
    assert_eq!(log.len(), 5, "{log:?}");
    let text = serde_json::to_string(log).expect("JSON");
    assert!(!text.contains("admin123") && !text.contains(&token), "{text}");
    assert_eq!(log[1]["headers"]["authorization"], "Bearer ***");
    assert_eq!(log[1]["path"], "/rest/V1/orders");
}

/// The answers' shapes against the official OpenAPI document's definitions (a subset of
/// `admin-schema-2.4.9.yaml`, see `tests/data/magento-openapi/SOURCE.md`), by the `jsonschema`
/// crate: every endpoint that answers data, after requests that fill the answers (a comment, a
/// shipment, prices, a bulk). Error answers are not checked: the document says `parameters` is a
/// list, where Magento answers an object for named placeholders (as the simulator does). The async
/// bulk acceptance is not either: the admin document does not describe `/async/bulk/`.
#[test]
fn answers_follow_the_openapi_definitions() {
    let path = crate::support::repo().join("tests/data/magento-openapi/definitions-subset.json");
    let document: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("the subset")).expect("JSON");
    let sim = Sim::start(&[]);
    let token = sim.token();
    let post = |path: &str, body: Value| {
        let (status, answer) = sim.send("POST", path, Some(&token), Some(body));
        assert!(status < 300, "{path}: {answer}");
        answer
    };
    post(
        "/rest/V1/orders/3/comments",
        json!({"statusHistory": {"comment": "SO-3", "is_customer_notified": 0, "is_visible_on_front": 0, "parent_id": 3}}),
    );
    let shipment = post(
        "/rest/V1/order/3/ship",
        json!({"tracks": [{"track_number": "1Z", "title": "UPS", "carrier_code": "ups"}]}),
    );
    let special =
        json!({"sku": "24-MB01", "price": 29.5, "store_id": 0, "price_from": "2026-01-01 00:00:00", "price_to": ""});
    post("/rest/V1/products/special-price", json!({"prices": [special]}));
    let tier = json!({"sku": "24-MB01", "price": 30.0, "price_type": "fixed", "website_id": 0, "customer_group": "ALL GROUPS", "quantity": 5.0});
    let failures = post("/rest/V1/products/tier-prices", json!({"prices": [tier, {"sku": "NOPE", "price": 1.0}]}));
    let bulk = post(
        "/rest/async/bulk/V1/inventory/source-items",
        json!([{"sourceItems": [{"sku": "B1", "source_code": "default", "quantity": 1, "status": 1}]}]),
    );
    let bulk = bulk["bulk_uuid"].as_str().expect("a uuid").to_string();
    let skus = json!({"skus": ["24-MB01", "MH01-XS-Black"]});
    let list = |definition: &str| json!({"type": "array", "items": {"$ref": format!("#/definitions/{definition}")}});
    let one = |definition: &str| json!({"$ref": format!("#/definitions/{definition}")});
    let answers = [
        (
            one("catalog-data-product-search-results-interface"),
            sim.get("/rest/V1/products?searchCriteria[pageSize]=200", &token),
        ),
        (one("catalog-data-product-interface"), sim.get("/rest/V1/products/MH01", &token)),
        (one("catalog-data-product-interface"), sim.get("/rest/V1/products/MH01-XS-Black", &token)),
        (list("eav-data-attribute-option-interface"), sim.get("/rest/V1/products/attributes/color/options", &token)),
        (
            one("sales-data-order-search-result-interface"),
            sim.get("/rest/V1/orders?searchCriteria[sortOrders][0][field]=created_at", &token),
        ),
        (one("sales-data-order-interface"), sim.get("/rest/V1/orders/3", &token)),
        (one("sales-data-order-status-history-search-result-interface"), sim.get("/rest/V1/orders/3/comments", &token)),
        (
            one("inventory-api-data-source-item-search-results-interface"),
            sim.get("/rest/V1/inventory/source-items?searchCriteria[pageSize]=5", &token),
        ),
        (one("sales-data-shipment-interface"), sim.get(&format!("/rest/V1/shipment/{shipment}"), &token)),
        (one("sales-data-shipment-search-result-interface"), sim.get("/rest/V1/shipments", &token)),
        (one("customer-data-customer-search-results-interface"), sim.get("/rest/V1/customers/search", &token)),
        (one("customer-data-customer-interface"), sim.get("/rest/V1/customers/1", &token)),
        (one("customer-data-group-interface"), sim.get("/rest/V1/customerGroups/1", &token)),
        (one("customer-data-group-search-results-interface"), sim.get("/rest/V1/customerGroups/search", &token)),
        (list("catalog-data-price-update-result-interface"), failures),
        (list("catalog-data-base-price-interface"), post("/rest/V1/products/base-prices-information", skus.clone())),
        (
            list("catalog-data-special-price-interface"),
            post("/rest/V1/products/special-price-information", skus.clone()),
        ),
        (list("catalog-data-tier-price-interface"), post("/rest/V1/products/tier-prices-information", skus)),
        (
            one("asynchronous-operations-data-bulk-operations-status-interface"),
            sim.get(&format!("/rest/V1/bulk/{bulk}/status"), &token),
        ),
        (
            one("asynchronous-operations-data-detailed-bulk-operations-status-interface"),
            sim.get(&format!("/rest/V1/bulk/{bulk}/detailed-status"), &token),
        ),
    ];
    for (schema, answer) in answers {
        assert!(answer.as_array().is_none_or(|a| !a.is_empty()), "an empty list proves nothing: {schema}");
        let mut schema = schema;
        schema["definitions"] = document["definitions"].clone();
        let validator = jsonschema::validator_for(&schema).expect("the definitions compile");
        let errors: Vec<String> =
            validator.iter_errors(&answer).map(|e| format!("{} at {}", e, e.instance_path)).collect();
        assert!(
            errors.is_empty(),
            "{} against {}:\n{}",
            answer.to_string().chars().take(300).collect::<String>(),
            schema["$ref"],
            errors.join("\n")
        );
    }
}

/// A client folder whose `http` sink posts each record as a source item through an `oauth1`
/// connection to the simulator, signed with `consumer_secret`.
fn oauth1_folder(sim: &Sim, consumer_secret: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    let connections = format!(
        "connections:\n  commerce:\n    type: http\n    base_url: \"{}/rest/default\"\n    auth:\n      type: oauth1\n      \
         consumer_key: sim-consumer-key\n      consumer_secret: {consumer_secret}\n      token: sim-access-token\n      \
         token_secret: sim-access-token-secret\n",
        sim.base
    );
    std::fs::write(dir.path().join("connections.yaml"), connections).expect("connections.yaml");
    let pipeline = "name: stock\nsource:\n  id: stock\n  type: file\n  path: stock.ndjson\n  format: ndjson\n  \
                    key: \"stock:{{ record.sku }}\"\nsinks:\n  - id: msi\n    type: http\n    connection: commerce\n    \
                    path: \"/V1/inventory/source-items?note=a+b%2Fc\"\n    \
                    body: { sourceItems: [ { sku: \"{{ record.sku }}\", source_code: default, quantity: \"{{ record.qty }}\", status: 1 } ] }\n";
    std::fs::write(dir.path().join("stock.yaml"), pipeline).expect("the pipeline");
    let stock = "{\"sku\": \"WT/09 Blue\", \"qty\": 5}\n{\"sku\": \"GIFT+CARD 50\", \"qty\": 2}\n";
    std::fs::write(dir.path().join("stock.ndjson"), stock).expect("the input");
    dir
}

#[test]
fn requests_signed_by_weirs_oauth1_connection_are_accepted_and_wrongly_signed_ones_refused() {
    let sim = Sim::start(&[]);
    let good = oauth1_folder(&sim, "sim-consumer-secret");
    let run = crate::support::cli::weir(&["run", "stock.yaml", "--quiet"], good.path());
    assert!(run.status.success(), "{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    let token = sim.token();
    let saved = sim.get(
        "/rest/V1/inventory/source-items?searchCriteria[filter_groups][0][filters][0][field]=sku\
         &searchCriteria[filter_groups][0][filters][0][value]=WT%2F09%20Blue",
        &token,
    );
    assert_eq!(saved["items"][0]["quantity"], 5.0, "{saved}");
    let (_, log) = sim.send("GET", "/__sim/requests", None, None);
    let signed: Vec<&Value> = log.as_array().expect("a list").iter().filter(|r| r["method"] == "POST").collect();
    assert!(signed.iter().filter(|r| r["headers"]["authorization"] == "OAuth ***").count() >= 2, "{log}");
    assert!(!log.to_string().contains("sim-consumer-secret"));
    // Signed with another consumer secret: refused with a 401, so the run fails.
    let bad = oauth1_folder(&sim, "not-the-secret");
    let run = crate::support::cli::weir(&["run", "stock.yaml", "--quiet"], bad.path());
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stdout));
    // It did arrive, signed, and stopped the run at once: one more request, not a retry storm.
    let (_, after) = sim.send("GET", "/__sim/requests", None, None);
    let posts = |log: &Value| log.as_array().expect("a list").iter().filter(|r| r["method"] == "POST").count();
    assert_eq!(posts(&after), posts(&log) + 1, "{after}");
}

#[test]
fn a_truncated_answer_and_a_create_whose_answer_is_lost() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    let faults = json!([{"truncate": true}, {"lost": true, "latency_ms": 10_000}]);
    assert_eq!(sim.send("POST", "/__sim/faults", None, Some(faults)).0, 200);
    let (status, body) = sim.send("GET", "/rest/V1/products/MH01", Some(&token), None);
    assert_eq!(status, 200);
    let text = body.as_str().expect("not JSON: cut short");
    assert!(text.starts_with("{\"id\":16,") && serde_json::from_str::<Value>(text).is_err(), "{text}");
    // The create is done, but its answer never comes within the client's time limit.
    let item = json!({"sourceItems": [{"sku": "LOST-1", "source_code": "default", "quantity": 3, "status": 1}]});
    let lost = sim
        .client
        .post(format!("{}/rest/V1/inventory/source-items", sim.base))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body(item.to_string())
        .timeout(std::time::Duration::from_secs(1))
        .send();
    assert!(lost.is_err_and(|e| e.is_timeout()));
    let saved = sim.get(
        "/rest/V1/inventory/source-items?searchCriteria[filter_groups][0][filters][0][field]=sku\
         &searchCriteria[filter_groups][0][filters][0][value]=LOST-1",
        &token,
    );
    assert_eq!(saved["total_count"], 1, "{saved}");
}
