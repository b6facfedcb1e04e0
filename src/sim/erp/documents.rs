//! Documents: creating sales orders (with their lines inline, as Business Central's deep insert),
//! adding lines, creating customers, and shipping an order (a sales shipment with its tracking number
//! and the lines shipped, the stock taken from the lines' locations). Like a real ERP it refuses
//! unknown customers and items and customers blocked for the document, but NOT a second order with
//! the same `externalDocumentNumber`: duplicates are created, so tests can count them.

use serde_json::{Map, Value, json};

use super::store::Store;
use super::{Erp, ODataError, error, with_etag};
use crate::sim::respond::json_response;
use axum::response::Response;

/// What a client may send when creating an order.
const ORDER_FIELDS: &[&str] = &[
    "externalDocumentNumber",
    "orderDate",
    "customerId",
    "customerNumber",
    "currencyCode",
    "email",
    "phoneNumber",
    "shipToName",
    "shipToContact",
    "shipToAddressLine1",
    "shipToAddressLine2",
    "shipToCity",
    "shipToCountry",
    "shipToState",
    "shipToPostCode",
    "salesOrderLines",
];
/// What a client may send when creating a line.
const LINE_FIELDS: &[&str] = &[
    "lineType",
    "itemId",
    "lineObjectNumber",
    "itemVariantId",
    "description",
    "quantity",
    "unitPrice",
    "discountAmount",
    "locationId",
];

type Refusal = ODataError;

fn refuse(code: &str, message: &str) -> Refusal {
    ODataError::new(400, code, message)
}

fn check_fields(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), Refusal> {
    match body.keys().find(|k| !k.starts_with('@') && !allowed.contains(&k.as_str())) {
        Some(key) => Err(refuse("BadRequest", &format!("The property '{key}' does not exist or cannot be set here."))),
        None => Ok(()),
    }
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// `POST …/{set}`: a sales order or a customer.
pub(super) fn create(erp: &Erp, set: &str, body: &[u8], context: &str) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return error(400, "BadRequest", "The request body is not a JSON object.");
    };
    let mut store = erp.store();
    let created = match set {
        "salesOrders" => create_order(&mut store, &body),
        "customers" => create_customer(&mut store, &body),
        _ => {
            Err(ODataError::new(405, "BadRequest_MethodNotAllowed", "The HTTP method is not allowed on this resource."))
        }
    };
    match created {
        Ok(mut entity) => {
            store.touch(&mut entity, false);
            store.all_mut(set).push(entity.clone());
            let mut shown = super::store::served(&entity, &["salesOrderLines".to_string()]);
            shown["@odata.context"] = Value::String(format!("{context}/$entity"));
            with_etag(json_response(201, &shown), &entity)
        }
        Err(refusal) => refusal.response(),
    }
}

fn create_order(store: &mut Store, body: &Map<String, Value>) -> Result<Value, Refusal> {
    check_fields(body, ORDER_FIELDS)?;
    let by_id = body.get("customerId").and_then(Value::as_str);
    let by_number = body.get("customerNumber").and_then(Value::as_str);
    let customer = match (by_id, by_number) {
        (Some(id), _) => store.find("customers", "id", id),
        (None, Some(number)) => store.find("customers", "number", number),
        (None, None) => return Err(refuse("BadRequest", "A sales order needs a customerId or a customerNumber.")),
    };
    let Some(customer) = customer.cloned() else {
        let shown = by_number.or(by_id).unwrap_or_default();
        return Err(refuse(
            "Internal_RecordNotFound",
            &format!("The Customer does not exist. Identification fields and values: No.='{shown}'"),
        ));
    };
    if text(&customer, "blocked") == Some("All") {
        let number = text(&customer, "number").unwrap_or_default();
        let message =
            format!("You cannot create this type of document when Customer {number} is blocked with type All");
        return Err(refuse("Application_DialogException", &message));
    }
    let id = store.guid();
    let today = store.now()[..10].to_string();
    let mut order = json!({
        "id": id, "number": store.order_number(),
        "externalDocumentNumber": body.get("externalDocumentNumber").cloned().unwrap_or(json!("")),
        "orderDate": body.get("orderDate").cloned().unwrap_or(json!(today)), "postingDate": today,
        "customerId": customer["id"], "customerNumber": customer["number"], "customerName": customer["displayName"],
        "billToName": customer["displayName"], "shipToName": customer["displayName"], "shipToContact": "",
        "shipToAddressLine1": customer["addressLine1"], "shipToAddressLine2": "", "shipToCity": customer["city"],
        "shipToCountry": customer["country"], "shipToState": customer["state"], "shipToPostCode": customer["postalCode"],
        "currencyCode": customer["currencyCode"], "pricesIncludeTax": false, "status": "Draft", "fullyShipped": false,
        "email": customer["email"], "phoneNumber": customer["phoneNumber"], "totalAmountExcludingTax": 0.0,
        "totalTaxAmount": 0.0, "totalAmountIncludingTax": 0.0, "salesOrderLines": [],
    });
    for (key, value) in body {
        if key != "salesOrderLines" && key != "customerId" && key != "customerNumber" {
            order[key.as_str()] = value.clone();
        }
    }
    for line in body.get("salesOrderLines").and_then(Value::as_array).into_iter().flatten() {
        push_line(store, &mut order, line)?;
    }
    Ok(order)
}

/// Adds a line to an order, priced from the item unless the line says otherwise, and the totals.
fn push_line(store: &mut Store, order: &mut Value, line: &Value) -> Result<(), Refusal> {
    let Value::Object(fields) = line else { return Err(refuse("BadRequest", "A line is a JSON object.")) };
    check_fields(fields, LINE_FIELDS)?;
    let item = match (text(line, "itemId"), text(line, "lineObjectNumber")) {
        (Some(id), _) => store.find("items", "id", id),
        (None, Some(number)) => store.find("items", "number", number),
        (None, None) => return Err(refuse("BadRequest", "A line needs an itemId or a lineObjectNumber.")),
    };
    let Some(item) = item.cloned() else {
        let shown = text(line, "lineObjectNumber").or(text(line, "itemId")).unwrap_or_default();
        return Err(refuse(
            "Internal_RecordNotFound",
            &format!("The Item does not exist. Identification fields and values: No.='{shown}'"),
        ));
    };
    let variant = match text(line, "itemVariantId") {
        Some(id) => match store.find("itemVariants", "id", id) {
            Some(v) if v["itemId"] == item["id"] => v["id"].clone(),
            Some(v) => {
                let message = format!(
                    "The Item Variant {} does not belong to Item {}.",
                    text(v, "code").unwrap_or_default(),
                    text(&item, "number").unwrap_or_default()
                );
                return Err(refuse("Application_DialogException", &message));
            }
            None => {
                let message = format!("The Item Variant does not exist. Identification fields and values: Id='{id}'");
                return Err(refuse("Internal_RecordNotFound", &message));
            }
        },
        None => json!("00000000-0000-0000-0000-000000000000"),
    };
    let quantity = line.get("quantity").and_then(Value::as_f64).unwrap_or(0.0);
    if quantity < 0.0 {
        return Err(refuse("BadRequest", "The quantity of a line cannot be negative."));
    }
    let price = line.get("unitPrice").and_then(Value::as_f64).or_else(|| item["unitPrice"].as_f64()).unwrap_or(0.0);
    let discount = line.get("discountAmount").and_then(Value::as_f64).unwrap_or(0.0);
    let location = match text(line, "locationId") {
        Some(id) => store.find("locations", "id", id).map(|l| l["id"].clone()),
        None => store.find("locations", "code", "MAIN").map(|l| l["id"].clone()),
    };
    let Some(location) = location else {
        return Err(refuse("Internal_RecordNotFound", "The Location does not exist."));
    };
    let amount = ((quantity * price - discount) * 100.0).round() / 100.0;
    let lines = order["salesOrderLines"].as_array().map_or(0, Vec::len);
    let new = json!({
        "id": store.guid(), "documentId": order["id"], "sequence": (lines + 1) * 10_000, "itemId": item["id"],
        "lineType": "Item", "lineObjectNumber": item["number"], "itemVariantId": variant,
        "description": line.get("description").cloned().unwrap_or_else(|| item["displayName"].clone()),
        "unitOfMeasureCode": item["baseUnitOfMeasureCode"], "quantity": quantity, "unitPrice": price,
        "discountAmount": discount, "amountExcludingTax": amount, "taxPercent": 0.0, "amountIncludingTax": amount,
        "shippedQuantity": 0.0, "invoicedQuantity": 0.0, "locationId": location,
    });
    if let Some(lines) = order["salesOrderLines"].as_array_mut() {
        lines.push(new);
    }
    let total: f64 = order["salesOrderLines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["amountExcludingTax"].as_f64())
        .sum();
    let total = (total * 100.0).round() / 100.0;
    order["totalAmountExcludingTax"] = json!(total);
    order["totalAmountIncludingTax"] = json!(total);
    Ok(())
}

fn create_customer(store: &mut Store, body: &Map<String, Value>) -> Result<Value, Refusal> {
    let template = store.all("customers").first().cloned().unwrap_or_else(|| json!({}));
    let allowed: Vec<&str> = template
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .map(String::as_str)
        .filter(|k| !k.starts_with('@'))
        .collect();
    let allowed: Vec<&str> = allowed.into_iter().filter(|k| !matches!(*k, "id" | "lastModifiedDateTime")).collect();
    check_fields(body, &allowed)?;
    let mut customer = template;
    let count = store.all("customers").len();
    customer["id"] = json!(store.guid());
    customer["number"] = json!(format!("C{:05}", (count + 1) * 10));
    for (key, blank) in [
        ("displayName", json!("")),
        ("email", json!("")),
        ("creditLimit", json!(0)),
        ("blocked", json!("_x0020_")),
        ("balanceDue", json!(0)),
    ] {
        customer[key] = blank;
    }
    for (key, value) in body {
        customer[key.as_str()] = value.clone();
    }
    Ok(customer)
}

/// `POST …/salesOrders({id})/salesOrderLines`: one more line.
pub(super) fn add_line(erp: &Erp, set: &str, id: &str, lines: &str, body: &[u8]) -> Response {
    if (set, lines) != ("salesOrders", "salesOrderLines") {
        return error(405, "BadRequest_MethodNotAllowed", "The HTTP method is not allowed on this resource.");
    }
    let Ok(line) = serde_json::from_slice::<Value>(body) else {
        return error(400, "BadRequest", "The request body is not a JSON object.");
    };
    let mut store = erp.store();
    let Some(index) = store.position(set, "id", id) else {
        return error(404, "BadRequest_NotFound", "The specified resource was not found.");
    };
    let mut order = store.all(set)[index].clone();
    if let Err(refusal) = push_line(&mut store, &mut order, &line) {
        return refusal.response();
    }
    store.touch(&mut order, false);
    let added = order["salesOrderLines"].as_array().and_then(|l| l.last()).cloned().unwrap_or(Value::Null);
    store.all_mut(set)[index] = order;
    json_response(201, &added)
}
