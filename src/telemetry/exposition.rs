//! The Prometheus text exposition of the process's metrics, made at each scrape: what was recorded as
//! things happened (`metrics`), the records each node counted (`nodes`) and, with a state store, what
//! it holds (`scrape`).

use prometheus_client::registry::Registry;

use crate::state::StateStore;

/// The `Content-Type` of what [`render`] returns: the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every metric as Prometheus text (format 0.0.4, [`CONTENT_TYPE`]). With `store`, also what it holds:
/// dead letters per pipeline, checkpoint age and watermark lag per source (read now: blocking, call it
/// from a blocking thread). Metrics nothing has recorded yet are absent, not zero.
pub fn render(store: Option<&dyn StateStore>) -> String {
    let mut read_now = Registry::default();
    super::nodes::register(&mut read_now);
    if let Some(store) = store {
        super::scrape::register(store, &mut read_now);
    }
    let mut text = String::new();
    // Writing into a `String` does not fail; an error would only cut the text short.
    let _ = super::metrics::encode(&mut text)
        .and_then(|()| prometheus_client::encoding::prometheus_text::encode(&mut text, &read_now));
    text
}

#[cfg(test)]
#[path = "exposition_tests.rs"]
mod tests;
