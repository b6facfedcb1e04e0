//! Async bulk: `POST /rest/[store/]async/bulk/V1/…` with a list of request bodies accepts one
//! operation per body (`202 {bulk_uuid, request_items, errors}`); operations run behind the
//! client's back, as Magento's consumers do: before the simulator answers its next request, or when
//! their bulk's status is polled (`GET /V1/bulk/{uuid}/status`, `…/detailed-status`). The control endpoint `/__sim/bulk` keeps operations open for a number of polls and makes
//! chosen ones end retriably failed (2), failed (3) or rejected (5).

use serde_json::{Value, json};
use sha2::Digest as _;

use super::input::{ASYNC_LIMIT, Answer, check_limit, json_body};
use super::{MagentoError, Sim, data, inventory, lock};

const COMPLETE: u8 = 1;
const OPEN: u8 = 4;

/// The bulks accepted and how the next operations end.
#[derive(Default)]
pub(super) struct Bulks {
    bulks: Vec<Bulk>,
    plan: Plan,
    /// Whether some operation may be due to run (open, with no polls left to wait).
    due: bool,
}

struct Bulk {
    uuid: String,
    description: String,
    start_time: String,
    operations: Vec<Operation>,
}

struct Operation {
    id: usize,
    topic: &'static str,
    data: Value,
    status: u8,
    message: String,
    error_code: u32,
    open_polls: u32,
}

/// How operations end, set by `POST /__sim/bulk`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Plan {
    /// Polls an operation stays open (status 4) before it runs.
    #[serde(default)]
    open_polls: u32,
    /// Outcomes forced on operations whose request body contains a text.
    #[serde(default)]
    outcomes: Vec<Outcome>,
}

/// One forced outcome.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Outcome {
    /// A text the operation's request body (as JSON) contains, e.g. a SKU.
    #[serde(rename = "match")]
    pattern: String,
    /// 2 (retriably failed), 3 (failed) or 5 (rejected).
    status: u8,
    /// The operation's `result_message`.
    #[serde(default)]
    message: Option<String>,
    /// How many operations it applies to (default 1: a retry then succeeds).
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

/// The topic of an asynchronous route, as Magento names its queues.
fn topic(method: &str, route: &str) -> Option<&'static str> {
    Some(match (method, route) {
        ("POST", "V1/inventory/source-items") => "async.magento.inventoryapi.api.sourceitemssaveinterface.execute.post",
        ("POST", "V1/products") => "async.magento.catalog.api.productrepositoryinterface.save.post",
        ("POST", "V1/products/base-prices") => "async.magento.catalog.api.basepricestorageinterface.update.post",
        ("POST", "V1/customers") => "async.magento.customer.api.accountmanagementinterface.createaccount.post",
        _ => return None,
    })
}

/// `POST /rest/async/bulk/V1/…`: one operation per element of the body's list.
pub(super) fn accept(sim: &Sim, method: &str, route: &str, body: &[u8]) -> Answer {
    let topic = topic(method, route).ok_or_else(|| MagentoError::new(404, "Request does not match any route."))?;
    let value = json_body(body)?;
    let Value::Array(requests) = value else {
        return Err(MagentoError::new(400, "Request body is expected to be an array of entities."));
    };
    check_limit(requests.len(), sim.options.input_limit.then_some(ASYNC_LIMIT), "array")?;
    let uuid = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..0x1000),
        fastrand::u16(..0x1000),
        fastrand::u64(..1 << 48)
    );
    let mut bulks = lock(&sim.bulks);
    let open_polls = bulks.plan.open_polls;
    let mut items = Vec::with_capacity(requests.len());
    let mut operations = Vec::with_capacity(requests.len());
    for (id, data) in requests.into_iter().enumerate() {
        let hash = format!("{:x}", sha2::Sha256::digest(data.to_string().as_bytes()));
        items.push(json!({"id": id, "data_hash": hash, "status": "accepted"}));
        operations.push(Operation { id, topic, data, status: OPEN, message: String::new(), error_code: 0, open_polls });
    }
    bulks.due |= open_polls == 0;
    bulks.bulks.push(Bulk {
        uuid: uuid.clone(),
        description: format!("Topic {topic}"),
        start_time: data::now(),
        operations,
    });
    Ok((202, json!({"bulk_uuid": uuid, "request_items": items, "errors": false})))
}

/// Runs an operation: a forced outcome, or the synchronous endpoint's work.
fn run(sim: &Sim, plan: &mut Plan, operation: &mut Operation) {
    let text = operation.data.to_string();
    if let Some(outcome) = plan.outcomes.iter_mut().find(|o| o.times > 0 && text.contains(&o.pattern)) {
        outcome.times -= 1;
        operation.status = outcome.status;
        operation.message = outcome.message.clone().unwrap_or_else(|| format!("Simulated outcome {}.", outcome.status));
        operation.error_code = 0;
        return;
    }
    let done = match operation.topic {
        "async.magento.inventoryapi.api.sourceitemssaveinterface.execute.post" => {
            inventory::save_source_items(sim, &operation.data).map(drop)
        }
        "async.magento.catalog.api.productrepositoryinterface.save.post" => save_product(sim, &operation.data),
        _ => Ok(()),
    };
    match done {
        Ok(()) => {
            operation.status = COMPLETE;
            operation.message = "Service execution success ".to_string() + operation.topic;
        }
        Err(e) => {
            operation.status = 3;
            operation.message = e.message;
            operation.error_code = u32::from(e.status);
        }
    }
}

/// A product save's data: `{"product": {"sku", …}}`, merged into the product with that SKU or added.
fn save_product(sim: &Sim, data: &Value) -> Result<(), MagentoError> {
    let product = super::input::required(data, "product")?;
    let sku = super::input::required(product, "sku")?.clone();
    let mut products = lock(&sim.products);
    let next_id = products.len() + 1;
    let stored = match products.iter().position(|p| p["sku"] == sku) {
        Some(index) => &mut products[index],
        None => {
            products.push(json!({"id": next_id, "sku": sku, "created_at": data::now(), "type_id": "simple",
                                 "extension_attributes": {}, "custom_attributes": []}));
            let last = products.len() - 1;
            &mut products[last]
        }
    };
    super::input::merge(stored, product, &["id", "created_at"]);
    stored["updated_at"] = json!(data::now());
    Ok(())
}

/// Runs every open operation that waits for no more polls: what Magento's consumers did since the
/// client's last request.
pub(super) fn run_due(sim: &Sim) {
    let mut bulks = lock(&sim.bulks);
    if !bulks.due {
        return;
    }
    let Bulks { bulks, plan, due } = &mut *bulks;
    for bulk in bulks.iter_mut() {
        for operation in bulk.operations.iter_mut().filter(|o| o.status == OPEN && o.open_polls == 0) {
            run(sim, plan, operation);
        }
    }
    *due = false;
}

/// Answers `GET /V1/bulk/{uuid}/status` and `…/detailed-status`; `None` for another route.
pub(super) fn answer(sim: &Sim, method: &str, route: &str) -> Option<Answer> {
    let rest = route.strip_prefix("V1/bulk/")?;
    let (uuid, view) = rest.split_once('/')?;
    if method != "GET" || !matches!(view, "status" | "detailed-status") {
        return None;
    }
    let mut bulks = lock(&sim.bulks);
    let Bulks { bulks, plan, due } = &mut *bulks;
    let Some(bulk) = bulks.iter_mut().find(|b| b.uuid == uuid) else {
        return Some(Err(MagentoError::new(404, "Bulk uuid %bulkUuid not exist").with(json!({"bulkUuid": uuid}))));
    };
    for operation in bulk.operations.iter_mut().filter(|o| o.status == OPEN) {
        if operation.open_polls > 0 {
            operation.open_polls -= 1;
            // Open for no more polls: it runs before the next request, if no poll comes first.
            *due |= operation.open_polls == 0;
        } else {
            run(sim, plan, operation);
        }
    }
    let detailed = view == "detailed-status";
    let list: Vec<Value> = bulk
        .operations
        .iter()
        .map(|o| {
            let mut entry =
                json!({"id": o.id, "status": o.status, "result_message": o.message, "error_code": o.error_code});
            if detailed {
                let meta = json!({"entity_id": null, "entity_link": "", "meta_information": o.data.to_string()});
                entry["bulk_uuid"] = json!(bulk.uuid);
                entry["topic_name"] = json!(o.topic);
                entry["serialized_data"] = json!(meta.to_string());
                entry["result_serialized_data"] = json!("");
            }
            entry
        })
        .collect();
    Some(Ok((
        200,
        json!({
            "operations_list": list, "user_type": 2, "bulk_id": bulk.uuid, "description": bulk.description,
            "start_time": bulk.start_time, "user_id": 1, "operation_count": bulk.operations.len(),
        }),
    )))
}

/// `POST /__sim/bulk` sets how the next operations end (`{"open_polls", "outcomes": [{"match",
/// "status", "message", "times"}]}`); `DELETE /__sim/bulk` goes back to "complete at once".
pub(super) fn control(sim: &Sim, method: &str, rest: &str, body: &[u8]) -> Option<Answer> {
    if rest != "bulk" {
        return None;
    }
    let mut bulks = lock(&sim.bulks);
    Some(match method {
        "POST" => match serde_json::from_slice::<Plan>(body) {
            Ok(plan) => {
                let count = plan.outcomes.len();
                bulks.plan = plan;
                Ok((200, json!({"outcomes": count})))
            }
            Err(e) => Err(MagentoError::new(400, &format!("Bad bulk plan: {e}"))),
        },
        "DELETE" => {
            bulks.plan = Plan::default();
            Ok((200, json!({"cleared": true})))
        }
        _ => return None,
    })
}
