//! What every `weir serve` endpoint answers with: JSON answers, the `503` of a drain, and the admin
//! token check put in front of the admin API and the status page's data.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Service;

/// A JSON answer.
pub(super) fn answer(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Lets a request through when it carries the admin token (`Authorization: Bearer …`), or when no
/// token is configured (loopback only, checked at start-up).
pub(super) async fn admin_only(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &service.admin_token {
        let offered = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !token.accepts(offered.trim()) {
            let mut response = answer(
                StatusCode::UNAUTHORIZED,
                json!({"error": "the admin API needs `Authorization: Bearer <token>` with the admin token"}),
            );
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

/// 503 with `Retry-After` while draining.
pub(super) fn draining() -> Response {
    let mut response = answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "shutting down; try again shortly"}));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    response
}
