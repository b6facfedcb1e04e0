//! Routing: every request goes through one handler that has the shared control log it and apply its
//! fault (`sim::control`), then checks its credentials and answers the endpoint. Paths are matched by hand on the raw (still
//! percent-encoded) path, since a SKU may hold an encoded `/` and OAuth signs the path as sent.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::input::{Answer, json_body};
use super::respond::json_response;
use super::{
    MagentoError, Sim, auth, bulk, catalog, catalog_write, customers, groups, inventory, lock, orders, prices, search,
    shipments,
};

/// Answers one request: the simulator's own control endpoints (`/__sim/orders`, `/__sim/bulk`; the
/// shared ones are answered before), or the API.
pub(super) async fn handle(State(sim): State<Arc<Sim>>, request: Request) -> Response {
    sim.control
        .serve(request, |r| {
            let answer = match r.path.strip_prefix("/__sim/") {
                Some(rest) => orders::control(&sim, &r.method, rest, &r.body)
                    .or_else(|| bulk::control(&sim, &r.method, rest, &r.body))
                    .unwrap_or_else(|| Err(MagentoError::new(404, "Request does not match any route."))),
                None => answer(&sim, &r.method, &r.path, &r.query, &r.headers, &r.body),
            };
            let (status, value) = answer.unwrap_or_else(|e| (e.status, e.body()));
            json_response(status, &value)
        })
        .await
}

/// The route of a path: `/rest/V1/x`, `/rest/default/V1/x` and `/rest/all/V1/x` are `V1/x`; the
/// flag says whether it came through `/rest/[store/]async/bulk/`.
fn route_of(path: &str) -> Option<(&str, bool)> {
    let rest = path.strip_prefix("/rest/")?;
    let rest = if rest.starts_with("V1/") || rest.starts_with("async/") { rest } else { rest.split_once('/')?.1 };
    match rest.strip_prefix("async/bulk/") {
        Some(route) => route.starts_with("V1/").then_some((route, true)),
        None => rest.starts_with("V1/").then_some((rest, false)),
    }
}

fn answer(sim: &Sim, method: &str, path: &str, query: &str, headers: &HeaderMap, body: &[u8]) -> Answer {
    let not_found = || MagentoError::new(404, "Request does not match any route.");
    let (route, asynchronous) = route_of(path).ok_or_else(not_found)?;
    if (method, route, asynchronous) == ("POST", "V1/integration/admin/token", false) {
        return auth::admin_token(sim, body).map(|token| (200, Value::String(token)));
    }
    auth::authorize(sim, method, path, query, headers, route)?;
    if asynchronous {
        return bulk::accept(sim, method, route, body);
    }
    bulk::run_due(sim);
    let limit = sim.options.input_limit;
    let answered = prices::answer(sim, method, route, body)
        .or_else(|| orders::answer(sim, method, route, query, body))
        .or_else(|| shipments::answer(sim, method, route, query, body))
        .or_else(|| customers::answer(sim, method, route, query, body))
        .or_else(|| groups::answer(sim, method, route, query, body))
        .or_else(|| bulk::answer(sim, method, route))
        .or_else(|| catalog_write::answer(sim, method, route, body));
    if let Some(answer) = answered {
        return answer;
    }
    match (method, route) {
        ("GET", "V1/products") => Ok((200, search::search(&lock(&sim.products), query, limit)?)),
        ("GET", "V1/inventory/source-items") => {
            Ok((200, search::search(lock(&sim.source_items).list(), query, limit)?))
        }
        ("POST", "V1/inventory/source-items") => inventory::save_source_items(sim, &json_body(body)?).map(|v| (200, v)),
        ("GET", _) if route.starts_with("V1/products/attributes/") => {
            let code = route["V1/products/attributes/".len()..].strip_suffix("/options").ok_or_else(not_found)?;
            catalog::attribute_options(code).map(|options| (200, options)).ok_or_else(|| {
                MagentoError::new(
                    404,
                    "The attribute with a \"%1\" attributeCode doesn't exist. Verify the attribute and try again.",
                )
                .with(json!([code]))
            })
        }
        ("GET", _) if route.starts_with("V1/products/") => {
            let raw = &route["V1/products/".len()..];
            let sku = percent_decode_str(raw).decode_utf8_lossy();
            let products = lock(&sim.products);
            let product = products.iter().find(|p| p.get("sku").and_then(Value::as_str) == Some(&sku));
            product.map(|p| (200, p.clone())).ok_or_else(catalog_write::no_product)
        }
        _ => Err(not_found()),
    }
}
