//! Customers: the search, one customer, create (a duplicate e-mail answers Magento's error) and
//! update (`group_id`, `custom_attributes`, …).

use serde_json::{Value, json};

use super::input::{Answer, id, json_body, merge, required};
use super::{MagentoError, Sim, data, lock, search};

/// Fields an update does not change.
const KEPT: &[&str] = &["id", "created_at", "created_in"];

fn no_customer(customer_id: &str) -> MagentoError {
    MagentoError::new(404, "No such entity with %fieldName = %fieldValue")
        .with(json!({"fieldName": "customerId", "fieldValue": customer_id}))
}

fn duplicate() -> MagentoError {
    MagentoError::new(400, "A customer with the same email address already exists in an associated website.")
}

/// Answers the customer endpoints; `None` for another route.
pub(super) fn answer(sim: &Sim, method: &str, route: &str, query: &str, body: &[u8]) -> Option<Answer> {
    match (method, route) {
        ("GET", "V1/customers/search") => {
            let customers = lock(&sim.customers);
            Some(search::search(&customers, query, sim.options.input_limit).map(|v| (200, v)))
        }
        ("POST", "V1/customers") => Some(json_body(body).and_then(|value| create(sim, &value))),
        ("GET" | "PUT", _) => {
            let raw = route.strip_prefix("V1/customers/")?;
            let mut customers = lock(&sim.customers);
            let index = id(raw).and_then(|n| customers.iter().position(|c| c["id"].as_u64() == Some(n)));
            let Some(index) = index else { return Some(Err(no_customer(raw))) };
            if method == "GET" {
                return Some(Ok((200, customers[index].clone())));
            }
            Some(json_body(body).and_then(|value| update(&mut customers, index, &value)))
        }
        _ => None,
    }
}

fn email_taken(customers: &[Value], email: &str, except: Option<usize>) -> bool {
    customers
        .iter()
        .enumerate()
        .any(|(i, c)| Some(i) != except && c["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email)))
}

/// `POST /V1/customers` with `{"customer": {email, firstname, lastname, …}, "password"?}`.
fn create(sim: &Sim, value: &Value) -> Answer {
    let customer = required(value, "customer")?;
    let email = required(customer, "email")?.as_str().unwrap_or_default().to_string();
    required(customer, "firstname")?;
    required(customer, "lastname")?;
    let mut customers = lock(&sim.customers);
    if email_taken(&customers, &email, None) {
        return Err(duplicate());
    }
    let new_id = customers.iter().filter_map(|c| c["id"].as_u64()).max().unwrap_or(0) + 1;
    let mut stored = json!({
        "id": new_id, "group_id": 1, "created_at": data::now(), "updated_at": data::now(),
        "created_in": "Default Store View", "store_id": 1, "website_id": 1, "addresses": [],
        "disable_auto_group_change": 0, "extension_attributes": {"is_subscribed": false},
    });
    merge(&mut stored, customer, KEPT);
    customers.push(stored.clone());
    Ok((200, stored))
}

/// `PUT /V1/customers/{id}` with `{"customer": {…}}`: changes the given fields.
fn update(customers: &mut [Value], index: usize, value: &Value) -> Answer {
    let fields = required(value, "customer")?;
    if let Some(email) = fields.get("email").and_then(Value::as_str)
        && email_taken(customers, email, Some(index))
    {
        return Err(duplicate());
    }
    let customer = &mut customers[index];
    merge(customer, fields, KEPT);
    customer["updated_at"] = json!(data::now());
    Ok((200, customer.clone()))
}
