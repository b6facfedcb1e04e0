//! Parsing only what a pipeline reads. When every path from the source to the sinks goes through a step
//! that builds a new record (a `template` with `value:`) and the steps before it read only known fields,
//! the source parses just those fields of each input and skips the rest without building them — most
//! of the cost of a large record is building and later freeing the parts nobody looks at. The record's
//! text is kept beside it so that a dead-letter entry still shows the whole input.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::config::pipeline::PipelineConfig;
use crate::expr::reads::Reads;
use crate::graph::{NodeKind, PipelineGraph};

/// Which members of a JSON document to build.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Projection {
    /// Build this node whole.
    all: bool,
    /// Members to build (with what to build of each); others are skipped. A list, not a map: there
    /// are a handful, and a linear scan beats hashing every key of every record.
    fields: Vec<(String, Projection)>,
}

impl Projection {
    /// The projection that keeps exactly these member paths (and everything beneath each).
    pub fn from_paths(paths: &[Vec<String>]) -> Self {
        let mut root = Projection::default();
        for path in paths {
            let mut node = &mut root;
            for name in path {
                if node.all {
                    break;
                }
                let i = match node.fields.iter().position(|(n, _)| n == name) {
                    Some(i) => i,
                    None => {
                        node.fields.push((name.clone(), Projection::default()));
                        node.fields.len() - 1
                    }
                };
                node = &mut node.fields[i].1;
            }
            node.all = true;
            node.fields.clear();
        }
        root
    }

    /// Parses one JSON document, building only the projected members.
    pub fn parse(&self, text: &[u8]) -> Result<Value, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(text);
        let value = Seed(self).deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }

    /// What a pipeline reads of its source's records, or `None` when it needs them whole.
    pub fn for_pipeline(config: &PipelineConfig, graph: &PipelineGraph) -> Option<Projection> {
        let mut reads = Reads::none();
        if let Some(key) = config.source.as_ref().and_then(|s| s.common.key.as_ref()) {
            reads.merge(crate::expr::template::template_reads(key));
        }
        let mut pending = graph.downstream(graph.source);
        let mut seen = Vec::new();
        while let Some(n) = pending.pop() {
            if seen.contains(&n) {
                continue;
            }
            seen.push(n);
            match graph.graph[n].kind {
                NodeKind::Step(i) => {
                    let step = &config.steps[i].config;
                    reads.merge(step.reads());
                    if !step.replaces_record() {
                        pending.extend(graph.downstream(n));
                    }
                }
                // A sink writes the record as it is: it needs all of it.
                NodeKind::Sink(_) | NodeKind::Source => return None,
            }
            if reads == Reads::All {
                return None;
            }
        }
        match reads {
            Reads::All => None,
            Reads::Paths(paths) => Some(Projection::from_paths(&paths)),
        }
    }
}

struct Seed<'a>(&'a Projection);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.0.all {
            return serde::Deserialize::deserialize(deserializer);
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
        // Paths stop at the first index, so the elements of a projected list use the list's projection.
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed(self.0))? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
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
}
