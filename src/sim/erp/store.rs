//! The entity sets in memory: every entity carries `@odata.etag` and `lastModifiedDateTime`, both
//! changed on every update (the etag from a store-wide version, the time from the wall clock, never
//! twice the same), and document numbers come from number series (`S-ORD101001`, `S-SHPT102001`).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::stamps;

/// The entity sets and the counters that version them.
pub(super) struct Store {
    sets: BTreeMap<&'static str, Vec<Value>>,
    version: u64,
    last_millis: i128,
    /// Generates ids of created entities.
    pub rng: fastrand::Rng,
    orders: u32,
    shipments: u32,
}

/// The navigation properties kept inside their document: lines.
pub(super) const LINES: &[&str] = &["salesOrderLines", "salesShipmentLines"];

impl Store {
    /// A store holding the seeded data, each entity given its etag.
    pub(super) fn new(seeded: Seeded) -> Self {
        let mut store = Store {
            sets: BTreeMap::new(),
            version: 0,
            last_millis: 0,
            rng: fastrand::Rng::with_seed(0x5eed),
            orders: 101_000,
            shipments: 102_000,
        };
        for (name, entities) in seeded.sets {
            let tagged = entities
                .into_iter()
                .map(|mut e| {
                    store.tag(&mut e);
                    e
                })
                .collect();
            store.sets.insert(name, tagged);
        }
        store
    }

    /// The entities of a set (empty for an unknown one).
    pub(super) fn all(&self, name: &str) -> &[Value] {
        self.sets.get(name).map_or(&[], Vec::as_slice)
    }

    /// The entities of a set, to change (call [`Store::touch`] on each changed one).
    pub(super) fn all_mut(&mut self, name: &str) -> &mut Vec<Value> {
        self.sets.entry(set_name(name)).or_default()
    }

    /// Puts `entity` in `set`: in place of the one `same` finds, else at the end.
    pub(super) fn put(&mut self, set: &str, entity: Value, same: impl Fn(&Value) -> bool) {
        let entities = self.all_mut(set);
        match entities.iter().position(same) {
            Some(i) => entities[i] = entity,
            None => entities.push(entity),
        }
    }

    /// The entity of `set` whose `field` is `value`.
    pub(super) fn find(&self, set: &str, field: &str, value: &str) -> Option<&Value> {
        self.all(set).iter().find(|e| e.get(field).and_then(Value::as_str) == Some(value))
    }

    /// Its index, to change it.
    pub(super) fn position(&self, set: &str, field: &str, value: &str) -> Option<usize> {
        self.all(set).iter().position(|e| e.get(field).and_then(Value::as_str) == Some(value))
    }

    /// A new etag for `entity`.
    fn tag(&mut self, entity: &mut Value) {
        self.version += 1;
        let text = format!("'{};{};'", self.version, self.version * 7919);
        let tag = format!("W/\"{}\"", base64::engine::general_purpose::STANDARD.encode(text));
        if let Value::Object(map) = entity {
            map.insert("@odata.etag".into(), Value::String(tag));
        }
    }

    /// The current time, later than any given before.
    pub(super) fn now(&mut self) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        self.last_millis = now.max(self.last_millis + 1);
        stamps::timestamp(self.last_millis)
    }

    /// Marks `entity` changed: a new etag, and `lastModifiedDateTime` now unless `keep_time`.
    pub(super) fn touch(&mut self, entity: &mut Value, keep_time: bool) {
        if !keep_time {
            let now = self.now();
            if let Value::Object(map) = entity {
                map.insert("lastModifiedDateTime".into(), Value::String(now));
            }
        }
        self.tag(entity);
    }

    /// A new GUID.
    pub(super) fn guid(&mut self) -> String {
        stamps::guid(&mut self.rng)
    }

    /// The next sales order number.
    pub(super) fn order_number(&mut self) -> String {
        self.orders += 1;
        format!("S-ORD{}", self.orders)
    }

    /// The next sales shipment number.
    pub(super) fn shipment_number(&mut self) -> String {
        self.shipments += 1;
        format!("S-SHPT{}", self.shipments)
    }
}

/// The static name of an entity set (the sets are the fixed ones `data` seeds; the routes only name
/// those, and an unknown name maps to a set named "" that nothing reads).
fn set_name(name: &str) -> &'static str {
    std::iter::once(&"companies").chain(SETS).find(|n| **n == name).copied().unwrap_or("")
}

/// The entity sets a company has.
pub(super) const SETS: &[&str] =
    &["locations", "items", "itemVariants", "customers", "itemStocks", "salesPrices", "salesOrders", "salesShipments"];

/// An entity as served: without the lines it keeps inside, unless `expand` names them.
pub(super) fn served(entity: &Value, expand: &[String]) -> Value {
    let Value::Object(map) = entity else { return entity.clone() };
    let kept: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !LINES.contains(&k.as_str()) || expand.iter().any(|e| e == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

/// The seeded entity sets: `companies`, `locations`, `items`, `customers`, `itemStocks`.
pub(super) struct Seeded {
    /// The one company's id.
    pub company: String,
    /// Entity set name → entities (without `@odata.etag`, which the store adds).
    pub sets: Vec<(&'static str, Vec<serde_json::Value>)>,
}
