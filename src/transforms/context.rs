//! Helpers shared by steps: a record's key rendered or the record rejected, the template context lent a
//! record (`kernel::record::with_context`, re-exported), and field names turned into JSONPath.

use super::Output;
use crate::expr::template::StringTemplate;
use crate::kernel::record::Record;

pub(crate) use crate::kernel::record::with_context;

/// Renders a key template on `record`: the record and its key, or `None` when the template fails and
/// the record was rejected with `"{what}: {error}"`.
pub(crate) fn key_or_reject(
    mut record: Record,
    template: &StringTemplate,
    what: &str,
    out: &mut Output,
) -> Option<(Record, String)> {
    match with_context(&mut record, |ctx| template.render(ctx)) {
        Ok(key) => Some((record, key)),
        Err(e) => {
            out.reject(record, format!("{what}: {e}"));
            None
        }
    }
}

/// A field reference as written in config (`size`, `a.b`, or a JSONPath like `$.a['b c']`) → JSONPath.
pub(crate) fn field_to_jsonpath(field: &str) -> String {
    if field.starts_with('$') {
        return field.to_string();
    }
    let mut out = String::from("$");
    for part in field.split('.') {
        out.push_str("['");
        out.push_str(&part.replace('\\', "\\\\").replace('\'', "\\'"));
        out.push_str("']");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_become_jsonpath() {
        assert_eq!(field_to_jsonpath("a.b"), "$['a']['b']");
        assert_eq!(field_to_jsonpath("it's"), "$['it\\'s']");
        assert_eq!(field_to_jsonpath("$.x[0]"), "$.x[0]");
    }

    #[test]
    fn context_lends_the_value_back() {
        let mut r = Record::new(serde_json::json!({"a": 1}));
        let seen = with_context(&mut r, |ctx| ctx.record["a"].clone());
        assert_eq!(seen, serde_json::json!(1));
        assert_eq!(r.value, serde_json::json!({"a": 1}));
    }
}
