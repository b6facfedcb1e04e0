//! `weir serve`'s webhook endpoint, `/hooks/{pipeline}`: the request handed to the pipeline's
//! ingress (its `webhook` source: signature, size limit, replay window, de-duplication, durable
//! acceptance in the state store before any 2xx), and its answer returned as is. A GET is the Adobe
//! I/O challenge. During a shutdown every hook answers 503 with `Retry-After`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::json;

use super::Service;
use super::reply::{answer, draining};
use crate::sources::webhook::ingress::WebhookRequest;

/// The hook route; no admin token (webhooks are verified by their signatures).
pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new().route("/hooks/{pipeline}", any(hook))
}

async fn hook(State(service): State<Arc<Service>>, Path(pipeline): Path<String>, request: Request<Body>) -> Response {
    let Some(ingress) = service.slot(&pipeline).and_then(|slot| slot.ingress()) else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no webhook pipeline `{pipeline}` is served here")}),
        );
    };
    if service.is_draining() {
        return draining();
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, ingress.max_body()).await else {
        let too_large = ingress.body_too_large();
        return (too_large.status, too_large.headers, too_large.body).into_response();
    };
    let answered = ingress
        .accept(WebhookRequest {
            method: &parts.method,
            query: parts.uri.query(),
            headers: &parts.headers,
            body: &body,
            received_at: SystemTime::now(),
        })
        .await;
    (answered.status, answered.headers, answered.body).into_response()
}
