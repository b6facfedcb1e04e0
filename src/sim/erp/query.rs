//! OData query options of a collection read — `$filter`, `$orderby`, `$top`, `$skip`, `$select`,
//! `$expand`, `$count` — and server-driven paging: at most `Prefer: odata.maxpagesize` (or the simulator's
//! page size) entities a page, the next page's URL in `@odata.nextLink` with a `$skiptoken` holding
//! the last entity's sort key, so that entities inserted or changed between pages move no other
//! entity from one page to another, as with Business Central's key-based continuation.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::filter::{self, Filter};

/// The parsed options of one read.
#[derive(Debug, Default)]
pub(super) struct Query {
    filter: Option<Filter>,
    /// Property, descending.
    orderby: Vec<(String, bool)>,
    top: Option<usize>,
    skip: usize,
    /// `None`: every property.
    select: Option<Vec<String>>,
    /// Navigation properties to expand (`salesOrderLines`, …).
    pub expand: Vec<String>,
    /// `$count=true`: the answer says how many entities match (`@odata.count`).
    count: bool,
    /// The sort key of the last entity of the previous page.
    skiptoken: Option<Vec<Value>>,
    /// The query as sent, without `$skiptoken`, `$skip` and `$top`: carried into the next link.
    carried: Vec<(String, String)>,
}

fn number(name: &str, value: &str) -> Result<usize, String> {
    value.parse().map_err(|_| format!("The value '{value}' of the query option {name} is not a non-negative integer."))
}

impl Query {
    /// Parses a query string (as sent, percent-encoded).
    pub(super) fn parse(query: &str) -> Result<Query, String> {
        let mut q = Query::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let (name, value) = (name.into_owned(), value.into_owned());
            match name.as_str() {
                "$filter" => {
                    q.filter = Some(filter::parse(&value).map_err(|e| format!("Invalid filter expression: {e}."))?)
                }
                "$orderby" => {
                    for part in value.split(',') {
                        let mut words = part.split_whitespace();
                        let property = words.next().ok_or("An empty $orderby clause.")?.to_string();
                        let descending = match words.next() {
                            None | Some("asc") => false,
                            Some("desc") => true,
                            Some(other) => return Err(format!("'{other}' is not asc or desc in $orderby.")),
                        };
                        q.orderby.push((property, descending));
                    }
                }
                "$top" => q.top = Some(number("$top", &value)?),
                "$skip" => q.skip = number("$skip", &value)?,
                "$select" => q.select = Some(value.split(',').map(|s| s.trim().to_string()).collect()),
                "$expand" => q.expand = value.split(',').map(|s| s.trim().to_string()).collect(),
                "$skiptoken" => {
                    q.skiptoken =
                        Some(serde_json::from_str(&value).map_err(|_| "The $skiptoken is not valid.".to_string())?);
                }
                "$count" => q.count = value == "true",
                "$format" | "company" | "tenant" => {}
                other if other.starts_with('$') => return Err(format!("The query option '{other}' is not supported.")),
                _ => {}
            }
            if !matches!(name.as_str(), "$skiptoken" | "$skip" | "$top") {
                q.carried.push((name, value));
            }
        }
        Ok(q)
    }

    /// Every property the query names (filter, order, select), to check against the entity type.
    pub(super) fn properties(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(f) = &self.filter {
            f.properties(&mut out);
        }
        out.extend(self.orderby.iter().map(|(p, _)| p.clone()));
        out.extend(self.select.iter().flatten().cloned());
        out
    }

    /// The sort key of an entity: the `$orderby` properties, then `id`.
    fn key(&self, entity: &Value) -> Vec<Value> {
        let mut key: Vec<Value> =
            self.orderby.iter().map(|(p, _)| entity.get(p).cloned().unwrap_or(Value::Null)).collect();
        key.push(entity.get("id").cloned().unwrap_or(Value::Null));
        key
    }

    fn order(&self, a: &[Value], b: &[Value]) -> Ordering {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            let descending = self.orderby.get(i).is_some_and(|(_, d)| *d);
            let order = filter::compare(x, y).unwrap_or(Ordering::Equal);
            let order = if descending { order.reverse() } else { order };
            if order.is_ne() {
                return order;
            }
        }
        Ordering::Equal
    }

    /// One page of `entities`: filtered, ordered, after the skip token, at most `page_size`; with the
    /// `@odata.nextLink` (built on `url`, the request's URL without query) when more remain.
    pub(super) fn page(&self, entities: Vec<Value>, page_size: usize, url: &str, context: &str) -> Value {
        let mut keyed: Vec<(Vec<Value>, Value)> = entities
            .into_iter()
            .filter(|e| self.filter.as_ref().is_none_or(|f| f.matches(e)))
            .map(|e| (self.key(&e), e))
            .collect();
        keyed.sort_by(|a, b| self.order(&a.0, &b.0));
        let start = match &self.skiptoken {
            Some(token) => keyed.iter().position(|(k, _)| self.order(k, token).is_gt()).unwrap_or(keyed.len()),
            None => self.skip.min(keyed.len()),
        };
        let matching = keyed.len();
        let remaining = matching - start;
        let wanted = self.top.map_or(remaining, |t| t.min(remaining));
        let take = wanted.min(page_size);
        let page: Vec<(Vec<Value>, Value)> = keyed.into_iter().skip(start).take(take).collect();
        let mut answer = json!({"@odata.context": context});
        if self.count {
            answer["@odata.count"] = json!(matching);
        }
        if take < wanted
            && let Some((last, _)) = page.last()
        {
            let mut pairs = self.carried.clone();
            pairs.push(("$skiptoken".into(), Value::Array(last.clone()).to_string()));
            if self.top.is_some() {
                pairs.push(("$top".into(), (wanted - take).to_string()));
            }
            let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
            answer["@odata.nextLink"] = Value::String(format!("{url}?{query}"));
        }
        answer["value"] = Value::Array(page.into_iter().map(|(_, e)| self.project(e)).collect());
        answer
    }

    /// The entity with only the `$select`ed properties (and its `@odata.etag`).
    pub(super) fn project(&self, entity: Value) -> Value {
        let (Some(select), Value::Object(map)) = (&self.select, &entity) else { return entity };
        let kept: Map<String, Value> = map
            .iter()
            .filter(|(k, _)| k.starts_with('@') || select.contains(k) || self.expand.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Value::Object(kept)
    }
}

/// The page size a `Prefer` header asks for (`odata.maxpagesize=N`), if any.
pub(super) fn preferred_page_size(prefer: Option<&str>) -> Option<usize> {
    prefer?
        .split(',')
        .filter_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .find_map(|n| n.trim().parse().ok())
        .filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entities() -> Vec<Value> {
        (0..10).map(|i| json!({"id": format!("id{i}"), "n": i % 3, "name": format!("e{i}")})).collect()
    }

    fn ids(page: &Value) -> Vec<String> {
        page["value"].as_array().expect("value").iter().map(|e| e["id"].as_str().expect("id").to_string()).collect()
    }

    #[test]
    fn pages_follow_the_skiptoken_and_keep_the_options() {
        let q = Query::parse("%24filter=n%20ne%201&%24orderby=n%20desc&%24select=id,name").expect("parses");
        let first = q.page(entities(), 3, "http://h/x", "ctx");
        assert_eq!(ids(&first), ["id2", "id5", "id8"]);
        assert_eq!(first["value"][0], json!({"id": "id2", "name": "e2"}));
        let next = first["@odata.nextLink"].as_str().expect("a next link");
        let query = next.strip_prefix("http://h/x?").expect("the same URL");
        let second = Query::parse(query).expect("parses").page(entities(), 3, "http://h/x", "ctx");
        assert_eq!(ids(&second), ["id0", "id3", "id6"]);
        let third =
            Query::parse(second["@odata.nextLink"].as_str().expect("next").strip_prefix("http://h/x?").expect("url"))
                .expect("parses")
                .page(entities(), 3, "http://h/x", "ctx");
        assert_eq!(ids(&third), ["id9"]);
        assert!(third.get("@odata.nextLink").is_none());
    }

    #[test]
    fn top_and_skip_bound_the_whole_read() {
        let q = Query::parse("$skip=2&$top=5&$count=true").expect("parses");
        let first = q.page(entities(), 3, "http://h/x", "ctx");
        assert_eq!(ids(&first), ["id2", "id3", "id4"]);
        assert_eq!(first["@odata.count"], 10);
        let next =
            first["@odata.nextLink"].as_str().expect("next").strip_prefix("http://h/x?").expect("url").to_string();
        let second = Query::parse(&next).expect("parses").page(entities(), 3, "http://h/x", "ctx");
        assert_eq!(ids(&second), ["id5", "id6"]);
        assert!(second.get("@odata.nextLink").is_none());
        assert_eq!(preferred_page_size(Some("odata.maxpagesize=7, return=minimal")), Some(7));
        assert_eq!(preferred_page_size(Some("return=minimal")), None);
    }
}
