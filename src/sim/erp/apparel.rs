//! The ERP's apparel items, seeded from Magento's sample catalog the commerce simulator serves: where
//! the shop has one configurable product with a child per size and color, the ERP keeps **one item
//! per style and size** (number `{style}-{size code}`, e.g. `MH01-SM`) and **one item variant per
//! color** (`itemVariants`, code e.g. `BLK`), as Business Central does. The size and color codes are
//! the ERP's own; an integration maps the shop's labels to them through tables.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::stamps::guid;
use crate::sim::commerce::sample_children;

/// The ERP's code for a shop size label (waist sizes get a `W`).
pub(crate) fn size_code(label: &str) -> String {
    match label {
        "S" => "SM".into(),
        "M" => "MD".into(),
        "L" => "LG".into(),
        l if l.chars().all(|c| c.is_ascii_digit()) => format!("W{l}"),
        l => l.to_uppercase(),
    }
}

/// The ERP's variant code for a shop color label.
pub(crate) fn color_code(label: &str) -> String {
    match label {
        "Black" => "BLK".into(),
        "Blue" => "BLU".into(),
        "Brown" => "BRN".into(),
        "Gray" => "GRY".into(),
        "Green" => "GRN".into(),
        "Multi" => "MLT".into(),
        "Orange" => "ORG".into(),
        "Purple" => "PUR".into(),
        "White" => "WHT".into(),
        "Yellow" => "YEL".into(),
        l => l.chars().take(3).collect::<String>().to_uppercase(),
    }
}

/// The navigation property of an item that holds its variants (`items({id})/itemVariants`,
/// `items?$expand=itemVariants`).
pub(super) const VARIANTS: &str = "itemVariants";

/// The items with their variants inside, as `$expand=itemVariants` serves them (an item without
/// variants gets an empty list).
pub(super) fn expand_variants(items: Vec<Value>, variants: &[Value]) -> Vec<Value> {
    let mut by_item: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for variant in variants {
        by_item.entry(variant["itemId"].as_str().unwrap_or_default().to_string()).or_default().push(variant.clone());
    }
    items
        .into_iter()
        .map(|mut item| {
            let own = by_item.get(item["id"].as_str().unwrap_or_default()).cloned().unwrap_or_default();
            item[VARIANTS] = Value::Array(own);
            item
        })
        .collect()
}

/// The apparel items and their variants, each stamped by `modified`.
pub(super) fn seed(rng: &mut fastrand::Rng, mut modified: impl FnMut() -> String) -> (Vec<Value>, Vec<Value>) {
    // (style, size code) → the item and its variants' (code, description), in the catalog's order.
    type Colors = Vec<(String, String)>;
    let mut order: Vec<(String, String)> = Vec::new();
    let mut items: BTreeMap<(String, String), (Value, Colors)> = BTreeMap::new();
    for child in sample_children() {
        let key = (child.parent.clone(), size_code(&child.size));
        let entry = items.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            let item = json!({
                "id": guid(rng), "number": format!("{}-{}", key.0, key.1),
                "displayName": format!("{}, size {}", child.parent_name, child.size), "displayName2": "",
                "type": "Inventory", "itemCategoryId": "00000000-0000-0000-0000-000000000000",
                "itemCategoryCode": "APPAREL", "blocked": false, "gtin": "", "inventory": 0,
                "unitPrice": child.price, "priceIncludesTax": false,
                "unitCost": (child.price * 0.45 * 100.0).round() / 100.0, "taxGroupCode": "APPAREL",
                "baseUnitOfMeasureCode": "PCS", "lastModifiedDateTime": modified(),
            });
            (item, Vec::new())
        });
        let code = color_code(&child.color);
        if !entry.1.iter().any(|(c, _)| *c == code) {
            entry.1.push((code, child.color.clone()));
        }
    }
    let mut seeded = Vec::new();
    let mut variants = Vec::new();
    for key in order {
        let Some((item, colors)) = items.remove(&key) else { continue };
        for (code, description) in colors {
            variants.push(json!({
                "id": guid(rng), "itemId": item["id"], "itemNumber": item["number"], "code": code,
                "description": description, "lastModifiedDateTime": modified(),
            }));
        }
        seeded.push(item);
    }
    (seeded, variants)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_item_per_style_and_size_and_one_variant_per_color() {
        let mut rng = fastrand::Rng::with_seed(7);
        let (items, variants) = seed(&mut rng, || "2026-01-01T00:00:00Z".into());
        let children = sample_children();
        assert_eq!(variants.len(), children.len(), "every shop child is one item variant");
        let number = |v: &Value| v["number"].as_str().unwrap_or_default().to_string();
        let hoodie_small = items.iter().find(|i| number(i) == "MH01-SM").expect("MH01 in size S");
        assert_eq!(hoodie_small["displayName"], "Chaz Kangeroo Hoodie, size S");
        let codes: Vec<&str> =
            variants.iter().filter(|v| v["itemId"] == hoodie_small["id"]).filter_map(|v| v["code"].as_str()).collect();
        assert_eq!(codes, ["BLK", "GRY", "ORG"], "the hoodie's colors in size S");
        let mut numbers: Vec<String> = items.iter().map(number).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), items.len(), "item numbers are unique");
    }

    #[test]
    fn expanded_items_carry_their_own_variants() {
        let mut rng = fastrand::Rng::with_seed(7);
        let (items, variants) = seed(&mut rng, || "2026-01-01T00:00:00Z".into());
        let mut lone = items[0].clone();
        lone["id"] = json!("no-variants");
        let expanded = expand_variants(vec![items[0].clone(), lone], &variants);
        let own: Vec<&Value> = variants.iter().filter(|v| v["itemId"] == items[0]["id"]).collect();
        assert_eq!(expanded[0][VARIANTS].as_array().map(|v| v.iter().collect::<Vec<_>>()), Some(own));
        assert_eq!(expanded[1][VARIANTS], json!([]));
    }

    #[test]
    fn size_and_color_codes_are_the_erps_own() {
        assert_eq!([size_code("XS"), size_code("S"), size_code("M"), size_code("XL")], ["XS", "SM", "MD", "XL"]);
        assert_eq!(size_code("32"), "W32");
        assert_eq!([color_code("Black"), color_code("Red"), color_code("Lavender")], ["BLK", "RED", "LAV"]);
    }
}
