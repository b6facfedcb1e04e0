//! Catalog writes on the sample catalog: a new style made configurable with its children, options
//! and links, read back; Magento's refusals for a create missing an attribute, a repeated option or
//! link, an unknown SKU and a child without the option's attribute.

use serde_json::{Value, json};

use super::super::catalog::products;
use super::*;

fn put(products: &mut Vec<Value>, sku: &str, product: Value) -> Answer {
    save(products, Some(sku), &json!({ "product": product }))
}

fn child(sku: &str, size: &str, color: &str) -> Value {
    json!({"sku": sku, "name": sku, "attribute_set_id": 9, "price": 61.0, "visibility": 1, "type_id": "simple",
           "custom_attributes": [{"attribute_code": "size", "value": size}, {"attribute_code": "color", "value": color}]})
}

fn message(answer: Answer) -> (u16, String) {
    let e = answer.expect_err("a refusal");
    (e.status, e.body().to_string())
}

#[test]
fn a_new_style_becomes_a_configurable_product_with_its_children_options_and_links() {
    let mut catalog = products();
    let count = catalog.len();
    let (status, parent) =
        put(&mut catalog, "MJ99", json!({"name": "Weir Jacket", "attribute_set_id": 9, "type_id": "configurable"}))
            .expect("created");
    assert_eq!((status, parent["id"].clone(), parent["sku"].clone()), (200, json!(count + 1), json!("MJ99")));
    for (sku, size, color) in [("MJ99-S-Black", "167", "49"), ("MJ99-M-Black", "168", "49")] {
        put(&mut catalog, sku, child(sku, size, color)).expect("a child");
    }
    let size = json!({"option": {"attribute_id": "144", "label": "Size", "position": 0,
                                 "values": [{"value_index": 167}, {"value_index": 168}]}});
    let color =
        json!({"option": {"attribute_id": "93", "label": "Color", "position": 1, "values": [{"value_index": 49}]}});
    let (_, size_id) = add_option(&mut catalog, "MJ99", &size).expect("the size option");
    let (_, color_id) = add_option(&mut catalog, "MJ99", &color).expect("the color option");
    assert_ne!(size_id, color_id);
    for sku in ["MJ99-S-Black", "MJ99-M-Black"] {
        assert_eq!(add_child(&mut catalog, "MJ99", &json!({"childSku": sku})).expect("linked"), (200, json!(true)));
    }
    let (_, linked) = children(&catalog, "MJ99").expect("children");
    let skus: Vec<&str> = linked.as_array().expect("a list").iter().filter_map(|p| p["sku"].as_str()).collect();
    assert_eq!(skus, ["MJ99-S-Black", "MJ99-M-Black"]);
    let (_, all) = options(&catalog, "MJ99").expect("options");
    assert_eq!(all[0]["attribute_id"], "144");
    assert_eq!(all[0]["values"], json!([{"value_index": 167}, {"value_index": 168}]));
    assert_eq!(all[1]["id"], color_id);
    let parent = catalog.iter().find(|p| p["sku"] == "MJ99").expect("the parent");
    assert_eq!(parent["type_id"], "configurable");
    assert_eq!(parent["extension_attributes"]["configurable_product_links"], json!([count + 2, count + 3]));
}

#[test]
fn a_save_is_an_upsert_that_merges_custom_attributes() {
    let mut catalog = products();
    put(&mut catalog, "MJ99-S-Black", child("MJ99-S-Black", "167", "49")).expect("created");
    let change = json!({"price": 64.5, "custom_attributes": [{"attribute_code": "color", "value": "50"}]});
    let (_, product) = put(&mut catalog, "MJ99-S-Black", change).expect("updated without name or attribute set");
    assert_eq!(product["price"], 64.5);
    assert_eq!(product["name"], "MJ99-S-Black");
    assert_eq!(
        product["custom_attributes"],
        json!([{"attribute_code": "size", "value": "167"}, {"attribute_code": "color", "value": "50"}])
    );
    assert_eq!(catalog.iter().filter(|p| p["sku"] == "MJ99-S-Black").count(), 1, "one product, not two");
    let (_, by_post) =
        save(&mut catalog, None, &json!({"product": {"sku": "MJ99-S-Black", "price": 65}})).expect("POST");
    assert_eq!(by_post["id"], product["id"], "POST with a known SKU updates it too");
}

#[test]
fn a_create_missing_an_attribute_is_refused_as_magento_does() {
    let mut catalog = products();
    for (missing, want) in [("name", "name"), ("attribute_set_id", "attribute_set_id"), ("price", "price")] {
        let mut product = child("MJ99-S-Black", "167", "49");
        product.as_object_mut().expect("an object").remove(missing);
        let (status, body) = message(put(&mut catalog, "MJ99-S-Black", product));
        assert_eq!(status, 400);
        assert!(body.contains("attribute value is empty") && body.contains(&format!("[\"{want}\"]")), "{body}");
    }
    let (status, body) = message(save(&mut catalog, None, &json!({"product": {"name": "x", "price": 1}})));
    assert!(status == 400 && body.contains("[\"sku\"]"), "{body}");
    let configurable = json!({"name": "Weir Jacket", "attribute_set_id": 9, "type_id": "configurable"});
    assert!(put(&mut catalog, "MJ99", configurable).is_ok(), "a configurable product needs no price");
}

#[test]
fn repeats_unknown_skus_and_children_without_the_attribute_are_refused() {
    let mut catalog = products();
    put(&mut catalog, "MJ99", json!({"name": "Weir Jacket", "attribute_set_id": 9, "type_id": "configurable"}))
        .expect("created");
    put(&mut catalog, "MJ99-S-Black", child("MJ99-S-Black", "167", "49")).expect("a child");
    let link = json!({"childSku": "MJ99-S-Black"});
    assert_eq!(
        message(add_child(&mut catalog, "MJ99", &link)),
        (400, json!({"message": "The parent product doesn't have configurable product options."}).to_string())
    );
    let size = json!({"option": {"attribute_id": "144", "label": "Size", "values": [{"value_index": 167}]}});
    add_option(&mut catalog, "MJ99", &size).expect("the option");
    assert_eq!(
        message(add_option(&mut catalog, "MJ99", &size)).1,
        json!({"message": "Product already has this option"}).to_string()
    );
    let no_values = json!({"option": {"attribute_id": "93", "label": "Color", "values": []}});
    assert!(message(add_option(&mut catalog, "MJ99", &no_values)).1.contains("Option values are not specified."));
    let unknown_attribute = json!({"option": {"attribute_id": "7", "label": "Fit", "values": [{"value_index": 1}]}});
    assert_eq!(message(add_option(&mut catalog, "MJ99", &unknown_attribute)).0, 404);
    add_child(&mut catalog, "MJ99", &link).expect("linked");
    assert_eq!(
        message(add_child(&mut catalog, "MJ99", &link)),
        (400, json!({"message": "The product is already attached."}).to_string())
    );
    assert_eq!(message(add_child(&mut catalog, "MJ98", &link)).0, 404, "unknown parent");
    assert_eq!(message(add_child(&mut catalog, "MJ99", &json!({"childSku": "nope"}))).0, 404, "unknown child");
    assert_eq!(message(children(&catalog, "nope")).0, 404);
    let bare = json!({"sku": "MJ99-BARE", "name": "bare", "attribute_set_id": 9, "price": 1});
    put(&mut catalog, "MJ99-BARE", bare).expect("a product without size");
    let (status, body) = message(add_child(&mut catalog, "MJ99", &json!({"childSku": "MJ99-BARE"})));
    assert!(
        status == 400 && body.contains("doesn't have the \\\"%1\\\" attribute value") && body.contains("size"),
        "{body}"
    );
    assert_eq!(message(options(&catalog, "MJ99-BARE")).0, 400, "options of a simple product");
}
