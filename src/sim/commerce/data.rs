//! Seeded data beside the catalog: orders whose configurable lines come as a parent line and a
//! child line, as Magento stores them, customers (Luma's Veronica Costello and generated ones), MSI
//! source items; and Magento's timestamps.

use serde_json::{Value, json};

const STATUSES: &[(&str, &str)] =
    &[("pending", "new"), ("processing", "processing"), ("complete", "complete"), ("canceled", "canceled")];
/// How many customers are seeded; orders name them as `customer{n}@example.com` (1 is Luma's).
const CUSTOMERS: usize = 20;
const FIRST_NAMES: &[&str] = &["Ava", "Ben", "Chloe", "Dario", "Emma", "Femi", "Grace", "Hugo", "Ines", "Jonas"];
const LAST_NAMES: &[&str] = &["Meyer", "Okafor", "Rossi", "Nguyen", "Dubois", "Kowalski", "Silva", "Berg"];
/// 2024-01-01T00:00:00Z.
const EPOCH: i64 = 1_704_067_200;

/// Magento's `YYYY-MM-DD hh:mm:ss` (UTC) of a Unix time.
pub(super) fn timestamp(seconds: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(seconds).ok().and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

/// The time now, as Magento writes it: every change the simulator makes is stamped with it.
pub(super) fn now() -> String {
    timestamp(time::OffsetDateTime::now_utc().unix_timestamp())
}

/// One source item per simple product, on the `default` source.
pub(super) fn source_items(products: &[Value]) -> Vec<Value> {
    products
        .iter()
        .filter(|p| p.get("type_id").and_then(Value::as_str) == Some("simple"))
        .enumerate()
        .map(|(i, p)| json!({"sku": p["sku"], "source_code": "default", "quantity": (i * 7 % 50), "status": 1}))
        .collect()
}

/// A child of a configurable product an order line can name.
#[derive(Debug, Clone)]
pub(super) struct Child {
    parent_id: u64,
    parent_name: String,
    id: u64,
    sku: String,
    price: f64,
    /// The child's `size` and `color` option ids (attribute id, option id), as its parent line's
    /// `product_option` names them.
    options: Vec<(String, u64)>,
}

/// The price of a simple line an order is given by SKU.
const SIMPLE_PRICE: f64 = 10.0;
/// The attribute ids of `size` and `color`, by code.
const OPTION_ATTRIBUTES: &[(&str, &str)] = &[("size", "144"), ("color", "93")];
/// Cities of the generated addresses.
const CITIES: &[(&str, &str, &str)] = &[
    ("Calder", "49628", "MI"),
    ("Austin", "78701", "TX"),
    ("Portland", "97201", "OR"),
    ("Denver", "80202", "CO"),
    ("Boston", "02108", "MA"),
];

/// The children of the catalog's configurable products, by parent.
pub(super) fn children(products: &[Value]) -> Vec<Child> {
    let mut children = Vec::new();
    for parent in products.iter().filter(|p| p["type_id"] == "configurable") {
        let links = parent["extension_attributes"]["configurable_product_links"].as_array();
        for id in links.into_iter().flatten().filter_map(Value::as_u64) {
            let Some(child) = (id as usize).checked_sub(1).and_then(|i| products.get(i)) else { continue };
            let options = OPTION_ATTRIBUTES
                .iter()
                .filter_map(|(code, attribute)| {
                    let value =
                        child["custom_attributes"].as_array()?.iter().find(|a| a["attribute_code"] == *code)?["value"]
                            .as_str()?
                            .parse()
                            .ok()?;
                    Some((attribute.to_string(), value))
                })
                .collect();
            children.push(Child {
                parent_id: parent["id"].as_u64().unwrap_or_default(),
                parent_name: parent["name"].as_str().unwrap_or_default().to_string(),
                id,
                sku: child["sku"].as_str().unwrap_or_default().to_string(),
                price: child["price"].as_f64().unwrap_or_default(),
                options,
            });
        }
    }
    children
}

/// An order of one to three configurable lines, each a parent line and its child line. `created`
/// is its `created_at` (a Unix time); `None` for a seeded order, stamped by its id.
pub(super) fn order(
    id: u64,
    children: &[Child],
    created: Option<i64>,
    rng: &mut fastrand::Rng,
    skus: Option<&[String]>,
) -> Value {
    let seeded = created.is_none();
    let created = created.unwrap_or(EPOCH + (id as i64) * 3_600 * 7 + rng.i64(0..3_600));
    let (status, state) = if seeded { STATUSES[rng.usize(0..STATUSES.len())] } else { STATUSES[0] };
    let mut items = Vec::new();
    let mut total = 0.0;
    // The lines: the SKUs asked for, one each (a SKU no configurable product has is a simple line),
    // else one to three of the catalog's children at random.
    let picks: Vec<(Result<&Child, &str>, f64)> = match skus {
        Some(skus) => {
            skus.iter().map(|sku| (children.iter().find(|c| c.sku == *sku).ok_or(sku.as_str()), 1.0)).collect()
        }
        None => (0..rng.usize(1..=3))
            .map_while(|_| {
                let child = children.get(rng.usize(0..children.len().max(1)))?;
                Some((Ok(child), f64::from(rng.u32(1..=3))))
            })
            .collect(),
    };
    for (pick, qty) in picks {
        let line_id = id * 100 + items.len() as u64 + 1;
        let shipped = if status == "complete" { qty } else { 0.0 };
        let child = match pick {
            Ok(child) => child,
            Err(sku) => {
                // A simple product sold on its own (or one the catalog does not know).
                total += SIMPLE_PRICE * qty;
                items.push(json!({
                    "item_id": line_id, "order_id": id, "product_id": 0, "sku": sku, "name": sku,
                    "product_type": "simple", "qty_ordered": qty, "qty_shipped": shipped, "price": SIMPLE_PRICE,
                    "row_total": SIMPLE_PRICE * qty, "created_at": timestamp(created),
                }));
                continue;
            }
        };
        let parent_item_id = line_id;
        total += child.price * qty;
        items.push(json!({
            "item_id": parent_item_id, "order_id": id, "product_id": child.parent_id, "sku": child.sku,
            "name": child.parent_name, "product_type": "configurable", "qty_ordered": qty, "qty_shipped": shipped,
            "price": child.price, "row_total": child.price * qty, "created_at": timestamp(created),
            "product_option": {"extension_attributes": {"configurable_item_options": child.options.iter()
                .map(|(attribute, value)| json!({"option_id": attribute, "option_value": value}))
                .collect::<Vec<_>>()}},
        }));
        items.push(json!({
            "item_id": parent_item_id + 1, "order_id": id, "product_id": child.id, "sku": child.sku,
            "name": child.sku, "product_type": "simple", "parent_item_id": parent_item_id, "qty_ordered": qty,
            "qty_shipped": shipped, "price": 0, "row_total": 0, "created_at": timestamp(created),
        }));
    }
    let lines = items.iter().filter(|i| i.get("parent_item_id").is_none()).count();
    let customer = rng.usize(1..=CUSTOMERS);
    let (first, last) = customer_name(customer);
    let updated = if seeded { created + rng.i64(0..86_400 * 3) } else { created };
    json!({
        "entity_id": id, "increment_id": format!("{id:09}"), "status": status, "state": state, "store_id": 1,
        "created_at": timestamp(created), "updated_at": timestamp(updated), "customer_id": customer,
        "customer_email": customer_email(customer), "customer_firstname": first, "customer_lastname": last,
        "order_currency_code": "USD", "base_currency_code": "USD", "grand_total": total, "base_grand_total": total,
        "subtotal": total, "total_item_count": lines, "items": items.clone(), "status_histories": [],
        "billing_address": address(customer, "billing"),
        "extension_attributes": {"shipping_assignments": [{"items": items, "shipping": {
            "address": address(customer, "shipping"), "method": "flatrate_flatrate"}}]},
    })
}

/// A customer's billing or shipping address, as an order holds it.
fn address(customer: usize, kind: &str) -> Value {
    let (first, last) = customer_name(customer);
    let (city, postcode, region) = CITIES[customer % CITIES.len()];
    json!({
        "address_type": kind, "firstname": first, "lastname": last, "email": customer_email(customer),
        "street": [format!("{} Main Street", 100 + customer * 7)], "city": city, "postcode": postcode,
        "region_code": region, "country_id": "US", "telephone": format!("(555) 229-{:04}", 3000 + customer),
    })
}

fn customer_email(n: usize) -> String {
    if n == 1 { "roni_cost@example.com".to_string() } else { format!("customer{n}@example.com") }
}

fn customer_name(n: usize) -> (&'static str, &'static str) {
    if n == 1 {
        ("Veronica", "Costello")
    } else {
        (FIRST_NAMES[n % FIRST_NAMES.len()], LAST_NAMES[n % LAST_NAMES.len()])
    }
}

/// The seeded customers: 1 is Luma's sample customer (`CustomerSampleData`), the others generated.
pub(super) fn customers() -> Vec<Value> {
    (1..=CUSTOMERS)
        .map(|n| {
            let (first, last) = customer_name(n);
            let created = timestamp(EPOCH - 86_400 * 30 + n as i64 * 3_600);
            let mut customer = json!({
                "id": n, "group_id": 1, "created_at": created, "updated_at": created,
                "created_in": "Default Store View", "email": customer_email(n), "firstname": first,
                "lastname": last, "store_id": 1, "website_id": 1, "addresses": [], "disable_auto_group_change": 0,
                "extension_attributes": {"is_subscribed": false},
            });
            if n == 1 {
                // As in Luma's CustomerSampleData_customer_profile.csv.
                customer["dob"] = json!("1973-12-15");
                customer["gender"] = json!(2);
                customer["default_billing"] = json!("1");
                customer["default_shipping"] = json!("1");
                customer["addresses"] = json!([{
                    "id": 1, "customer_id": 1, "region": {"region_code": "MI", "region": "Michigan", "region_id": 33},
                    "region_id": 33, "country_id": "US", "street": ["6146 Honey Bluff Parkway"],
                    "telephone": "(555) 229-3326", "postcode": "49628-7978", "city": "Calder",
                    "firstname": "Veronica", "lastname": "Costello", "default_shipping": true, "default_billing": true,
                }]);
            }
            customer
        })
        .collect()
}
