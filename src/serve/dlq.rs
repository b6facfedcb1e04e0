//! The admin API's dead-letter queue and trace: list, show, drop and replay entries, and what
//! happened to one record key. A replay is queued as a run of the entry's pipeline (never beside
//! another run of it) and answered `202`; its outcome shows in the run history and the pipeline's
//! last run.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use super::Service;
use super::reply::{answer, draining};
use crate::state::StateStore;

/// The routes, under the admin token (the caller adds the layer).
pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/dlq", get(list))
        .route("/api/dlq/{id}", get(show).delete(drop_entry))
        .route("/api/dlq/{id}/replay", post(replay_one))
        .route("/api/pipelines/{name}/replay", post(replay_all))
        .route("/api/trace/{key}", get(trace))
}

/// Runs a blocking store query; its error as a `503`.
async fn query<T: Send + 'static>(
    service: &Service,
    f: impl FnOnce(&dyn StateStore) -> Result<T, crate::state::StateError> + Send + 'static,
) -> Result<T, Response> {
    let store = Arc::clone(&service.store);
    match tokio::task::spawn_blocking(move || f(&*store)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": format!("the state store: {e}")}))),
        Err(e) => Err(answer(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": e.to_string()}))),
    }
}

fn not_found(what: String) -> Response {
    answer(StatusCode::NOT_FOUND, json!({"error": what}))
}

/// `?pipeline=NAME`: the entries, oldest first, as `weir dlq list --json` prints them.
async fn list(State(service): State<Arc<Service>>, RawQuery(query_text): RawQuery) -> Response {
    let mut pipeline = None;
    for (key, value) in url::form_urlencoded::parse(query_text.unwrap_or_default().as_bytes()) {
        match &*key {
            "pipeline" => pipeline = Some(value.into_owned()),
            other => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    json!({"error": format!("unknown parameter `{other}`: `pipeline` is known")}),
                );
            }
        }
    }
    match query(&service, move |store| store.dead_letters(pipeline.as_deref())).await {
        Ok(entries) => answer(StatusCode::OK, serde_json::to_value(entries).unwrap_or_default()),
        Err(response) => response,
    }
}

async fn show(State(service): State<Arc<Service>>, Path(id): Path<i64>) -> Response {
    match query(&service, move |store| store.dead_letter(id)).await {
        Ok(Some(entry)) => answer(StatusCode::OK, serde_json::to_value(entry).unwrap_or_default()),
        Ok(None) => not_found(format!("no dead-letter entry {id}")),
        Err(response) => response,
    }
}

async fn drop_entry(State(service): State<Arc<Service>>, Path(id): Path<i64>) -> Response {
    match query(&service, move |store| store.drop_dead_letter(id)).await {
        Ok(true) => answer(StatusCode::OK, json!({"dropped": id})),
        Ok(false) => not_found(format!("no dead-letter entry {id}")),
        Err(response) => response,
    }
}

/// Queues the replay of one entry in its pipeline.
async fn replay_one(State(service): State<Arc<Service>>, Path(id): Path<i64>) -> Response {
    if service.is_draining() {
        return draining();
    }
    let entry = match query(&service, move |store| store.dead_letter(id)).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return not_found(format!("no dead-letter entry {id}")),
        Err(response) => return response,
    };
    let pipeline = entry.entry.pipeline.clone();
    match service.slot(&pipeline) {
        Some(slot) => {
            slot.ask_replay(vec![id]);
            answer(StatusCode::ACCEPTED, json!({"queued": [id], "pipeline": pipeline}))
        }
        None => answer(
            StatusCode::CONFLICT,
            json!({"error": format!("entry {id} belongs to pipeline `{pipeline}`, which is not served here")}),
        ),
    }
}

/// Queues the replay of every entry of a pipeline.
async fn replay_all(State(service): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    if service.is_draining() {
        return draining();
    }
    let Some(slot) = service.slot(&name) else {
        return not_found(format!("no pipeline `{name}` is served here"));
    };
    let pipeline = name.clone();
    let ids: Vec<i64> = match query(&service, move |store| store.dead_letters(Some(&pipeline))).await {
        Ok(entries) => entries.iter().map(|e| e.id).collect(),
        Err(response) => return response,
    };
    if !ids.is_empty() {
        slot.ask_replay(ids.clone());
    }
    answer(StatusCode::ACCEPTED, json!({"queued": ids, "pipeline": name}))
}

/// What happened to one record key, oldest first, as `weir trace KEY --json` prints it.
async fn trace(State(service): State<Arc<Service>>, Path(key): Path<String>) -> Response {
    match query(&service, move |store| store.trace(&key)).await {
        Ok(entries) => answer(StatusCode::OK, serde_json::to_value(entries).unwrap_or_default()),
        Err(response) => response,
    }
}
