//! Sales prices, shaped like Business Central's "Sales Price" lines (price list lines since BC 2023,
//! exposed through a custom API page in real installations): a price for an item, for all customers or
//! a customer price group, valid between two dates (`0001-01-01`, BC's blank date, when open), from a
//! minimum quantity, in a currency (`""`: the company's). Seeded for a few items; `POST
//! /__sim/salesPrices` changes one, found by BC's primary key, or adds it.

use serde_json::{Map, Value, json};

use super::store::Store;

/// BC's blank date: no start, or no end.
pub(super) const BLANK_DATE: &str = "0001-01-01";

/// The fields that identify a sales price line (BC's primary key of "Sales Price", without the
/// variant, which the simulator's items do not have).
const KEY: &[&str] =
    &["itemNumber", "salesType", "salesCode", "startingDate", "currencyCode", "unitOfMeasureCode", "minimumQuantity"];

/// A seeded line: item, sales type, sales code, starting date, ending date, minimum quantity, unit
/// price, currency.
type SeededLine = (&'static str, &'static str, &'static str, &'static str, &'static str, f64, f64, &'static str);

/// Seeded lines. A spring sale (dated, all customers: a special price in the shop), group and
/// quantity prices (tier prices), one for an item the shop does not sell, and one in euros.
const SEEDED: &[SeededLine] = &[
    ("1952-W", "All Customers", "", "2026-03-01", "2026-03-31", 0.0, 44.95, ""),
    ("1952-W", "Customer Price Group", "RETAIL", BLANK_DATE, BLANK_DATE, 0.0, 49.5, ""),
    ("1954-W", "All Customers", "", BLANK_DATE, BLANK_DATE, 10.0, 29.9, ""),
    ("1956-W", "Customer Price Group", "WHOLESALE", BLANK_DATE, BLANK_DATE, 12.0, 15.499, ""),
    ("1956-W", "All Customers", "", "2026-05-01", "2026-05-15", 1.0, 17.0, "EUR"),
    ("1896-S", "All Customers", "", "2026-03-01", "2026-03-31", 0.0, 899.0, ""),
];

/// The seeded sales price lines, for items of `items` (by number); `id` and `modified` give each its
/// GUID and time.
pub(super) fn seed(
    items: &[Value],
    id: &mut dyn FnMut() -> String,
    modified: &mut dyn FnMut() -> String,
) -> Vec<Value> {
    SEEDED
        .iter()
        .filter_map(|&(number, sales_type, code, start, end, minimum, price, currency)| {
            let item = items.iter().find(|i| i["number"] == number)?;
            Some(json!({
                "id": id(), "itemId": item["id"], "itemNumber": number, "salesType": sales_type, "salesCode": code,
                "currencyCode": currency, "startingDate": start, "endingDate": end, "unitOfMeasureCode": "PCS",
                "minimumQuantity": minimum, "unitPrice": price, "priceIncludesTax": false, "allowLineDiscount": true,
                "lastModifiedDateTime": modified(),
            }))
        })
        .collect()
}

/// `POST /__sim/salesPrices`: the line with the body's key fields (those missing take a new line's
/// defaults) gets the body's other fields; a line not there yet is added (its item must exist).
/// Answers the line as stored.
pub(super) fn upsert(store: &mut Store, changes: Map<String, Value>) -> Result<Value, String> {
    let number = changes.get("itemNumber").and_then(Value::as_str).ok_or("`itemNumber` is required")?;
    let item = store.find("items", "number", number).cloned().ok_or(format!("no item `{number}`"))?;
    let mut line = json!({
        "itemId": item["id"], "itemNumber": number, "salesType": "All Customers", "salesCode": "",
        "currencyCode": "", "startingDate": BLANK_DATE, "endingDate": BLANK_DATE, "unitOfMeasureCode": "PCS",
        "minimumQuantity": 0.0, "unitPrice": item["unitPrice"], "priceIncludesTax": false, "allowLineDiscount": true,
    });
    for (key, value) in &changes {
        if KEY.contains(&key.as_str()) {
            line[key.as_str()] = value.clone();
        }
    }
    let same = |l: &Value| KEY.iter().all(|k| same_value(&l[*k], &line[*k]));
    let existing = store.all("salesPrices").iter().position(same);
    if let Some(i) = existing {
        line = store.all("salesPrices")[i].clone();
    } else {
        line["id"] = json!(store.guid());
    }
    for (key, value) in changes {
        if !matches!(key.as_str(), "id" | "itemId" | "lastModifiedDateTime") && !key.starts_with('@') {
            line[key.as_str()] = value;
        }
    }
    store.touch(&mut line, false);
    match existing {
        Some(i) => store.all_mut("salesPrices")[i] = line.clone(),
        None => store.all_mut("salesPrices").push(line.clone()),
    }
    Ok(line)
}

/// Key fields equal, numbers by value (`10` is `10.0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::erp::data;

    fn store() -> Store {
        Store::new(data::generate(7))
    }

    fn lines_of<'a>(store: &'a Store, number: &str) -> Vec<&'a Value> {
        store.all("salesPrices").iter().filter(|l| l["itemNumber"] == number).collect()
    }

    #[test]
    fn seeded_lines_name_existing_items_with_bcs_blank_dates() {
        let store = store();
        let lines = store.all("salesPrices");
        assert_eq!(lines.len(), SEEDED.len());
        for line in lines {
            let item = store.find("items", "number", line["itemNumber"].as_str().expect("a number")).expect("an item");
            assert_eq!(line["itemId"], item["id"]);
            assert!(line["@odata.etag"].is_string() && line["lastModifiedDateTime"].is_string(), "{line}");
        }
        let group = lines_of(&store, "1956-W");
        assert!(group.iter().any(|l| l["salesType"] == "Customer Price Group" && l["endingDate"] == BLANK_DATE));
        // Seeding is part of the seed: the same seed, the same ids.
        assert_eq!(store.all("salesPrices"), self::store().all("salesPrices"));
    }

    #[test]
    fn a_line_is_found_by_its_key_and_changed_or_added() {
        let mut store = store();
        let before = lines_of(&store, "1952-W").len();
        let sale = lines_of(&store, "1952-W")[0].clone();
        let changed = upsert(
            &mut store,
            serde_json::from_value(json!({"itemNumber": "1952-W", "salesType": "All Customers",
                "startingDate": "2026-03-01", "minimumQuantity": 0, "unitPrice": 39.99}))
            .expect("an object"),
        )
        .expect("changed");
        assert_eq!(changed["id"], sale["id"], "the same line");
        assert_eq!(changed["unitPrice"], 39.99);
        assert_ne!(changed["@odata.etag"], sale["@odata.etag"]);
        assert!(changed["lastModifiedDateTime"].as_str() > sale["lastModifiedDateTime"].as_str());
        assert_eq!(lines_of(&store, "1952-W").len(), before);

        let added = upsert(
            &mut store,
            serde_json::from_value(json!({"itemNumber": "1952-W", "minimumQuantity": 5, "unitPrice": 45})).expect("x"),
        )
        .expect("added");
        assert_eq!(lines_of(&store, "1952-W").len(), before + 1);
        assert_eq!(added["salesType"], "All Customers");
        assert_eq!(added["endingDate"], BLANK_DATE);
    }

    #[test]
    fn a_line_for_an_unknown_item_or_without_one_is_refused() {
        let mut store = store();
        let refused = |store: &mut Store, body: Value| {
            upsert(store, serde_json::from_value(body).expect("an object")).expect_err("refused")
        };
        assert_eq!(refused(&mut store, json!({"itemNumber": "NOPE"})), "no item `NOPE`");
        assert_eq!(refused(&mut store, json!({"unitPrice": 1})), "`itemNumber` is required");
        assert_eq!(store.all("salesPrices").len(), SEEDED.len());
    }
}
