//! Quick, non-asserting timing of the template hot path: `cargo run --release --example template_bench`.
//!
//! Compares Weir's lazy record exposure with converting the whole record via `Value::from_serialize`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use weir::api::Tables;
use weir::api::{RenderContext, TemplateEngine, TemplateOptions};

const N: u32 = 200_000;

fn time(label: &str, mut f: impl FnMut()) {
    for _ in 0..N / 10 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for _ in 0..N {
            f();
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / f64::from(N));
    }
    println!("{label:<58} {best:>8.0} ns/render");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let record: serde_json::Value = serde_json::from_str(include_str!("../tests/data/sample-product.json"))?;
    let record = Arc::new(record);
    let engine = TemplateEngine::new(Arc::new(Tables::new()), TemplateOptions::default());
    let src = "{{ record.name }} ({{ size | upper }})";

    let tmpl = engine.compile_string(src)?;
    let ctx = RenderContext::new(record.clone()).with_var("size", serde_json::json!("xs"));
    println!("output: {}", tmpl.render(&ctx)?);
    time("weir StringTemplate (lazy record object)", || {
        black_box(tmpl.render(black_box(&ctx)).ok());
    });

    let nofuel = TemplateEngine::new(Arc::new(Tables::new()), TemplateOptions { fuel: None });
    let tmpl_nofuel = nofuel.compile_string(src)?;
    time("weir StringTemplate, fuel disabled", || {
        black_box(tmpl_nofuel.render(black_box(&ctx)).ok());
    });
    let constant = engine.compile_string("x")?;
    time("weir StringTemplate \"x\" (fixed per-render overhead)", || {
        black_box(constant.render(black_box(&ctx)).ok());
    });

    let mut env = minijinja::Environment::new();
    env.add_template("t", src)?;
    let t = env.get_template("t")?;
    time("plain minijinja, context from Value::from_serialize(record)", || {
        let rec = minijinja::Value::from_serialize(black_box(&*record));
        black_box(t.render(minijinja::context! { record => rec, size => "xs" }).ok());
    });
    let tx = env.template_from_str("x")?;
    time("plain minijinja \"x\" with context!{size}", || {
        black_box(tx.render(minijinja::context! { size => "xs" }).ok());
    });
    time("  of which Value::from_serialize(record) alone", || {
        black_box(minijinja::Value::from_serialize(black_box(&*record)));
    });

    let mapping = serde_json::json!({
        "item_no": "{{ record.sku }}-{{ size }}",
        "description": "{{ record.name }} ({{ size | upper }})",
        "unit_price": "{{ record.price | round(2) }}",
        "qty_on_hand": "{{ record.extension_attributes.stock_item.qty }}",
        "color": "{{ color }}",
    });
    let vt = engine.compile_value(&mapping)?;
    let ctx2 = ctx.clone().with_var("color", serde_json::json!("navy"));
    println!("output: {}", vt.render(&ctx2)?);
    time("weir ValueTemplate, canonical mapping (5 fields)", || {
        black_box(vt.render(black_box(&ctx2)).ok());
    });
    Ok(())
}
