//! Customers: the search, one customer, create (a duplicate e-mail answers Magento's error) and
//! update. An update is `CustomerRepository::save` of the whole customer, as in Magento: `email`,
//! `firstname` and `lastname` must be sent again, a `group_id` must name a group that exists (left
//! out, the customer keeps its group), `custom_attributes` sent replace those of the same code (the
//! others are kept), and `addresses` left out are kept.

use serde_json::{Value, json};

use super::input::{Answer, id, json_body, merge, missing, required};
use super::{MagentoError, Sim, data, groups, lock, search};

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
            Some(json_body(body).and_then(|value| update(sim, &mut customers, index, &value)))
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
    check_group(sim, customer)?;
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

/// A `group_id` given must name a group that exists.
fn check_group(sim: &Sim, customer: &Value) -> Result<(), MagentoError> {
    match customer.get("group_id") {
        Some(group) if !group.is_null() && !groups::exists(sim, group) => Err(groups::no_such_group()),
        _ => Ok(()),
    }
}

/// `PUT /V1/customers/{id}` with `{"customer": {…}}`: saves the customer sent (see the module's doc).
fn update(sim: &Sim, customers: &mut [Value], index: usize, value: &Value) -> Answer {
    let fields = required(value, "customer")?;
    for name in ["email", "firstname", "lastname"] {
        if fields.get(name).and_then(Value::as_str).is_none_or(|v| v.trim().is_empty()) {
            return Err(missing(name));
        }
    }
    check_group(sim, fields)?;
    if let Some(email) = fields.get("email").and_then(Value::as_str)
        && email_taken(customers, email, Some(index))
    {
        return Err(duplicate());
    }
    let customer = &mut customers[index];
    let attributes = merged_attributes(customer.get("custom_attributes"), fields.get("custom_attributes"));
    merge(customer, fields, KEPT);
    if let Some(attributes) = attributes {
        customer["custom_attributes"] = attributes;
    }
    customer["updated_at"] = json!(data::now());
    Ok((200, customer.clone()))
}

/// The stored custom attributes with the sent ones replacing those of the same `attribute_code`;
/// `None` when none were sent.
fn merged_attributes(stored: Option<&Value>, sent: Option<&Value>) -> Option<Value> {
    let sent = sent?.as_array()?;
    let code = |a: &Value| a.get("attribute_code").and_then(Value::as_str).map(str::to_string);
    let mut merged: Vec<Value> = stored
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|kept| sent.iter().all(|s| code(s) != code(kept)))
        .cloned()
        .collect();
    merged.extend(sent.iter().cloned());
    Some(Value::Array(merged))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> Sim {
        Sim::for_tests(false)
    }

    fn put(sim: &Sim, id: u64, customer: Value) -> Answer {
        let body = json!({ "customer": customer }).to_string();
        answer(sim, "PUT", &format!("V1/customers/{id}"), "", body.as_bytes()).expect("a customer route")
    }

    fn whole(sim: &Sim, id: u64) -> Value {
        lock(&sim.customers).iter().find(|c| c["id"] == json!(id)).cloned().expect("the customer")
    }

    #[test]
    fn an_update_needs_the_names_and_the_email_again() {
        let sim = sim();
        let error = put(&sim, 2, json!({"group_id": 2})).expect_err("refused");
        assert_eq!((error.status, error.parameters), (400, Some(json!({"fieldName": "email"}))));
        let mut customer = whole(&sim, 2);
        customer["lastname"] = json!(" ");
        let error = put(&sim, 2, customer).expect_err("refused");
        assert_eq!(error.parameters, Some(json!({"fieldName": "lastname"})));
        assert_eq!(whole(&sim, 2)["group_id"], 1, "nothing saved");
    }

    #[test]
    fn a_group_must_exist_and_a_customer_left_without_one_keeps_its_own() {
        let sim = sim();
        let mut customer = whole(&sim, 3);
        customer["group_id"] = json!(9);
        let error = put(&sim, 3, customer.clone()).expect_err("no group 9");
        assert_eq!((error.status, error.message.as_str()), (400, "The specified customer group id does not exist."));
        let created = groups::answer(&sim, "POST", "V1/customerGroups", "", br#"{"group": {"code": "Credit hold"}}"#)
            .expect("a group route")
            .expect("created");
        assert_eq!(created.1["id"], 4);
        customer["group_id"] = json!(4);
        assert_eq!(put(&sim, 3, customer.clone()).expect("saved").1["group_id"], 4);
        customer.as_object_mut().expect("an object").remove("group_id");
        assert_eq!(put(&sim, 3, customer).expect("saved").1["group_id"], 4, "kept");
        let again = groups::answer(&sim, "POST", "V1/customerGroups", "", br#"{"group": {"code": "credit HOLD"}}"#);
        assert_eq!(again.expect("a group route").expect_err("taken").message, "Customer Group already exists.");
    }

    #[test]
    fn custom_attributes_sent_replace_those_of_their_code_and_keep_the_others() {
        let sim = sim();
        let mut customer = whole(&sim, 4);
        customer["custom_attributes"] =
            json!([{"attribute_code": "a", "value": "1"}, {"attribute_code": "b", "value": "2"}]);
        put(&sim, 4, customer.clone()).expect("saved");
        customer["custom_attributes"] = json!([{"attribute_code": "b", "value": "3"}]);
        let saved = put(&sim, 4, customer).expect("saved").1;
        assert_eq!(
            saved["custom_attributes"],
            json!([{"attribute_code": "a", "value": "1"}, {"attribute_code": "b", "value": "3"}])
        );
    }

    #[test]
    fn addresses_left_out_are_kept() {
        let sim = sim();
        let mut customer = whole(&sim, 1);
        assert_eq!(customer["addresses"][0]["city"], "Calder");
        customer.as_object_mut().expect("an object").remove("addresses");
        customer["firstname"] = json!("Veronica M.");
        let saved = put(&sim, 1, customer).expect("saved").1;
        assert_eq!(
            (saved["firstname"].clone(), saved["addresses"][0]["city"].clone()),
            (json!("Veronica M."), json!("Calder"))
        );
    }
}
