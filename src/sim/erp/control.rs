//! The ERP's own control endpoints, not part of Business Central (never logged, never faulted, no
//! credentials): list the state, set stock, add a location, change or add an item, an item variant, a
//! customer (between or during a paged read) or a sales price, ship an order, revoke every token and
//! session.

use serde_json::{Value, json};

use super::prices;
use super::shipments::{self, Ship};
use super::store::Store;
use super::{Erp, error};
use crate::sim::respond::json_response;
use axum::response::Response;

/// What `POST /__sim/stock` takes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Stock {
    /// The item's number.
    item: String,
    /// The location's code.
    location: String,
    /// The quantity on hand from now on.
    quantity: f64,
}

/// What `POST /__sim/locations` takes: a new warehouse.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Location {
    /// The location's code, e.g. `NORTH`.
    code: String,
    /// Its name.
    #[serde(default, rename = "displayName")]
    display_name: String,
}

/// What `POST /__sim/itemVariants` takes: a variant of an item, added, or changed when the item
/// has that code already.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Variant {
    /// The item's number.
    item_number: String,
    /// The variant's code, e.g. `BLK`.
    code: String,
    /// Its description, e.g. `Black`.
    description: String,
}

/// Answers `/__sim/{rest}` (the shared ones — requests, faults — are answered before).
pub(super) fn handle(erp: &Erp, method: &str, rest: &str, body: &[u8]) -> Response {
    let bad = |e: &dyn std::fmt::Display| error(400, "BadRequest", &e.to_string());
    match (method, rest) {
        ("GET", "state") => {
            let store = erp.store();
            let mut state = json!({"companyId": erp.company});
            for set in super::store::SETS {
                state[set] = Value::Array(store.all(set).to_vec());
            }
            json_response(200, &state)
        }
        ("POST", "stock") => match serde_json::from_slice::<Stock>(body) {
            Ok(stock) => set_stock(erp, &stock).unwrap_or_else(|e| bad(&e)),
            Err(e) => bad(&e),
        },
        ("POST", "locations") => match serde_json::from_slice::<Location>(body) {
            Ok(location) => match add_location(&mut erp.store(), &location) {
                Ok(row) => json_response(201, &row),
                Err(e) => bad(&e),
            },
            Err(e) => bad(&e),
        },
        ("POST", "salesPrices") => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(changes)) => match prices::upsert(&mut erp.store(), changes) {
                Ok(line) => json_response(200, &line),
                Err(e) => bad(&e),
            },
            _ => bad(&"the body is a JSON object of the sales price's properties"),
        },
        ("POST", "ship") => match serde_json::from_slice::<Ship>(body) {
            Ok(ship) => match shipments::ship(&mut erp.store(), &ship) {
                Ok(shipment) => json_response(201, &shipment),
                Err(e) => bad(&e),
            },
            Err(e) => bad(&e),
        },
        ("POST", "itemVariants") => match serde_json::from_slice::<Variant>(body) {
            Ok(variant) => upsert_variant(erp, &variant).unwrap_or_else(|e| bad(&e)),
            Err(e) => bad(&e),
        },
        ("POST", "tokens/revoke") => json_response(200, &json!({"revoked": erp.auth.revoke()})),
        ("POST", _) if rest.starts_with("items/") || rest.starts_with("customers/") => {
            let (set, number) = rest.split_once('/').unwrap_or_default();
            let number = percent_encoding::percent_decode_str(number).decode_utf8_lossy().into_owned();
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(changes)) => json_response(200, &upsert(erp, set, &number, changes)),
                _ => bad(&"the body is a JSON object of the entity's properties"),
            }
        }
        _ => error(404, "BadRequest_NotFound", "No such control endpoint."),
    }
}

/// Adds a location (a code not there yet).
fn add_location(store: &mut Store, location: &Location) -> Result<Value, String> {
    if location.code.is_empty() || store.find("locations", "code", &location.code).is_some() {
        return Err(format!("location `{}` exists already (or the code is empty)", location.code));
    }
    let mut row = json!({"id": store.guid(), "code": location.code, "displayName": location.display_name,
                         "contact": "", "addressLine1": "", "city": "", "country": "US"});
    store.touch(&mut row, false);
    store.all_mut("locations").push(row.clone());
    Ok(row)
}

/// Sets an item's stock at a location; the item's `inventory` is the sum over locations.
fn set_stock(erp: &Erp, stock: &Stock) -> Result<Response, String> {
    let mut store = erp.store();
    let item = store.find("items", "number", &stock.item).cloned().ok_or(format!("no item `{}`", stock.item))?;
    let location =
        store.find("locations", "code", &stock.location).cloned().ok_or(format!("no location `{}`", stock.location))?;
    let same = |s: &Value| s["itemId"] == item["id"] && s["locationId"] == location["id"];
    let mut row = match store.all("itemStocks").iter().find(|s| same(s)) {
        Some(row) => row.clone(),
        None => json!({"id": store.guid(), "itemId": item["id"], "itemNumber": item["number"],
                       "locationId": location["id"], "locationCode": location["code"], "inventory": 0}),
    };
    row["inventory"] = json!(stock.quantity);
    store.touch(&mut row, false);
    store.put("itemStocks", row.clone(), same);
    let total: f64 = store
        .all("itemStocks")
        .iter()
        .filter(|s| s["itemId"] == item["id"])
        .filter_map(|s| s["inventory"].as_f64())
        .sum();
    if let Some(i) = store.position("items", "number", &stock.item) {
        let mut entity = store.all("items")[i].clone();
        entity["inventory"] = json!(total);
        store.touch(&mut entity, false);
        store.all_mut("items")[i] = entity;
    }
    Ok(json_response(200, &row))
}

/// Changes an item or a customer (`set`, by number) or adds it: the properties given are merged,
/// `lastModifiedDateTime` is now unless given, the etag always new. A new one starts as a copy of the
/// set's first entity with a new id (an item with no stock, a customer with nothing due).
fn upsert(erp: &Erp, set: &str, number: &str, changes: serde_json::Map<String, Value>) -> Value {
    let mut store = erp.store();
    let keep_time = changes.contains_key("lastModifiedDateTime");
    let (index, mut entity) = match store.position(set, "number", number) {
        Some(i) => (Some(i), store.all(set)[i].clone()),
        None => {
            let mut entity = store.all(set).first().cloned().unwrap_or_else(|| json!({}));
            entity["id"] = json!(store.guid());
            entity["number"] = json!(number);
            let zero = if set == "items" { "inventory" } else { "balanceDue" };
            entity[zero] = json!(0);
            (None, entity)
        }
    };
    for (key, value) in changes {
        entity[key.as_str()] = value;
    }
    store.touch(&mut entity, keep_time);
    match index {
        Some(i) => store.all_mut(set)[i] = entity.clone(),
        None => store.all_mut(set).push(entity.clone()),
    }
    entity
}

/// Adds a variant to an item, or changes the description of the one with that code. The item itself
/// is not changed (Business Central keeps variants in a table of their own).
fn upsert_variant(erp: &Erp, variant: &Variant) -> Result<Response, String> {
    let mut store = erp.store();
    let item = store.find("items", "number", &variant.item_number).cloned();
    let item = item.ok_or(format!("no item `{}`", variant.item_number))?;
    let same = |v: &Value| v["itemId"] == item["id"] && v["code"] == variant.code.as_str();
    let mut row = match store.all("itemVariants").iter().find(|v| same(v)) {
        Some(row) => row.clone(),
        None => json!({"id": store.guid(), "itemId": item["id"], "itemNumber": item["number"], "code": variant.code}),
    };
    row["description"] = json!(variant.description);
    store.touch(&mut row, false);
    store.put("itemVariants", row.clone(), same);
    Ok(json_response(201, &row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_added_once() {
        let mut store = Store::new(super::super::data::generate(7));
        let north = Location { code: "NORTH".into(), display_name: "North Warehouse".into() };
        let row = add_location(&mut store, &north).expect("added");
        assert_eq!((row["code"].as_str(), row["displayName"].as_str()), (Some("NORTH"), Some("North Warehouse")));
        assert!(row["id"].is_string() && row["@odata.etag"].is_string() && row["lastModifiedDateTime"].is_string());
        assert_eq!(store.find("locations", "code", "NORTH"), Some(&row));
        assert!(add_location(&mut store, &north).is_err(), "a code is unique");
        assert_eq!(store.all("locations").len(), 4);
    }
}
