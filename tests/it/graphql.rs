//! GraphQL against a local server (`support::api`): the `graphql` source pages with `pageInfo` to the
//! end and stops on a repeated cursor; `errors` answered with HTTP 200 fail the poll, or dead-letter
//! the record in the `http` step (partial data only when allowed), with no secret in the reason.

use serde_json::{Value, json};

use crate::http_step::{TOKEN, lines, pipeline, run};
use crate::support::api::{Api, PRODUCTS};

const PAGED: &str = "query ($after: String) { products(first: 3, after: $after) { items { sku name } pageInfo { hasNextPage endCursor } } }";

/// A pipeline reading the `graphql` source (YAML flow mapping keys after `type: graphql`) into
/// `out.ndjson`.
fn source_pipeline(source: &str) -> String {
    format!(
        "name: p\nsource: {{ id: api, type: graphql, {source} }}\nsinks:\n  - {{ id: out, type: file, path: out.ndjson }}\n"
    )
}

#[test]
fn the_source_pages_with_page_info_to_the_end() {
    let api = Api::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let source = format!(
        "url: \"{}/graphql\", query: \"{PAGED}\", records: \"$.products.items[*]\", \
         paginate: {{ page_info: \"$.products.pageInfo\" }}",
        api.base_url()
    );
    let summary = run(dir.path(), &source_pipeline(&source));
    assert!(summary.is_success(), "{summary}");
    let skus: Vec<Value> = lines(dir.path(), "out.ndjson").iter().map(|r| r["sku"].clone()).collect();
    assert_eq!(skus, PRODUCTS.iter().map(|s| json!(s)).collect::<Vec<_>>(), "each record once, in order");
    let requests = api.requests();
    let cursors: Vec<Value> = requests.iter().map(|r| r.body["variables"]["after"].clone()).collect();
    assert_eq!(cursors, [Value::Null, json!("c3"), json!("c6")], "7 records at 3 a page: 3 pages");
    assert!(requests.iter().all(|r| r.method == "POST" && r.body["query"] == json!(PAGED)));

    // A server that answers the same cursor again would be read forever: the poll fails instead.
    let source = source.replace("products(first: 3", "loop: products(first: 3");
    let summary = run(dir.path(), &source_pipeline(&source));
    let error = summary.error.clone().unwrap_or_default();
    assert!(error.contains("`endCursor` \"same\" again"), "{error}");
}

#[test]
fn errors_with_http_200_fail_the_source_with_the_messages() {
    let api = Api::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let source = format!(
        "url: \"{}/graphql\", query: \"{{ broken {{ sku }} }}\", records: \"$.broken[*]\", \
         headers: {{ Authorization: \"Bearer ${{secret:API_TOKEN}}\" }}",
        api.base_url()
    );
    let summary = run(dir.path(), &source_pipeline(&source));
    assert!(!summary.is_success(), "{summary}");
    let error = summary.error.clone().unwrap_or_default();
    assert!(error.contains("GraphQL errors: Cannot query field \"broken\""), "{error}");
    assert!(lines(dir.path(), "out.ndjson").is_empty());

    let source = source.replace("broken", "echo");
    let summary = run(dir.path(), &source_pipeline(&source));
    let error = summary.error.clone().unwrap_or_default();
    assert!(error.contains("not allowed with Bearer") && !error.contains(TOKEN), "masked: {error}");
}

#[test]
fn the_step_merges_data_and_dead_letters_errors_unless_partial_data_is_allowed() {
    let api = Api::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let records = [json!({"sku": "MH01"}), json!({"sku": "PARTIAL"}), json!({"sku": "NOPE"}), json!({"sku": "MH01"})];
    let step = |extra: &str| {
        format!(
            "    url: \"{}/graphql\"\n    headers: {{ Authorization: \"Bearer ${{secret:API_TOKEN}}\" }}\n    \
             graphql:\n      query: \"query ($sku: String!) {{ product(sku: $sku) {{ sku children }} }}\"\n      \
             variables: {{ sku: \"{{{{ record.sku }}}}\" }}\n{extra}    select: \"$.product.children\"\n    into: children\n",
            api.base_url()
        )
    };
    let summary = run(dir.path(), &pipeline(dir.path(), &records, &step("")));
    assert!(summary.is_success(), "{summary}");
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (2, 2), "{summary}");
    let out = lines(dir.path(), "out.ndjson");
    assert_eq!(out[0], json!({"sku": "MH01", "children": ["MH01-S", "MH01-M"]}));
    assert_eq!(out[1], out[0]);
    let dead = lines(dir.path(), "dead.ndjson");
    let reasons: Vec<String> = dead.iter().map(|d| d.to_string()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("GraphQL errors: children are unavailable (at `product.children`)")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("not found")), "a null product is missing: {reasons:?}");
    assert!(reasons.iter().all(|r| !r.contains(TOKEN)));
    assert_eq!(api.count("/graphql"), 3, "MH01 asked once: the body is part of the cache key");
    let variables: Vec<Value> = api.requests().iter().map(|r| r.body["variables"].clone()).collect();
    assert_eq!(variables, [json!({"sku": "MH01"}), json!({"sku": "PARTIAL"}), json!({"sku": "NOPE"})]);

    // Partial data allowed: the record goes on with what came; its missing children are missing.
    let summary = run(dir.path(), &pipeline(dir.path(), &records, &step("      allow_partial: true\n")));
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (2, 2), "{summary}");
    let dead = lines(dir.path(), "dead.ndjson");
    assert!(dead.iter().all(|d| !d.to_string().contains("GraphQL errors")), "{dead:?}");
}
