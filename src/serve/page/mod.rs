//! The status page of `weir serve`: `GET /` and its assets, embedded in the binary (plain HTML, CSS
//! and JavaScript, no build step, nothing from a CDN), and `GET /api/pipelines/{name}/graph`, a
//! pipeline's DAG as SVG. The page loads without the admin token and asks for it; every API call it
//! makes carries it.

mod graph;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::Service;
use super::reply::{admin_only, answer};
use crate::graph::plan::compile;

const INDEX: &str = include_str!("index.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// Only the page's own files: no inline script, no other origin, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
     connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The page (open) and the graph endpoint (behind the admin token).
pub(super) fn routes(service: &Arc<Service>) -> Router<Arc<Service>> {
    let api = Router::new()
        .route("/api/pipelines/{name}/graph", get(graph_svg))
        .route_layer(middleware::from_fn_with_state(Arc::clone(service), admin_only));
    Router::new()
        .route("/", get(|| async { asset(INDEX, "text/html; charset=utf-8") }))
        .route("/page.css", get(|| async { asset(STYLE, "text/css; charset=utf-8") }))
        .route("/page.js", get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }))
        .merge(api)
}

/// One embedded file, with headers that keep the page to itself.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The DAG of the deployed version of a pipeline, as SVG.
async fn graph_svg(State(service): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    let Some(slot) = service.slot(&name) else {
        return answer(StatusCode::NOT_FOUND, json!({"error": format!("no pipeline `{name}` is served here")}));
    };
    let deployed = slot.deployed();
    // Compiling reads the pipeline's tables from disk: off the async workers.
    let drawn = tokio::task::spawn_blocking(move || compile(&deployed.loaded).map(|plan| graph::svg(&plan.graph)));
    match drawn.await {
        Ok(Ok(svg)) => {
            let mut response = svg.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'"));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            response
        }
        // Deployed versions compiled when loaded; a table changed on disk since can still break it.
        Ok(Err(errors)) => answer(StatusCode::CONFLICT, json!({"error": errors.to_string()})),
        Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": e.to_string()})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_its_own_assets_and_nothing_inline() {
        assert!(INDEX.contains("src=\"page.js\"") && INDEX.contains("href=\"page.css\""));
        // The policy forbids inline script and style: the page must have none to work.
        assert!(!INDEX.contains("<script>") && !INDEX.contains("style=") && !INDEX.contains("<style"));
        let handlers =
            INDEX.split(|c: char| c.is_whitespace()).filter(|word| word.starts_with("on") && word.contains('='));
        assert_eq!(handlers.count(), 0, "inline event handlers do not run under the policy");
    }
}
