//! Weir's integration tests, as one test binary: each module is what used to be a file of its own under
//! `tests/` (one binary instead of one per file links once and shares `support` instead of copying it).
//! They use the library only through `weir::api`, and the `weir` binary as a process.
//!
//! Run one module's tests with `cargo test --test it MODULE::` (e.g. `cargo test --test it runtime::`).

mod support;

mod architecture;
mod benchmark_pipeline;
mod cli;
mod cli_healthcheck;
mod cli_init;
mod cli_pipe;
mod cli_run;
mod commerce_bulk;
mod commerce_sales;
mod commerce_sim;
mod concurrent_sink;
mod config_errors;
mod crash;
mod custom_source;
mod data_integrity;
mod dead_letters;
mod demo;
mod docs;
mod docs_keys;
mod editor;
mod erp_sim;
mod examples;
mod file_crash;
mod file_resume;
mod folder_config;
mod graphql;
mod http_incremental;
mod http_sink;
mod http_sink_bulk;
mod http_sink_flight;
mod http_source;
mod http_step;
mod idempotent_where;
mod jsonpath_cts;
mod order_webhooks;
mod runtime;
mod schema;
mod serve;
mod several_sources;
mod sim_faults;
mod state;
mod state_file;
mod status_page;
mod telemetry;
mod tls;
mod tryton;
mod webhook;
mod weir_diff;
mod weir_test;
mod weir_test_cassette;
