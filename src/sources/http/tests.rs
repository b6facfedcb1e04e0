use serde_json::json;

use super::*;
use crate::transforms::testing::context;

fn build_errors(config: serde_json::Value) -> Vec<(String, &'static str)> {
    let config: HttpSourceConfig = serde_json::from_value(config).expect("valid config");
    match config.build(&context()) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.into_iter().map(|e| (e.field.join("."), e.code)).collect(),
    }
}

#[test]
fn build_checks_the_url_the_paths_and_the_paging() {
    assert_eq!(build_errors(json!({"url": "https://erp.example.com/items", "records": "$.items[*]"})), []);
    let bad = build_errors(json!({
        "url": "erp.example.com/items",
        "records": "$.items[",
        "paginate": {"type": "cursor", "cursor": "meta.next", "param": "c"},
        "max_pages": 0,
    }));
    assert_eq!(
        bad,
        [
            ("url".to_string(), "bad-url"),
            ("records".to_string(), "bad-jsonpath"),
            ("paginate.cursor".to_string(), "bad-jsonpath"),
            ("max_pages".to_string(), "bad-value"),
        ]
    );
    let both = build_errors(json!({"url": "https://a.example", "connection": "erp", "path": "/x", "records": "$"}));
    assert!(both.contains(&("url".to_string(), "bad-value")), "{both:?}");
    let zero =
        build_errors(json!({"url": "https://a.example", "records": "$", "paginate": {"type": "page", "page_size": 0}}));
    assert_eq!(zero, [("paginate.page_size".to_string(), "bad-value")]);
}

#[test]
fn query_parameters_are_added_to_the_url() {
    let config: HttpSourceConfig = serde_json::from_value(json!({
        "url": "https://shop.example.com/rest/V1/orders",
        "records": "$.items[*]",
        "query": {"searchCriteria[filter_groups][0][filters][0][field]": "status"},
    }))
    .expect("valid config");
    let built = config.build(&context()).expect("builds");
    assert_eq!(
        built.base.as_str(),
        "https://shop.example.com/rest/V1/orders?searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=status"
    );
}
