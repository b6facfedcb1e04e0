//! Customer groups (`/V1/customerGroups`): Magento's four built-in groups, creating one (a code
//! already taken answers Magento's error), reading one, searching them. Customers name their group
//! by id, and a save naming a group that does not exist is refused (see `customers.rs`).

use serde_json::{Value, json};

use super::input::{Answer, id, json_body, missing, required};
use super::{MagentoError, Sim, lock, search};

/// Magento's built-in groups, with the tax class "Retail Customer" (3) every one of them has.
pub(super) fn built_in() -> Vec<Value> {
    ["NOT LOGGED IN", "General", "Wholesale", "Retailer"]
        .iter()
        .enumerate()
        .map(|(id, code)| json!({"id": id, "code": code, "tax_class_id": 3, "tax_class_name": "Retail Customer"}))
        .collect()
}

/// Whether group `group_id` exists.
pub(super) fn exists(sim: &Sim, group_id: &Value) -> bool {
    let groups = lock(&sim.groups);
    group_id.as_u64().is_some_and(|wanted| groups.iter().any(|g| g["id"].as_u64() == Some(wanted)))
}

/// `CustomerRepository::validateGroupId`'s refusal (Magento 2.4).
pub(super) fn no_such_group() -> MagentoError {
    MagentoError::new(400, "The specified customer group id does not exist.")
}

/// Answers the customer group endpoints; `None` for another route.
pub(super) fn answer(sim: &Sim, method: &str, route: &str, query: &str, body: &[u8]) -> Option<Answer> {
    match (method, route) {
        ("GET", "V1/customerGroups/search") => {
            Some(search::search(&lock(&sim.groups), query, sim.options.input_limit).map(|v| (200, v)))
        }
        ("POST", "V1/customerGroups") => Some(json_body(body).and_then(|value| create(sim, &value))),
        ("GET", _) => {
            let raw = route.strip_prefix("V1/customerGroups/")?;
            let groups = lock(&sim.groups);
            let group = id(raw).and_then(|n| groups.iter().find(|g| g["id"].as_u64() == Some(n)));
            Some(group.map(|g| (200, g.clone())).ok_or_else(|| {
                MagentoError::new(404, "No such entity with %fieldName = %fieldValue")
                    .with(json!({"fieldName": "id", "fieldValue": raw}))
            }))
        }
        _ => None,
    }
}

/// `POST /V1/customerGroups` with `{"group": {code, tax_class_id}}`: answers the group with its id.
fn create(sim: &Sim, value: &Value) -> Answer {
    let group = required(value, "group")?;
    let code = group.get("code").and_then(Value::as_str).map(str::trim).unwrap_or_default();
    if code.is_empty() {
        return Err(missing("code"));
    }
    let mut groups = lock(&sim.groups);
    if groups.iter().any(|g| g["code"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(code))) {
        return Err(MagentoError::new(400, "Customer Group already exists."));
    }
    let new_id = groups.iter().filter_map(|g| g["id"].as_u64()).max().unwrap_or(0) + 1;
    let tax_class = group.get("tax_class_id").and_then(Value::as_u64).unwrap_or(3);
    let stored = json!({"id": new_id, "code": code, "tax_class_id": tax_class, "tax_class_name": "Retail Customer"});
    groups.push(stored.clone());
    Ok((200, stored))
}
