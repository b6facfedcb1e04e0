//! Commerce orders into a real Tryton 8.2 (`scripts/tryton.sh`: trytond from the package index in a
//! cached virtual environment, SQLite, on loopback) through its REST API: an `http` step finds the
//! products by SKU, an idempotent `http` sink creates `sale.sale` records, looked up by `reference`.
//! Skipped, with a message, when Python or the package index is unavailable.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crate::support::cli;
use crate::support::tryton::Tryton;

const ORDERS: &str = r#"{"increment_id":"000000101","customer":"roni_cost@example.com","lines":[{"sku":"MH01-XS-Black","qty":2,"price":52.0},{"sku":"MH01-S-Black","qty":1,"price":52.0}]}
{"increment_id":"000000102","customer":"roni_cost@example.com","lines":[{"sku":"MH01-S-Black","qty":3,"price":49.5}]}
"#;

/// The client folder: the Tryton connection (bearer application key, company context), the orders,
/// and the pipeline.
fn client(dir: &Path, tryton: &Tryton) {
    let ids = &tryton.ids;
    std::fs::create_dir_all(dir.join("data")).expect("mkdir data");
    std::fs::write(dir.join("data/orders.ndjson"), ORDERS).expect("write orders");
    std::fs::write(
        dir.join("connections.yaml"),
        format!(
            r#"connections:
  tryton:
    type: http
    base_url: "{rest}"
    auth: {{ type: bearer, token: "${{secret:TRYTON_KEY}}" }}
    headers: {{ X-Tryton-Context: "{context}" }}
"#,
            rest = tryton.rest,
            context = tryton.context(),
        ),
    )
    .expect("write the client folder");
    std::fs::write(
        dir.join("orders.yaml"),
        format!(
            r#"name: tryton-orders
source: {{ id: orders, type: file, path: data/orders.ndjson, key: "order:{{{{ record.increment_id }}}}" }}
steps:
  # One request per order for the Tryton ids of its SKUs.
  - id: products
    type: http
    connection: tryton
    method: POST
    path: /model/product.product/search_read
    body:
      domain: [["code", "in", "{{{{ record.lines | map(attribute='sku') | list }}}}"]]
      fields_names: ["code"]
    into: tryton_products
sinks:
  - id: sale
    type: http
    connection: tryton
    path: /model/sale.sale
    body:
      reference: "{{{{ record.increment_id }}}}"
      party: {customer}
      company: {company}
      currency: {currency}
      lines:
        - - create
          - $each: "record.lines"
            $as: line
            $value:
              product: "{{{{ (record.tryton_products | selectattr('code', 'equalto', line.sku) | first).id }}}}"
              quantity: "{{{{ line.qty }}}}"
              unit: {unit}
              unit_price: {{ __class__: Decimal, decimal: "{{{{ line.price | decimal }}}}" }}
    idempotency:
      key: "{{{{ record.increment_id }}}}"
      lookup:
        path: "/model/sale.sale?d={{{{ [['reference', '=', record.increment_id]] | tojson | base64url }}}}"
        found: "$[0]"
    capture: {{ tryton_sale_id: "$.id" }}
"#,
            customer = ids["customer"],
            company = ids["company"],
            currency = ids["currency"],
            unit = ids["unit"],
        ),
    )
    .expect("write the client folder");
}

fn run(dir: &Path, tryton: &Tryton, args: &[&str], fault: Option<&str>) -> Output {
    let mut command = cli::command(args, dir);
    command.env("TRYTON_KEY", &tryton.key);
    if let Some(fault) = fault {
        command.env("WEIR_FAULT", fault);
    }
    let out = command.output().expect("the weir binary runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains(&tryton.key), "the REST key was printed");
    out
}

/// The sales of Tryton as (reference, [(product code, quantity)]), sorted.
fn sales(tryton: &Tryton) -> Vec<(String, Vec<(String, f64)>)> {
    let found = tryton.search(
        "sale.sale",
        &json!([["reference", "like", "0000001%"]]),
        &["reference", "state", "lines.product.code", "lines.quantity"],
    );
    let mut sales: Vec<(String, Vec<(String, f64)>)> = found
        .iter()
        .map(|sale| {
            assert_eq!(sale["state"], "draft", "{sale}");
            let mut lines: Vec<(String, f64)> = sale["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .map(|l| {
                    (
                        l["product"]["code"].as_str().unwrap_or_default().to_string(),
                        l["quantity"].as_f64().unwrap_or(-1.0),
                    )
                })
                .collect();
            lines.sort_by(|a, b| a.0.cmp(&b.0));
            (sale["reference"].as_str().unwrap_or_default().to_string(), lines)
        })
        .collect();
    sales.sort_by(|a, b| a.0.cmp(&b.0));
    sales
}

#[test]
fn tryton_orders_become_sales_once_through_rest() {
    let tryton = match Tryton::start() {
        Ok(tryton) => tryton,
        Err(skip) => {
            eprintln!("SKIPPED: Tryton unavailable: {}", skip.0);
            return;
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    client(dir.path(), &tryton);
    let pipeline = dir.path().join("orders.yaml");
    let pipeline = pipeline.to_str().expect("a UTF-8 path");

    // The first run dies right after Tryton answered the first create, before Weir recorded it.
    let first = run(dir.path(), &tryton, &["run", "-q", pipeline], Some("after_call:1"));
    assert_eq!(first.status.signal(), Some(6), "expected the fault point to abort: {first:?}");
    assert!(!sales(&tryton).is_empty(), "Tryton holds the order created before the crash");

    // The next run looks the pending order up by reference instead of creating it again.
    let second = run(dir.path(), &tryton, &["run", "-q", pipeline], None);
    assert!(second.status.success(), "{second:?}");
    // A third run from the start skips both: the ledger knows them.
    let third = run(dir.path(), &tryton, &["run", "--from-start", "--json", pipeline], None);
    assert!(third.status.success(), "{third:?}");
    let summary: Value = serde_json::from_slice(&third.stdout).expect("a JSON summary");
    assert_eq!(summary["records"]["delivered"], 2, "{summary}");

    let expected = vec![
        ("000000101".to_string(), vec![("MH01-S-Black".to_string(), 1.0), ("MH01-XS-Black".to_string(), 2.0)]),
        ("000000102".to_string(), vec![("MH01-S-Black".to_string(), 3.0)]),
    ];
    assert_eq!(sales(&tryton), expected);

    // What each run did with the first order: found by the lookup, then skipped.
    let trace = run(dir.path(), &tryton, &["trace", "--state", ".weir/state.db", "--wide", "order:000000101"], None);
    let trace = String::from_utf8_lossy(&trace.stdout).into_owned();
    assert!(trace.contains("\"via\":\"lookup\""), "{trace}");
    assert!(trace.contains("skipped"), "{trace}");
    let id = tryton.search("sale.sale", &json!([["reference", "=", "000000101"]]), &[])[0]["id"].clone();
    assert!(trace.contains(&format!("\"tryton_sale_id\":{id}")), "{trace}");
}
