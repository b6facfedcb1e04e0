//! Times `JsonPath::first` against jsonpath-rust's `js_path_vals` on one record.
//!
//! `cargo run --release --example jsonpath_bench -- RECORD.json [ITERATIONS]`
//! (e.g. /work/shared/bench/sample-product.json). Prints ns/op per path; no assertions.

use std::hint::black_box;
use std::time::Instant;

use weir::api::JsonPath;

const PATHS: &[&str] = &[
    "$.custom_attributes[?@.attribute_code=='size'].value",
    "$.custom_attributes[?@.attribute_code=='color'].value",
    "$.extension_attributes.stock_item.qty",
    "$.sku",
    "$.custom_attributes[0].value",
    "$.custom_attributes[?@.attribute_code=='eco_collection'].value",
    "$.custom_attributes[?@.value].value",
];

fn time_ns(iterations: u32, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        op();
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let file = args.next().ok_or_else(|| anyhow::anyhow!("usage: jsonpath_bench RECORD.json [ITERATIONS]"))?;
    let iterations: u32 = args.next().map_or(Ok(1_000_000), |n| n.parse())?;
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;

    for expr in PATHS {
        let path = JsonPath::compile(expr)?;
        let ours = path.first(&record).cloned();
        let theirs = jsonpath_rust::query::js_path_vals(expr, &record)?.first().map(|v| (*v).clone());
        anyhow::ensure!(ours == theirs, "{expr}: weir {ours:?} != jsonpath-rust {theirs:?}");

        let weir_ns = time_ns(iterations, || {
            black_box(path.first(black_box(&record)));
        });
        let query_ns = time_ns(iterations, || {
            black_box(path.query(black_box(&record)));
        });
        let slow_iterations = (iterations / 20).max(1);
        let jsonpath_rust_ns = time_ns(slow_iterations, || {
            let _ = black_box(jsonpath_rust::query::js_path_vals(expr, black_box(&record)));
        });
        println!(
            "{expr}\n  weir first(): {weir_ns:.0} ns/op   weir query(): {query_ns:.0} ns/op   \
             jsonpath-rust js_path_vals: {jsonpath_rust_ns:.0} ns/op   ({:.0}x)",
            jsonpath_rust_ns / weir_ns
        );
    }
    Ok(())
}
