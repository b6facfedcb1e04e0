//! Unit tests for the JSONPath API beyond query results (covered by the RFC 9535 CTS in
//! tests/it/jsonpath_cts.rs): `first`, `is_singular`, `set`, `remove`, `field_paths`, compile errors.

use serde_json::{Value, json};

use super::JsonPath;

fn path(expr: &str) -> JsonPath {
    JsonPath::compile(expr).expect("test path compiles")
}

fn product() -> Value {
    json!({
        "sku": "TRS1",
        "min": 2,
        "custom_attributes": [
            {"attribute_code": "color", "value": "navy"},
            {"attribute_code": "size", "value": "xs"},
            {"attribute_code": "size", "value": "xl"},
        ],
        "items": [{"p": 1, "id": "a"}, {"p": 3, "id": "b"}, {"p": 5, "id": "c"}],
    })
}

#[test]
fn first_returns_the_first_match_in_order() {
    let doc = product();
    let size = path("$.custom_attributes[?@.attribute_code=='size'].value");
    assert_eq!(size.first(&doc), Some(&json!("xs")));
    assert_eq!(size.query(&doc), vec![&json!("xs"), &json!("xl")]);
    assert_eq!(path("$.items[-1].id").first(&doc), Some(&json!("c")));
    assert_eq!(path("$..id").first(&doc), Some(&json!("a")));
    assert_eq!(path("$.items[::-1].id").first(&doc), Some(&json!("c")));
    assert_eq!(path("$.items[?@.p > $.min].id").first(&doc), Some(&json!("b")));
    assert_eq!(path("$.missing").first(&doc), None);
    assert_eq!(path("$.custom_attributes[?@.attribute_code=='weight']").first(&doc), None);
    assert_eq!(path("$").first(&doc), Some(&doc));
}

#[test]
fn first_agrees_with_query_head() {
    let doc = product();
    for expr in [
        "$.items[*].p",
        "$..value",
        "$.items[1:]",
        "$['sku','min']",
        "$.items[?@.p >= 3 && @.id != 'c']",
        "$..[?@.value]",
        "$.items[?count(@.*) == 2].id",
    ] {
        let p = path(expr);
        assert_eq!(p.first(&doc), p.query(&doc).first().copied(), "{expr}");
    }
}

#[test]
fn comparisons_follow_rfc_semantics() {
    let doc = json!([{"n": 1}, {"n": 1.0}, {"n": "1"}, {"n": [1]}, {}, {"n": null}]);
    assert_eq!(path("$[?@.n == 1]").query(&doc).len(), 2);
    assert_eq!(path("$[?@.n == $.nothing]").query(&doc), vec![&json!({})]);
    assert_eq!(path("$[?@.n == null]").query(&doc), vec![&json!({"n": null})]);
    assert_eq!(path("$[?@.n < 2]").query(&doc).len(), 2);
    assert_eq!(path("$[?length(@.n) == 1]").query(&doc).len(), 2);
}

#[test]
fn regex_functions_use_i_regexp() {
    let doc = json!(["ab", "a\nb", "a\rb", "AB", "a1"]);
    assert_eq!(path("$[?match(@, 'a.b')]").query(&doc), Vec::<&Value>::new());
    assert_eq!(path("$[?match(@, 'a.')]").query(&doc), vec![&json!("ab"), &json!("a1")]);
    assert_eq!(path("$[?search(@, 'B')]").query(&doc), vec![&json!("AB")]);
    // Not I-Regexp: flags, `\d`; such calls match nothing.
    assert!(path("$[?match(@, '(?i)ab')]").query(&doc).is_empty());
    assert!(path("$[?match(@, 'a\\\\d')]").query(&doc).is_empty());
    assert_eq!(path("$[?match(@, 'a[0-9]')]").query(&doc), vec![&json!("a1")]);
}

#[test]
fn compile_rejects_invalid_queries_with_a_reason() {
    for (expr, reason) in [
        ("$[?length(@.a)]", "cannot be used as a test"),
        ("$[?length(@.*) == 1]", "must be singular"),
        ("$[?value(1) == 1]", "takes a query"),
        ("$[?in(@.a, 1)]", "unknown function"),
        ("$[?@.a == 1e400]", "out of range"),
    ] {
        let err = JsonPath::compile(expr).expect_err(expr);
        assert!(err.reason.contains(reason), "{expr}: {err}");
        assert_eq!(err.expr, expr);
        assert!(err.to_string().starts_with(&format!("invalid JSONPath `{expr}`: ")));
    }
    // jsonpath-rust's parser skips whitespace inside shorthand names and after `.`.
    for expr in ["$.a b", "$..a b", "$.a\tb", "$[?@.a b==1]", "$[?@. a==1]", "$[?@.a.b c]"] {
        assert!(JsonPath::compile(expr).is_err(), "{expr:?} accepted");
    }
    for expr in ["$.a .b", "$['a b']", "$[?@.a == 'x. y']", "$[?@.a == 1.5 ]", "$[?@.a && @.b]"] {
        assert!(JsonPath::compile(expr).is_ok(), "{expr:?} rejected");
    }
    assert!(JsonPath::compile("a.b").is_err());
}

#[test]
fn is_singular_only_for_names_and_indexes() {
    for expr in ["$", "$.a", "$['a'][0]", "$.a[-1].b", "$[\"x y\"]"] {
        assert!(path(expr).is_singular(), "{expr}");
    }
    for expr in ["$.a[*]", "$..a", "$['a','b']", "$[0,1]", "$[0:1]", "$[?@.a]", "$.*"] {
        assert!(!path(expr).is_singular(), "{expr}");
    }
}

#[test]
fn set_creates_missing_objects_and_overwrites() {
    let mut doc = json!({"keep": 1});
    path("$.a.b.c").set(&mut doc, json!(7)).expect("set");
    assert_eq!(doc, json!({"keep": 1, "a": {"b": {"c": 7}}}));
    path("$.a.b.c").set(&mut doc, json!("x")).expect("overwrite");
    assert_eq!(doc["a"]["b"]["c"], json!("x"));
    path("$['keep']").set(&mut doc, json!([1, 2, 3])).expect("replace");
    path("$.keep[-1]").set(&mut doc, json!(30)).expect("negative index");
    path("$.keep[0]").set(&mut doc, json!({})).expect("index");
    path("$.keep[0].deep.er").set(&mut doc, json!(true)).expect("through index");
    assert_eq!(doc["keep"], json!([{"deep": {"er": true}}, 2, 30]));

    let mut nulls = json!({"a": null});
    path("$.a.b").set(&mut nulls, json!(1)).expect("null intermediate");
    assert_eq!(nulls, json!({"a": {"b": 1}}));

    let mut whole = json!({"x": 1});
    path("$").set(&mut whole, json!("new")).expect("root");
    assert_eq!(whole, json!("new"));
}

#[test]
fn set_errors_leave_the_target_unchanged() {
    let original = json!({"a": 1, "list": [0, 1], "s": "str"});
    for expr in [
        "$.a.b",         // scalar intermediate
        "$.s.x",         // string intermediate
        "$.list[2]",     // index out of range
        "$.list[-3]",    // negative index out of range
        "$.a[0]",        // index into a number
        "$.list.name",   // name on an array
        "$.new.more[0]", // would create `new`, then index into an empty object
        "$.list[*]",     // not singular
        "$..a",          // not singular
    ] {
        let mut doc = original.clone();
        let err = path(expr).set(&mut doc, json!(9)).expect_err(expr);
        assert_eq!(err.expr, expr);
        assert_eq!(doc, original, "{expr} changed the target");
    }
}

#[test]
fn remove_takes_singular_targets_only() {
    let mut doc = json!({"z": 1, "a": {"b": 2, "c": 3}, "list": [10, 20, 30]});
    assert_eq!(path("$.a.b").remove(&mut doc), Some(json!(2)));
    assert_eq!(path("$.a.b").remove(&mut doc), None);
    assert_eq!(path("$.list[0]").remove(&mut doc), Some(json!(10)));
    assert_eq!(path("$.list[-1]").remove(&mut doc), Some(json!(30)));
    assert_eq!(path("$.list[5]").remove(&mut doc), None);
    assert_eq!(path("$.z.y").remove(&mut doc), None);
    assert_eq!(path("$.list[*]").remove(&mut doc), None);
    assert_eq!(doc, json!({"z": 1, "a": {"c": 3}, "list": [20]}));
    assert_eq!(path("$.z").remove(&mut doc), Some(json!(1)));
    assert_eq!(doc, json!({"a": {"c": 3}, "list": [20]}));
    assert_eq!(path("$").remove(&mut doc), Some(json!({"a": {"c": 3}, "list": [20]})));
    assert_eq!(doc, Value::Null);
}

fn paths(expr: &str) -> Option<Vec<Vec<&'static str>>> {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    path(expr).field_paths().map(|ps| ps.into_iter().map(|p| p.into_iter().map(leak).collect()).collect())
}

#[test]
fn field_paths_stop_at_the_first_non_name_selector() {
    assert_eq!(paths("$.a.b[*].c"), Some(vec![vec!["a", "b"]]));
    assert_eq!(paths("$.sku"), Some(vec![vec!["sku"]]));
    assert_eq!(paths("$.custom_attributes[?@.attribute_code=='size'].value"), Some(vec![vec!["custom_attributes"]]));
    assert_eq!(paths("$.a[0].b"), Some(vec![vec!["a"]]));
    assert_eq!(paths("$['a','b'].c"), Some(vec![vec!["a", "c"], vec!["b", "c"]]));
    assert_eq!(paths("$['a','a'].b"), Some(vec![vec!["a", "b"]]));
    assert_eq!(paths("$['a.b','a'].c"), Some(vec![vec!["a", "c"], vec!["a.b", "c"]]));
    assert_eq!(paths("$.a..x"), Some(vec![vec!["a"]]));
}

#[test]
fn field_paths_include_absolute_queries_in_filters() {
    assert_eq!(paths("$.items[?@.p > $.limits.min].id"), Some(vec![vec!["items"], vec!["limits", "min"]]));
    assert_eq!(
        paths("$.items[?count($.other[*]) > 1 || match(@.id, $.re)]"),
        Some(vec![vec!["items"], vec!["other"], vec!["re"]])
    );
    // `$.a` already covers `$.a.b`.
    assert_eq!(paths("$.a[?$.a.b]"), Some(vec![vec!["a"]]));
    assert_eq!(paths("$.a[?@.x[?$.y]]"), Some(vec![vec!["a"], vec!["y"]]));
    assert_eq!(paths("$.a[?$..y]"), None);
    assert_eq!(paths("$.a[?$[0]]"), None);
}

#[test]
fn field_paths_none_when_anything_may_be_read() {
    for expr in ["$", "$..x", "$[*]", "$.*", "$[0]", "$[?@.a]", "$[0:2].a"] {
        assert_eq!(paths(expr), None, "{expr}");
    }
}

#[test]
fn integers_beyond_64_bits_compare_exactly() {
    let doc: Value = serde_json::from_str(
        r#"{"n":[18446744073709551616,18446744073709551617,1e400,2.5],"max":18446744073709551616}"#,
    )
    .expect("json");
    let ids = |q: &str| path(q).query(&doc).into_iter().map(|v| v.to_string()).collect::<Vec<_>>();
    assert_eq!(ids("$.n[?@ > $.max]"), vec!["18446744073709551617", "1e+400"]);
    assert_eq!(ids("$.n[?@ == $.max]"), vec!["18446744073709551616"]);
    assert_eq!(ids("$.n[?@ < 3]"), vec!["2.5"]);
}
