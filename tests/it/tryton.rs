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
      invoice_address: {address}
      shipment_address: {address}
      payment_term: {payment_term}
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
            address = ids["address"],
            payment_term = ids["payment_term"],
        ),
    )
    .expect("write the client folder");
    // Tryton's buttons, in order, on the sale created for each order (its id from the id map).
    let button = |name: &str| button_call("sale.sale", "ids.tryton_sale_id", name);
    std::fs::write(
        dir.join("process.yaml"),
        format!(
            r#"name: tryton-process
source: {{ id: orders, type: file, path: data/orders.ndjson, key: "order:{{{{ record.increment_id }}}}" }}
steps:
  - id: quote
{quote}
    into: quoted
  - id: confirm
{confirm}
    into: confirmed
sinks:
  - id: process
{process}
"#,
            quote = button("quote"),
            confirm = button("confirm"),
            process = button("process"),
        ),
    )
    .expect("write the client folder");
    // Each order's customer shipment (the first of its sale) through assign, pick, pack and done.
    let shipment = |name: &str| button_call("stock.shipment.out", "record.shipment", name);
    std::fs::write(
        dir.join("ship.yaml"),
        format!(
            r#"name: tryton-ship
source: {{ id: orders, type: file, path: data/orders.ndjson, key: "order:{{{{ record.increment_id }}}}" }}
steps:
  - id: shipment
    type: http
    connection: tryton
    path: "/model/sale.sale/{{{{ ids.tryton_sale_id }}}}?f=shipments"
    select: "$.shipments[0]"
    into: shipment
  - id: assign
{assign}
    into: assigned
  - id: pick
{pick}
    into: picked
  - id: pack
{pack}
    into: packed
sinks:
  - id: done
{done}
"#,
            assign = shipment("assign_try"),
            pick = shipment("pick"),
            pack = shipment("pack"),
            done = shipment("do"),
        ),
    )
    .expect("write the client folder");
    // Stock counts of a warehouse location into a confirmed Tryton inventory.
    std::fs::write(dir.join("data/counts.ndjson"), COUNTS).expect("write counts");
    std::fs::write(dir.join("inventory.yaml"), INVENTORY).expect("write the client folder");
}

const COUNTS: &str = r#"{"location":"STO","lines":[{"sku":"MH01-XS-Black","qty":10},{"sku":"MH01-S-Black","qty":5}]}
"#;

const INVENTORY: &str = r#"name: tryton-inventory
source: { id: counts, type: file, path: data/counts.ndjson, key: "count:{{ record.location }}" }
steps:
  - id: location
    type: http
    connection: tryton
    path: "/model/stock.location?d={{ [['code', '=', record.location]] | tojson | base64url }}"
    select: "$[0].id"
    into: tryton_location
  - id: products
    type: http
    connection: tryton
    method: POST
    path: /model/product.product/search_read
    body:
      domain: [["code", "in", "{{ record.lines | map(attribute='sku') | list }}"]]
      fields_names: ["code"]
    into: tryton_products
  - id: inventory
    type: http
    connection: tryton
    method: POST
    path: /model/stock.inventory
    body:
      location: "{{ record.tryton_location }}"
      lines:
        - - create
          - $each: "record.lines"
            $as: line
            $value:
              product: "{{ (record.tryton_products | selectattr('code', 'equalto', line.sku) | first).id }}"
              quantity: "{{ line.qty }}"
    select: "$.id"
    into: tryton_inventory
sinks:
  - id: confirm
    type: http
    connection: tryton
    path: "/model/stock.inventory/{{ record.tryton_inventory }}/confirm"
    body: {}
"#;

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

type Sale = (String, String, Vec<(String, f64)>);

/// The sales of Tryton as (reference, state, [(product code, quantity)]), sorted.
fn sales(tryton: &Tryton) -> Vec<Sale> {
    let found = tryton.search(
        "sale.sale",
        &json!([["reference", "like", "0000001%"]]),
        &["reference", "state", "lines.product.code", "lines.quantity"],
    );
    let mut sales: Vec<Sale> = found
        .iter()
        .map(|sale| {
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
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (text(&sale["reference"]), text(&sale["state"]), lines)
        })
        .collect();
    sales.sort_by(|a, b| a.0.cmp(&b.0));
    sales
}

/// The two orders as Tryton sales in `state`.
fn expected(state: &str) -> Vec<Sale> {
    let s = |text: &str| text.to_string();
    vec![
        (s("000000101"), s(state), vec![(s("MH01-S-Black"), 1.0), (s("MH01-XS-Black"), 2.0)]),
        (s("000000102"), s(state), vec![(s("MH01-S-Black"), 3.0)]),
    ]
}

/// A fresh Tryton, or `None` (after saying why) when it cannot run here.
fn tryton() -> Option<Tryton> {
    match Tryton::start() {
        Ok(tryton) => Some(tryton),
        Err(skip) => {
            eprintln!("SKIPPED: Tryton unavailable: {}", skip.0);
            None
        }
    }
}

#[test]
fn tryton_orders_become_sales_once_through_rest() {
    let Some(tryton) = tryton() else { return };
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

    assert_eq!(sales(&tryton), expected("draft"));

    // What each run did with the first order: found by the lookup, then skipped.
    let trace = run(dir.path(), &tryton, &["trace", "--state", ".weir/state.db", "--wide", "order:000000101"], None);
    let trace = String::from_utf8_lossy(&trace.stdout).into_owned();
    assert!(trace.contains("\"via\":\"lookup\""), "{trace}");
    assert!(trace.contains("skipped"), "{trace}");
    let id = tryton.search("sale.sale", &json!([["reference", "=", "000000101"]]), &[])[0]["id"].clone();
    assert!(trace.contains(&format!("\"tryton_sale_id\":{id}")), "{trace}");
}

#[test]
fn tryton_stock_counted_orders_processed_and_shipped() {
    let Some(tryton) = tryton() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    client(dir.path(), &tryton);
    for pipeline in ["inventory.yaml", "orders.yaml", "process.yaml"] {
        let out = run(dir.path(), &tryton, &["run", "--json", pipeline], None);
        assert!(out.status.success(), "{pipeline}: {out:?}");
        let summary: Value = serde_json::from_slice(&out.stdout).expect("a JSON summary");
        assert_eq!(summary["records"]["dead_lettered"], 0, "{pipeline}: {summary}");
    }
    assert_eq!(sales(&tryton), expected("processing"));
    // Processing a sale creates its customer shipment, one move per line, waiting.
    let shipments = |state: &str| {
        let found = tryton.search(
            "stock.shipment.out",
            &json!([]),
            &["state", "outgoing_moves.product.code", "outgoing_moves.quantity"],
        );
        assert!(found.iter().all(|s| s["state"] == state), "{found:?}");
        let mut moves: Vec<(String, f64)> = found
            .iter()
            .flat_map(|s| s["outgoing_moves"].as_array().cloned().unwrap_or_default())
            .map(|m| {
                (m["product"]["code"].as_str().unwrap_or_default().to_string(), m["quantity"].as_f64().unwrap_or(-1.0))
            })
            .collect();
        moves.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        (found.len(), moves)
    };
    let s = |text: &str| text.to_string();
    let moves = vec![(s("MH01-S-Black"), 1.0), (s("MH01-S-Black"), 3.0), (s("MH01-XS-Black"), 2.0)];
    assert_eq!(shipments("waiting"), (2, moves.clone()));

    let ship = run(dir.path(), &tryton, &["run", "--json", "ship.yaml"], None);
    assert!(ship.status.success(), "{ship:?}");
    let summary: Value = serde_json::from_slice(&ship.stdout).expect("a JSON summary");
    assert_eq!(summary["records"]["delivered"], 2, "{summary}");
    assert_eq!(shipments("done"), (2, moves));
    let sent = tryton.search("sale.sale", &json!([["shipment_state", "=", "sent"]]), &["reference"]);
    assert_eq!(sent.len(), 2, "{sent:?}");
    // Counted 10 and 5, shipped 2 and 1 + 3: the warehouse's storage zone holds 8 and 1.
    let on_hand = tryton.quantities(&tryton.search("stock.location", &json!([["code", "=", "STO"]]), &[])[0]["id"]);
    assert_eq!(on_hand, vec![(s("MH01-S-Black"), 1.0), (s("MH01-XS-Black"), 8.0)]);
}

/// The keys of an `http` step or sink pressing button `name` of a Tryton `model` record whose id the
/// template expression `id` gives (indented for a component of a pipeline's list).
fn button_call(model: &str, id: &str, name: &str) -> String {
    format!(
        r#"    type: http
    connection: tryton
    method: POST
    path: "/model/{model}/{{{{ {id} }}}}/{name}"
    body: {{}}"#
    )
}
