//! Unit tests of the `graphql` source's build; polling is tested against a local GraphQL server in
//! `tests/it/graphql.rs`.

use serde_json::json;

use super::*;
use crate::transforms::testing::context;

fn build_errors(config: serde_json::Value) -> Vec<(String, &'static str)> {
    let config: GraphqlSourceConfig = serde_json::from_value(config).expect("valid config");
    match config.build(&context()) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.into_iter().map(|e| (e.field.join("."), e.code)).collect(),
    }
}

#[test]
fn build_checks_the_url_the_paths_and_the_cursor_variable() {
    let query =
        "query ($after: String) { products(after: $after) { items { sku } pageInfo { hasNextPage endCursor } } }";
    let good = json!({
        "url": "https://shop.example.com/graphql",
        "query": query,
        "records": "$.products.items[*]",
        "paginate": {"page_info": "$.products.pageInfo"},
    });
    assert_eq!(build_errors(good), []);
    let bad = build_errors(json!({
        "url": "shop.example.com/graphql",
        "query": query,
        "records": "$.products.items[",
        "paginate": {"page_info": "$.products.pageInfo", "cursor_variable": "cursor"},
        "max_pages": 0,
    }));
    assert_eq!(
        bad,
        [
            ("url".to_string(), "bad-value"),
            ("records".to_string(), "bad-jsonpath"),
            ("paginate.cursor_variable".to_string(), "bad-value"),
            ("max_pages".to_string(), "bad-value"),
        ]
    );
}
