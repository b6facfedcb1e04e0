//! Unit tests for the template layer: filters, strictness, fuel, structured templates, compile checks.

use std::sync::Arc;

use serde_json::{Value as Json, json};

use super::ids::IdLookup;
use super::*;
use crate::tables::{Table, Tables};

fn tables() -> Arc<Tables> {
    let mut ts = Tables::new();
    let csv = "magento_size,erp_size,label\nxs,XS-01,Extra small\ns,S-02,Small\n";
    ts.insert(Table::from_csv_reader("sizes", std::path::Path::new("sizes.csv"), csv.as_bytes()).unwrap());
    ts.insert(
        Table::from_rows_with_columns(
            "codes",
            vec!["code".into(), "rate".into()],
            vec![
                json!({"code": 1, "rate": 0.19}).as_object().unwrap().clone(),
                json!({"code": 2, "rate": 0.07}).as_object().unwrap().clone(),
            ],
        )
        .unwrap(),
    );
    Arc::new(ts)
}

fn engine() -> TemplateEngine {
    TemplateEngine::new(tables(), TemplateOptions::default())
}

fn product() -> Json {
    serde_json::from_str(include_str!("../../../tests/data/sample-product.json")).unwrap()
}

fn ctx(record: Json) -> RenderContext {
    RenderContext::new(Arc::new(record))
}

fn render(src: &str, record: Json) -> Result<String, TemplateError> {
    engine().compile_string(src).unwrap().render(&ctx(record))
}

fn r(src: &str) -> String {
    render(src, json!({})).unwrap()
}

#[test]
fn string_template_basics() {
    let t = engine().compile_string("{{ record.name }} ({{ size | upper }})").unwrap();
    let c = ctx(product()).with_var("size", json!("xs"));
    assert_eq!(t.render(&c).unwrap(), "Teton Running Short (XS)");
    assert_eq!(r("a\n"), "a\n", "trailing newline kept");
    assert_eq!(r("{{ '<b>' }}"), "<b>", "no HTML escaping");
}

#[test]
fn record_access_is_lazy_but_complete() {
    let rec = product();
    let c = ctx(rec);
    let e = engine();
    let out = |s: &str| e.compile_string(s).unwrap().render(&c).unwrap();
    assert_eq!(out("{{ record.extension_attributes.stock_item.qty }}"), "3763");
    assert_eq!(out("{{ record.extension_attributes.category_links[1].category_id }}"), "55");
    assert_eq!(out("{{ record.media_gallery_entries | length }}"), "2");
    assert_eq!(out("{{ 'sku' in record }}"), "True");
    assert_eq!(out("{{ 'nope' in record }}"), "False");
    assert_eq!(
        out(
            "{{ record.custom_attributes | selectattr('attribute_code', 'eq', 'size') | map(attribute='value') | first }}"
        ),
        "xs"
    );
    assert_eq!(
        out("{% for l in record.extension_attributes.category_links %}{{ l.category_id }},{% endfor %}"),
        "42,55,"
    );
    assert_eq!(
        out("{% for k in record.extension_attributes.stock_item %}{{ k }} {% endfor %}").split_whitespace().count(),
        10
    );
    assert_eq!(out("{{ record.extension_attributes.website_ids | tojson }}"), "[1]");
    assert_eq!(out("{{ record.product_links | tojson }}"), "[]");
    assert_eq!(out("{{ record.price }}"), "184.182");
    assert_eq!(out("{% if record.product_links %}y{% else %}n{% endif %}"), "n");
}

#[test]
fn tojson_of_record_node_is_the_underlying_json() {
    let rec = json!({"a": {"x": [1, 2.5, null, "q<"], "b": true}});
    let out = render("{{ record.a | tojson }}", rec.clone()).unwrap();
    let back: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(back, rec["a"]);
    assert!(out.contains("\\u003c"), "html-safe like the builtin: {out}");
    let pretty = render("{{ record.a | tojson(indent=2) }}", rec.clone()).unwrap();
    assert!(pretty.contains('\n'));
    assert_eq!(r("{{ {'k': [1]} | tojson }}"), r#"{"k":[1]}"#, "non-record values use the builtin");
}

#[test]
fn strict_undefined_is_a_render_error() {
    let err = render("{{ record.nope }}", json!({"a": 1})).unwrap_err();
    assert!(matches!(err, TemplateError::Render { .. }), "{err:?}");
    assert!(err.to_string().contains("undefined"), "{err}");
    let err = render("{{ nothing }}", json!({})).unwrap_err();
    assert!(matches!(err, TemplateError::Render { .. }));
    // minijinja prints booleans and none the Python way.
    assert_eq!(render("{{ record.nope is defined }}", json!({})).unwrap(), "False");
    assert_eq!(render("{{ record.nope | default('d') }}", json!({})).unwrap(), "d");
}

#[test]
fn fuel_stops_runaway_loops() {
    let t = engine()
        .compile_string("{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}")
        .unwrap();
    assert_eq!(t.render(&ctx(json!({}))).unwrap_err(), TemplateError::FuelExhausted);
    // minijinja refuses huge ranges outright (a render error, no hang) before fuel is involved.
    let t = engine().compile_string("{% for i in range(100000000) %}{{ i }}{% endfor %}").unwrap();
    assert!(matches!(t.render(&ctx(json!({}))).unwrap_err(), TemplateError::Render { .. }));
    let unlimited = TemplateEngine::new(tables(), TemplateOptions { fuel: None });
    let t = unlimited.compile_string("{% for i in range(60000) %}{% endfor %}ok").unwrap();
    assert_eq!(t.render(&ctx(json!({}))).unwrap(), "ok");
}

#[test]
fn syntax_errors_have_positions() {
    let err = engine().compile_string("line one\nhello {{ record.name | }}").unwrap_err();
    match err {
        TemplateError::Syntax { line, col, source_snippet, .. } => {
            assert_eq!(line, 2);
            assert!(col > 6 && col <= 28, "col {col}");
            assert_eq!(source_snippet, "hello {{ record.name | }}");
        }
        other => panic!("{other:?}"),
    }
    let err = engine().compile_expression("a and (b").unwrap_err();
    assert!(matches!(err, TemplateError::Syntax { line: 1, .. }), "{err:?}");
    assert!(engine().compile_expression("a %} x {% set b = (1").is_err());
}

#[test]
fn unknown_filter_and_test_fail_at_compile_time() {
    let e = engine();
    assert_eq!(e.compile_string("{{ x | uppr }}").unwrap_err(), TemplateError::UnknownFilter { name: "uppr".into() });
    assert_eq!(
        e.compile_string("{% if x %}{{ [x] | map('uppr') | list }}{% endif %}{{ x | nope(1) }}").unwrap_err(),
        TemplateError::UnknownFilter { name: "nope".into() }
    );
    assert_eq!(
        e.compile_string("{{ x is evenish }}").unwrap_err(),
        TemplateError::UnknownTest { name: "evenish".into() }
    );
    assert!(e.compile_expression("x | frobnicate").is_err());
    // Builtins, contrib and ours are all known.
    for f in [
        "upper",
        "tojson",
        "urlencode",
        "path_segment",
        "base64url",
        "required",
        "round",
        "lookup",
        "datetimeformat",
        "dateformat",
        "money",
        "truncate",
    ] {
        assert!(e.compile_string(&format!("{{{{ x | {f} }}}}")).is_ok(), "{f}");
    }
}

#[test]
fn unknown_table_fails_at_compile_time() {
    let e = engine();
    let err = e.compile_string("{{ record.size | lookup('sizez', column='erp_size') }}").unwrap_err();
    assert_eq!(err, TemplateError::UnknownTable { name: "sizez".into(), known: vec!["codes".into(), "sizes".into()] });
    // Inside a macro, a loop and a structured template too.
    assert!(matches!(
        e.compile_string("{% macro m(x) %}{{ x | lookup('nope') }}{% endmacro %}").unwrap_err(),
        TemplateError::UnknownTable { .. }
    ));
    assert!(matches!(
        e.compile_value(&json!({"a": ["{{ record.s | lookup('nope') }}"]})).unwrap_err(),
        TemplateError::UnknownTable { .. }
    ));
    assert!(matches!(e.compile_expression("x | lookup('nope')").unwrap_err(), TemplateError::UnknownTable { .. }));
    // A string mentioning lookup('nope') is not a call.
    assert!(e.compile_string("{{ \"lookup('nope')\" }} {# lookup('nope') #}").is_ok());
    let err = e.compile_string("{{ x | lookup('sizes', column='erp') }}").unwrap_err();
    assert!(matches!(err, TemplateError::UnknownColumn { ref column, .. } if column == "erp"), "{err:?}");
}

#[test]
fn lookup_filter() {
    let e = engine();
    let c = ctx(json!({"size": "xs", "other": "xxl", "code": 2}));
    let out = |s: &str| e.compile_string(s).unwrap().render(&c);
    assert_eq!(out("{{ record.size | lookup('sizes', column='erp_size') }}").unwrap(), "XS-01");
    assert_eq!(out("{{ 'Small' | lookup('sizes', key='label', column='magento_size') }}").unwrap(), "s");
    assert_eq!(out("{{ (record.size | lookup('sizes')).label }}").unwrap(), "Extra small");
    assert_eq!(out("{{ record.code | lookup('codes', column='rate') }}").unwrap(), "0.07");
    assert_eq!(out("{{ record.other | lookup('sizes', column='erp_size', default='?') }}").unwrap(), "?");
    assert_eq!(out("{{ record.other | lookup('sizes', column='erp_size', default=none) }}").unwrap(), "None");
    let err = out("{{ record.other | lookup('sizes', column='erp_size') }}").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("sizes") && msg.contains("xxl"), "{msg}");
    // A dynamic table name is checked at render time.
    let err = out("{{ record.size | lookup('si' ~ 'zz') }}").unwrap_err();
    assert!(err.to_string().contains("unknown table `sizz`"), "{err}");
}

#[test]
fn round_is_decimal_half_away_from_zero() {
    let e = engine();
    let v = |s: &str, rec: Json| e.compile_value(&json!(s)).unwrap().render(&ctx(rec)).unwrap();
    assert_eq!(v("{{ record.p | round(2) }}", json!({"p": 184.185})), json!(184.19));
    assert_eq!(v("{{ record.p | round(2) }}", json!({"p": 1.005})), json!(1.01));
    assert_eq!(v("{{ record.p | round(2) }}", json!({"p": -1.005})), json!(-1.01));
    assert_eq!(v("{{ record.p | round(2) }}", json!({"p": 184.182})), json!(184.18));
    assert_eq!(v("{{ record.p | round(2) }}", json!({"p": 2.675})), json!(2.68));
    assert_eq!(v("{{ record.p | round }}", json!({"p": 2.5})), json!(3.0));
    assert_eq!(v("{{ record.p | round }}", json!({"p": -2.5})), json!(-3.0));
    assert_eq!(v("{{ record.p | round(precision=1) }}", json!({"p": 0.05})), json!(0.1));
    assert_eq!(v("{{ record.p | round(2) }}", json!({"p": 7})), json!(7), "integers unchanged");
    assert_eq!(v("{{ record.p | round(2) }}", json!({"p": "46.435"})), json!(46.44), "numeric strings");
    assert_eq!(v("{{ record.p | round(2) }}", json!({"p": 1e-30})), json!(0.0));
    assert!(e.compile_string("{{ 'abc' | round }}").unwrap().render(&ctx(json!({}))).is_err());
    assert!(e.compile_string("{{ 1.5 | round(-1) }}").unwrap().render(&ctx(json!({}))).is_err());
}

#[test]
fn decimal_and_money() {
    assert_eq!(r("{{ 12.5 | decimal(2) }}"), "12.50");
    assert_eq!(r("{{ 1.005 | decimal(2) }}"), "1.01");
    assert_eq!(r("{{ 3 | decimal(3) }}"), "3.000");
    assert_eq!(r("{{ 2.5 | decimal(0) }}"), "3");
    assert_eq!(r("{{ '0.1' | decimal }}"), "0.10");
    assert_eq!(r("{{ -0.125 | decimal(places=2) }}"), "-0.13");
    assert_eq!(r("{{ 12.5 | money }}"), "12.50");
    assert_eq!(r("{{ 12.5 | money('EUR') }}"), "12.50 EUR");
    assert_eq!(r("{{ 12.5 | money(currency='USD', places=0) }}"), "13 USD");
    assert!(render("{{ 'x' | money }}", json!({})).is_err());
}

#[test]
fn dates() {
    assert_eq!(r("{{ '2023-02-28 07:55:06' | parse_date }}"), "2023-02-28T07:55:06Z");
    assert_eq!(r("{{ '2023-02-28T07:55:06+02:00' | parse_date }}"), "2023-02-28T07:55:06+02:00");
    assert_eq!(r("{{ '2023-02-28' | parse_date }}"), "2023-02-28T00:00:00Z");
    assert_eq!(r("{{ '28.02.2023' | parse_date('[day].[month].[year]') }}"), "2023-02-28T00:00:00Z");
    assert_eq!(
        r("{{ '2023-02-28 07:55:06' | dateformat('[day].[month].[year] [hour]:[minute]') }}"),
        "28.02.2023 07:55"
    );
    assert_eq!(r("{{ '2023-02-28T07:55:06Z' | dateformat('magento') }}"), "2023-02-28 07:55:06");
    assert_eq!(r("{{ '2023-02-28 07:55:06' | dateformat }}"), "2023-02-28T07:55:06Z");
    assert_eq!(r("{{ '2023-02-28 07:55:06' | dateformat('unix') }}"), "1677570906");
    assert_eq!(r("{{ 1677570906 | dateformat('date') }}"), "2023-02-28");
    assert_eq!(r("{{ '28/02/2023' | dateformat('date', input='[day]/[month]/[year]') }}"), "2023-02-28");
    assert_eq!(r("{{ '2023-02-28 07:55:06' | parse_date | datetimeformat(format='[year]') }}"), "2023");
    assert!(render("{{ 'yesterday' | parse_date }}", json!({})).is_err());
    assert!(render("{{ '2023-02-28' | dateformat('[bogus]') }}", json!({})).is_err());
}

#[test]
fn builtin_filters() {
    assert_eq!(r("{{ 'a b&c' | urlencode }}"), "a%20b%26c");
    // One path segment: `/`, `+`, `%` and spaces encoded, the unreserved characters kept.
    assert_eq!(r("{{ 'MH01/XS Black+1%' | path_segment }}"), "MH01%2FXS%20Black%2B1%25");
    assert_eq!(r("{{ 'a-b.c_d~e' | path_segment }}"), "a-b.c_d~e");
    assert_eq!(r("{{ 42 | path_segment }}"), "42");
    assert_eq!(r("{{ '...' | path_segment }}"), "...");
    for dots in [".", ".."] {
        let error = render(&format!("{{{{ '{dots}' | path_segment }}}}"), json!({})).expect_err("a dot segment");
        assert!(error.to_string().contains("a path segment cannot be '.' or '..'"), "{error}");
    }
    assert_eq!(r("{{ 'abc' | upper }}"), "ABC");
    assert_eq!(r("{{ [1, 'x'] | tojson }}"), r#"[1,"x"]"#);
}

#[test]
fn fail_rejects_the_record_with_the_reason_given_and_only_when_reached() {
    let template = "{{ record.email or fail('the customer has no e-mail address') }}";
    assert_eq!(render(template, json!({"email": "a@example.com"})).expect("rendered"), "a@example.com");
    let error = render(template, json!({"email": ""})).expect_err("rejected");
    assert!(error.to_string().contains("the customer has no e-mail address"), "{error}");
}

#[test]
fn expressions() {
    let e = engine();
    let c = ctx(json!({"qty": 5, "tags": ["a", "b"], "o": {"k": 1}, "n": null}));
    assert!(e.compile_expression("record.qty > 3").unwrap().is_true(&c).unwrap());
    assert!(!e.compile_expression("record.tags | length > 2").unwrap().is_true(&c).unwrap());
    assert_eq!(e.compile_expression("record.qty * 2").unwrap().eval(&c).unwrap(), json!(10));
    assert_eq!(e.compile_expression("record.tags").unwrap().eval(&c).unwrap(), json!(["a", "b"]));
    assert_eq!(e.compile_expression("record.o").unwrap().eval(&c).unwrap(), json!({"k": 1}));
    assert_eq!(e.compile_expression("record.n").unwrap().eval(&c).unwrap(), Json::Null);
    assert!(e.compile_expression("record.missing").unwrap().eval(&c).is_err());
    assert!(e.compile_expression("record.missing").unwrap().is_true(&c).is_err());
    let with_parent = c.clone().with_parent(Arc::new(json!({"id": 9})));
    assert_eq!(e.compile_expression("parent.id + record.qty").unwrap().eval(&with_parent).unwrap(), json!(14));
    assert!(e.compile_expression("parent.id").unwrap().eval(&c).is_err(), "no parent → undefined");
}

#[test]
fn structured_typing() {
    let e = engine();
    let t = e
        .compile_value(&json!({
            "item_no": "{{ record.sku }}-{{ size }}",
            "unit_price": "{{ record.price | round(2) }}",
            "qty": "  {{ record.extension_attributes.stock_item.qty }}\n",
            "ids": "{{ record.extension_attributes.website_ids }}",
            "stock": "{{ record.extension_attributes.stock_item }}",
            "none": "{{ none }}",
            "label": "{{- record.name -}}",
            "made": "{{ [record.id, 'x'] }}",
            "literal": "plain {text}",
            "n": 5,
            "nested": [true, {"k": "{{ record.id + 1 }}"}],
            "$not_each": "{{ 1 }}",
        }))
        .unwrap();
    let out = t.render(&ctx(product()).with_var("size", json!("xs"))).unwrap();
    assert_eq!(
        out,
        json!({
            "item_no": "TRS000001-xs",
            "unit_price": 184.18,
            "qty": 3763,
            "ids": [1],
            "stock": product()["extension_attributes"]["stock_item"],
            "none": null,
            "label": "Teton Running Short",
            "made": [1, "x"],
            "literal": "plain {text}",
            "n": 5,
            "nested": [true, {"k": 2}],
            "$not_each": 1,
        })
    );
    assert!(!t.is_literal());
    assert!(e.compile_value(&json!({"a": [1, "x"]})).unwrap().is_literal());
    let err = t.render(&ctx(json!({}))).unwrap_err();
    assert!(err.to_string().contains("at $."), "errors name the field: {err}");
}

#[test]
fn structured_each_and_where() {
    let e = engine();
    let t = e
        .compile_value(&json!({
            "links": {
                "$each": "record.extension_attributes.category_links",
                "$value": {"cat": "{{ item.category_id | int }}", "pos": "{{ loop_index }}", "sku": "{{ record.sku }}"}
            },
            "images": {
                "$each": "{{ record.media_gallery_entries }}",
                "$as": "img",
                "$where": "'image' in img.types",
                "$value": "{{ img.file }}"
            },
            "nested": {
                "$each": "[[1, 2], [3]]",
                "$as": "row",
                "$value": {"$each": "row", "$value": "{{ item * 10 }}"}
            }
        }))
        .unwrap();
    let out = t.render(&ctx(product())).unwrap();
    assert_eq!(
        out["links"],
        json!([{"cat": 42, "pos": 0, "sku": "TRS000001"}, {"cat": 55, "pos": 1, "sku": "TRS000001"}])
    );
    assert_eq!(out["images"], json!(["/t/e/teton-running-short-1_0.jpg"]));
    assert_eq!(out["nested"], json!([[10, 20], [30]]));

    let not_list = e.compile_value(&json!({"$each": "record.sku", "$value": 1})).unwrap();
    assert!(not_list.render(&ctx(product())).is_err());
    assert!(matches!(e.compile_value(&json!({"$each": "x"})).unwrap_err(), TemplateError::InvalidStructure { .. }));
    assert!(matches!(
        e.compile_value(&json!({"$each": "x", "$value": 1, "extra": 2})).unwrap_err(),
        TemplateError::InvalidStructure { .. }
    ));
    assert!(matches!(
        e.compile_value(&json!({"$each": "x", "$as": "not a name", "$value": 1})).unwrap_err(),
        TemplateError::InvalidStructure { .. }
    ));
}

#[test]
fn compiled_templates_are_send_sync_and_cheap_to_share() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<TemplateEngine>();
    assert_send_sync::<StringTemplate>();
    assert_send_sync::<ValueTemplate>();
    assert_send_sync::<ExprTemplate>();
    let t = engine().compile_string("{{ record.a }}").unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || t.render(&ctx(json!({"a": i}))).unwrap())
        })
        .collect();
    let outs: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outs, ["0", "1", "2", "3"]);
}

#[test]
fn structured_errors_name_the_field() {
    let e = engine();
    let t = e.compile_value(&json!({"a": "{{ record.x }}", "b": "line1\n{{ record.nope }}", "c": 1})).unwrap();
    let err = t.render(&ctx(json!({"x": 1}))).unwrap_err().to_string();
    assert!(err.contains("at $.b:") && err.contains("record.nope"), "{err}");
    let t = e
        .compile_value(&json!({"c": {"$each": "[1, 2]", "$value": {"d": "{{ item.zz }}", "e": "{{ item }}!"}}}))
        .unwrap();
    let err = t.render(&ctx(json!({}))).unwrap_err().to_string();
    assert!(err.contains("at $.c[0].d:"), "{err}");
    // Variables set in one field do not break the others; text fields stay strings.
    let t = e.compile_value(&json!({"a": "{% set y = 2 %}{{ y }}", "b": "{{ 1 }}{{ 2 }}"})).unwrap();
    assert_eq!(t.render(&ctx(json!({}))).unwrap(), json!({"a": "2", "b": "12"}));
}

#[test]
fn parse_kv_splits_key_value_lists() {
    let engine = TemplateEngine::new(Arc::new(Tables::new()), TemplateOptions::default());
    let t = engine.compile_value(&json!("{{ record.v | parse_kv }}")).unwrap();
    let ctx = RenderContext::new(Arc::new(json!({"v": "sku=MH01-XS-Black, size=XS,color=Black"})));
    assert_eq!(t.render(&ctx).unwrap(), json!({"sku": "MH01-XS-Black", "size": "XS", "color": "Black"}));
    let t = engine.compile_value(&json!("{{ record.v | parse_kv(pair_sep='|', kv_sep=':') }}")).unwrap();
    let ctx = RenderContext::new(Arc::new(json!({"v": "a:1|b:2"})));
    assert_eq!(t.render(&ctx).unwrap(), json!({"a": "1", "b": "2"}));
    let ctx = RenderContext::new(Arc::new(json!({"v": "a:1|oops"})));
    assert!(t.render(&ctx).is_err());
}

#[derive(Debug)]
struct FakeIds;

impl IdLookup for FakeIds {
    fn ids(&self, key: &str) -> Result<serde_json::Map<String, Json>, String> {
        match key {
            "order:1" => Ok(json!({"erp_order_id": 17, "erp_ref": "SO17"}).as_object().unwrap().clone()),
            "broken" => Err("disk on fire".into()),
            _ => Ok(serde_json::Map::new()),
        }
    }
}

#[test]
fn ids_read_the_id_map_of_the_record_key_or_any_key() {
    let e = engine();
    let t = e.compile_string("{{ ids.erp_ref }}/{{ ids_for('order:1').erp_order_id }}").unwrap();
    let value =
        e.compile_value(&json!({"id": "{{ ids.erp_order_id }}", "known": "{{ ids.nope is defined }}"})).unwrap();
    let keyed = |key: &str| ctx(json!({})).with_key(Some(Arc::from(key)));
    // Before the run fills the slot, reading ids says why it cannot.
    let err = t.render(&keyed("order:1")).unwrap_err().to_string();
    assert!(err.contains("needs the state store"), "{err}");
    assert!(e.ids().fill(Arc::new(FakeIds)));
    assert_eq!(t.render(&keyed("order:1")).unwrap(), "SO17/17");
    assert_eq!(value.render(&keyed("order:1")).unwrap(), json!({"id": 17, "known": false}));
    let err = t.render(&ctx(json!({}))).unwrap_err().to_string();
    assert!(err.contains("this record has no key"), "{err}");
    let err = t.render(&keyed("broken")).unwrap_err().to_string();
    assert!(err.contains("reading the id map for `broken`: disk on fire"), "{err}");
    assert_eq!(e.compile_expression("ids is defined").unwrap().eval(&keyed("x")).unwrap(), json!(true));
}

#[test]
fn simple_structured_templates_render_the_same_without_minijinja() {
    let e = engine();
    let t = e
        .compile_value(&json!({
            "item_no": "{{ record.sku }}-{{ record.size }}",
            "description": "{{ record.name }} ({{ record['size'] | upper }})",
            "low": "{{ record.name | lower }}",
            "unit_price": "{{ record.price | round(2) }}",
            "qty": "{{ record.extension_attributes.stock_item.qty }}",
            "as_text": "#{{ record.extension_attributes.stock_item.qty }}",
            "list": ["{{ record.flag }}", 3],
        }))
        .unwrap();
    assert!(t.has_shortcut(), "every field is simple enough");
    let records = [
        json!({"sku": "A", "size": "xs", "name": "Tee", "price": 184.185, "flag": true,
               "extension_attributes": {"stock_item": {"qty": 3}}}),
        json!({"sku": "A", "size": "m", "name": "Ünï", "price": 1.005, "flag": null,
               "extension_attributes": {"stock_item": {"qty": -4}}}),
        json!({"sku": "A", "size": "m", "name": "T", "price": 185, "flag": "x",
               "extension_attributes": {"stock_item": {"qty": 18446744073709551615u64}}}),
        // Left to minijinja: a float in text, a number through `upper`, a list in text, missing members.
        json!({"sku": 1.5, "size": "s", "name": "T", "price": 2, "flag": 1,
               "extension_attributes": {"stock_item": {"qty": 1}}}),
        json!({"sku": "A", "size": 7, "name": "T", "price": 2, "flag": 1,
               "extension_attributes": {"stock_item": {"qty": [1]}}}),
        json!({"sku": "A", "size": "s", "name": "T", "price": "2.555", "flag": 1,
               "extension_attributes": {"stock_item": {"qty": 1}}}),
        json!({"sku": "A", "name": "T", "price": 2, "flag": 1, "extension_attributes": {}}),
        json!([1, 2]),
    ];
    for record in records {
        let direct = t.render(&ctx(record.clone()));
        let slow = t.render_with_minijinja(&ctx(record.clone()));
        match (&direct, &slow) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{record}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{record}"),
            _ => panic!("{record}: {direct:?} vs {slow:?}"),
        }
        // Written straight to JSON text, it is the text of the value minijinja renders, byte for byte;
        // where the shortcut gives up, nothing is written.
        let mut text = b"before".to_vec();
        if t.write_json(&record, &mut text) {
            let expected = serde_json::to_string(slow.as_ref().unwrap()).unwrap();
            assert_eq!(String::from_utf8(text).unwrap(), format!("before{expected}"), "{record}");
        } else {
            assert_eq!(text, b"before", "{record}");
        }
    }
    let each = e.compile_value(&json!({"$each": "{{ record.xs }}", "$value": "{{ item }}"})).unwrap();
    assert!(!each.has_shortcut());
    assert!(!e.compile_value(&json!({"a": "{{ record.a | title }}"})).unwrap().has_shortcut());
    assert!(!e.compile_value(&json!({"a": "{{ record.a ~ 'x' }}"})).unwrap().has_shortcut());
    assert!(!e.compile_value(&json!({"a": "{{ size }}"})).unwrap().has_shortcut());
}

#[test]
fn base64url_encodes_a_tryton_domain() {
    // Tryton decodes `d` with Python's `urlsafe_b64decode`: URL-safe alphabet, padded.
    let out = render("{{ [['reference', '=', record.id]] | tojson | base64url }}", json!({"id": "M-1?>"})).unwrap();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::URL_SAFE.decode(&out).unwrap();
    let domain: Json = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(domain, json!([["reference", "=", "M-1?>"]]));
    assert!(!out.contains('+') && !out.contains('/'));
    assert!(
        render("{{ record.n | base64url }}", json!({"n": 5})).unwrap_err().to_string().contains("expects a string")
    );
}

#[test]
fn required_passes_a_value_on_and_fails_the_render_with_its_message_when_it_is_missing() {
    assert_eq!(render("{{ record.a | required('no a') }}", json!({"a": "x"})).unwrap(), "x");
    assert_eq!(render("{{ record.a | required }}", json!({"a": 0})).unwrap(), "0", "zero is a value");
    for missing in [json!({}), json!({"a": null}), json!({"a": " "})] {
        let e = render("{{ record.a | required('the ERP has no variant ' ~ record.c) }}", missing.clone());
        let message = e.unwrap_err().to_string();
        assert!(message.contains("the ERP has no variant"), "{missing}: {message}");
    }
    assert!(render("{{ record.a | required }}", json!({})).unwrap_err().to_string().contains("missing"));
}
