//! The seeded catalog and orders: configurable products with size/color children (named after the
//! Luma sample catalog), simple products including SKUs that hold `/`, `+` and spaces, and orders
//! whose configurable lines come as a parent line and a child line, as Magento stores them.

use serde_json::{Value, json};

/// Configurable products: SKU, name, price.
const CONFIGURABLES: &[(&str, &str, f64)] = &[
    ("MH01", "Chaz Kangeroo Hoodie", 52.0),
    ("MH02", "Teton Pullover Hoodie", 70.0),
    ("MJ01", "Beaumont Summit Kit", 42.0),
    ("WS01", "Iris Workout Top", 29.0),
    ("WT09", "Breathe-Easy Tank", 34.0),
    ("MSH02", "Apollo Running Short", 32.5),
];
const SIZES: &[&str] = &["XS", "S", "M", "L", "XL"];
const COLORS: &[&str] = &["Black", "Blue", "Orange"];
/// Simple products: SKU, name, price. Some SKUs hold the characters URLs get wrong.
const SIMPLES: &[(&str, &str, f64)] = &[
    ("24-MB01", "Joust Duffle Bag", 34.0),
    ("24-MB04", "Strive Shoulder Pack", 32.0),
    ("24-UG06", "Affirm Water Bottle", 7.0),
    ("24-WG02", "Didi Sport Watch", 92.0),
    ("WT/09 Blue", "Tank with a slash and a space", 34.0),
    ("GIFT+CARD 50", "Gift card with a plus", 50.0),
    ("100%-COTTON", "Cotton tee with a percent", 19.0),
];
const STATUSES: &[(&str, &str)] =
    &[("pending", "new"), ("processing", "processing"), ("complete", "complete"), ("canceled", "canceled")];
/// How many orders are generated.
const ORDERS: usize = 45;
/// 2024-01-01T00:00:00Z.
const EPOCH: i64 = 1_704_067_200;

/// Products and orders, generated once from the seed.
pub(super) struct Catalog {
    /// Every product: configurables, their children, simples.
    pub products: Vec<Value>,
    /// Orders, by ascending `entity_id`.
    pub orders: Vec<Value>,
}

fn timestamp(seconds: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(seconds).ok().and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

fn product(
    id: usize,
    sku: &str,
    name: &str,
    price: f64,
    kind: &str,
    attributes: &[(&str, &str)],
    rng: &mut fastrand::Rng,
) -> Value {
    let created = EPOCH + rng.i64(0..86_400 * 30);
    let mut custom: Vec<Value> = attributes.iter().map(|(k, v)| json!({"attribute_code": k, "value": v})).collect();
    custom.push(json!({"attribute_code": "url_key", "value": name.to_lowercase().replace(' ', "-")}));
    json!({
        "id": id, "sku": sku, "name": name, "attribute_set_id": if kind == "configurable" { 9 } else { 4 },
        "price": price, "status": 1, "visibility": if attributes.is_empty() { 4 } else { 1 }, "type_id": kind,
        "created_at": timestamp(created), "updated_at": timestamp(created + rng.i64(0..86_400 * 60)),
        "weight": 1, "extension_attributes": {}, "custom_attributes": custom,
    })
}

impl Catalog {
    /// The catalog and orders of `seed`: the same seed gives the same data.
    pub(super) fn generate(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut products = Vec::new();
        let mut children_of = Vec::new();
        for (sku, name, price) in CONFIGURABLES {
            let parent_id = products.len() + 1;
            let mut parent = product(parent_id, sku, name, *price, "configurable", &[], &mut rng);
            let mut links = Vec::new();
            for size in SIZES {
                for color in COLORS {
                    let id = products.len() + 2;
                    let child_sku = format!("{sku}-{size}-{color}");
                    let child_name = format!("{name}-{size}-{color}");
                    let attributes = [("size", *size), ("color", *color)];
                    products.push(product(id, &child_sku, &child_name, *price, "simple", &attributes, &mut rng));
                    links.push(id);
                    children_of.push((*sku, child_sku, *price));
                }
            }
            parent["extension_attributes"] = json!({
                "configurable_product_links": links,
                "configurable_product_options": [
                    {"id": parent_id * 10, "attribute_id": "144", "label": "Size", "position": 0, "product_id": parent_id,
                     "values": SIZES.iter().enumerate().map(|(i, _)| json!({"value_index": 166 + i})).collect::<Vec<_>>()},
                    {"id": parent_id * 10 + 1, "attribute_id": "93", "label": "Color", "position": 1, "product_id": parent_id,
                     "values": COLORS.iter().enumerate().map(|(i, _)| json!({"value_index": 49 + i})).collect::<Vec<_>>()},
                ],
            });
            products.insert(parent_id - 1, parent);
        }
        for (sku, name, price) in SIMPLES {
            let id = products.len() + 1;
            products.push(product(id, sku, name, *price, "simple", &[], &mut rng));
        }
        let orders = (1..=ORDERS).map(|id| order(id, &children_of, &mut rng)).collect();
        Self { products, orders }
    }

    /// The product with this SKU.
    pub(super) fn product(&self, sku: &str) -> Option<&Value> {
        self.products.iter().find(|p| p.get("sku").and_then(Value::as_str) == Some(sku))
    }

    /// One source item per simple product, on the `default` source.
    pub(super) fn source_items(&self) -> Vec<Value> {
        self.products
            .iter()
            .filter(|p| p.get("type_id").and_then(Value::as_str) == Some("simple"))
            .enumerate()
            .map(|(i, p)| json!({"sku": p["sku"], "source_code": "default", "quantity": (i * 7 % 50), "status": 1}))
            .collect()
    }
}

/// An order of one to three configurable lines, each a parent line and its child line.
fn order(id: usize, children: &[(&str, String, f64)], rng: &mut fastrand::Rng) -> Value {
    let created = EPOCH + (id as i64) * 3_600 * 7 + rng.i64(0..3_600);
    let (status, state) = STATUSES[rng.usize(0..STATUSES.len())];
    let mut items = Vec::new();
    let mut total = 0.0;
    for _ in 0..rng.usize(1..=3) {
        let (parent_sku, sku, price) = &children[rng.usize(0..children.len().max(1))];
        let qty = rng.u32(1..=3);
        let parent_item_id = id * 100 + items.len() + 1;
        total += price * f64::from(qty);
        items.push(json!({
            "item_id": parent_item_id, "order_id": id, "sku": sku, "name": parent_sku, "product_type": "configurable",
            "qty_ordered": qty, "price": price, "row_total": price * f64::from(qty),
        }));
        items.push(json!({
            "item_id": parent_item_id + 1, "order_id": id, "sku": sku, "name": sku, "product_type": "simple",
            "parent_item_id": parent_item_id, "qty_ordered": qty, "price": 0, "row_total": 0,
        }));
    }
    json!({
        "entity_id": id, "increment_id": format!("{:09}", id), "status": status, "state": state,
        "created_at": timestamp(created), "updated_at": timestamp(created + rng.i64(0..86_400 * 3)),
        "customer_email": format!("customer{}@example.com", rng.u32(1..=20)), "order_currency_code": "USD",
        "grand_total": total, "base_grand_total": total, "subtotal": total, "base_currency_code": "USD", "total_item_count": items.len() / 2, "items": items,
    })
}
