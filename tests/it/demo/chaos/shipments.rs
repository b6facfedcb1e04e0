//! `shipments.yaml` under chaos (see the storm in `mod.rs`): shop orders reach the ERP without faults,
//! then the ERP's warehouse ships them in waves — an order in full, line by line, or one unit first
//! and the rest later — while both simulators serve faults and runs are SIGKILLed at least 5 times at
//! seeded moments: after the k-th shipment made in the shop (made, but not yet in the ledger) or after
//! the k-th shop order looked up (a ship possibly in flight). Afterwards, from the simulators' state:
//! every ERP shipment is exactly one shop shipment (by its tracking number) with the same quantity,
//! no shop shipment has no ERP shipment, and every shop order shipped what the ERP shipped of it.
//!
//! `WEIR_CHAOS_SHIPMENTS` sets how many shipments the ERP makes at least (default 40);
//! `benches/chaos/run.sh` runs 500.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};

use super::{KILLS, KillAt, Storm, System, did_work, size};
use crate::demo::Demo;

fn is_ship(r: &Value) -> bool {
    r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/ship"))
}

fn is_order_lookup(r: &Value) -> bool {
    r["method"] == "GET" && r["path"] == "/rest/V1/orders"
}

fn is_shipment_lookup(r: &Value) -> bool {
    r["method"] == "GET" && r["path"] == "/rest/V1/shipments"
}

/// The carriers of `tables/carriers.csv`.
const AGENTS: [&str; 5] = ["FEDEX", "UPS", "DHL", "USPS", "GLS"];

/// One shipment the warehouse will make: of which order, with which track, which lines (`None`:
/// everything not shipped yet).
struct Planned {
    order: String,
    tracking: String,
    agent: &'static str,
    lines: Option<Vec<Value>>,
}

/// The ERP's warehouse: ships its sales orders in waves. An order's first shipment goes out in the
/// wave that reaches the order; its other shipments (the next line, the rest) in later waves.
struct Warehouse {
    /// (external document number, lines as (sequence, quantity)) of the orders not reached yet.
    orders: VecDeque<(String, Vec<(u64, f64)>)>,
    /// The other shipments of orders already reached.
    later: VecDeque<Planned>,
    /// Shipments planned (numbers their tracks), and made in the ERP.
    planned: usize,
    shipped: usize,
}

impl Warehouse {
    fn new(demo: &Demo) -> Warehouse {
        let state = demo.erp_state();
        let orders = state["salesOrders"]
            .as_array()
            .expect("sales orders")
            .iter()
            .filter(|o| o["externalDocumentNumber"].as_str().is_some_and(|n| !n.is_empty()))
            .map(|o| {
                let lines = o["salesOrderLines"].as_array().expect("lines");
                let lines = lines
                    .iter()
                    .map(|l| (l["sequence"].as_u64().expect("a sequence"), l["quantity"].as_f64().expect("a quantity")))
                    .collect();
                (o["externalDocumentNumber"].as_str().expect("a number").to_string(), lines)
            })
            .collect();
        Warehouse { orders, later: VecDeque::new(), planned: 0, shipped: 0 }
    }

    /// Makes `count` shipments in the ERP (fewer if no order is left to ship).
    fn ship(&mut self, demo: &Demo, storm: &mut Storm, count: usize) {
        for _ in 0..count {
            let Some(next) = self.later.pop_front().or_else(|| self.reach(storm)) else { return };
            let mut body =
                json!({"order": next.order, "trackingNumber": next.tracking, "shippingAgentCode": next.agent});
            if let Some(lines) = next.lines {
                body["lines"] = json!(lines);
            }
            let shipment = demo.erp.control("POST", "ship", Some(body));
            assert!(shipment["number"].is_string(), "{shipment}");
            self.shipped += 1;
        }
    }

    /// The next order's shipments, planned by a seeded choice: all at once, line by line, or one unit
    /// of the first line and then the rest. Answers the first; the others wait in `later`.
    fn reach(&mut self, storm: &mut Storm) -> Option<Planned> {
        let (order, lines) = self.orders.pop_front()?;
        let mut plans: Vec<Option<Vec<Value>>> = match storm.pick(3) {
            2 if lines.len() > 1 => {
                lines.iter().map(|(s, q)| Some(vec![json!({"sequence": s, "quantity": q})])).collect()
            }
            3 if lines[0].1 >= 2.0 => vec![Some(vec![json!({"sequence": lines[0].0, "quantity": 1})]), None],
            _ => vec![None],
        };
        let mut planned = plans.drain(..).map(|lines| {
            self.planned += 1;
            let agent = AGENTS[storm.pick(AGENTS.len()) - 1];
            Planned { order: order.clone(), tracking: format!("CHAOS{:06}", self.planned), agent, lines }
        });
        let first = planned.next();
        self.later.extend(planned);
        first
    }
}

/// Every item of `list` (a Magento search path without paging), page by page (the faults are off).
fn all(demo: &Demo, list: &str) -> Vec<Value> {
    let token = demo.commerce.token();
    let mut all = Vec::new();
    for page in 1.. {
        let found = demo
            .commerce
            .get(&format!("{list}?searchCriteria[pageSize]=300&searchCriteria[currentPage]={page}"), &token);
        all.extend(found["items"].as_array().expect("items").iter().cloned());
        if all.len() as u64 >= found["total_count"].as_u64().expect("a count") {
            return all;
        }
    }
    unreachable!()
}

fn quantity(lines: &Value, field: &str) -> f64 {
    lines.as_array().expect("lines").iter().map(|l| l[field].as_f64().unwrap_or(0.0)).sum()
}

#[test]
fn erp_shipments_reach_the_shop_exactly_once_through_faults_and_kills() {
    let n = size("WEIR_CHAOS_SHIPMENTS", 40);
    let demo = Demo::start();
    // About 1.7 shipments an order; enough orders that the kills never run out of work.
    let orders = n * 2 / 3 + 10;
    let (status, created) = demo.commerce.send("POST", "/__sim/orders", None, Some(json!({"count": orders})));
    assert_eq!((status, created["created"].as_array().map(Vec::len)), (200, Some(orders)));
    demo.run("erp-variants.yaml");
    demo.run("orders.yaml");

    let mut warehouse = Warehouse::new(&demo);
    let mut storm = Storm::start(&demo, "shipments.yaml");
    warehouse.ship(&demo, &mut storm, n / 2);
    let most = n / (3 * KILLS);
    let wave = (n / (2 * KILLS)).max(5);
    let mut shop_log = Vec::new();
    loop {
        let kill = (storm.kills.len() < KILLS).then(|| {
            let count = storm.pick(most.max(2));
            if storm.heads() {
                KillAt { system: System::Shop, what: "shop shipments made", count, is: is_ship }
            } else {
                KillAt { system: System::Shop, what: "shop orders looked up", count, is: is_order_lookup }
            }
        });
        let run = storm.run(kill);
        shop_log.extend(run.shop);
        if run.ended.as_ref().is_some_and(|(status, _)| status.success()) {
            if storm.kills.len() >= KILLS && warehouse.shipped >= n && warehouse.later.is_empty() {
                break;
            }
            // The warehouse ships more: the rest of earlier orders first, then new ones.
            let before = warehouse.shipped;
            warehouse.ship(&demo, &mut storm, wave);
            assert!(warehouse.shipped > before, "the warehouse ran out of orders: {:?}", storm.kills);
        }
    }
    let killed_after_a_ship = storm.kills.iter().filter(|k| k.what == "shop shipments made").count();
    assert!(killed_after_a_ship > 0, "no kill fell between a shipment and its ledger entry: {:?}", storm.kills);
    let calm = storm.calm();

    // From the simulators: every ERP shipment of a shop order is one shop shipment, by its track.
    let erp = demo.erp_state();
    let erp_shipments: Vec<&Value> = erp["salesShipments"].as_array().expect("shipments").iter().collect();
    assert!(erp_shipments.len() >= n, "{} ERP shipments of {n}", erp_shipments.len());
    let shop_orders: BTreeMap<String, Value> = all(&demo, "/rest/V1/orders")
        .into_iter()
        .map(|o| (o["increment_id"].as_str().expect("an increment id").to_string(), o))
        .collect();
    let mut shop_by_track: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for shipment in all(&demo, "/rest/V1/shipments") {
        for track in shipment["tracks"].as_array().expect("tracks") {
            let number = track["track_number"].as_str().expect("a track number").to_string();
            shop_by_track.entry(number).or_default().push(shipment.clone());
        }
    }
    let mut orders_shipped: BTreeMap<String, f64> = BTreeMap::new();
    for shipment in &erp_shipments {
        let track = shipment["packageTrackingNumber"].as_str().expect("a track");
        let reference = shipment["externalDocumentNumber"].as_str().expect("a shop order");
        let made = shop_by_track.remove(track).unwrap_or_default();
        assert_eq!(
            made.len(),
            1,
            "ERP shipment {} (track {track}) is {} shop shipments",
            shipment["number"],
            made.len()
        );
        let order = &shop_orders[reference];
        assert_eq!(made[0]["order_id"], order["entity_id"], "track {track}");
        let qty = quantity(&shipment["salesShipmentLines"], "quantity");
        assert_eq!(quantity(&made[0]["items"], "qty"), qty, "track {track}");
        *orders_shipped.entry(reference.to_string()).or_default() += qty;
    }
    let strays: Vec<&String> = shop_by_track.keys().filter(|t| t.starts_with("CHAOS")).collect();
    assert!(strays.is_empty(), "shop shipments no ERP shipment made: {strays:?}");

    // Every order shipped what the ERP shipped of it, and no order the ERP did not ship was shipped.
    for (reference, order) in &shop_orders {
        let own = Value::Array(
            order["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter(|i| i.get("parent_item_id").is_none())
                .cloned()
                .collect(),
        );
        let in_erp =
            erp["salesOrders"].as_array().expect("orders").iter().find(|o| o["externalDocumentNumber"] == **reference);
        let Some(in_erp) = in_erp else { continue };
        let erp_shipped = quantity(&in_erp["salesOrderLines"], "shippedQuantity");
        assert_eq!(quantity(&own, "qty_shipped"), erp_shipped, "order {reference}");
        assert_eq!(orders_shipped.get(reference).copied().unwrap_or(0.0), erp_shipped, "order {reference}");
        if erp_shipped > 0.0 {
            let fully = in_erp["fullyShipped"] == true;
            assert_eq!(order["status"], if fully { "complete" } else { "processing" }, "order {reference}");
        }
    }
    let dead: Vec<String> = demo.dead_letters().iter().map(|e| format!("{}: {}", e["key"], e["error"])).collect();
    assert_eq!(dead, Vec::<String>::new(), "dead letters under faults alone");

    let lost_ships = shop_log.iter().filter(|r| is_ship(r) && r["fault"] == "lost").count();
    let lookups = shop_log.iter().filter(|r| is_shipment_lookup(r) && did_work(r)).count();
    eprintln!(
        "chaos: {} ERP shipments of {} orders, {lost_ships} ship answers lost, {lookups} shipment lookups; {}",
        erp_shipments.len(),
        orders_shipped.len(),
        calm.report
    );
}
