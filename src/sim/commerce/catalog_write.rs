//! Catalog writes, as Magento's web API answers them: `POST /V1/products` and `PUT /V1/products/{sku}`
//! (an upsert of `{"product": {…}}`, answering the product), and a configurable product's options
//! (`POST /V1/configurable-products/{sku}/options` → the option id, `GET …/options/all`) and children
//! (`POST …/child` with `{"childSku"}` → `true`, `GET …/children`). Refusals carry Magento's messages:
//! an attribute missing on create, an option the product already has, a child already attached.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};

use super::catalog::attribute_code;
use super::input::{Answer, json_body, required, text};
use super::{MagentoError, Sim, data, lock};

/// Fields an update does not change.
const KEPT: &[&str] = &["id", "created_at"];

/// Answers the catalog writes and the configurable product endpoints; `None` for another route.
pub(super) fn answer(sim: &Sim, method: &str, route: &str, body: &[u8]) -> Option<Answer> {
    if (method, route) == ("POST", "V1/products") {
        return Some(json_body(body).and_then(|value| save(&mut lock(&sim.products), None, &value)));
    }
    if method == "PUT" {
        let raw = route.strip_prefix("V1/products/").filter(|raw| !raw.contains('/'))?;
        let sku = decode(raw);
        return Some(json_body(body).and_then(|value| save(&mut lock(&sim.products), Some(&sku), &value)));
    }
    let (raw, action) = route.strip_prefix("V1/configurable-products/")?.split_once('/')?;
    let sku = decode(raw);
    let mut products = lock(&sim.products);
    Some(match (method, action) {
        ("GET", "children") => children(&products, &sku),
        ("GET", "options/all") => options(&products, &sku),
        ("POST", "options") => json_body(body).and_then(|value| add_option(&mut products, &sku, &value)),
        ("POST", "child") => json_body(body).and_then(|value| add_child(&mut products, &sku, &value)),
        _ => return None,
    })
}

fn decode(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// Magento's 404 for a SKU it does not have.
pub(super) fn no_product() -> MagentoError {
    MagentoError::new(404, "The product that was requested doesn't exist. Verify the product and try again.")
}

fn position(products: &[Value], sku: &str) -> Result<usize, MagentoError> {
    products.iter().position(|p| p["sku"] == sku).ok_or_else(no_product)
}

/// Creates the product, or changes it when its SKU exists (Magento's save is an upsert). `path_sku`
/// is the SKU of `PUT /V1/products/{sku}`, which wins over the body's.
fn save(products: &mut Vec<Value>, path_sku: Option<&str>, value: &Value) -> Answer {
    let given = required(value, "product")?;
    let Some(fields) = given.as_object() else { return Err(empty("product")) };
    let sku = match path_sku {
        Some(sku) => sku.to_string(),
        None => fields.get("sku").map(text).unwrap_or_default(),
    };
    if sku.trim().is_empty() {
        return Err(empty("sku"));
    }
    let now = data::now();
    let index = products.iter().position(|p| p["sku"] == sku.as_str());
    let mut product = match index {
        Some(i) => products[i].clone(),
        None => new_product(products, &sku, fields, &now)?,
    };
    for (key, field) in fields.iter().filter(|(k, _)| !KEPT.contains(&k.as_str()) && k.as_str() != "sku") {
        match key.as_str() {
            "custom_attributes" => merge_attributes(&mut product, field),
            "extension_attributes" => merge_object(&mut product["extension_attributes"], field),
            _ => {
                product[key.as_str()] = field.clone();
            }
        }
    }
    product["updated_at"] = json!(now);
    match index {
        Some(i) => products[i] = product.clone(),
        None => products.push(product.clone()),
    }
    Ok((200, product))
}

/// `The "%1" attribute value is empty. Set the attribute and try again.`
fn empty(attribute: &str) -> MagentoError {
    MagentoError::new(400, "The \"%1\" attribute value is empty. Set the attribute and try again.")
        .with(json!([attribute]))
}

/// A new product's defaults, once the attributes a create needs are there (a configurable product
/// takes its price from its children and needs none).
fn new_product(products: &[Value], sku: &str, fields: &Map<String, Value>, now: &str) -> Result<Value, MagentoError> {
    let kind = fields.get("type_id").map(text).unwrap_or_else(|| "simple".into());
    let mut needed = vec!["name", "attribute_set_id"];
    if kind != "configurable" {
        needed.push("price");
    }
    if let Some(missing) = needed.into_iter().find(|f| fields.get(*f).is_none_or(|v| text(v).trim().is_empty())) {
        return Err(empty(missing));
    }
    // Ids follow the catalog's (`id` n is the n-th product), which the seeded orders rely on.
    let id = products.len() + 1;
    Ok(json!({
        "id": id, "sku": sku, "type_id": kind, "status": 1, "visibility": 4, "created_at": now,
        "updated_at": now, "extension_attributes": {}, "custom_attributes": [],
    }))
}

/// Custom attributes are merged by `attribute_code`: given ones replace, the others stay.
fn merge_attributes(product: &mut Value, given: &Value) {
    let mut attributes = product["custom_attributes"].as_array().cloned().unwrap_or_default();
    for attribute in given.as_array().into_iter().flatten() {
        match attributes.iter_mut().find(|a| a["attribute_code"] == attribute["attribute_code"]) {
            Some(existing) => *existing = attribute.clone(),
            None => attributes.push(attribute.clone()),
        }
    }
    product["custom_attributes"] = Value::Array(attributes);
}

fn merge_object(target: &mut Value, given: &Value) {
    if !target.is_object() {
        *target = json!({});
    }
    if let (Some(target), Some(given)) = (target.as_object_mut(), given.as_object()) {
        target.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// A custom attribute's value, when set.
fn attribute<'a>(product: &'a Value, code: &str) -> Option<&'a Value> {
    let attributes = product["custom_attributes"].as_array()?;
    attributes.iter().find(|a| a["attribute_code"] == code).map(|a| &a["value"]).filter(|v| !text(v).is_empty())
}

fn configurable<'a>(products: &'a [Value], sku: &str) -> Result<&'a Value, MagentoError> {
    let product = &products[position(products, sku)?];
    if product["type_id"] != "configurable" {
        return Err(MagentoError::new(400, "Only implemented for configurable product: %1").with(json!([sku])));
    }
    Ok(product)
}

/// `GET /V1/configurable-products/{sku}/options/all`.
fn options(products: &[Value], sku: &str) -> Answer {
    let product = configurable(products, sku)?;
    let options = product["extension_attributes"]["configurable_product_options"].clone();
    Ok((200, if options.is_array() { options } else { json!([]) }))
}

/// `GET /V1/configurable-products/{sku}/children`: the linked products (none for a simple one).
fn children(products: &[Value], sku: &str) -> Answer {
    let product = &products[position(products, sku)?];
    let links = product["extension_attributes"]["configurable_product_links"].as_array().cloned().unwrap_or_default();
    let linked = links.iter().filter_map(|id| products.iter().find(|p| p["id"] == *id)).cloned().collect();
    Ok((200, Value::Array(linked)))
}

/// `POST /V1/configurable-products/{sku}/options` with `{"option": {attribute_id, label, position,
/// values: [{value_index}]}}`: makes the product configurable and answers the new option's id.
fn add_option(products: &mut [Value], sku: &str, value: &Value) -> Answer {
    let option = required(value, "option")?;
    let attribute_id = option.get("attribute_id").map(text).unwrap_or_default();
    let values = option.get("values").and_then(Value::as_array).filter(|v| !v.is_empty());
    // Magento's `validateNewOptionData`, in its order.
    let invalid = if attribute_id.is_empty() {
        Some("Option attribute ID is not specified.")
    } else if option.get("label").is_none_or(|l| text(l).is_empty()) {
        Some("Option label is not specified.")
    } else if values.is_none() {
        Some("Option values are not specified.")
    } else if values.into_iter().flatten().any(|v| v.get("value_index").is_none_or(|i| text(i).is_empty())) {
        Some("Value index is not specified for an option.")
    } else {
        None
    };
    if let Some(message) = invalid {
        return Err(MagentoError::new(400, message));
    }
    let index = position(products, sku)?;
    if attribute_code(&attribute_id).is_none() {
        return Err(MagentoError::new(
            404,
            "The attribute with a \"%1\" attributeCode doesn't exist. Verify the attribute and try again.",
        )
        .with(json!([attribute_id])));
    }
    let existing = products[index]["extension_attributes"]["configurable_product_options"].as_array().cloned();
    let mut existing = existing.unwrap_or_default();
    if existing.iter().any(|o| text(&o["attribute_id"]) == attribute_id) {
        return Err(MagentoError::new(400, "Product already has this option"));
    }
    let id = products
        .iter()
        .flat_map(|p| p["extension_attributes"]["configurable_product_options"].as_array().into_iter().flatten())
        .filter_map(|o| o["id"].as_u64())
        .max()
        .unwrap_or(0)
        + 1;
    let product = &mut products[index];
    existing.push(json!({
        "id": id, "attribute_id": attribute_id, "label": option["label"],
        "position": option.get("position").cloned().unwrap_or(json!(0)), "product_id": product["id"],
        "values": option["values"],
    }));
    product["type_id"] = json!("configurable");
    merge_object(&mut product["extension_attributes"], &json!({"configurable_product_options": existing}));
    product["updated_at"] = json!(data::now());
    Ok((200, json!(id)))
}

/// `POST /V1/configurable-products/{sku}/child` with `{"childSku"}`: links the child, which must
/// carry a value of each of the parent's option attributes.
fn add_child(products: &mut [Value], sku: &str, value: &Value) -> Answer {
    let child_sku = text(required(value, "childSku")?);
    let parent = position(products, sku)?;
    let child = position(products, &child_sku)?;
    let child_id = products[child]["id"].clone();
    let extension = &products[parent]["extension_attributes"];
    let mut links = extension["configurable_product_links"].as_array().cloned().unwrap_or_default();
    if links.contains(&child_id) {
        return Err(MagentoError::new(400, "The product is already attached."));
    }
    let options = extension["configurable_product_options"].as_array().cloned().unwrap_or_default();
    if options.is_empty() {
        return Err(MagentoError::new(400, "The parent product doesn't have configurable product options."));
    }
    for option in &options {
        let code = attribute_code(&text(&option["attribute_id"])).unwrap_or_default();
        if attribute(&products[child], code).is_none() {
            return Err(MagentoError::new(
                400,
                "The child product doesn't have the \"%1\" attribute value. Verify the value and try again.",
            )
            .with(json!([code])));
        }
    }
    links.push(child_id);
    let product = &mut products[parent];
    merge_object(&mut product["extension_attributes"], &json!({"configurable_product_links": links}));
    product["updated_at"] = json!(data::now());
    Ok((200, json!(true)))
}

#[cfg(test)]
mod tests;
