//! The metrics read from the state store at scrape time, so that they hold across restarts and for
//! pipelines that are not running: dead letters waiting per pipeline, and per source how long ago its
//! checkpoint was saved and how far its watermark (an incremental source's last change time) is
//! behind now. Whether the store could be read is a gauge of its own.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::metrics::{PipelineLabels, unix_now};
use crate::state::StateStore;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    pipeline: String,
    source: String,
}

type Seconds = Gauge<f64, AtomicU64>;

/// Seconds from `time` to now (negative when `time` is ahead of this machine's clock).
fn age(time: OffsetDateTime) -> f64 {
    unix_now() - (time.unix_timestamp_nanos() as f64 / 1e9)
}

/// Registers the store's gauges with what it holds now.
pub(super) fn register(store: &dyn StateStore, registry: &mut Registry) {
    let dead_letters: Family<PipelineLabels, Gauge> = Family::default();
    let checkpoint_age: Family<SourceLabels, Seconds> = Family::default();
    let watermark_lag: Family<SourceLabels, Seconds> = Family::default();
    let counts = store.dead_letter_counts();
    let stamps = store.checkpoint_stamps();
    let readable = counts.is_ok() && stamps.is_ok();
    for (pipeline, count) in counts.unwrap_or_default() {
        dead_letters.get_or_create(&PipelineLabels { pipeline }).set(i64::try_from(count).unwrap_or(i64::MAX));
    }
    for stamp in stamps.unwrap_or_default() {
        let labels = SourceLabels { pipeline: stamp.pipeline, source: stamp.source };
        if let Ok(saved) = OffsetDateTime::parse(&stamp.saved_at, &Rfc3339) {
            checkpoint_age.get_or_create(&labels).set(age(saved));
        }
        if let Some((mark, _)) = stamp.watermark.as_deref().and_then(crate::clock::parse_change_time) {
            watermark_lag.get_or_create(&labels).set(age(mark));
        }
    }
    let up: Gauge = Gauge::default();
    up.set(i64::from(readable));
    registry.register("weir_state_store_up", "1 when the state store could be read at this scrape, else 0", up);
    registry.register("weir_dead_letters", "Entries in the dead-letter queue, by pipeline", dead_letters);
    registry.register(
        "weir_checkpoint_age_seconds",
        "Seconds since the source's checkpoint was last saved (it is saved when its position moves)",
        checkpoint_age,
    );
    registry.register(
        "weir_watermark_lag_seconds",
        "Seconds between now and the change time of the last record an incremental source delivered (its saved watermark)",
        watermark_lag,
    );
}
