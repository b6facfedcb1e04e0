//! Telemetry: what an operator watches a running Weir with. Prometheus metrics of the process
//! (`metrics`: counters and histograms the components record as they work, the records each node of
//! each run counts — read live, at scrape time, from the executor's own counters (`nodes`) — and
//! gauges read from the state store at scrape time (`scrape`), written out by `exposition`), and the log output (`logs`: human
//! text on a terminal, JSON lines otherwise, every registered secret masked). A building block: the
//! kernel, the connectors and the runtime record into it; it knows none of them.

pub(crate) mod exposition;
pub(crate) mod logs;
pub(crate) mod metrics;
pub(crate) mod nodes;
mod scrape;
