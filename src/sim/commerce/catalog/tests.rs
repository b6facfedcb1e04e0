//! The embedded sample catalog: every row read, every child linked to its parent with options that
//! cover its size and color.

use serde_json::Value;

use super::{attribute_options, products};

fn code<'a>(product: &'a Value, name: &str) -> Option<&'a str> {
    product["custom_attributes"].as_array()?.iter().find(|a| a["attribute_code"] == name)?["value"].as_str()
}

#[test]
fn every_row_of_the_sample_data_is_a_product_and_every_child_is_linked() {
    let products = products();
    let kind = |k: &str| products.iter().filter(|p| p["type_id"] == k).count();
    assert_eq!(kind("configurable"), 147);
    assert_eq!(kind("simple"), 1847 + 14 + 3);
    let mut linked = 0;
    for parent in products.iter().filter(|p| p["type_id"] == "configurable") {
        let options = &parent["extension_attributes"]["configurable_product_options"];
        let allowed = |i: usize| -> Vec<String> {
            options[i]["values"].as_array().expect("values").iter().map(|v| v["value_index"].to_string()).collect()
        };
        for id in parent["extension_attributes"]["configurable_product_links"].as_array().expect("links") {
            let child = &products[id.as_u64().expect("an id") as usize - 1];
            assert_eq!(&child["id"], id);
            assert!(child["sku"].as_str().expect("a sku").starts_with(parent["sku"].as_str().expect("a sku")));
            assert!(allowed(0).contains(&code(child, "size").expect("a size").to_string()), "{child}");
            assert!(allowed(1).contains(&code(child, "color").expect("a color").to_string()), "{child}");
            linked += 1;
        }
    }
    assert_eq!(linked, 1847);
    let ids: Vec<u64> = products.iter().map(|p| p["id"].as_u64().expect("an id")).collect();
    assert_eq!(ids, (1..=products.len() as u64).collect::<Vec<_>>());
}

#[test]
fn size_and_color_options_are_listed_with_magentos_empty_first_option() {
    let colors = attribute_options("color").expect("color options");
    assert_eq!(colors[0]["value"], "");
    assert!(colors.as_array().expect("a list").iter().any(|o| o["label"] == "Blue" && o["value"] == "50"));
    assert!(attribute_options("size").is_some());
    assert!(attribute_options("material").is_none());
}
