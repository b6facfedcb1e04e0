//! Prices: base prices (the product's `price`), special prices and tier prices, each updated and
//! read by SKU lists. As Magento does, an update answers 200 with one failure per refused item
//! (`{"message", "parameters": [...]}`) and saves the others (a tier price for a customer group the
//! shop does not have, or a quantity not above 0, a special price date not `YYYY-MM-DD hh:mm:ss`); configurable parents have no price of
//! their own; unknown SKUs are left out of the `-information` answers.

use serde_json::{Value, json};

use super::input::{Answer, LIST_LIMIT, json_body, list, number, text};
use super::{Sim, data, lock};

/// The customer groups a tier price may name, lower-cased: `ALL GROUPS` and Luma's four groups.
const CUSTOMER_GROUPS: &[&str] = &["all groups", "not logged in", "general", "wholesale", "retailer"];

/// Whether a special price's date is written as Magento keeps it, `YYYY-MM-DD hh:mm:ss`, and exists.
fn magento_date(text: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    text.len() == 19 && time::PrimitiveDateTime::parse(text, &format).is_ok()
}

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
            if price.is_none() {
                let mut parameters = vec![field("price")];
                parameters.extend(ids);
                return Some(failure(&format!("Invalid attribute Price = %price. {row}"), &parameters));
            }
            // Magento checks each date given (an empty one is no limit) round-trips `Y-m-d H:i:s`.
            ["price_from", "price_to"].into_iter().find(|d| !field(d).is_empty() && !magento_date(&field(d))).map(|d| {
                let (label, placeholder) =
                    if d == "price_from" { ("Price From", "%priceFrom") } else { ("Price To", "%priceTo") };
                let mut parameters = vec![label.to_string(), field(d)];
                parameters.extend(ids);
                failure(&format!("Invalid attribute %label = {placeholder}. {row}"), &parameters)
            })
        }
        Kind::Tier => {
            let row = "Row ID: SKU = %SKU, Website ID: %websiteId, Customer Group: %customerGroup, Quantity: %qty.";
            let ids = [sku.clone(), field("website_id"), field("customer_group"), field("quantity")];
            if !known {
                return Some(failure(&format!("Invalid attribute SKU = %SKU. {row}"), &ids));
            }
            let bad_type = !matches!(field("price_type").as_str(), "fixed" | "discount");
            if price.is_none() || bad_type {
                let mut parameters = vec![field("price_type")];
                parameters.extend(ids);
                return Some(failure(&format!("Invalid attribute Price = %price. {row}"), &parameters));
            }
            let quantity = item.get("quantity").and_then(number);
            if quantity.is_none_or(|q| q <= 0.0) {
                let mut parameters = vec![field("quantity")];
                parameters.extend(ids);
                return Some(failure(&format!("Invalid attribute Quantity = %qty. {row}"), &parameters));
            }
            // Customer groups are matched by code, case-insensitively (MySQL's collation).
            let group = field("customer_group").to_lowercase();
            (!CUSTOMER_GROUPS.contains(&group.as_str())).then(|| {
                let mut parameters = vec![field("customer_group")];
                parameters.extend(ids);
                failure(&format!("No such entity with Customer Group = %customerGroup. {row}"), &parameters)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> Sim {
        Sim::for_tests(true)
    }

    fn post(sim: &Sim, endpoint: &str, prices: Value) -> Value {
        let body = serde_json::to_vec(&json!({ "prices": prices })).expect("JSON");
        let (status, answer) =
            answer(sim, "POST", &format!("V1/products/{endpoint}"), &body).expect("a route").expect("200");
        assert_eq!(status, 200);
        answer
    }

    fn stored(sim: &Sim, endpoint: &str) -> Value {
        let body = serde_json::to_vec(&json!({"skus": ["24-MB01"]})).expect("JSON");
        answer(sim, "POST", &format!("V1/products/{endpoint}"), &body).expect("a route").expect("200").1
    }

    #[test]
    fn tier_prices_need_a_customer_group_of_the_shop_and_a_quantity_above_zero() {
        let sim = sim();
        let tier = |group: &str, quantity: f64| {
            json!({"sku": "24-MB01", "price": 30.0, "price_type": "fixed", "website_id": 0,
                   "customer_group": group, "quantity": quantity})
        };
        let failures = post(
            &sim,
            "tier-prices",
            json!([tier("all groups", 5.0), tier("Wholesale", 1.0), tier("VIP", 2.0), tier("General", 0.0)]),
        );
        let messages: Vec<&str> =
            failures.as_array().expect("a list").iter().filter_map(|f| f["message"].as_str()).collect();
        assert_eq!(messages.len(), 2, "{failures}");
        assert!(messages[0].starts_with("No such entity with Customer Group = %customerGroup."), "{failures}");
        assert_eq!(failures[0]["parameters"][0], "VIP");
        assert!(messages[1].starts_with("Invalid attribute Quantity = %qty."), "{failures}");
        let kept = stored(&sim, "tier-prices-information");
        let groups: Vec<&str> =
            kept.as_array().expect("a list").iter().filter_map(|t| t["customer_group"].as_str()).collect();
        assert_eq!(groups, ["all groups", "Wholesale"]);
    }

    #[test]
    fn special_price_dates_are_magentos_format_or_empty() {
        let sim = sim();
        let special = |from: &str, to: &str| json!({"sku": "24-MB01", "price": 29.5, "store_id": 0, "price_from": from, "price_to": to});
        let failures = post(
            &sim,
            "special-price",
            json!([
                special("2026-03-01 00:00:00", "2026-03-31 23:59:59"),
                special("2026-04-01 00:00:00", ""),
                special("2026-03-01", "2026-03-31 23:59:59"),
                special("2026-02-30 00:00:00", ""),
            ]),
        );
        let failures = failures.as_array().expect("a list");
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert_eq!(
            (&failures[0]["parameters"][0], &failures[0]["parameters"][1]),
            (&json!("Price From"), &json!("2026-03-01"))
        );
        assert_eq!(failures[1]["parameters"][1], "2026-02-30 00:00:00");
        assert_eq!(stored(&sim, "special-price-information").as_array().map(Vec::len), Some(2));
    }
}
