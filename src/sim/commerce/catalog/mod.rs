//! The catalog, built from Magento's Luma sample data embedded at compile time (`products.csv`, see
//! `SOURCE.md`): configurable products with their size/color children and options, simple bags,
//! and three simple products whose SKUs hold the characters URLs get wrong.

use std::collections::HashMap;

use serde_json::{Value, json};

/// The sample catalog: `sku,type,name,price,weight,attribute_set,size,color,parent`.
const PRODUCTS: &str = include_str!("products.csv");
/// Sizes in Luma's option order; option ids start at [`SIZE_FIRST_ID`].
const SIZES: &[&str] = &["XS", "S", "M", "L", "XL", "28", "29", "30", "31", "32", "33", "34", "36", "38"];
/// Colors in Luma's option order; option ids start at [`COLOR_FIRST_ID`].
const COLORS: &[&str] =
    &["Black", "Blue", "Brown", "Gray", "Green", "Lavender", "Multi", "Orange", "Purple", "Red", "White", "Yellow"];
const SIZE_FIRST_ID: usize = 166;
const COLOR_FIRST_ID: usize = 49;
/// The attribute ids of `size` and `color`.
const SIZE_ATTRIBUTE: &str = "144";
const COLOR_ATTRIBUTE: &str = "93";
/// Simple products outside the sample data: SKUs holding `/`, `+`, `%` and spaces.
const AWKWARD: &[(&str, &str, f64)] = &[
    ("WT/09 Blue", "Tank with a slash and a space", 34.0),
    ("GIFT+CARD 50", "Gift card with a plus", 50.0),
    ("100%-COTTON", "Cotton tee with a percent", 19.0),
];
/// 2024-01-01T00:00:00Z.
const EPOCH: i64 = 1_704_067_200;

/// One row of `products.csv`.
#[derive(serde::Deserialize)]
struct Row {
    sku: String,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    price: f64,
    weight: f64,
    attribute_set: String,
    size: String,
    color: String,
    parent: String,
}

/// The options of `size` or `color` as `GET /V1/products/attributes/{code}/options` answers them
/// (Magento lists an empty option first); `None` for another attribute.
pub(super) fn attribute_options(code: &str) -> Option<Value> {
    let (labels, first) = match code {
        "size" => (SIZES, SIZE_FIRST_ID),
        "color" => (COLORS, COLOR_FIRST_ID),
        _ => return None,
    };
    let mut options = vec![json!({"label": " ", "value": ""})];
    options.extend(labels.iter().enumerate().map(|(i, l)| json!({"label": l, "value": (first + i).to_string()})));
    Some(Value::Array(options))
}

/// The attribute code of a configurable attribute's id (`144` is `size`, `93` is `color`); `None` for
/// an attribute the catalog does not have.
pub(crate) fn attribute_code(attribute_id: &str) -> Option<&'static str> {
    match attribute_id {
        SIZE_ATTRIBUTE => Some("size"),
        COLOR_ATTRIBUTE => Some("color"),
        _ => None,
    }
}

/// The option id of a size or color label.
fn option_id(labels: &[&str], first: usize, label: &str) -> Option<usize> {
    labels.iter().position(|l| *l == label).map(|i| first + i)
}

fn attribute_set_id(name: &str) -> u32 {
    match name {
        "Top" => 9,
        "Bottom" => 10,
        "Bag" => 15,
        _ => 4,
    }
}

/// One child of a configurable product in the sample data, as the ERP simulator seeds its apparel
/// items from it (one ERP item per style and size, one item variant per color).
#[derive(Debug, Clone)]
pub(crate) struct SampleChild {
    /// The configurable product's SKU (the style), e.g. `MH01`.
    pub parent: String,
    /// The configurable product's name.
    pub parent_name: String,
    /// The child's size label, e.g. `XS`.
    pub size: String,
    /// The child's color label, e.g. `Black`.
    pub color: String,
    /// The child's price.
    pub price: f64,
}

/// The children of the sample data's configurable products, in the file's order.
pub(crate) fn sample_children() -> Vec<SampleChild> {
    let mut reader = csv::Reader::from_reader(PRODUCTS.as_bytes());
    let rows: Vec<Row> = reader.deserialize().filter_map(Result::ok).collect();
    let names: HashMap<&str, &str> = rows.iter().map(|r| (r.sku.as_str(), r.name.as_str())).collect();
    rows.iter()
        .filter(|r| !r.parent.is_empty())
        .map(|r| SampleChild {
            parent: r.parent.clone(),
            parent_name: names.get(r.parent.as_str()).copied().unwrap_or(r.parent.as_str()).to_string(),
            size: r.size.clone(),
            color: r.color.clone(),
            price: r.price,
        })
        .collect()
}

/// Every product, by ascending `id`: the sample data's rows in their order, then the awkward SKUs.
pub(super) fn products() -> Vec<Value> {
    let mut reader = csv::Reader::from_reader(PRODUCTS.as_bytes());
    // The file is embedded and checked by the catalog's tests: a bad row cannot reach a user.
    let rows: Vec<Row> = reader.deserialize().filter_map(Result::ok).collect();
    let ids: HashMap<&str, usize> = rows.iter().enumerate().map(|(i, r)| (r.sku.as_str(), i + 1)).collect();
    let mut children: HashMap<&str, Vec<&Row>> = HashMap::new();
    for row in rows.iter().filter(|r| !r.parent.is_empty()) {
        children.entry(row.parent.as_str()).or_default().push(row);
    }
    let mut products: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let id = i + 1;
            let mut custom = vec![json!({"attribute_code": "url_key", "value": url_key(&row.name)})];
            if let Some(size) = option_id(SIZES, SIZE_FIRST_ID, &row.size) {
                custom.push(json!({"attribute_code": "size", "value": size.to_string()}));
            }
            if let Some(color) = option_id(COLORS, COLOR_FIRST_ID, &row.color) {
                custom.push(json!({"attribute_code": "color", "value": color.to_string()}));
            }
            let mut product = product(id, &row.sku, &row.name, row.price, &row.kind, custom);
            product["weight"] = json!(row.weight);
            product["attribute_set_id"] = json!(attribute_set_id(&row.attribute_set));
            if !row.parent.is_empty() {
                product["visibility"] = json!(1);
            }
            if let Some(kids) = children.get(row.sku.as_str()) {
                product["extension_attributes"] = configurable(id, kids, &ids);
            }
            product
        })
        .collect();
    for (sku, name, price) in AWKWARD {
        let id = products.len() + 1;
        let custom = vec![json!({"attribute_code": "url_key", "value": url_key(name)})];
        products.push(product(id, sku, name, *price, "simple", custom));
    }
    products
}

fn url_key(name: &str) -> String {
    name.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join("-")
}

fn product(id: usize, sku: &str, name: &str, price: f64, kind: &str, custom: Vec<Value>) -> Value {
    let created = EPOCH + id as i64 * 60;
    json!({
        "id": id, "sku": sku, "name": name, "attribute_set_id": 4, "price": price, "status": 1,
        "visibility": 4, "type_id": kind, "created_at": super::data::timestamp(created),
        "updated_at": super::data::timestamp(created), "weight": 1, "extension_attributes": {},
        "custom_attributes": custom,
    })
}

/// A configurable parent's links to its children and its `size` and `color` options, with the
/// values its children use.
fn configurable(parent_id: usize, children: &[&Row], ids: &HashMap<&str, usize>) -> Value {
    let links: Vec<usize> = children.iter().filter_map(|c| ids.get(c.sku.as_str()).copied()).collect();
    let values = |labels: &[&str], first: usize, of: fn(&Row) -> &str| -> Vec<Value> {
        labels
            .iter()
            .enumerate()
            .filter(|(_, l)| children.iter().any(|c| of(c) == **l))
            .map(|(i, _)| json!({"value_index": first + i}))
            .collect()
    };
    json!({
        "configurable_product_links": links,
        "configurable_product_options": [
            {"id": parent_id * 10, "attribute_id": SIZE_ATTRIBUTE, "label": "Size", "position": 0,
             "product_id": parent_id, "values": values(SIZES, SIZE_FIRST_ID, |r| &r.size)},
            {"id": parent_id * 10 + 1, "attribute_id": COLOR_ATTRIBUTE, "label": "Color", "position": 1,
             "product_id": parent_id, "values": values(COLORS, COLOR_FIRST_ID, |r| &r.color)},
        ],
    })
}

#[cfg(test)]
mod tests;
