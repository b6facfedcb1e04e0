//! `weir sim commerce` as a process: orders (one order, comments, updates, orders added and changed
//! by the control endpoint during a paged read), shipments (partial, complete, over-shipped) and
//! customers (search, create with a duplicate e-mail, update), in Magento's shapes and messages.

use serde_json::{Value, json};

use crate::support::commerce::Sim;

/// The first order (by id) in `state`, with its shippable (parent) lines.
fn order_in_state(sim: &Sim, token: &str, state: &str) -> Value {
    let page = sim.get(
        &format!(
            "/rest/V1/orders?searchCriteria[filter_groups][0][filters][0][field]=state\
             &searchCriteria[filter_groups][0][filters][0][value]={state}\
             &searchCriteria[sortOrders][0][field]=entity_id&searchCriteria[pageSize]=1"
        ),
        token,
    );
    page["items"][0].clone()
}

#[test]
fn an_order_is_read_commented_and_updated_and_every_change_stamps_updated_at() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    let order = sim.get("/rest/V1/orders/7", &token);
    assert_eq!(order["entity_id"], 7);
    assert_eq!(order["status_histories"], json!([]));
    assert!(order["updated_at"].as_str().expect("a date").starts_with("2024-"), "{order}");
    let comment = json!({"statusHistory": {"comment": "ERP order SO-1007", "is_customer_notified": 0,
                                           "is_visible_on_front": 0, "parent_id": 7}});
    let (status, body) = sim.send("POST", "/rest/V1/orders/7/comments", Some(&token), Some(comment));
    assert_eq!((status, body), (200, json!(true)));
    let (status, body) = sim.send(
        "POST",
        "/rest/V1/orders",
        Some(&token),
        Some(json!({"entity": {"entity_id": 7, "ext_order_id": "SO-1007", "increment_id": "changed"}})),
    );
    assert_eq!(status, 200, "{body}");
    let order = sim.get("/rest/default/V1/orders/7", &token);
    assert_eq!(order["ext_order_id"], "SO-1007");
    assert_eq!(order["increment_id"], "000000007", "the identity is not changed");
    assert_eq!(order["status_histories"][0]["comment"], "ERP order SO-1007");
    assert_eq!(order["status_histories"][0]["parent_id"], 7);
    assert!(!order["updated_at"].as_str().expect("a date").starts_with("2024-"), "{order}");
    let comments = sim.get("/rest/V1/orders/7/comments", &token);
    assert_eq!(comments["total_count"], 1);
    // The changed order is found by its new updated_at; the others are not.
    let since = order["updated_at"].as_str().expect("a date");
    let changed = sim.get(
        &format!(
            "/rest/V1/orders?searchCriteria[filter_groups][0][filters][0][field]=updated_at\
             &searchCriteria[filter_groups][0][filters][0][value]={}\
             &searchCriteria[filter_groups][0][filters][0][condition_type]=gteq",
            since.replace(' ', "%20")
        ),
        &token,
    );
    assert_eq!(changed["total_count"], 1, "{changed}");
    for path in ["/rest/V1/orders/999", "/rest/V1/orders/999/comments"] {
        let (status, body) = sim.send("GET", path, Some(&token), None);
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["message"], "The entity that was requested doesn't exist. Verify the entity and try again.");
    }
    let (status, body) = sim.send("POST", "/rest/V1/orders/7/comments", Some(&token), Some(json!({})));
    assert_eq!(status, 400);
    assert_eq!(body["parameters"]["fieldName"], "statusHistory");
}

#[test]
fn orders_added_and_changed_between_pages_show_in_the_counts_and_the_last_pages() {
    let sim = Sim::start(&["--seed", "3"]);
    let token = sim.token();
    let page = |n: u32| {
        sim.get(
            &format!(
                "/rest/V1/orders?searchCriteria[sortOrders][0][field]=updated_at\
                 &searchCriteria[sortOrders][0][direction]=ASC&searchCriteria[pageSize]=20&searchCriteria[currentPage]={n}"
            ),
            &token,
        )
    };
    let first = page(1);
    assert_eq!(first["total_count"], 45);
    let (status, created) = sim.send("POST", "/__sim/orders", None, Some(json!({"count": 2})));
    assert_eq!(status, 200, "{created}");
    let created = created["created"].as_array().expect("the new orders").clone();
    assert_eq!(created.iter().map(|o| o["entity_id"].clone()).collect::<Vec<_>>(), [json!(46), json!(47)]);
    assert!(created.iter().all(|o| o["status"] == "pending" && o["items"][0]["product_type"] == "configurable"));
    // An order of given SKUs: a configurable's child (a parent line with the chosen options, and the
    // child line) and a simple product.
    let (status, given) = sim.send("POST", "/__sim/orders", None, Some(json!({"skus": ["MH01-S-Black", "24-MB01"]})));
    assert_eq!(status, 200, "{given}");
    let items = given["created"][0]["items"].as_array().expect("items").clone();
    let shape: Vec<(&str, &str, bool)> = items
        .iter()
        .map(|i| {
            (i["sku"].as_str().unwrap_or(""), i["product_type"].as_str().unwrap_or(""), i["parent_item_id"].is_u64())
        })
        .collect();
    assert_eq!(
        shape,
        [("MH01-S-Black", "configurable", false), ("MH01-S-Black", "simple", true), ("24-MB01", "simple", false)]
    );
    assert_eq!(
        items[0]["product_option"]["extension_attributes"]["configurable_item_options"],
        json!([{"option_id": "144", "option_value": 167}, {"option_id": "93", "option_value": 49}]),
        "size S and color Black, as Luma's option ids"
    );
    assert_eq!(given["created"][0]["total_item_count"], 2);
    // An order of the first page changes: it moves to the end.
    let moved = first["items"][0]["entity_id"].as_u64().expect("an id");
    let (status, changed) =
        sim.send("POST", &format!("/__sim/orders/{moved}"), None, Some(json!({"status": "holded", "state": "holded"})));
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["status"], "holded");
    let last = page(3);
    assert_eq!(last["total_count"], 48);
    let ids: Vec<u64> =
        last["items"].as_array().expect("items").iter().filter_map(|o| o["entity_id"].as_u64()).collect();
    assert!(ids.contains(&46) && ids.contains(&47) && ids.contains(&moved), "{ids:?}");
    // The same seed gives the same orders; another seed other ones.
    let again = Sim::start(&["--seed", "3"]);
    let other = Sim::start(&["--seed", "4"]);
    let items = |sim: &Sim| {
        let token = sim.token();
        sim.get("/rest/V1/orders/1", &token)["items"].clone()
    };
    assert_eq!(items(&again), items(&sim));
    assert_ne!(items(&again), items(&other));
}

#[test]
fn shipments_are_partial_then_complete_and_over_shipping_is_refused() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    let order = order_in_state(&sim, &token, "new");
    let id = order["entity_id"].as_u64().expect("an id");
    let line = &order["items"][0];
    let (item_id, ordered) =
        (line["item_id"].as_u64().expect("an item id"), line["qty_ordered"].as_f64().expect("a qty"));
    let ship = |items: Value| {
        let body =
            json!({"items": items, "tracks": [{"track_number": "1Z999", "title": "UPS", "carrier_code": "ups"}]});
        sim.send("POST", &format!("/rest/V1/order/{id}/ship"), Some(&token), Some(body))
    };
    let (status, body) = ship(json!([{"order_item_id": item_id, "qty": ordered + 1.0}]));
    assert_eq!(status, 400);
    let sku = line["sku"].as_str().expect("a sku");
    assert_eq!(
        body["message"],
        format!(
            "Shipment Document Validation Error(s):\nThe quantity to ship must not be greater than the unshipped \
             quantity for product SKU \"{sku}\".\nYou can't create a shipment without products."
        )
    );
    let (status, body) = ship(json!([{"order_item_id": 99_999, "qty": 1, "sku": "NOPE"}]));
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().expect("a message").contains("SKU \"NOPE\" that is not part of the original order")
    );
    // One unit of the first line: a partial shipment, the order is processing.
    let (status, first) = ship(json!([{"order_item_id": item_id, "qty": 1}]));
    assert_eq!(status, 200, "{first}");
    let shipment = sim.get(&format!("/rest/V1/shipment/{first}"), &token);
    assert_eq!(shipment["order_id"], id);
    assert_eq!(shipment["items"][0]["order_item_id"], item_id);
    assert_eq!(shipment["tracks"][0]["track_number"], "1Z999");
    let after = sim.get(&format!("/rest/V1/orders/{id}"), &token);
    let done = order["items"].as_array().expect("items").len() == 2 && ordered == 1.0;
    assert_eq!(after["state"], if done { "complete" } else { "processing" });
    assert_eq!(after["items"][0]["qty_shipped"], 1.0);
    assert_eq!(after["items"][1]["qty_shipped"], 1.0, "the child line ships with its parent");
    // No items: everything left ships, and the order is complete; it cannot ship again.
    if !done {
        let (status, body) = ship(json!([]));
        assert_eq!(status, 200, "{body}");
        assert_eq!(sim.get(&format!("/rest/V1/orders/{id}"), &token)["state"], "complete");
    }
    let (status, body) = ship(json!([]));
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Shipment Document Validation Error(s):\nThe order does not allow a shipment to be created."
    );
    let shipments = sim.get(
        &format!(
            "/rest/V1/shipments?searchCriteria[filter_groups][0][filters][0][field]=order_id\
             &searchCriteria[filter_groups][0][filters][0][value]={id}"
        ),
        &token,
    );
    assert_eq!(shipments["total_count"], if done { 1 } else { 2 });
    let (status, _) = sim.send("GET", "/rest/V1/shipment/999", Some(&token), None);
    assert_eq!(status, 404);
}

#[test]
fn customers_are_searched_created_once_per_email_and_updated() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    let found = sim.get(
        "/rest/V1/customers/search?searchCriteria[filter_groups][0][filters][0][field]=email\
         &searchCriteria[filter_groups][0][filters][0][value]=roni_cost@example.com",
        &token,
    );
    assert_eq!(found["total_count"], 1);
    assert_eq!(found["items"][0]["lastname"], "Costello");
    assert_eq!(found["items"][0]["dob"], "1973-12-15");
    let (status, body) = sim.send("GET", "/rest/V1/customers/1", None, None);
    assert_eq!((status, body["parameters"]["resources"].clone()), (401, json!("Magento_Customer::manage")));
    let new = json!({"customer": {"email": "Ada@Example.com", "firstname": "Ada", "lastname": "Lovelace", "group_id": 1},
                     "password": "Secret-123"});
    let (status, created) = sim.send("POST", "/rest/V1/customers", Some(&token), Some(new.clone()));
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_u64().expect("an id");
    assert!(created.get("password").is_none());
    let (status, body) = sim.send("POST", "/rest/V1/customers", Some(&token), Some(new));
    assert_eq!(status, 400);
    assert_eq!(body["message"], "A customer with the same email address already exists in an associated website.");
    let (status, body) = sim.send(
        "POST",
        "/rest/V1/customers",
        Some(&token),
        Some(json!({"customer": {"email": "x@example.com", "firstname": "X"}})),
    );
    assert_eq!(status, 400);
    assert_eq!(body["parameters"]["fieldName"], "lastname");
    // A PUT saves the whole customer: without its e-mail and names it is refused.
    let partial = json!({"customer": {"group_id": 3}});
    let (status, body) = sim.send("PUT", &format!("/rest/V1/customers/{id}"), Some(&token), Some(partial));
    assert_eq!((status, body["parameters"]["fieldName"].clone()), (400, json!("email")));
    let mut customer = created.clone();
    customer["group_id"] = json!(3);
    customer["custom_attributes"] = json!([{"attribute_code": "erp_id", "value": "C-42"}]);
    let change = json!({ "customer": customer });
    let (status, updated) = sim.send("PUT", &format!("/rest/V1/customers/{id}"), Some(&token), Some(change));
    assert_eq!(status, 200, "{updated}");
    let read = sim.get(&format!("/rest/V1/customers/{id}"), &token);
    assert_eq!((read["group_id"].clone(), read["email"].clone()), (json!(3), json!("Ada@Example.com")));
    assert_eq!(read["custom_attributes"][0]["value"], "C-42");
    let taken = json!({"customer": {"email": "roni_cost@example.com", "firstname": "Ada", "lastname": "Lovelace"}});
    assert_eq!(sim.send("PUT", &format!("/rest/V1/customers/{id}"), Some(&token), Some(taken)).0, 400);
    let (status, body) = sim.send("GET", "/rest/V1/customers/999", Some(&token), None);
    assert_eq!(status, 404);
    assert_eq!(body["message"], "No such entity with %fieldName = %fieldValue");
    assert_eq!(body["parameters"]["fieldValue"], "999");
}
