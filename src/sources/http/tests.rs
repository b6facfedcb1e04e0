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
        built.url_for(None).expect("renders").as_str(),
        "https://shop.example.com/rest/V1/orders?searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=status"
    );
}

#[test]
fn incremental_needs_a_watermark_filter_and_a_readable_start() {
    let config = |query: serde_json::Value, start: &str, look_back: &str| {
        json!({
            "url": "https://shop.example.com/rest/V1/orders",
            "records": "$.items[*]",
            "query": query,
            "incremental": {"field": "$.updated_at", "key": "$.entity_id", "start": start, "look_back": look_back},
        })
    };
    let filter = json!({"searchCriteria[filter_groups][0][filters][0][value]": "{{ watermark }}"});
    assert_eq!(build_errors(config(filter.clone(), "2026-01-01 00:00:00", "5m")), []);
    assert_eq!(
        build_errors(config(json!({}), "2026-01-01 00:00:00", "5m")),
        [("incremental".to_string(), "bad-value")]
    );
    assert_eq!(
        build_errors(config(filter.clone(), "last tuesday", "5m")),
        [("incremental.start".to_string(), "bad-value")]
    );
    assert_eq!(build_errors(config(filter, "1000", "5m")), [("incremental.look_back".to_string(), "bad-value")]);
}

#[test]
fn the_watermark_is_rendered_into_the_query_in_the_values_format() {
    let config: HttpSourceConfig = serde_json::from_value(json!({
        "url": "https://erp.example.com/api/items",
        "records": "$.value[*]",
        "query": {"$filter": "lastModifiedDateTime ge {{ watermark }}"},
        "incremental": {"field": "$.lastModifiedDateTime", "key": "$.id", "start": "2026-01-01T00:00:00Z", "look_back": "90s"},
    }))
    .expect("valid config");
    let built = config.build(&context()).expect("builds");
    let start = built.incremental.as_ref().expect("incremental").initial();
    assert_eq!(
        built.url_for(Some(&start.floor())).expect("renders").as_str(),
        "https://erp.example.com/api/items?%24filter=lastModifiedDateTime+ge+2025-12-31T23%3A58%3A30Z"
    );
}
