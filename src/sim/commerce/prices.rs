//! Prices: base prices (the product's `price`), special prices and tier prices, each updated and
//! read by SKU lists. As Magento does, an update answers 200 with one failure per refused item
//! (`{"message", "parameters": [...]}`) and saves the others; configurable parents have no price of
//! their own; unknown SKUs are left out of the `-information` answers.

use serde_json::{Value, json};

use super::input::{Answer, LIST_LIMIT, json_body, list, number, text};
use super::{Sim, data, lock};

/// Special and tier prices; base prices live on the products.
#[derive(Default)]
pub(super) struct Prices {
    special: Vec<Value>,
    tier: Vec<Value>,
}

/// Which price list an endpoint works on.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Base,
    Special,
    Tier,
}

impl Kind {
    fn interface(self) -> &'static str {
        match self {
            Kind::Base => "\\Magento\\Catalog\\Api\\Data\\BasePriceInterface",
            Kind::Special => "\\Magento\\Catalog\\Api\\Data\\SpecialPriceInterface",
            Kind::Tier => "\\Magento\\Catalog\\Api\\Data\\TierPriceInterface",
        }
    }
}

/// Answers the price endpoints; `None` for another route.
pub(super) fn answer(sim: &Sim, method: &str, route: &str, body: &[u8]) -> Option<Answer> {
    let endpoint = route.strip_prefix("V1/products/")?;
    let (kind, action) = match (method, endpoint) {
        ("POST", "base-prices") => (Kind::Base, "update"),
        ("POST", "base-prices-information") => (Kind::Base, "get"),
        ("POST", "special-price") => (Kind::Special, "update"),
        ("POST", "special-price-information") => (Kind::Special, "get"),
        ("POST", "special-price-delete") => (Kind::Special, "delete"),
        ("POST", "tier-prices") => (Kind::Tier, "update"),
        ("PUT", "tier-prices") => (Kind::Tier, "replace"),
        ("POST", "tier-prices-information") => (Kind::Tier, "get"),
        ("POST", "tier-prices-delete") => (Kind::Tier, "delete"),
        _ => return None,
    };
    let limit = sim.options.input_limit.then_some(LIST_LIMIT);
    Some(json_body(body).and_then(|value| {
        if action == "get" {
            let skus: Vec<String> = list(&value, "skus", limit, "string")?.iter().map(text).collect();
            return Ok((200, Value::Array(get(sim, kind, &skus))));
        }
        let items = list(&value, "prices", limit, kind.interface())?;
        Ok((200, Value::Array(change(sim, kind, action, items))))
    }))
}

/// Whether a SKU names a product that carries its own price (not a configurable parent).
fn priced(sim: &Sim, sku: &str) -> bool {
    lock(&sim.products).iter().any(|p| p["sku"] == sku && p["type_id"] != "configurable")
}

fn get(sim: &Sim, kind: Kind, skus: &[String]) -> Vec<Value> {
    let known: Vec<&String> = skus.iter().filter(|s| priced(sim, s)).collect();
    let listed = |entries: &[Value]| -> Vec<Value> {
        entries.iter().filter(|e| known.iter().any(|s| e["sku"] == s.as_str())).cloned().collect()
    };
    match kind {
        Kind::Base => lock(&sim.products)
            .iter()
            .filter(|p| known.iter().any(|s| p["sku"] == s.as_str()))
            .map(|p| json!({"price": p["price"], "store_id": 0, "sku": p["sku"]}))
            .collect(),
        Kind::Special => listed(&lock(&sim.prices).special),
        Kind::Tier => listed(&lock(&sim.prices).tier),
    }
}

fn failure(message: &str, parameters: &[String]) -> Value {
    json!({"message": message, "parameters": parameters})
}

/// Magento's failure for one refused item, if it is refused.
fn refusal(sim: &Sim, kind: Kind, item: &Value) -> Option<Value> {
    let field = |name: &str| item.get(name).map(text).unwrap_or_default();
    let sku = field("sku");
    let price = item.get("price").and_then(number).filter(|p| *p >= 0.0);
    let known = !sku.is_empty() && priced(sim, &sku);
    match kind {
        Kind::Base => {
            if !known {
                return Some(failure("Invalid attribute %fieldName = %fieldValue.", &["SKU".into(), sku]));
            }
            if price.is_none() {
                return Some(failure("Invalid attribute %fieldName = %fieldValue.", &["Price".into(), field("price")]));
            }
            (!matches!(field("store_id").as_str(), "0" | "1")).then(|| {
                failure(
                    "Requested store is not found. Row ID: SKU = %SKU, Store ID: %storeId.",
                    &[sku, field("store_id")],
                )
            })
        }
        Kind::Special => {
            let row = "Row ID: SKU = %SKU, Store ID: %storeId, Price From: %priceFrom, Price To: %priceTo.";
            let ids = [sku.clone(), field("store_id"), field("price_from"), field("price_to")];
            if !known {
                let message =
                    format!("The product that was requested doesn't exist. Verify the product and try again. {row}");
                return Some(failure(&message, &ids));
            }
            price.is_none().then(|| {
                let mut parameters = vec![field("price")];
                parameters.extend(ids);
                failure(&format!("Invalid attribute Price = %price. {row}"), &parameters)
            })
        }
        Kind::Tier => {
            let row = "Row ID: SKU = %SKU, Website ID: %websiteId, Customer Group: %customerGroup, Quantity: %qty.";
            let ids = [sku.clone(), field("website_id"), field("customer_group"), field("quantity")];
            if !known {
                return Some(failure(&format!("Invalid attribute SKU = %SKU. {row}"), &ids));
            }
            let bad_type = !matches!(field("price_type").as_str(), "fixed" | "discount");
            (price.is_none() || bad_type).then(|| {
                let mut parameters = vec![field("price_type")];
                parameters.extend(ids);
                failure(&format!("Invalid attribute Price = %price. {row}"), &parameters)
            })
        }
    }
}

/// An accepted special or tier price as Magento stores it: numbers as numbers, dates as text.
fn normalized(kind: Kind, item: &Value) -> Value {
    let field = |name: &str| item.get(name).map(text).unwrap_or_default();
    let integer = |name: &str| item.get(name).and_then(number).unwrap_or(0.0) as i64;
    let price = item.get("price").and_then(number);
    match kind {
        Kind::Special => json!({
            "price": price, "store_id": integer("store_id"), "sku": field("sku"),
            "price_from": field("price_from"), "price_to": field("price_to"),
        }),
        _ => json!({
            "price": price, "price_type": field("price_type"), "website_id": integer("website_id"),
            "sku": field("sku"), "customer_group": field("customer_group"),
            "quantity": item.get("quantity").and_then(number).unwrap_or(1.0),
        }),
    }
}

/// The fields that identify a special or tier price.
fn same(kind: Kind, a: &Value, b: &Value) -> bool {
    let keys: &[&str] = match kind {
        Kind::Special => &["sku", "store_id", "price_from", "price_to"],
        _ => &["sku", "website_id", "customer_group", "quantity"],
    };
    keys.iter().all(|k| a.get(*k).map(text) == b.get(*k).map(text))
}

/// Updates, replaces or deletes the accepted items; answers the refused ones' failures.
fn change(sim: &Sim, kind: Kind, action: &str, items: &[Value]) -> Vec<Value> {
    let mut failures = Vec::new();
    let mut accepted = Vec::new();
    for item in items {
        match refusal(sim, kind, item) {
            Some(failure) => failures.push(failure),
            None => accepted.push(normalized(kind, item)),
        }
    }
    if kind == Kind::Base {
        let mut products = lock(&sim.products);
        for item in &accepted {
            if let Some(product) = products.iter_mut().find(|p| p["sku"] == item["sku"]) {
                product["price"] = json!(item.get("price").and_then(number));
                product["updated_at"] = json!(data::now());
            }
        }
        return failures;
    }
    let mut prices = lock(&sim.prices);
    let list = if kind == Kind::Special { &mut prices.special } else { &mut prices.tier };
    if action == "replace" {
        list.retain(|e| !accepted.iter().any(|a| a["sku"] == e["sku"]));
    }
    for item in accepted {
        list.retain(|e| !same(kind, e, &item));
        if action != "delete" {
            list.push(item);
        }
    }
    failures
}
