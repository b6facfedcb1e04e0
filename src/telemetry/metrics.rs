//! The metrics recorded as things happen — HTTP answers, retries and latency per connection, rate-limit
//! waits, runs per pipeline — kept with `prometheus-client` (the Prometheus project's Rust client), one
//! set for the process, as `tracing` keeps one dispatcher: what is measured is the process (`weir
//! serve` runs every pipeline of a folder in one), and the HTTP client, the rate limits and the
//! executor record into it without a handle threaded through every constructor. `exposition` writes
//! them out at each scrape.
//!
//! Labels stay bounded: pipeline, node and connection names come from the configuration; a status
//! is a code from 100 to 599; a method one of HTTP's own; never a record key or a URL.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    connection: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    connection: String,
    method: &'static str,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabels {
    connection: String,
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PipelineLabels {
    pub(super) pipeline: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    pipeline: String,
    status: &'static str,
}

type Seconds = Gauge<f64, AtomicU64>;
type SecondsTotal = Counter<f64, AtomicU64>;
type Latency = Family<ConnectionLabels, Histogram, fn() -> Histogram>;

/// Every metric recorded as things happen (those read at scrape time are made by `exposition`), and
/// the registry that holds them all.
struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_latency: Latency,
    http_retries: Family<RetryLabels, Counter>,
    rate_limit_waits: Family<LimitLabels, Counter>,
    rate_limit_wait_seconds: Family<LimitLabels, SecondsTotal>,
    rate_limit_pauses: Family<LimitLabels, Counter>,
    runs: Family<RunLabels, Counter>,
    runs_in_progress: Family<PipelineLabels, Gauge>,
    run_last_end: Family<PipelineLabels, Seconds>,
    run_last_success: Family<PipelineLabels, Seconds>,
    run_last_duration: Family<PipelineLabels, Seconds>,
}

/// From 5 ms to 41 s, doubling: a loopback answer to a slow ERP's.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Registers `metric` as `name` with `help`, and hands it back to record into.
fn add<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut r = Registry::default();
    Metrics {
        http_requests: add(
            &mut r,
            "weir_http_requests",
            "HTTP requests by connection, method and status (`none`: no answer)",
            Family::default(),
        ),
        http_latency: add(
            &mut r,
            "weir_http_request_duration_seconds",
            "Time from sending an HTTP request to its whole answer, by connection",
            Family::new_with_constructor(latency_histogram),
        ),
        http_retries: add(
            &mut r,
            "weir_http_retries",
            "HTTP requests sent again, by connection and the status that called for it (`no_response`: none came)",
            Family::default(),
        ),
        rate_limit_waits: add(
            &mut r,
            "weir_rate_limit_waits",
            "Requests that waited for a permit of a rate limit",
            Family::default(),
        ),
        rate_limit_wait_seconds: add(
            &mut r,
            "weir_rate_limit_wait_seconds",
            "Seconds requests waited for a permit of a rate limit",
            Family::default(),
        ),
        rate_limit_pauses: add(
            &mut r,
            "weir_rate_limit_pauses",
            "Times an API asked every request of a rate limit to wait (429 or 503 with Retry-After)",
            Family::default(),
        ),
        runs: add(
            &mut r,
            "weir_runs",
            "Runs that ended, by pipeline and status (succeeded, failed, interrupted)",
            Family::default(),
        ),
        runs_in_progress: add(&mut r, "weir_runs_in_progress", "Runs of a pipeline in progress", Family::default()),
        run_last_end: add(
            &mut r,
            "weir_run_last_end_timestamp_seconds",
            "When the pipeline's last run ended (Unix time)",
            Family::default(),
        ),
        run_last_success: add(
            &mut r,
            "weir_run_last_success_timestamp_seconds",
            "When the pipeline's last successful run ended (Unix time)",
            Family::default(),
        ),
        run_last_duration: add(
            &mut r,
            "weir_run_last_duration_seconds",
            "How long the pipeline's last run took",
            Family::default(),
        ),
        registry: r,
    }
});

/// Seconds since the Unix epoch.
pub(super) fn unix_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// What the requests of one connection record: made once per client, cheap to clone. A component
/// given a `url` instead of a connection records under the connection `""`.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpMetrics {
    connection: std::sync::Arc<str>,
}

/// The metrics of the requests to `connection`.
pub(crate) fn http(connection: &str) -> HttpMetrics {
    HttpMetrics { connection: connection.into() }
}

/// HTTP's own methods as themselves; anything else (a method rendered from a record) as `other`.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// A status code as a label: the code from 100 to 599, `none` when nothing answered.
fn status_label(status: Option<u16>) -> String {
    match status {
        Some(code @ 100..=599) => code.to_string(),
        Some(_) => "other".into(),
        None => "none".into(),
    }
}

impl HttpMetrics {
    /// The connection's name (`""` without one).
    pub(crate) fn connection(&self) -> &str {
        &self.connection
    }

    /// A request was answered with `status` (`None`: no answer — a timeout, a reset) after `elapsed`.
    pub(crate) fn answered(&self, method: &str, status: Option<u16>, elapsed: Duration) {
        let labels = RequestLabels {
            connection: self.connection.to_string(),
            method: method_label(method),
            status: status_label(status),
        };
        METRICS.http_requests.get_or_create(&labels).inc();
        let connection = ConnectionLabels { connection: labels.connection };
        METRICS.http_latency.get_or_create(&connection).observe(elapsed.as_secs_f64());
    }

    /// A request is sent again after an answer with `status` (`None`: none came).
    pub(crate) fn retried(&self, status: Option<u16>) {
        let reason = match status {
            None => "no_response".to_string(),
            some => status_label(some),
        };
        METRICS.http_retries.get_or_create(&RetryLabels { connection: self.connection.to_string(), reason }).inc();
    }
}

/// A request of the rate limit `limit` waited `waited` for its permit.
pub(crate) fn rate_limit_waited(limit: &str, waited: Duration) {
    let labels = LimitLabels { limit: limit.to_string() };
    METRICS.rate_limit_waits.get_or_create(&labels).inc();
    METRICS.rate_limit_wait_seconds.get_or_create(&labels).inc_by(waited.as_secs_f64());
}

/// The API asked every request of the rate limit `limit` to wait (a 429 or 503 with `Retry-After`).
pub(crate) fn rate_limit_paused(limit: &str) {
    METRICS.rate_limit_pauses.get_or_create(&LimitLabels { limit: limit.to_string() }).inc();
}

pub(super) fn run_began(pipeline: &str) {
    METRICS.runs_in_progress.get_or_create(&PipelineLabels { pipeline: pipeline.to_string() }).inc();
}

pub(super) fn run_ended(pipeline: &str, status: &'static str, duration: Duration) {
    let labels = PipelineLabels { pipeline: pipeline.to_string() };
    METRICS.runs_in_progress.get_or_create(&labels).dec();
    METRICS.runs.get_or_create(&RunLabels { pipeline: pipeline.to_string(), status }).inc();
    let now = unix_now();
    METRICS.run_last_end.get_or_create(&labels).set(now);
    METRICS.run_last_duration.get_or_create(&labels).set(duration.as_secs_f64());
    if status == "succeeded" {
        METRICS.run_last_success.get_or_create(&labels).set(now);
    }
}

pub(super) fn run_abandoned(pipeline: &str) {
    METRICS.runs_in_progress.get_or_create(&PipelineLabels { pipeline: pipeline.to_string() }).dec();
}

/// Writes every metric recorded as things happen, as Prometheus text, to `text`.
pub(super) fn encode(text: &mut String) -> std::fmt::Result {
    prometheus_client::encoding::prometheus_text::encode(text, &METRICS.registry)
}
