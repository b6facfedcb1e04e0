//! Unit tests for the render byte budget: every way a template can build a big value fails the record
//! before the value is built, and what stays under the budget renders exactly as minijinja renders it.

use std::sync::Arc;

use serde_json::{Value as Json, json};

use super::*;
use crate::tables::Tables;

fn engine(fuel: Option<u64>) -> TemplateEngine {
    TemplateEngine::new(Arc::new(Tables::new()), TemplateOptions { fuel })
}

fn render(src: &str, record: Json) -> Result<String, TemplateError> {
    engine(None).compile_string(src).unwrap().render(&RenderContext::new(Arc::new(record)))
}

fn eval(src: &str, record: Json) -> Result<Json, TemplateError> {
    engine(None).compile_expression(src).unwrap().eval(&RenderContext::new(Arc::new(record)))
}

fn assert_too_large(result: Result<impl std::fmt::Debug, TemplateError>, what: &str) {
    match result {
        Err(TemplateError::Render { reason }) => {
            assert!(reason.contains("more than 64 MiB"), "{what}: {reason}");
        }
        other => panic!("{what}: expected the budget to stop it, got {other:?}"),
    }
}

#[test]
fn a_constant_too_big_to_build_is_refused_at_compile_time() {
    for src in [
        r#"{{ "x" * 100000000 }}"#,
        r#"{{ 100000000 * "x" }}"#,
        r#"{{ "x" * (10000 * 10000) }}"#,
        r#"{{ ["x" * 70000000] }}"#,
        r#"{{ ("x" * 50000000) ~ ("y" * 50000000) }}"#,
        r#"{{ ("xy" * 40000000) == "z" }}"#,
    ] {
        match engine(None).compile_string(src) {
            Err(TemplateError::TooLarge { size }) => assert!(size > budget::RENDER_BYTES, "{src}"),
            other => panic!("{src}: {other:?}"),
        }
    }
    // Constant arithmetic on numbers is not text, however big the numbers.
    assert_eq!(render("{{ 10000000000 * 10000000 }}", json!({})).unwrap(), "100000000000000000");
}

#[test]
fn repeating_by_a_number_from_the_data_fails_the_record_not_the_machine() {
    assert_too_large(render(r#"{{ "x" * record.n }}"#, json!({"n": 100_000_000})), "string * n");
    assert_too_large(render(r#"{{ record.n * "x" }}"#, json!({"n": 100_000_000})), "n * string");
    assert_too_large(eval("[record.s] * record.n", json!({"s": "abcdefgh", "n": 10_000_000})), "list * n");
    assert_eq!(render(r#"{{ "ab" * record.n }}"#, json!({"n": 3})).unwrap(), "ababab");
    assert_eq!(eval("[1, 2] * record.n", json!({"n": 2})).unwrap(), json!([1, 2, 1, 2]));
}

#[test]
fn doubling_in_a_loop_is_stopped_whichever_operator_doubles() {
    for op in ["~", "+"] {
        let src = format!(
            "{{% set ns = namespace(s=record.s) %}}{{% for i in range(60) %}}{{% set ns.s = ns.s {op} ns.s %}}{{% endfor %}}{{{{ ns.s | length }}}}"
        );
        assert_too_large(render(&src, json!({"s": "x"})), op);
    }
    let lists = "{% set ns = namespace(l=[record.s]) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}";
    assert_too_large(render(lists, json!({"s": "x"})), "list + list");
}

#[test]
fn output_is_charged_as_it_is_written() {
    let big = "y".repeat(1024);
    let src = "{% for i in range(100000) %}{{ record.big }}{% endfor %}";
    assert_too_large(render(src, json!({"big": big})), "emitting 100 MB");
    let block = "{% set s %}{% for i in range(100000) %}{{ record.big }}{% endfor %}{% endset %}{{ s | length }}";
    assert_too_large(render(block, json!({"big": big})), "a set block of 100 MB");
}

#[test]
fn amplifying_filters_are_charged_before_they_build() {
    let cases = [
        ("{{ range(100000) | join(record.sep) }}", json!({"sep": "z".repeat(1024)})),
        ("{{ record.s | indent(record.n) }}", json!({"s": "a\nb", "n": 100_000_000})),
        ("{{ record.s | replace('a', record.to) }}", json!({"s": "a".repeat(100_000), "to": "b".repeat(1000)})),
        ("{{ record.s | replace('', record.to) }}", json!({"s": "a".repeat(100_000), "to": "b".repeat(1000)})),
        ("{{ '%999999999s' | format(record.s) }}", json!({"s": "a"})),
        ("{{ [record.s] | batch(100000000, record.s) | list | length }}", json!({"s": "abc"})),
        ("{{ [record.s] | slice(100000000, record.s) | list | length }}", json!({"s": "abc"})),
    ];
    for (src, record) in cases {
        assert_too_large(render(src, record), src);
    }
}

#[test]
fn within_the_budget_operators_and_filters_behave_as_minijinja_defines_them() {
    let cases = [
        ("{{ 2 * 3 }}|{{ 1.5 * 2 }}|{{ 7 + 0.5 }}|{{ 2 + 3 }}", "6|3.0|7.5|5"),
        ("{{ 'a' + 'b' }}|{{ [1] + [2] }}|{{ 1 ~ 2 }}|{{ 'a' ~ none }}", "ab|[1, 2]|12|aNone"),
        ("{{ 'ab' * 2 }}|{{ 2 * 'ab' }}|{{ [0] * 3 }}", "abab|abab|[0, 0, 0]"),
        ("{{ ['a', 'b'] | join('-') }}|{{ 'a\nb' | indent(2) }}|{{ 'aXa' | replace('a', 'bb') }}", "a-b|a\n  b|bbXbb"),
        ("{{ '%5s|%-3d|' | format('x', 7) }}{{ [1, 2] | sum }}", "    x|7  |3"),
    ];
    for (src, want) in cases {
        assert_eq!(render(src, json!({})).unwrap(), want, "{src}");
    }
    assert_eq!(eval("record.a * record.b", json!({"a": 3, "b": 4})).unwrap(), json!(12));
    let err = render("{{ record.missing * 2 }}", json!({})).unwrap_err();
    assert!(matches!(err, TemplateError::Render { .. }), "{err:?}");
    let err = render("{{ 'a' * 'b' }}", json!({})).unwrap_err();
    assert!(matches!(err, TemplateError::Render { ref reason } if reason.contains("multiplied")), "{err:?}");
}

#[test]
fn the_budget_is_per_render() {
    // 1 MiB of output per render, 200 renders on one thread: each render starts with a full budget.
    let t = engine(None).compile_string("{{ record.s * 1048576 }}").unwrap();
    let ctx = RenderContext::new(Arc::new(json!({"s": "q"})));
    for _ in 0..200 {
        assert_eq!(t.render(&ctx).unwrap().len(), 1_048_576);
    }
    // A structured template's frames share one budget: 40 MiB in each of two fields is too much.
    let template = json!({"a": "{{ record.s * 41943040 }}", "b": "{{ record.s * 41943040 }}"});
    let v = engine(None).compile_value(&template).unwrap();
    assert_too_large(v.render(&ctx), "two fields of 40 MiB");
}

#[test]
fn arithmetic_gives_what_minijinja_gives() {
    let plain = minijinja::Environment::new();
    let numbers = [
        "0",
        "-3",
        "7",
        "4.5",
        "-0.25",
        "9223372036854775807",
        "-9223372036854775808",
        "170141183460469231731687303715884105727",
        "1e300",
    ];
    for a in numbers {
        for b in numbers {
            for op in ["*", "+"] {
                let src = format!("{{{{ {a} {op} {b} }}}}");
                let want = plain.render_str(&src, ()).map_err(|e| e.kind());
                // Through a record, so that the constants are not folded at compile time.
                let got = render(
                    &format!("{{{{ record.a {op} record.b }}}}"),
                    serde_json::from_str(&format!(r#"{{"a":{a},"b":{b}}}"#)).unwrap(),
                );
                match (&want, &got) {
                    (Ok(w), Ok(g)) => assert_eq!(w, g, "{a} {op} {b}"),
                    (Err(_), Err(_)) => {}
                    _ => panic!("{a} {op} {b}: minijinja {want:?}, Weir {got:?}"),
                }
            }
        }
    }
}
