//! Routing: every request goes through one handler that has the shared control log it and apply its
//! fault (`sim::control`), then checks its credentials and answers the endpoint. Paths are matched by hand on the raw (still
//! percent-encoded) path, since a SKU may hold an encoded `/` and OAuth signs the path as sent.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::respond::json_response;
use super::{MagentoError, Sim, auth, lock, search};

/// Magento's list limit for synchronous requests when input limits are on.
const LIST_LIMIT: usize = 20;

/// Answers one request.
pub(super) async fn handle(State(sim): State<Arc<Sim>>, request: Request) -> Response {
    sim.control
        .serve(request, |r| {
            let (status, value) = match answer(&sim, &r.method, &r.path, &r.query, &r.headers, &r.body) {
                Ok(answer) => answer,
                Err(e) => (e.status, e.body()),
            };
            json_response(status, &value)
        })
        .await
}

/// `/rest/V1/x`, `/rest/default/V1/x` and `/rest/all/V1/x` are `V1/x`.
fn route_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/rest/")?;
    if rest.starts_with("V1/") {
        return Some(rest);
    }
    let (_store, rest) = rest.split_once('/')?;
    rest.starts_with("V1/").then_some(rest)
}

fn answer(
    sim: &Sim,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(u16, Value), MagentoError> {
    let not_found = || MagentoError::new(404, "Request does not match any route.");
    let route = route_of(path).ok_or_else(not_found)?;
    if (method, route) == ("POST", "V1/integration/admin/token") {
        return auth::admin_token(sim, body).map(|token| (200, Value::String(token)));
    }
    auth::authorize(sim, method, path, query, headers, route)?;
    match (method, route) {
        ("GET", "V1/products") => Ok((200, search::search(&sim.catalog.products, query, sim.options.input_limit)?)),
        ("GET", "V1/orders") => Ok((200, search::search(&sim.catalog.orders, query, sim.options.input_limit)?)),
        ("GET", "V1/inventory/source-items") => {
            let items = lock(&sim.source_items).clone();
            Ok((200, search::search(&items, query, sim.options.input_limit)?))
        }
        ("POST", "V1/inventory/source-items") => save_source_items(sim, body).map(|v| (200, v)),
        ("GET", _) if route.starts_with("V1/products/") => {
            let raw = &route["V1/products/".len()..];
            let sku = percent_decode_str(raw).decode_utf8_lossy();
            sim.catalog.product(&sku).map(|p| (200, p.clone())).ok_or_else(|| {
                MagentoError::new(
                    404,
                    "The product that was requested doesn't exist. Verify the product and try again.",
                )
            })
        }
        _ => Err(not_found()),
    }
}

/// `POST /V1/inventory/source-items`: saves each item (by SKU and source), answers `[]`.
fn save_source_items(sim: &Sim, body: &[u8]) -> Result<Value, MagentoError> {
    let invalid = || MagentoError::new(400, "Decoding error: the request body is not valid JSON.");
    let value: Value = serde_json::from_slice(body).map_err(|_| invalid())?;
    let Some(items) = value.get("sourceItems").and_then(Value::as_array) else {
        return Err(MagentoError::new(400, "\"%fieldName\" is required. Enter and try again.")
            .with(json!({"fieldName": "sourceItems"})));
    };
    if sim.options.input_limit && items.len() > LIST_LIMIT {
        return Err(MagentoError::new(400, "Maximum items of type \"%type\" is %max").with(json!({
            "type": "\\Magento\\InventoryApi\\Api\\Data\\SourceItemInterface",
            "max": LIST_LIMIT,
        })));
    }
    let mut saved = Vec::with_capacity(items.len());
    for item in items {
        let sku = item.get("sku").and_then(Value::as_str);
        let source = item.get("source_code").and_then(Value::as_str);
        let (Some(sku), Some(source)) = (sku, source) else {
            return Err(MagentoError::new(400, "Validation Failed"));
        };
        let quantity =
            item.get("quantity").and_then(|q| q.as_f64().or_else(|| q.as_str()?.parse().ok())).unwrap_or(0.0);
        let status = item.get("status").and_then(|s| s.as_i64().or_else(|| s.as_str()?.parse().ok())).unwrap_or(0);
        saved.push(json!({"sku": sku, "source_code": source, "quantity": quantity, "status": status}));
    }
    let mut stored = lock(&sim.source_items);
    for item in saved {
        let same = |s: &Value| s.get("sku") == item.get("sku") && s.get("source_code") == item.get("source_code");
        match stored.iter_mut().find(|s| same(s)) {
            Some(existing) => *existing = item,
            None => stored.push(item),
        }
    }
    Ok(json!([]))
}
