//! What `reconcile` compares and how: the fields (listed, or every top-level field), and equality of
//! JSON values where numbers are equal by value (`1` == `1.0`), optionally within a tolerance.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use crate::expr::jsonpath::JsonPath;
use crate::kernel::build::BuildErrors;
use crate::transforms::context::field_to_jsonpath;

/// One field to compare: its name on both sides, or its names on each side.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum CompareField {
    /// A field reference (`qty`, `stock.qty`, or a JSONPath) that both sides name alike.
    Same(String),
    /// A field the two sides name differently, and/or with its own tolerance.
    Renamed(RenamedField),
}

/// A field named differently on each side, e.g. `{ left: qty, right: quantity }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenamedField {
    /// The field on the left (the records flowing in); also the `field` named in a difference.
    pub(crate) left: String,
    /// The field on the right (the set the step reads); default: the same as `left`.
    #[serde(default)]
    pub(crate) right: Option<String>,
    /// Numbers of this field whose difference is at most this are equal (default: the step's
    /// `tolerance`).
    #[serde(default)]
    pub(crate) tolerance: Option<f64>,
}

/// A compiled field of `compare`.
#[derive(Debug)]
struct Field {
    name: String,
    left: JsonPath,
    right: JsonPath,
    tolerance: f64,
}

/// What to compare, compiled.
#[derive(Debug)]
pub(super) struct Comparison {
    /// `None`: every top-level field present on either side.
    fields: Option<Vec<Field>>,
    tolerance: f64,
}

/// Checks a tolerance: a finite number, not negative.
fn check_tolerance(errors: &mut BuildErrors, field: &[&str], tolerance: f64) {
    if !tolerance.is_finite() || tolerance < 0.0 {
        errors.push(field, "bad-value", format!("`tolerance` must be a number ≥ 0, not {tolerance}"), None);
    }
}

impl Comparison {
    /// Compiles `compare` and `tolerance`, recording problems at `compare[i]` / `tolerance`.
    pub(super) fn build(errors: &mut BuildErrors, compare: Option<&[CompareField]>, tolerance: f64) -> Option<Self> {
        check_tolerance(errors, &["tolerance"], tolerance);
        let before = errors.0.len();
        let fields = compare.map(|list| {
            list.iter()
                .enumerate()
                .filter_map(|(i, f)| {
                    let i = i.to_string();
                    let (left, right, tol) = match f {
                        CompareField::Same(name) => (name, name, None),
                        CompareField::Renamed(r) => (&r.left, r.right.as_ref().unwrap_or(&r.left), r.tolerance),
                    };
                    let at = |key: &'static str| match f {
                        CompareField::Same(_) => vec!["compare", i.as_str()],
                        CompareField::Renamed(_) => vec!["compare", i.as_str(), key],
                    };
                    if let Some(t) = tol {
                        check_tolerance(errors, &at("tolerance"), t);
                    }
                    let l = errors.jsonpath(&at("left"), &field_to_jsonpath(left));
                    let r = errors.jsonpath(&at("right"), &field_to_jsonpath(right));
                    Some(Field { name: left.clone(), left: l?, right: r?, tolerance: tol.unwrap_or(tolerance) })
                })
                .collect::<Vec<_>>()
        });
        if compare.is_some_and(<[CompareField]>::is_empty) {
            errors.push(
                &["compare"],
                "bad-value",
                "`compare` lists no field",
                Some("list the fields to compare, or leave `compare` out to compare every top-level field".into()),
            );
        }
        (errors.0.len() == before).then_some(Self { fields, tolerance })
    }

    /// The differences between two records, each `{"field", "left", "right"}`; empty when they are
    /// equal. A field missing on one side compares as `null`.
    pub(super) fn differences(&self, left: &Value, right: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        let mut check = |name: &str, l: Option<&Value>, r: Option<&Value>, tolerance: f64| {
            let (l, r) = (l.unwrap_or(&Value::Null), r.unwrap_or(&Value::Null));
            if !equal(l, r, tolerance) {
                let mut d = Map::new();
                d.insert("field".into(), Value::String(name.to_string()));
                d.insert("left".into(), l.clone());
                d.insert("right".into(), r.clone());
                out.push(Value::Object(d));
            }
        };
        match (&self.fields, left, right) {
            (Some(fields), _, _) => {
                for f in fields {
                    check(&f.name, f.left.first(left), f.right.first(right), f.tolerance);
                }
            }
            (None, Value::Object(l), Value::Object(r)) => {
                for (name, lv) in l {
                    check(name, Some(lv), r.get(name), self.tolerance);
                }
                for (name, rv) in r.iter().filter(|(name, _)| !l.contains_key(*name)) {
                    check(name, None, Some(rv), self.tolerance);
                }
            }
            // Not both objects: the records are compared whole.
            (None, l, r) => check("$", Some(l), Some(r), self.tolerance),
        }
        out
    }
}

/// JSON equality where numbers are equal by value, within `tolerance`.
pub(super) fn equal(a: &Value, b: &Value, tolerance: f64) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y, tolerance),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| equal(v, w, tolerance))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w, tolerance)))
        }
        _ => a == b,
    }
}

fn numbers_equal(x: &Number, y: &Number, tolerance: f64) -> bool {
    if tolerance == 0.0 {
        // Integers exactly (beyond 2^53 floats would round them together), everything else by value.
        if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
            return a == b;
        }
        if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
            return a == b;
        }
    }
    match (x.as_f64(), y.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() <= tolerance,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn comparison(compare: Option<Value>, tolerance: f64) -> Comparison {
        let fields: Option<Vec<CompareField>> = compare.map(|c| serde_json::from_value(c).expect("valid compare"));
        let mut errors = BuildErrors::default();
        let c = Comparison::build(&mut errors, fields.as_deref(), tolerance);
        assert!(errors.0.is_empty(), "{errors:?}");
        c.expect("builds")
    }

    #[test]
    fn numbers_are_equal_by_value() {
        assert!(equal(&json!(1), &json!(1.0), 0.0));
        assert!(equal(&json!({"q": [1, 2.0]}), &json!({"q": [1.0, 2]}), 0.0));
        assert!(!equal(&json!(1), &json!(1.5), 0.0));
        assert!(!equal(&json!(1), &json!("1"), 0.0), "a string is not a number");
        assert!(!equal(&json!(9_007_199_254_740_993_i64), &json!(9_007_199_254_740_992_i64), 0.0));
    }

    #[test]
    fn tolerance_applies_to_numbers_only() {
        assert!(equal(&json!(10), &json!(10.4), 0.5));
        assert!(equal(&json!(10), &json!(10.5), 0.5));
        assert!(!equal(&json!(10), &json!(10.6), 0.5));
        assert!(!equal(&json!("a"), &json!("b"), 100.0));
    }

    #[test]
    fn listed_fields_renamed_fields_and_their_tolerances() {
        let c = comparison(
            Some(json!(["status", {"left": "qty", "right": "quantity"}, {"left": "price", "tolerance": 0.01}])),
            0.0,
        );
        let left = json!({"status": 1, "qty": 5, "price": 9.99, "ignored": "x"});
        assert!(c.differences(&left, &json!({"status": 1.0, "quantity": 5.0, "price": 9.995})).is_empty());
        assert_eq!(
            c.differences(&left, &json!({"status": 0, "quantity": 4, "price": 9.99})),
            vec![json!({"field": "status", "left": 1, "right": 0}), json!({"field": "qty", "left": 5, "right": 4})]
        );
        // Missing compares as null.
        assert_eq!(
            c.differences(&left, &json!({"status": 1, "price": 9.99})),
            vec![json!({"field": "qty", "left": 5, "right": null})]
        );
        let nested = comparison(Some(json!(["stock.qty"])), 0.0);
        assert_eq!(
            nested.differences(&json!({"stock": {"qty": 1}}), &json!({"stock": {"qty": 2}})),
            vec![json!({"field": "stock.qty", "left": 1, "right": 2})]
        );
    }

    #[test]
    fn omitted_compare_takes_every_top_level_field_of_either_side() {
        let c = comparison(None, 0.0);
        let diffs = c.differences(&json!({"a": 1, "b": 2, "n": null}), &json!({"a": 1.0, "b": 3, "c": 4}));
        assert_eq!(
            diffs,
            vec![json!({"field": "b", "left": 2, "right": 3}), json!({"field": "c", "left": null, "right": 4})]
        );
        assert_eq!(c.differences(&json!(1), &json!(2)), vec![json!({"field": "$", "left": 1, "right": 2})]);
    }

    #[test]
    fn bad_compare_lists_are_build_errors() {
        let mut errors = BuildErrors::default();
        let fields: Vec<CompareField> =
            serde_json::from_value(json!([{"left": "$.a[", "tolerance": -1.0}])).expect("shape");
        assert!(Comparison::build(&mut errors, Some(&fields), f64::NAN).is_none());
        let at: Vec<String> = errors.0.iter().map(|e| format!("{}:{}", e.field.join("."), e.code)).collect();
        assert_eq!(
            at,
            vec![
                "tolerance:bad-value",
                "compare.0.tolerance:bad-value",
                "compare.0.left:bad-jsonpath",
                "compare.0.right:bad-jsonpath"
            ]
        );
        let mut errors = BuildErrors::default();
        assert!(Comparison::build(&mut errors, Some(&[]), 0.0).is_none());
        assert_eq!(errors.0[0].field, vec!["compare"]);
    }
}
