//! `searchCriteria` as Magento reads it from the query: filter groups ANDed, the filters of a group
//! ORed (conditions `eq, neq, gt, gteq, lt, lteq, in, nin, like, null, notnull`), sort orders, and
//! paging — where a `currentPage` past the end answers the last page again, as Magento does.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::MagentoError;

/// Magento's largest `pageSize` when web API input limits are on.
const MAX_PAGE_SIZE: u64 = 300;

#[derive(Debug, Default, Clone)]
struct Filter {
    field: String,
    value: String,
    condition: String,
}

#[derive(Debug, Default)]
struct Criteria {
    groups: BTreeMap<usize, BTreeMap<usize, Filter>>,
    sorts: BTreeMap<usize, (String, String)>,
    page_size: Option<u64>,
    current_page: Option<u64>,
}

fn bad_value(value: &str, kind: &str) -> MagentoError {
    MagentoError::new(
        400,
        "The \"%value\" value's type is invalid. The \"%type\" type was expected. Verify and try again.",
    )
    .with(json!({"value": value, "type": kind}))
}

fn bad_key(key: &str) -> MagentoError {
    MagentoError::new(400, "\"%fieldName\" is not a valid search criteria field.").with(json!({"fieldName": key}))
}

fn index(text: &str, key: &str) -> Result<usize, MagentoError> {
    text.parse().map_err(|_| bad_key(key))
}

fn parse(query: &str) -> Result<Criteria, MagentoError> {
    let mut criteria = Criteria::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let Some(rest) = key.strip_prefix("searchCriteria") else { continue };
        let parts: Vec<&str> = rest.split('[').skip(1).map(|p| p.strip_suffix(']').unwrap_or(p)).collect();
        let value = value.into_owned();
        match parts.as_slice() {
            ["filter_groups" | "filterGroups", g, "filters", f, name] => {
                let filter = criteria.groups.entry(index(g, &key)?).or_default().entry(index(f, &key)?).or_default();
                match *name {
                    "field" => filter.field = value,
                    "value" => filter.value = value,
                    "condition_type" | "conditionType" => filter.condition = value,
                    _ => return Err(bad_key(&key)),
                }
            }
            ["sortOrders" | "sort_orders", k, name] => {
                let sort = criteria.sorts.entry(index(k, &key)?).or_default();
                match *name {
                    "field" => sort.0 = value,
                    "direction" => sort.1 = value,
                    _ => return Err(bad_key(&key)),
                }
            }
            ["pageSize" | "page_size"] => {
                criteria.page_size = Some(value.parse().map_err(|_| bad_value(&value, "int"))?)
            }
            ["currentPage" | "current_page"] => {
                criteria.current_page = Some(value.parse().map_err(|_| bad_value(&value, "int"))?);
            }
            _ => return Err(bad_key(&key)),
        }
    }
    Ok(criteria)
}

/// A field of an item: a top-level key, or a `custom_attributes` entry by its `attribute_code`.
fn field<'a>(item: &'a Value, name: &str) -> Option<&'a Value> {
    item.get(name).filter(|v| !v.is_null()).or_else(|| {
        item.get("custom_attributes")?
            .as_array()?
            .iter()
            .find(|a| a.get("attribute_code").and_then(Value::as_str) == Some(name))?
            .get("value")
    })
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Numbers compare as numbers, everything else as text without case, as MySQL's default collation
/// does (`Ada@Example.com` is `ada@example.com`).
fn compare(left: &str, right: &str) -> Ordering {
    match (left.parse::<f64>(), right.parse::<f64>()) {
        (Ok(l), Ok(r)) => l.partial_cmp(&r).unwrap_or(Ordering::Equal),
        _ => left.to_lowercase().cmp(&right.to_lowercase()),
    }
}

/// SQL `LIKE`: `%` any run, `_` any one character; case-insensitive, as MySQL's default collation.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let (mut t, mut p, mut star, mut mark) = (0, 0, None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '_' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

fn matches(item: &Value, filter: &Filter) -> Result<bool, MagentoError> {
    let actual = field(item, &filter.field).map(text);
    let condition = if filter.condition.is_empty() { "eq" } else { filter.condition.as_str() };
    let list = || filter.value.split(',').map(str::trim);
    Ok(match (condition, actual) {
        ("null", a) => a.is_none(),
        ("notnull", a) => a.is_some(),
        ("neq", None) | ("nin", None) => true,
        (_, None) => false,
        ("eq", Some(a)) => compare(&a, &filter.value) == Ordering::Equal,
        ("neq", Some(a)) => compare(&a, &filter.value) != Ordering::Equal,
        ("gt", Some(a)) => compare(&a, &filter.value) == Ordering::Greater,
        ("gteq", Some(a)) => compare(&a, &filter.value) != Ordering::Less,
        ("lt", Some(a)) => compare(&a, &filter.value) == Ordering::Less,
        ("lteq", Some(a)) => compare(&a, &filter.value) != Ordering::Greater,
        ("in", Some(a)) => list().any(|v| compare(&a, v) == Ordering::Equal),
        ("nin", Some(a)) => !list().any(|v| compare(&a, v) == Ordering::Equal),
        ("like", Some(a)) => like(&a, &filter.value),
        (other, _) => {
            return Err(MagentoError::new(400, "Invalid condition type: %type").with(json!({"type": other})));
        }
    })
}

/// Answers a list endpoint: `{"items", "search_criteria", "total_count"}`.
pub(super) fn search(items: &[Value], query: &str, input_limit: bool) -> Result<Value, MagentoError> {
    let criteria = parse(query)?;
    if criteria.page_size.is_some_and(|s| input_limit && s > MAX_PAGE_SIZE) {
        return Err(
            MagentoError::new(400, "Maximum SearchCriteria pageSize is %max").with(json!({"max": MAX_PAGE_SIZE}))
        );
    }
    let mut selected = Vec::new();
    for item in items {
        let mut keep = true;
        for group in criteria.groups.values() {
            let mut any = false;
            for filter in group.values() {
                any |= matches(item, filter)?;
            }
            keep &= any || group.is_empty();
        }
        if keep {
            selected.push(item);
        }
    }
    selected.sort_by(|a, b| {
        criteria.sorts.values().fold(Ordering::Equal, |order, (name, direction)| {
            order.then_with(|| {
                let (x, y) =
                    (field(a, name).map(text).unwrap_or_default(), field(b, name).map(text).unwrap_or_default());
                let o = compare(&x, &y);
                if direction.eq_ignore_ascii_case("DESC") { o.reverse() } else { o }
            })
        })
    });
    let total = selected.len() as u64;
    let page: Vec<Value> = match criteria.page_size.filter(|s| *s > 0) {
        Some(size) => {
            let last = total.div_ceil(size).max(1);
            // Magento's trap: a page past the end is the last page again.
            let current = criteria.current_page.unwrap_or(1).clamp(1, last);
            selected.into_iter().skip(((current - 1) * size) as usize).take(size as usize).cloned().collect()
        }
        None => selected.into_iter().cloned().collect(),
    };
    Ok(json!({"items": page, "search_criteria": echo(&criteria), "total_count": total}))
}

/// The `search_criteria` Magento echoes back.
fn echo(criteria: &Criteria) -> Value {
    let groups: Vec<Value> = criteria
        .groups
        .values()
        .map(|g| {
            let filters: Vec<Value> = g
                .values()
                .map(|f| json!({"field": f.field, "value": f.value, "condition_type": if f.condition.is_empty() { "eq" } else { &f.condition }}))
                .collect();
            json!({"filters": filters})
        })
        .collect();
    let mut echo = json!({"filter_groups": groups});
    if !criteria.sorts.is_empty() {
        let sorts: Vec<Value> = criteria.sorts.values().map(|(f, d)| json!({"field": f, "direction": d})).collect();
        echo["sort_orders"] = Value::Array(sorts);
    }
    if let Some(size) = criteria.page_size {
        echo["page_size"] = json!(size);
    }
    if let Some(page) = criteria.current_page {
        echo["current_page"] = json!(page);
    }
    echo
}

#[cfg(test)]
mod tests {
    use super::{Ordering, compare, like};

    #[test]
    fn text_compares_without_case_and_numbers_as_numbers() {
        assert_eq!(compare("Ada@Example.com", "ada@example.COM"), Ordering::Equal);
        assert_eq!(compare("b", "A"), Ordering::Greater);
        assert_eq!(compare("10", "9"), Ordering::Greater);
    }

    #[test]
    fn like_matches_as_sql_does() {
        assert!(like("Chaz Hoodie", "%hood%"));
        assert!(like("MH01", "MH0_"));
        assert!(!like("MH01", "MH0"));
        assert!(like("", "%"));
    }
}
