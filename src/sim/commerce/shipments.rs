//! Shipments: `POST /V1/order/{orderId}/ship` with items and tracks — partial shipments, Magento's
//! validation errors for over-shipping and unknown lines, the order moving to processing and then
//! complete — and the shipment search and `GET /V1/shipment/{id}`.

use serde_json::{Value, json};

use super::input::{Answer, id, json_body, no_entity, number, required};
use super::orders::Sales;
use super::{MagentoError, Sim, data, lock, search};

/// Answers the shipment endpoints; `None` for another route.
pub(super) fn answer(sim: &Sim, method: &str, route: &str, query: &str, body: &[u8]) -> Option<Answer> {
    if (method, route) == ("GET", "V1/shipments") {
        let sales = lock(&sim.sales);
        return Some(search::search(&sales.shipments, query, sim.options.input_limit).map(|v| (200, v)));
    }
    if method == "GET" {
        let shipment_id = id(route.strip_prefix("V1/shipment/")?)?;
        let sales = lock(&sim.sales);
        let shipment = sales.shipments.iter().find(|s| s["entity_id"].as_u64() == Some(shipment_id));
        return Some(shipment.map(|s| (200, s.clone())).ok_or_else(no_entity));
    }
    let order_id = id(route.strip_prefix("V1/order/")?.strip_suffix("/ship")?)?;
    (method == "POST").then(|| {
        let value = json_body(body)?;
        ship(&mut lock(&sim.sales), order_id, &value).map(|shipment_id| (200, json!(shipment_id)))
    })
}

/// Magento's `DocumentValidationException`: every message, one a line.
fn invalid(messages: &[String]) -> MagentoError {
    MagentoError::new(400, &format!("Shipment Document Validation Error(s):\n{}", messages.join("\n")))
}

/// The line a shipped quantity counts against: a configurable's child line ships with its parent.
fn shipped_line(items: &[Value], item_id: u64) -> Option<usize> {
    let index = items.iter().position(|i| i["item_id"].as_u64() == Some(item_id))?;
    match items[index]["parent_item_id"].as_u64() {
        Some(parent) => items.iter().position(|i| i["item_id"].as_u64() == Some(parent)),
        None => Some(index),
    }
}

fn remaining(line: &Value) -> f64 {
    line["qty_ordered"].as_f64().unwrap_or(0.0) - line["qty_shipped"].as_f64().unwrap_or(0.0)
}

/// Ships the given lines (every line left when none is given) with the given tracks; answers the
/// shipment's id.
fn ship(sales: &mut Sales, order_id: u64, request: &Value) -> Result<u64, MagentoError> {
    let shipment_id = sales.shipments.len() as u64 + 1;
    let first_track =
        sales.shipments.iter().map(|s| s["tracks"].as_array().map_or(0, Vec::len) as u64).sum::<u64>() + 1;
    let order = sales.order_mut(order_id)?;
    if ["complete", "canceled", "closed", "holded"].contains(&order["state"].as_str().unwrap_or_default()) {
        return Err(invalid(&["The order does not allow a shipment to be created.".to_string()]));
    }
    let lines = order["items"].as_array().cloned().unwrap_or_default();
    let requested: Vec<(Option<usize>, f64, Value)> = match request.get("items").and_then(Value::as_array) {
        Some(items) if !items.is_empty() => items
            .iter()
            .map(|i| {
                let line = i.get("order_item_id").and_then(number).and_then(|n| shipped_line(&lines, n as u64));
                (line, i.get("qty").and_then(number).unwrap_or(0.0), i.get("sku").cloned().unwrap_or(Value::Null))
            })
            .collect(),
        _ => (0..lines.len())
            .filter(|i| lines[*i].get("parent_item_id").is_none() && remaining(&lines[*i]) > 0.0)
            .map(|i| (Some(i), remaining(&lines[i]), Value::Null))
            .collect(),
    };
    let mut messages = Vec::new();
    let mut shipped: Vec<(usize, f64)> = Vec::new();
    for (line, qty, sku) in requested {
        let Some(line) = line else {
            let sku = sku.as_str().unwrap_or_default().to_string();
            messages
                .push(format!("The shipment contains product SKU \"{sku}\" that is not part of the original order."));
            continue;
        };
        let already: f64 = shipped.iter().filter(|(l, _)| *l == line).map(|(_, q)| q).sum();
        if qty + already > remaining(&lines[line]) {
            let sku = lines[line]["sku"].as_str().unwrap_or_default();
            messages.push(format!(
                "The quantity to ship must not be greater than the unshipped quantity for product SKU \"{sku}\"."
            ));
        } else if qty > 0.0 {
            shipped.push((line, qty));
        }
    }
    if shipped.is_empty() {
        messages.push("You can't create a shipment without products.".to_string());
    }
    let mut tracks = Vec::new();
    for (n, track) in request.get("tracks").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let field = |name: &str| required(track, name).map(super::input::text);
        tracks.push(json!({
            "entity_id": first_track + n as u64, "parent_id": shipment_id, "order_id": order_id,
            "track_number": field("track_number")?, "title": field("title")?, "carrier_code": field("carrier_code")?,
            "weight": 0, "qty": 0, "description": "", "created_at": data::now(), "updated_at": data::now(),
        }));
    }
    if !messages.is_empty() {
        return Err(invalid(&messages));
    }
    let mut items = Vec::new();
    for (line, qty) in &shipped {
        let parent = &lines[*line];
        items.push(json!({
            "entity_id": shipment_id * 100 + items.len() as u64 + 1, "parent_id": shipment_id,
            "order_item_id": parent["item_id"], "qty": qty, "sku": parent["sku"], "name": parent["name"],
            "price": parent["price"], "product_id": parent["product_id"], "weight": 1,
        }));
        let parent_id = parent["item_id"].as_u64();
        for item in order["items"].as_array_mut().into_iter().flatten() {
            if item["item_id"].as_u64() == parent_id || item["parent_item_id"].as_u64() == parent_id {
                item["qty_shipped"] = json!(item["qty_shipped"].as_f64().unwrap_or(0.0) + qty);
            }
        }
    }
    let done = order["items"].as_array().is_some_and(|items| items.iter().all(|i| remaining(i) <= 0.0));
    let state = if done { "complete" } else { "processing" };
    order["state"] = json!(state);
    order["status"] = json!(state);
    order["updated_at"] = json!(data::now());
    let total: f64 = shipped.iter().map(|(_, q)| q).sum();
    sales.shipments.push(json!({
        "entity_id": shipment_id, "increment_id": format!("{shipment_id:09}"), "order_id": order_id, "store_id": 1,
        "created_at": data::now(), "updated_at": data::now(), "total_qty": total, "items": items, "tracks": tracks,
        "comments": [], "packages": [],
    }));
    Ok(shipment_id)
}
