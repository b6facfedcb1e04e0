//! Routing: the shared control logs each request and serves its fault; then the login endpoints, the
//! credentials check, the 429 budget, and the API: `…/api/v2.0/companies({id})/{set}[({id})][/{lines}]`
//! (any prefix before `/api/v2.0/`, as `/v2.0/{tenant}/{environment}/api/v2.0/` in the cloud). Reads
//! take OData's query options (`items` also `$expand=itemVariants`; `items({id})/itemVariants` lists an
//! item's variants); `PATCH` requires `If-Match` with the entity's current etag.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::query::{Query, preferred_page_size};
use super::store::{LINES, SETS, served};
use super::{Erp, apparel, auth, control, documents, error, odata, with_etag};
use crate::sim::control::Incoming;
use crate::sim::respond::json_response;

/// Properties a PATCH may not change.
const READ_ONLY: &[&str] = &["id", "lastModifiedDateTime", "number", "inventory"];

/// Answers one request.
pub(super) async fn handle(State(erp): State<Arc<Erp>>, request: Request) -> Response {
    erp.control.serve(request, |r| odata(answer(&erp, r))).await
}

/// One segment of a resource path: `items` or `items(guid)`.
#[derive(Debug, PartialEq)]
pub(super) struct Segment {
    /// The entity set or navigation property.
    pub name: String,
    /// The key, quotes removed.
    pub key: Option<String>,
}

/// The segments after `/api/v2.0/`, decoded.
fn segments(path: &str) -> Option<Vec<Segment>> {
    let (_, rest) = path.split_once("/api/v2.0/")?;
    rest.split('/')
        .filter(|s| !s.is_empty())
        .map(|raw| {
            let text = percent_decode_str(raw).decode_utf8_lossy().into_owned();
            match text.split_once('(') {
                Some((name, key)) => {
                    let key = key.strip_suffix(')')?.trim_matches('\'').to_string();
                    Some(Segment { name: name.to_string(), key: Some(key) })
                }
                None => Some(Segment { name: text, key: None }),
            }
        })
        .collect()
}

fn not_found() -> Response {
    error(404, "BadRequest_NotFound", "The specified resource was not found.")
}

fn answer(erp: &Erp, r: &Incoming) -> Response {
    if let Some(rest) = r.path.strip_prefix("/__sim/") {
        return control::handle(erp, &r.method, rest, &r.body);
    }
    if r.method == "POST" && r.path.ends_with("/oauth2/v2.0/token") {
        return auth::token(erp, &r.body);
    }
    if r.method == "POST" && r.path == "/b1s/v1/Login" {
        return auth::login(erp, &r.body);
    }
    let client = match auth::identify(erp, &r.headers) {
        Ok(client) => client,
        Err(refusal) => return refusal.response(),
    };
    if let Err(refusal) = erp.budget.spend(&client) {
        return refusal.response();
    }
    let Some(segments) = segments(&r.path) else { return not_found() };
    let query = match Query::parse(&r.query) {
        Ok(q) => q,
        Err(message) => return error(400, "BadRequest", &message),
    };
    let host = r.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    match segments.as_slice() {
        [Segment { name, key: None }] if name == "companies" && r.method == "GET" => {
            let store = erp.store();
            let url = format!("http://{host}{}", r.path);
            let context = format!("http://{host}/api/v2.0/$metadata#companies");
            let size = erp.options.page_size;
            json_response(200, &query.page(store.all("companies").to_vec(), size, &url, &context))
        }
        [Segment { name, key: Some(company) }, rest @ ..] if name == "companies" => {
            if *company != erp.company {
                return not_found();
            }
            let url = format!("http://{host}{}", r.path);
            let context = |set: &str| format!("http://{host}/api/v2.0/$metadata#companies({company})/{set}");
            match rest {
                [] if r.method == "GET" => entity(erp, "companies", company, &query),
                [Segment { name: set, key: None }] if SETS.contains(&set.as_str()) => match r.method.as_str() {
                    "GET" => {
                        let prefer = r.headers.get("Prefer").and_then(|v| v.to_str().ok());
                        let asked = preferred_page_size(prefer);
                        let store = erp.store();
                        if let Some(response) = unknown_property(store.all(set), &query) {
                            return response;
                        }
                        let mut entities: Vec<Value> =
                            store.all(set).iter().map(|e| served(e, &query.expand)).collect();
                        if set == "items" && query.expand.iter().any(|e| e == apparel::VARIANTS) {
                            entities = apparel::expand_variants(entities, store.all(apparel::VARIANTS));
                        }
                        let size = asked.unwrap_or(erp.options.page_size);
                        let mut response = json_response(200, &query.page(entities, size, &url, &context(set)));
                        if let Some(size) = asked
                            && let Ok(v) = HeaderValue::from_str(&format!("odata.maxpagesize={size}"))
                        {
                            response.headers_mut().insert("Preference-Applied", v);
                        }
                        response
                    }
                    "POST" => documents::create(erp, set, &r.body, &context(set)),
                    _ => method_not_allowed(),
                },
                [Segment { name: set, key: Some(id) }] if SETS.contains(&set.as_str()) => match r.method.as_str() {
                    "GET" => entity(erp, set, id, &query),
                    "PATCH" => patch(erp, set, id, &r.headers, &r.body),
                    _ => method_not_allowed(),
                },
                [Segment { name: set, key: Some(id) }, Segment { name: nav, key: None }]
                    if set == "items" && nav == apparel::VARIANTS && r.method == "GET" =>
                {
                    let store = erp.store();
                    let own = store.all(apparel::VARIANTS).iter().filter(|v| v["itemId"] == id.as_str()).cloned();
                    json_response(200, &query.page(own.collect(), erp.options.page_size, &url, &context(nav)))
                }
                [Segment { name: set, key: Some(id) }, Segment { name: lines, key: None }]
                    if LINES.contains(&lines.as_str()) =>
                {
                    match r.method.as_str() {
                        "GET" => {
                            let store = erp.store();
                            let Some(document) = store.find(set, "id", id) else { return not_found() };
                            let lines = document.get(lines.as_str()).and_then(Value::as_array).cloned();
                            let Some(lines) = lines else { return not_found() };
                            json_response(200, &query.page(lines, erp.options.page_size, &url, &url))
                        }
                        "POST" => documents::add_line(erp, set, id, lines, &r.body),
                        _ => method_not_allowed(),
                    }
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn method_not_allowed() -> Response {
    error(405, "BadRequest_MethodNotAllowed", "The HTTP method is not allowed on this resource.")
}

/// A 400 when the query names a property the entities do not have (an empty set is not checked).
fn unknown_property(entities: &[Value], query: &Query) -> Option<Response> {
    let sample = entities.first()?;
    let unknown = query.properties().into_iter().find(|p| sample.get(p).is_none())?;
    Some(error(400, "BadRequest_NotFound", &format!("Could not find a property named '{unknown}' on the entity type.")))
}

/// One entity, with its `ETag` header.
fn entity(erp: &Erp, set: &str, id: &str, query: &Query) -> Response {
    let store = erp.store();
    let Some(found) = store.find(set, "id", id) else { return not_found() };
    with_etag(json_response(200, &query.project(served(found, &query.expand))), found)
}

/// `PATCH`: `If-Match` must be the entity's current etag (or `*`); the body's properties are merged.
fn patch(erp: &Erp, set: &str, id: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(if_match) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return error(
            400,
            "BadRequest_InvalidToken",
            "Could not validate the client concurrency token required by the service. Please provide a valid \
             token in the client request.",
        );
    };
    let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(body) else {
        return error(400, "BadRequest", "The request body is not a JSON object.");
    };
    let mut store = erp.store();
    let Some(index) = store.position(set, "id", id) else { return not_found() };
    let mut entity = store.all(set)[index].clone();
    if if_match.trim() != "*" && entity.get("@odata.etag").and_then(Value::as_str) != Some(if_match.trim()) {
        return error(
            412,
            "Request_EntityChanged",
            "Another user has already changed the record. Read it again, then apply your change.",
        );
    }
    for (key, value) in changes {
        if key.starts_with('@') {
            continue;
        }
        if READ_ONLY.contains(&key.as_str()) || LINES.contains(&key.as_str()) || entity.get(&key).is_none() {
            let message = format!("The property '{key}' does not exist on the entity type or cannot be changed.");
            return error(400, "BadRequest", &message);
        }
        entity[key.as_str()] = value;
    }
    store.touch(&mut entity, false);
    store.all_mut(set)[index] = entity.clone();
    with_etag(json_response(200, &served(&entity, &[])), &entity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_sets_and_keys() {
        let path = "/v2.0/tenant/production/api/v2.0/companies(abc-1)/salesOrders('x%20y')/salesOrderLines";
        let got = segments(path).expect("an API path");
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], Segment { name: "salesOrders".into(), key: Some("x y".into()) });
        assert_eq!(got[2], Segment { name: "salesOrderLines".into(), key: None });
        assert!(segments("/rest/V1/products").is_none());
    }
}
