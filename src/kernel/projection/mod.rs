//! Parsing only what a pipeline reads. When every path from the source to the sinks goes through a step
//! that builds a new record (a `template` with `value:`) and the steps before it read only known fields,
//! the source parses just those fields of each input and skips the rest without building them — most
//! of the cost of a large record is building and later freeing the parts nobody looks at. The record's
//! text is kept beside it so that a dead-letter entry still shows the whole input.

mod element;
pub(crate) mod text;

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use element::Matches;

/// Parses one record's JSON text — whole, or only the members `projection` keeps — after checking it
/// against the rules every record must meet whatever is read of it ([`text::check`]).
pub(crate) fn parse_record(projection: Option<&Projection>, text: &[u8]) -> Result<Value, String> {
    let depth = text::check(text)?;
    match projection {
        Some(projection) if depth == text::Depth::Shallow => projection.parse(text),
        _ => crate::exact_json::from_slice(text).map_err(|e| e.to_string()),
    }
}

/// Which members of a JSON document to build.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Projection {
    /// Build this node whole.
    all: bool,
    /// Members to build (with what to build of each); others are skipped. A list, not a map: there
    /// are a handful, and a linear scan beats hashing every key of every record.
    fields: Vec<(String, Projection)>,
    /// When not empty, this node is an array of which only the elements whose `key` member equals one
    /// of these literals are built (whole); the others are skipped. Set for arrays read only through
    /// `$.array[?@.key == literal]` queries.
    keep_elements: Vec<(String, Value)>,
    /// The JSON text of each literal of `keep_elements` when all are strings (`None` otherwise): an
    /// element whose text holds none of them, and no escape, cannot match and is skipped untested.
    element_needles: Option<Vec<Needle>>,
}

/// A string searched for, with its searcher built once.
#[derive(Debug, Clone)]
struct Needle(memchr::memmem::Finder<'static>);

impl PartialEq for Needle {
    fn eq(&self, other: &Self) -> bool {
        self.0.needle() == other.0.needle()
    }
}

impl Eq for Needle {}

impl Projection {
    /// The projection that keeps exactly these member paths (and everything beneath each).
    pub(crate) fn from_paths(paths: &[Vec<String>]) -> Self {
        let mut root = Projection::default();
        for path in paths {
            let mut node = &mut root;
            for name in path {
                if node.all {
                    break;
                }
                node = node.child_mut(name);
            }
            node.all = true;
            node.fields.clear();
        }
        root
    }

    /// The projection of member `name`, added (empty) when absent.
    fn child_mut(&mut self, name: &str) -> &mut Projection {
        let i = match self.fields.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.fields.push((name.to_string(), Projection::default()));
                self.fields.len() - 1
            }
        };
        &mut self.fields[i].1
    }

    /// Narrows the array at `path` to the elements whose `key` equals `literal` (see
    /// [`Projection::for_pipeline`]); several filters on one array keep what any of them matches.
    pub(crate) fn keep_matching(&mut self, path: &[String], key: &str, literal: &Value) {
        let mut node = self;
        for name in path {
            node = node.child_mut(name);
        }
        let needle = literal
            .as_str()
            .and_then(|_| serde_json::to_vec(literal).ok())
            .map(|text| Needle(memchr::memmem::Finder::new(&text).into_owned()));
        node.element_needles = match (node.keep_elements.is_empty(), node.element_needles.take(), needle) {
            (true, _, Some(needle)) => Some(vec![needle]),
            (false, Some(mut needles), Some(needle)) => {
                needles.push(needle);
                Some(needles)
            }
            _ => None,
        };
        node.keep_elements.push((key.to_string(), literal.clone()));
    }

    /// False when an array element (its JSON text) cannot match any of `keep_elements`.
    fn may_match(&self, element: &str) -> bool {
        self.element_needles.as_ref().is_none_or(|needles| {
            memchr::memchr(b'\\', element.as_bytes()).is_some()
                || needles.iter().any(|n| n.0.find(element.as_bytes()).is_some())
        })
    }

    /// Parses one JSON document, building only the projected members.
    ///
    /// sonic-rs walks the document: it skips the members nobody reads faster than serde_json (SIMD
    /// string scanning) and still checks that they are valid JSON, including their UTF-8. What is kept
    /// is built by serde_json, and errors are worded by serde_json, like those of whole-record parsing.
    pub(crate) fn parse(&self, text: &[u8]) -> Result<Value, String> {
        let parsed = std::str::from_utf8(text).map_err(|e| e.to_string()).and_then(|text| {
            let mut de = sonic_rs::Deserializer::from_str(text);
            let value = Seed(self).deserialize(&mut de).map_err(|e| e.to_string())?;
            de.end().map_err(|e| e.to_string())?;
            Ok(value)
        });
        parsed.map_err(|sonic| match serde_json::from_slice::<Value>(text) {
            Err(e) => e.to_string(),
            Ok(_) => sonic.lines().next().unwrap_or_default().to_string(),
        })
    }
}

/// The projection that builds everything.
static WHOLE: Projection =
    Projection { all: true, fields: Vec::new(), keep_elements: Vec::new(), element_needles: None };

struct Seed<'a>(&'a Projection);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.0.all {
            // Built from the value's text (scalars directly, the rest by serde_json), so that kept values
            // come out exactly as when the whole record is parsed (sonic-rs reads `-0` as `0`, for one).
            let raw: sonic_rs::LazyValue<'de> = serde::Deserialize::deserialize(deserializer)?;
            let text = raw.as_raw_str();
            if let Some(value) = crate::exact_json::scalar(text) {
                return Ok(value);
            }
            return crate::exact_json::from_str(text).map_err(serde::de::Error::custom);
        }
        deserializer.deserialize_any(self)
    }
}

/// A member key: kept (with its projection) or skipped, decided without allocating for skipped ones.
struct KeySeed<'a>(&'a Projection);

enum Key<'a> {
    Keep(String, &'a Projection),
    Skip,
}

impl<'de, 'a> DeserializeSeed<'de> for KeySeed<'a> {
    type Value = Key<'a>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key<'a>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'a> Visitor<'_> for KeySeed<'a> {
    type Value = Key<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Key<'a>, E> {
        Ok(match self.0.fields.iter().find(|(n, _)| n == name) {
            Some((_, child)) => Key::Keep(name.to_string(), child),
            None => Key::Skip,
        })
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        if !self.0.keep_elements.is_empty() {
            // Each element is first only delimited (no allocation), then tested, then built if it
            // matches one of the tests.
            while let Some(raw) = seq.next_element::<sonic_rs::LazyValue<'de>>()? {
                let text = raw.as_raw_str();
                if !self.0.may_match(text) {
                    continue;
                }
                let mut de = sonic_rs::Deserializer::from_str(text);
                if Matches(&self.0.keep_elements).deserialize(&mut de).map_err(serde::de::Error::custom)? {
                    items.push(crate::exact_json::from_str(text).map_err(serde::de::Error::custom)?);
                }
            }
            return Ok(Value::Array(items));
        }
        // Paths stop at the first index, so the elements of a projected list use the list's projection.
        while let Some(v) = seq.next_element_seed(Seed(self.0))? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if !self.0.keep_elements.is_empty() {
            // Filtered as an array but an object after all: build it whole, as the filter sees it (each
            // member from its text, so that numbers keep theirs).
            let mut out = Map::new();
            while let Some(name) = map.next_key::<String>()? {
                let v = map.next_value_seed(Seed(&WHOLE))?;
                out.insert(name, v);
            }
            return Ok(Value::Object(out));
        }
        let mut out = Map::with_capacity(self.0.fields.len());
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            match key {
                Key::Keep(name, child) => {
                    let v = map.next_value_seed(Seed(child))?;
                    out.insert(name, v);
                }
                Key::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The projection of the pipeline `yaml` (built as `weir run` builds it).
    fn projection_of(yaml: &str) -> Option<Projection> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("p.yaml"), yaml).expect("write");
        let pipelines =
            crate::assemble::load::load_paths(&[dir.path().join("p.yaml")], &|_| None).expect("the pipeline loads");
        crate::graph::plan::compile(&pipelines[0]).expect("the pipeline builds").sources.swap_remove(0).projection
    }

    #[test]
    fn a_pipeline_reads_what_its_built_steps_say_they_read() {
        let projection = projection_of(
            r#"name: p
source: { id: in, type: file, path: in.ndjson, key: "{{ record.id }}" }
steps:
  - { id: keep, type: filter, when: "record.status == 'new'" }
  - id: pick
    type: jsonpath
    set: { size: "$.attrs[?@.code == 'size'].value", city: "$.address.city" }
  - { id: shape, type: template, value: { id: "{{ record.id }}", size: "{{ record.size }}", qty: "{{ record.stock.qty * 2 }}" } }
  - { id: later, type: template, value: { everything: "{{ record }}" } }
sinks: [{ id: out, type: file, path: out.ndjson }]
"#,
        );
        // `size` is read by the template but set by the jsonpath step first: reading it from the input
        // too costs nothing and changes nothing. What the last template reads is of the one before's.
        let mut expected =
            Projection::from_paths(&paths(&[&["id"], &["status"], &["address", "city"], &["size"], &["stock", "qty"]]));
        expected.keep_matching(&["attrs".to_string()], "code", &json!("size"));
        assert_eq!(projection, Some(expected));
        // A step that may pass on anything, or a sink right after the source, needs records whole.
        let whole = "name: p\nsource: { id: in, type: file, path: in.ndjson }\nsteps:\n  \
                     - { id: r, type: rename, fields: { a: b } }\nsinks: [{ id: out, type: file, path: o.ndjson }]\n";
        assert_eq!(projection_of(whole), None);
    }

    fn paths(p: &[&[&str]]) -> Vec<Vec<String>> {
        p.iter().map(|x| x.iter().map(|s| s.to_string()).collect()).collect()
    }

    #[test]
    fn builds_only_projected_members() {
        let p = Projection::from_paths(&paths(&[&["sku"], &["ext", "stock", "qty"], &["attrs"]]));
        let text = br#"{"sku":"A","name":"skip me","ext":{"stock":{"qty":3,"min":1},"other":[1,2]},"attrs":[{"c":"size","v":"M"}],"media":[{"x":1}]}"#;
        let v = p.parse(text).expect("parses");
        assert_eq!(v, json!({"sku": "A", "ext": {"stock": {"qty": 3}}, "attrs": [{"c": "size", "v": "M"}]}));
    }

    #[test]
    fn a_shorter_path_keeps_the_whole_subtree_and_errors_still_surface() {
        let p = Projection::from_paths(&paths(&[&["a", "b"], &["a"]]));
        assert_eq!(p.parse(br#"{"a":{"b":1,"c":2},"z":0}"#).expect("parses"), json!({"a": {"b": 1, "c": 2}}));
        assert!(p.parse(br#"{"a":1,"z":[1,}"#).is_err(), "skipped members must still be valid JSON");
        assert!(p.parse(br#"{"a":1} trailing"#).is_err());
    }

    #[test]
    fn filtered_arrays_keep_only_matching_elements_in_order() {
        let mut p = Projection::from_paths(&paths(&[&["sku"]]));
        p.keep_matching(&["attrs".to_string()], "code", &json!("size"));
        p.keep_matching(&["attrs".to_string()], "code", &json!("color"));
        let text = br#"{"sku":"A","attrs":[{"code":"eco","v":"0"},{"v":"M","code":"size"},{"code":"color","v":"red"},{"code":"size","v":"L"},7,{"code":["size"]}]}"#;
        let v = p.parse(text).expect("parses");
        assert_eq!(
            v,
            json!({"sku": "A", "attrs": [{"v": "M", "code": "size"}, {"code": "color", "v": "red"}, {"code": "size", "v": "L"}]})
        );
        // Not an array: built whole; invalid JSON inside a skipped element is still an error.
        assert_eq!(p.parse(br#"{"attrs":{"code":"size"}}"#).expect("parses"), json!({"attrs": {"code": "size"}}));
        assert!(p.parse(br#"{"attrs":[{"code":"eco","v":[1,}]}"#).is_err());
    }

    #[test]
    fn escaped_elements_are_still_tested() {
        let mut p = Projection::default();
        p.keep_matching(&["xs".to_string()], "c", &json!("s\"z"));
        let text = br#"{"xs":[{"c":"s\"z"},{"c":"\u0073\"z"},{"c":"sz"},{"c":"s\u0022z","v":1}]}"#;
        assert_eq!(
            p.parse(text).expect("parses"),
            json!({"xs": [{"c": "s\"z"}, {"c": "s\"z"}, {"c": "s\"z", "v": 1}]})
        );
    }

    #[test]
    fn kept_values_are_read_as_serde_json_reads_them() {
        let p = Projection::from_paths(&paths(&[&["a"], &["b"], &["c"], &["d"]]));
        let text = br#"{"a":-0,"b":-0.0,"c":18446744073709551616,"d":"\u00e9\n","e":"x"}"#;
        let expected: Value =
            serde_json::from_slice(br#"{"a":-0,"b":-0.0,"c":18446744073709551616,"d":"\u00e9\n"}"#).expect("parses");
        assert_eq!(serde_json::to_string(&p.parse(text).expect("parses")).ok(), serde_json::to_string(&expected).ok());
        // Numbers keep their text (serde_json's `arbitrary_precision`, and the exponent as spelled),
        // whatever their size.
        let text = br#"{"a":1E400,"b":123456789.123456789123456789,"c":-9223372036854775809,"z":1}"#;
        assert_eq!(
            serde_json::to_string(&p.parse(text).expect("parses")).ok().as_deref(),
            Some(r#"{"a":1E400,"b":123456789.123456789123456789,"c":-9223372036854775809}"#)
        );
        assert!(p.parse(b"{\"a\":1,\"e\":\"\xff\"}").is_err(), "invalid UTF-8 in a skipped member");
    }

    #[test]
    fn numbers_match_by_value() {
        let mut p = Projection::default();
        p.keep_matching(&["xs".to_string()], "n", &json!(1));
        assert_eq!(p.parse(br#"{"xs":[{"n":1.0},{"n":2},{"n":"1"}]}"#).expect("parses"), json!({"xs": [{"n": 1.0}]}));
    }
}
