//! A scripted HTTP API on 127.0.0.1 for tests, served by axum: every request is kept (method, path and
//! query, headers, JSON body, when it arrived and when it was answered) and answered by the test's
//! handler, which runs on a thread of its own and may block — e.g. hold an answer until other requests
//! have arrived ([`Requests::wait_until`]), so tests see concurrency without sleeping.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One request received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// Its position among every request received (from 0).
    pub(crate) index: usize,
    pub(crate) method: String,
    /// Path and query, as sent (percent-encoding kept).
    pub(crate) target: String,
    /// Header names in lower case.
    pub(crate) headers: HashMap<String, String>,
    /// The body as JSON (`null` when empty or not JSON).
    pub(crate) body: Value,
    pub(crate) arrived: Instant,
    /// When its answer went out (`None` while it is being handled).
    pub(crate) answered: Option<Instant>,
}

/// Every request received so far, shared with the handler.
#[derive(Default)]
pub(crate) struct Requests {
    seen: Mutex<Vec<Seen>>,
    changed: Condvar,
}

impl Requests {
    /// A copy of every request received, in order of arrival.
    pub(crate) fn all(&self) -> Vec<Seen> {
        self.seen.lock().expect("requests").clone()
    }

    /// Waits until `done` holds for the requests received, or `timeout` passes; returns whether it holds.
    pub(crate) fn wait_until(&self, timeout: Duration, done: impl Fn(&[Seen]) -> bool) -> bool {
        let guard = self.seen.lock().expect("requests");
        let (guard, _) = self.changed.wait_timeout_while(guard, timeout, |s| !done(s)).expect("wait");
        done(&guard)
    }

    fn update<T>(&self, f: impl FnOnce(&mut Vec<Seen>) -> T) -> T {
        let out = f(&mut self.seen.lock().expect("requests"));
        self.changed.notify_all();
        out
    }
}

/// How a test answers: status and JSON body for each request.
pub(crate) type Handler = Arc<dyn Fn(&Seen, &Requests) -> (u16, Value) + Send + Sync>;

/// The running API; stops when dropped.
pub(crate) struct Stub {
    base: String,
    requests: Arc<Requests>,
    _runtime: tokio::runtime::Runtime,
}

impl Stub {
    /// Starts serving on a free port, answering with `handler`.
    pub(crate) fn start(handler: impl Fn(&Seen, &Requests) -> (u16, Value) + Send + Sync + 'static) -> Stub {
        let handler: Handler = Arc::new(handler);
        let requests = Arc::new(Requests::default());
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Arc::clone(&requests);
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (handler, requests) = (Arc::clone(&handler), Arc::clone(&shared));
            async move { answer(request, handler, requests).await }
        });
        runtime.spawn(async move { axum::serve(listener, app).await });
        Stub { base, requests, _runtime: runtime }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    /// The requests received.
    pub(crate) fn requests(&self) -> &Requests {
        &self.requests
    }
}

async fn answer(
    request: axum::extract::Request,
    handler: Handler,
    requests: Arc<Requests>,
) -> (axum::http::StatusCode, [(&'static str, &'static str); 1], String) {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let seen = requests.update(|all| {
        let seen = Seen {
            index: all.len(),
            method: parts.method.to_string(),
            target: parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_string(), |p| p.to_string()),
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            arrived: Instant::now(),
            answered: None,
        };
        all.push(seen.clone());
        seen
    });
    let index = seen.index;
    let (status, body) = tokio::task::spawn_blocking(move || {
        let out = handler(&seen, &requests);
        requests.update(|all| all[index].answered = Some(Instant::now()));
        out
    })
    .await
    .unwrap_or((500, Value::String("the handler panicked".into())));
    let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json")], body.to_string())
}
