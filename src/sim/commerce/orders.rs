//! Orders: the search, one order with its `status_histories`, comments (`POST
//! /V1/orders/{id}/comments`), updates (`POST /V1/orders` with the `entity_id`, e.g. to set
//! `ext_order_id`), and the control endpoint `/__sim/orders` that adds and changes orders while a
//! client pages through them. Every change stamps `updated_at`.

use serde_json::{Value, json};

use super::data::{self, Child};
use super::input::{Answer, id, json_body, merge, no_entity, required};
use super::{MagentoError, Sim, lock, search};

/// How many orders are seeded.
const ORDERS: u64 = 45;
/// Fields `POST /V1/orders` does not change: the order's identity and its lines.
const KEPT: &[&str] = &["entity_id", "increment_id", "items", "status_histories", "created_at"];

/// Orders and shipments, and what new orders are made of.
pub(super) struct Sales {
    /// Orders, by ascending `entity_id`.
    pub orders: Vec<Value>,
    /// Shipments, by ascending `entity_id`.
    pub shipments: Vec<Value>,
    children: Vec<Child>,
    rng: fastrand::Rng,
    comments: u64,
}

impl Sales {
    /// The orders of `seed`: the same seed gives the same orders.
    pub(super) fn generate(seed: u64, products: &[Value]) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let children = data::children(products);
        let orders = (1..=ORDERS).map(|id| data::order(id, &children, None, &mut rng, None)).collect();
        Self { orders, shipments: Vec::new(), children, rng, comments: 0 }
    }

    /// The order with this `entity_id`.
    pub(super) fn order_mut(&mut self, id: u64) -> Result<&mut Value, MagentoError> {
        self.orders.iter_mut().find(|o| o["entity_id"].as_u64() == Some(id)).ok_or_else(no_entity)
    }

    /// A new pending order, created now: of these SKUs (one each), else of random catalog children.
    fn create(&mut self, skus: Option<&[String]>) -> Value {
        let id = self.orders.iter().filter_map(|o| o["entity_id"].as_u64()).max().unwrap_or(0) + 1;
        let created = time::OffsetDateTime::now_utc().unix_timestamp();
        let order = data::order(id, &self.children, Some(created), &mut self.rng, skus);
        self.orders.push(order.clone());
        order
    }

    /// Adds a comment to an order's `status_histories` (newest first), changing its status when the
    /// comment names one.
    fn comment(&mut self, id: u64, history: &Value) -> Result<(), MagentoError> {
        let entity_id = self.comments + 1;
        let order = self.order_mut(id)?;
        let flag = |name: &str| history.get(name).and_then(super::input::number).unwrap_or(0.0) as u8;
        let status = history.get("status").and_then(Value::as_str).map(str::to_string);
        if let Some(status) = &status {
            order["status"] = json!(status);
        }
        let entry = json!({
            "entity_id": entity_id, "parent_id": id, "entity_name": "order", "created_at": data::now(),
            "comment": history.get("comment").and_then(Value::as_str).unwrap_or_default(),
            "is_customer_notified": flag("is_customer_notified"), "is_visible_on_front": flag("is_visible_on_front"),
            "status": status.unwrap_or_else(|| order["status"].as_str().unwrap_or_default().to_string()),
        });
        if let Some(histories) = order["status_histories"].as_array_mut() {
            histories.insert(0, entry);
        }
        order["updated_at"] = json!(data::now());
        self.comments = entity_id;
        Ok(())
    }
}

/// Answers the order endpoints; `None` for another route.
pub(super) fn answer(sim: &Sim, method: &str, route: &str, query: &str, body: &[u8]) -> Option<Answer> {
    if (method, route) == ("GET", "V1/orders") {
        let sales = lock(&sim.sales);
        return Some(search::search(&sales.orders, query, sim.options.input_limit).map(|v| (200, v)));
    }
    if (method, route) == ("POST", "V1/orders") {
        return Some(save(sim, body));
    }
    let rest = route.strip_prefix("V1/orders/")?;
    let (order_id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let order_id = id(order_id)?;
    Some(match (method, tail) {
        ("GET", "") => lock(&sim.sales).order_mut(order_id).map(|o| (200, o.clone())),
        ("POST", "comments") => json_body(body).and_then(|value| {
            lock(&sim.sales).comment(order_id, required(&value, "statusHistory")?).map(|()| (200, json!(true)))
        }),
        ("GET", "comments") => lock(&sim.sales).order_mut(order_id).map(|o| {
            let items = o["status_histories"].clone();
            let count = items.as_array().map_or(0, Vec::len);
            (200, json!({"items": items, "search_criteria": {"filter_groups": []}, "total_count": count}))
        }),
        _ => return None,
    })
}

/// `POST /V1/orders` with `{"entity": {"entity_id": …, …}}`: changes the order's fields (not its
/// identity nor its lines) and answers it.
fn save(sim: &Sim, body: &[u8]) -> Answer {
    let value = json_body(body)?;
    let entity = required(&value, "entity")?;
    let order_id = entity.get("entity_id").and_then(super::input::number).ok_or_else(no_entity)? as u64;
    update(&mut lock(&sim.sales), order_id, entity).map(|order| (200, order))
}

fn update(sales: &mut Sales, order_id: u64, fields: &Value) -> Result<Value, MagentoError> {
    let order = sales.order_mut(order_id)?;
    merge(order, fields, KEPT);
    order["updated_at"] = json!(data::now());
    Ok(order.clone())
}

/// `POST /__sim/orders` with `{"count": N}` adds N pending orders created now and answers them (with
/// `"skus": [...]`, each order has one of each of those SKUs: a configurable product's child as a
/// parent and a child line, any other SKU as a simple line);
/// `POST /__sim/orders/{id}` with fields changes that order (stamping `updated_at`) and answers it.
/// `None` for another control path.
pub(super) fn control(sim: &Sim, method: &str, rest: &str, body: &[u8]) -> Option<Answer> {
    let rest = rest.strip_prefix("orders")?;
    if method != "POST" {
        return None;
    }
    let answer = json_body(body).and_then(|value| {
        let mut sales = lock(&sim.sales);
        match rest.strip_prefix('/') {
            None if rest.is_empty() => {
                let count = value.get("count").and_then(Value::as_u64).unwrap_or(1);
                let skus: Option<Vec<String>> = value
                    .get("skus")
                    .and_then(Value::as_array)
                    .map(|l| l.iter().filter_map(Value::as_str).map(str::to_string).collect());
                let created: Vec<Value> = (0..count).map(|_| sales.create(skus.as_deref())).collect();
                Ok((200, json!({"created": created})))
            }
            Some(order_id) => {
                let order_id = id(order_id).ok_or_else(no_entity)?;
                update(&mut sales, order_id, &value).map(|order| (200, order))
            }
            None => Err(no_entity()),
        }
    });
    Some(answer)
}
