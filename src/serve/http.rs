//! `weir serve`'s HTTP surface: `/healthz` (the process answers), `/metrics` (Prometheus), `/readyz`
//! (the state store answers, the pipelines are loaded, no drain under way — else 503 with the
//! reasons), and the admin API under
//! `/api/` behind the admin token: the pipelines with their trigger and status, a run on request, the
//! run history, and (`dlq`) the dead-letter queue and traces.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::Service;
use super::reply::{admin_only, answer, draining};

/// How long `/readyz` waits for the state store.
const STORE_PROBE: Duration = Duration::from_secs(2);
/// Most runs `/api/runs` lists.
const MOST_RUNS: usize = 1_000;

pub(super) fn router(service: Arc<Service>) -> Router {
    let api = Router::new()
        .route("/api/pipelines", get(pipelines))
        .route("/api/pipelines/{name}/run", post(run_now))
        .route("/api/runs", get(runs))
        .merge(super::dlq::routes())
        .route_layer(middleware::from_fn_with_state(Arc::clone(&service), admin_only));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .merge(api)
        .merge(super::hooks::routes())
        .merge(super::page::routes(&service))
        .fallback(|| async { answer(StatusCode::NOT_FOUND, json!({"error": "no such endpoint"})) })
        .with_state(service)
}

/// The Prometheus exposition: every pipeline's and connection's counters, the store's gauges.
async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let store = Arc::clone(&service.store);
    match tokio::task::spawn_blocking(move || crate::telemetry::exposition::render(Some(&*store))).await {
        Ok(text) => {
            let mut response = (StatusCode::OK, text).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::telemetry::exposition::CONTENT_TYPE));
            response
        }
        Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": e.to_string()})),
    }
}

/// 200 when ready, else 503 with every reason.
async fn ready(State(service): State<Arc<Service>>) -> Response {
    let mut reasons = Vec::new();
    if service.is_draining() {
        reasons.push("shutting down: draining runs in progress".to_string());
    }
    let store = Arc::clone(&service.store);
    let probe = tokio::time::timeout(STORE_PROBE, tokio::task::spawn_blocking(move || store.runs(None, 1))).await;
    match probe {
        Ok(Ok(Ok(_))) => {}
        Ok(Ok(Err(e))) => reasons.push(format!("the state store does not answer: {e}")),
        Ok(Err(e)) => reasons.push(format!("the state store probe failed: {e}")),
        Err(_) => reasons.push(format!("the state store did not answer within {}s", STORE_PROBE.as_secs())),
    }
    let pipelines = service.slots().len();
    if reasons.is_empty() {
        // Still ready with a bad edit: the last good version runs. The errors are shown until fixed.
        let mut body = json!({"ready": true, "pipelines": pipelines});
        if let Some(errors) = service.config_errors() {
            body["config_errors"] = Value::String(errors);
        }
        answer(StatusCode::OK, body)
    } else {
        answer(StatusCode::SERVICE_UNAVAILABLE, json!({"ready": false, "pipelines": pipelines, "reasons": reasons}))
    }
}

/// Every pipeline: name, file, trigger, status (running, next run, last run).
async fn pipelines(State(service): State<Arc<Service>>) -> Response {
    let list: Vec<Value> = service
        .slots()
        .iter()
        .map(|slot| {
            let deployed = slot.deployed();
            json!({
                "name": slot.name,
                "file": deployed.loaded.file.display,
                "trigger": deployed.trigger.describe(),
                "status": slot.status(),
            })
        })
        .collect();
    answer(StatusCode::OK, Value::Array(list))
}

/// Asks for a run of the pipeline: 202, it runs now, or right after the run in progress.
async fn run_now(State(service): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    if service.is_draining() {
        return draining();
    }
    match service.slot(&name) {
        Some(slot) => {
            slot.ask("api");
            answer(StatusCode::ACCEPTED, json!({"pipeline": name, "queued": true}))
        }
        None => answer(StatusCode::NOT_FOUND, json!({"error": format!("no pipeline `{name}` is served here")})),
    }
}

/// The run history, newest first: `?pipeline=NAME&limit=N` (default 50).
async fn runs(State(service): State<Arc<Service>>, RawQuery(query): RawQuery) -> Response {
    let (mut pipeline, mut limit) = (None, 50usize);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*key {
            "pipeline" => pipeline = Some(value.into_owned()),
            "limit" => match value.parse::<usize>() {
                Ok(n) => limit = n.min(MOST_RUNS),
                Err(_) => {
                    return answer(
                        StatusCode::BAD_REQUEST,
                        json!({"error": format!("`limit` must be a number, not `{value}`")}),
                    );
                }
            },
            other => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    json!({"error": format!("unknown parameter `{other}`: `pipeline` and `limit` are known")}),
                );
            }
        }
    }
    let store = Arc::clone(&service.store);
    match tokio::task::spawn_blocking(move || store.runs(pipeline.as_deref(), limit)).await {
        Ok(Ok(runs)) => answer(StatusCode::OK, serde_json::to_value(runs).unwrap_or_default()),
        Ok(Err(e)) => answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": format!("the state store: {e}")})),
        Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": e.to_string()})),
    }
}
