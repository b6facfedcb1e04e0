//! `shipments.yaml` against both simulators: shop orders of known SKUs reach the ERP (`erp-variants.yaml`,
//! `orders.yaml`), the ERP's warehouse ships them (`/__sim/ship`: one order in full, one line by line),
//! and the shop's shipments are read back — items and quantities shipped, tracks with their number and
//! carrier, order status. A second run ships nothing again; the rest of a partial shipment flows on
//! the next run; a shipment for an order the shop does not have is dead-lettered with the reason.

use serde_json::{Value, json};

use super::Demo;
use crate::support::cli::{command, outcome};
use crate::support::repo;
use crate::support::sim::{api, token};

/// A pending shop order of one of each of these SKUs; its increment id.
fn shop_order(demo: &Demo, skus: &[&str]) -> String {
    let (status, made) = demo.commerce.send("POST", "/__sim/orders", None, Some(json!({ "skus": skus })));
    assert_eq!(status, 200, "{made}");
    made["created"][0]["increment_id"].as_str().expect("an increment id").to_string()
}

/// The shop order with this increment id.
fn order(demo: &Demo, increment_id: &str) -> Value {
    let token = demo.commerce.token();
    let path = format!(
        "/rest/V1/orders?searchCriteria[filter_groups][0][filters][0][field]=increment_id\
         &searchCriteria[filter_groups][0][filters][0][value]={increment_id}"
    );
    demo.commerce.get(&path, &token)["items"][0].clone()
}

/// The shop's shipments of an order, oldest first.
fn shipments_of(demo: &Demo, order: &Value) -> Vec<Value> {
    let token = demo.commerce.token();
    let path = format!(
        "/rest/V1/shipments?searchCriteria[filter_groups][0][filters][0][field]=order_id\
         &searchCriteria[filter_groups][0][filters][0][value]={}",
        order["entity_id"]
    );
    demo.commerce.get(&path, &token)["items"].as_array().expect("shipments").clone()
}

/// (SKU, quantity) of each item of a shop shipment.
fn shipped_items(shipment: &Value) -> Vec<(String, f64)> {
    let items = shipment["items"].as_array().expect("items");
    items.iter().map(|i| (i["sku"].as_str().expect("a sku").to_string(), i["qty"].as_f64().expect("a qty"))).collect()
}

/// (track number, carrier code, title) of each track of a shop shipment.
fn tracks(shipment: &Value) -> Vec<(String, String, String)> {
    let text = |t: &Value, f: &str| t[f].as_str().expect("a text").to_string();
    let tracks = shipment["tracks"].as_array().expect("tracks");
    tracks.iter().map(|t| (text(t, "track_number"), text(t, "carrier_code"), text(t, "title"))).collect()
}

/// (SKU, quantity shipped) of the order's own lines (a configurable's child line ships with it).
fn qty_shipped(order: &Value) -> Vec<(String, f64)> {
    let items = order["items"].as_array().expect("items");
    items
        .iter()
        .filter(|i| i.get("parent_item_id").is_none())
        .map(|i| (i["sku"].as_str().expect("a sku").to_string(), i["qty_shipped"].as_f64().expect("qty_shipped")))
        .collect()
}

/// The ERP's sales order made from this shop order.
fn erp_order(demo: &Demo, increment_id: &str) -> Value {
    let state = demo.erp_state();
    let orders = state["salesOrders"].as_array().expect("sales orders");
    let found = orders.iter().find(|o| o["externalDocumentNumber"] == increment_id);
    found.unwrap_or_else(|| panic!("no ERP order for shop order {increment_id}")).clone()
}

/// Ships in the ERP, as its warehouse does.
fn erp_ship(demo: &Demo, body: Value) -> Value {
    let shipment = demo.erp.control("POST", "ship", Some(body));
    assert!(shipment["number"].is_string(), "{shipment}");
    shipment
}

/// How many `POST /V1/order/{id}/ship` the shop received since the last call.
fn ship_calls(demo: &Demo) -> usize {
    let (status, log) = demo.commerce.send("GET", "/__sim/requests", None, None);
    assert_eq!(status, 200);
    assert_eq!(demo.commerce.send("DELETE", "/__sim/requests", None, None).0, 200);
    let log = log.as_array().expect("a list");
    log.iter().filter(|r| r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/ship"))).count()
}

/// `weir dlq list --json` of the demo's state.
fn dead_letters(demo: &Demo) -> Vec<Value> {
    let state = demo.state_path();
    let out = command(&["dlq", "list", "--json", "--state", &state], &repo()).output().expect("weir runs");
    let (code, stdout, stderr) = outcome(out);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    serde_json::from_str::<Value>(&stdout).expect("JSON").as_array().expect("a list").clone()
}

#[test]
fn erp_shipments_reach_the_shop_by_line_with_their_tracks_and_never_twice() {
    let demo = Demo::start();
    let full = shop_order(&demo, &["MH01-S-Black", "GIFT+CARD 50"]);
    let partial = shop_order(&demo, &["MH01-L-Gray", "MH01-M-Orange"]);
    demo.run("erp-variants.yaml");
    demo.run("orders.yaml");
    // An ERP order the shop never had (typed in by hand with the number of a shop order).
    let erp_token = token(&demo.erp);
    let stray = json!({"externalDocumentNumber": "000000999", "customerNumber": "C00010",
                       "salesOrderLines": [{"lineObjectNumber": "1955-W", "quantity": 1}]});
    let bearer = format!("Bearer {erp_token}");
    let headers = [("Authorization", bearer.as_str()), ("Content-Type", "application/json")];
    let created = demo.erp.send("POST", &api(&demo.erp, "salesOrders"), &headers, Some(stray.to_string()));
    assert_eq!(created.status, 201, "{}", created.body);

    // The warehouse ships the first order in full (UPS), one line of the second (FedEx), the stray one.
    erp_ship(&demo, json!({"order": full, "trackingNumber": "1Z999AA10123456784", "shippingAgentCode": "UPS"}));
    let first_line = erp_order(&demo, &partial)["salesOrderLines"][0]["sequence"].clone();
    erp_ship(
        &demo,
        json!({"order": partial, "trackingNumber": "794698541234", "lines": [{"sequence": first_line, "quantity": 1}]}),
    );
    let stray = erp_ship(&demo, json!({"order": "000000999", "trackingNumber": "LOST-1", "shippingAgentCode": "DHL"}));
    ship_calls(&demo);

    demo.run("shipments.yaml");
    let shipped = shipments_of(&demo, &order(&demo, &full));
    assert_eq!(shipped.len(), 1, "{shipped:?}");
    assert_eq!(shipped_items(&shipped[0]), [("MH01-S-Black".to_string(), 1.0), ("GIFT+CARD 50".to_string(), 1.0)]);
    assert_eq!(tracks(&shipped[0]), [("1Z999AA10123456784".into(), "ups".into(), "United Parcel Service".into())]);
    let full_order = order(&demo, &full);
    assert_eq!(full_order["status"], "complete");
    assert_eq!(qty_shipped(&full_order), [("MH01-S-Black".to_string(), 1.0), ("GIFT+CARD 50".to_string(), 1.0)]);

    let partial_order = order(&demo, &partial);
    let shipped = shipments_of(&demo, &partial_order);
    assert_eq!(shipped.len(), 1, "{shipped:?}");
    assert_eq!(shipped_items(&shipped[0]), [("MH01-L-Gray".to_string(), 1.0)]);
    assert_eq!(tracks(&shipped[0]), [("794698541234".into(), "fedex".into(), "Federal Express".into())]);
    assert_eq!(partial_order["status"], "processing", "partly shipped");
    assert_eq!(qty_shipped(&partial_order), [("MH01-L-Gray".to_string(), 1.0), ("MH01-M-Orange".to_string(), 0.0)]);
    assert_eq!(ship_calls(&demo), 2, "one ship per ERP shipment of a shop order");

    let entries = dead_letters(&demo);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let number = stray["number"].as_str().expect("a number");
    assert_eq!(entries[0]["key"], format!("shipment:{number}"));
    let reason = entries[0]["error"].as_str().expect("a reason");
    assert!(reason.contains(&format!("no shop order 000000999 for ERP shipment {number}")), "{reason}");

    // Again: nothing new in the ERP, nothing shipped twice.
    demo.run("shipments.yaml");
    assert_eq!(ship_calls(&demo), 0, "a second run ships nothing");
    assert_eq!(shipments_of(&demo, &partial_order).len(), 1);

    // The rest of the second order leaves the warehouse (DHL): it flows on the next run, alone.
    erp_ship(&demo, json!({"order": partial, "trackingNumber": "JD014600003828", "shippingAgentCode": "DHL"}));
    ship_calls(&demo);
    demo.run("shipments.yaml");
    assert_eq!(ship_calls(&demo), 1);
    let partial_order = order(&demo, &partial);
    let shipped = shipments_of(&demo, &partial_order);
    assert_eq!(shipped.len(), 2, "{shipped:?}");
    assert_eq!(shipped_items(&shipped[1]), [("MH01-M-Orange".to_string(), 1.0)]);
    assert_eq!(tracks(&shipped[1]), [("JD014600003828".into(), "dhl".into(), "DHL".into())]);
    assert_eq!(partial_order["status"], "complete");
    assert_eq!(qty_shipped(&partial_order), [("MH01-L-Gray".to_string(), 1.0), ("MH01-M-Orange".to_string(), 1.0)]);
    assert_eq!(shipments_of(&demo, &order(&demo, &full)).len(), 1, "the first order untouched");

    demo.run("shipments.yaml");
    assert_eq!(ship_calls(&demo), 0, "and nothing again");
}
