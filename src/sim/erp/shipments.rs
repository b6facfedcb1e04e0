//! Shipping an order, as a warehouse does in the ERP (driven by `POST /__sim/ship`): a sales shipment
//! with a number, the order's external document number, a package tracking number and the lines
//! shipped; the order lines' `shippedQuantity` and the order's `fullyShipped` follow, and the stock of
//! each line's location (and the item's `inventory`) goes down.

use serde_json::{Value, json};

use super::store::Store;

/// What `POST /__sim/ship` takes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Ship {
    /// The order's `number`, `id` or `externalDocumentNumber` (the first order that has it).
    order: String,
    /// The package tracking number.
    tracking_number: String,
    /// The carrier (default `FEDEX`).
    #[serde(default)]
    shipping_agent_code: Option<String>,
    /// Lines and quantities shipped (default: everything not shipped yet).
    #[serde(default)]
    lines: Option<Vec<ShipLine>>,
}

/// One line shipped.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ShipLine {
    /// The order line's `sequence`.
    sequence: u64,
    /// How many.
    quantity: f64,
}

/// Ships; the shipment created, or why not.
pub(super) fn ship(store: &mut Store, ship: &Ship) -> Result<Value, String> {
    let index = ["number", "id", "externalDocumentNumber"]
        .iter()
        .find_map(|field| store.position("salesOrders", field, &ship.order))
        .ok_or_else(|| format!("no sales order has the number, id or external document number `{}`", ship.order))?;
    let mut order = store.all("salesOrders")[index].clone();
    let customer = order["customerNumber"].as_str().unwrap_or_default().to_string();
    if store
        .find("customers", "number", &customer)
        .and_then(|c| c["blocked"].as_str())
        .is_some_and(|b| b == "Ship" || b == "All")
    {
        return Err(format!("You cannot ship this document when Customer {customer} is blocked"));
    }
    let lines = order["salesOrderLines"].as_array().cloned().unwrap_or_default();
    let mut shipped: Vec<(usize, f64)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let open = line["quantity"].as_f64().unwrap_or(0.0) - line["shippedQuantity"].as_f64().unwrap_or(0.0);
        let quantity = match &ship.lines {
            None => open,
            Some(asked) => {
                asked.iter().filter(|l| line["sequence"].as_u64() == Some(l.sequence)).map(|l| l.quantity).sum()
            }
        };
        if quantity > open + 1e-9 {
            return Err(format!("line {} has {open} left to ship, not {quantity}", line["sequence"]));
        }
        if quantity > 0.0 {
            shipped.push((i, quantity));
        }
    }
    if shipped.is_empty() {
        return Err("nothing to ship".into());
    }
    let id = store.guid();
    let number = store.shipment_number();
    let date = store.now()[..10].to_string();
    let mut shipment_lines = Vec::new();
    for (sequence, (i, quantity)) in shipped.iter().enumerate() {
        let line = &lines[*i];
        shipment_lines.push(json!({
            "id": store.guid(), "documentId": id, "documentNo": number, "sequence": (sequence + 1) * 10_000,
            "lineType": "Item", "lineObjectNumber": line["lineObjectNumber"], "itemId": line["itemId"],
            "itemVariantId": line["itemVariantId"],
            "description": line["description"], "unitOfMeasureCode": line["unitOfMeasureCode"],
            "quantity": quantity, "locationId": line["locationId"], "orderLineSequence": line["sequence"],
        }));
        order["salesOrderLines"][*i]["shippedQuantity"] =
            json!(line["shippedQuantity"].as_f64().unwrap_or(0.0) + quantity);
        take_stock(
            store,
            line["itemId"].as_str().unwrap_or_default(),
            line["locationId"].as_str().unwrap_or_default(),
            *quantity,
        );
    }
    let fully = order["salesOrderLines"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|l| l["shippedQuantity"].as_f64().unwrap_or(0.0) >= l["quantity"].as_f64().unwrap_or(0.0) - 1e-9);
    order["fullyShipped"] = json!(fully);
    order["status"] = json!("Released");
    store.touch(&mut order, false);
    let mut shipment = json!({
        "id": id, "number": number, "externalDocumentNumber": order["externalDocumentNumber"],
        "orderNumber": order["number"], "customerNumber": order["customerNumber"], "customerName": order["customerName"],
        "shipmentDate": date, "postingDate": date, "packageTrackingNumber": ship.tracking_number,
        "shippingAgentCode": ship.shipping_agent_code.clone().unwrap_or_else(|| "FEDEX".into()),
        "salesShipmentLines": shipment_lines,
    });
    store.all_mut("salesOrders")[index] = order;
    store.touch(&mut shipment, false);
    store.all_mut("salesShipments").push(shipment.clone());
    Ok(shipment)
}

/// Takes `quantity` of an item from a location's stock and from the item's total.
fn take_stock(store: &mut Store, item: &str, location: &str, quantity: f64) {
    let same = |s: &Value| s["itemId"].as_str() == Some(item) && s["locationId"].as_str() == Some(location);
    if let Some(i) = store.all("itemStocks").iter().position(same) {
        let mut stock = store.all("itemStocks")[i].clone();
        stock["inventory"] = json!(stock["inventory"].as_f64().unwrap_or(0.0) - quantity);
        store.touch(&mut stock, false);
        store.all_mut("itemStocks")[i] = stock;
    }
    if let Some(i) = store.position("items", "id", item) {
        let mut entity = store.all("items")[i].clone();
        entity["inventory"] = json!(entity["inventory"].as_f64().unwrap_or(0.0) - quantity);
        store.touch(&mut entity, false);
        store.all_mut("items")[i] = entity;
    }
}
