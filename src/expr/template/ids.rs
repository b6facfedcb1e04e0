//! The id map in templates: `ids.<name>` reads the remote ids recorded for the current record's key
//! (`{{ ids.erp_order_id }}`), `ids_for(key)` those of any key (`{{ ids_for('customer:' ~ record.cid).erp_id }}`).
//!
//! Templates are compiled before the run opens its state store, so every template compiled by one
//! [`super::TemplateEngine`] shares an [`IdsSlot`] that the runtime fills when the run starts. Only
//! templates that mention `ids` pay anything: they get the two names in their scope, read lazily (one
//! query per render at most, only when an id is actually read).

use std::sync::{Arc, OnceLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as MjValue};
use minijinja::{Error, ErrorKind};
use serde_json::{Map, Value as Json};

use super::object::json_to_value;
use crate::state::StateStore;

/// Reads the id map. Implemented for the state store; tests may implement it directly.
pub(crate) trait IdLookup: Send + Sync + std::fmt::Debug {
    /// Every remote id recorded for `key`.
    fn ids(&self, key: &str) -> Result<Map<String, Json>, String>;
}

impl IdLookup for Arc<dyn StateStore> {
    fn ids(&self, key: &str) -> Result<Map<String, Json>, String> {
        StateStore::ids(&**self, key).map_err(|e| e.to_string())
    }
}

/// Where the id map is found at render time; shared by every template of one engine, filled once per
/// run (see [`IdsSlot::fill`]). Empty: templates that read `ids` fail with a message saying why.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdsSlot(Arc<OnceLock<Arc<dyn IdLookup>>>);

impl IdsSlot {
    /// Makes the id map readable by the templates sharing this slot. Returns false when it was filled
    /// already (the first one stays).
    pub(crate) fn fill(&self, lookup: Arc<dyn IdLookup>) -> bool {
        self.0.set(lookup).is_ok()
    }

    fn get(&self) -> Option<Arc<dyn IdLookup>> {
        self.0.get().cloned()
    }

    /// The `ids` and `ids_for` names for one render of the record with `key`.
    pub(super) fn scope_pairs(&self, key: Option<&Arc<str>>) -> [(MjValue, MjValue); 2] {
        let lookup = self.get();
        let for_key = lookup.clone();
        let ids_for = MjValue::from_function(move |key: String| -> Result<MjValue, Error> {
            let map = load(for_key.as_ref(), Some(&key)).map_err(|m| Error::new(ErrorKind::InvalidOperation, m))?;
            Ok(json_to_value(&Json::Object(map)))
        });
        let ids = MjValue::from_object(Ids { lookup, key: key.cloned(), loaded: OnceLock::new() });
        [(MjValue::from("ids"), ids), (MjValue::from("ids_for"), ids_for)]
    }
}

/// Whether a template source may read the id map (a cheap over-approximation: only templates for which
/// this is true get `ids` in their scope).
pub(super) fn mentions_ids(source: &str) -> bool {
    source.contains("ids")
}

fn load(lookup: Option<&Arc<dyn IdLookup>>, key: Option<&str>) -> Result<Map<String, Json>, String> {
    let lookup = lookup.ok_or_else(|| {
        "the id map (`ids`) needs the state store; run with `--state PATH` (not in `weir validate`)".to_string()
    })?;
    let key = key.ok_or_else(|| "`ids` reads the ids of the record's key, and this record has no key".to_string())?;
    lookup.ids(key).map_err(|e| format!("reading the id map for `{key}`: {e}"))
}

/// `ids`: the ids of the current record's key, loaded on first access.
#[derive(Debug)]
struct Ids {
    lookup: Option<Arc<dyn IdLookup>>,
    key: Option<Arc<str>>,
    loaded: OnceLock<Result<Map<String, Json>, String>>,
}

impl Ids {
    fn map(&self) -> &Result<Map<String, Json>, String> {
        self.loaded.get_or_init(|| load(self.lookup.as_ref(), self.key.as_deref()))
    }
}

impl Object for Ids {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, name: &MjValue) -> Option<MjValue> {
        match self.map() {
            Ok(map) => map.get(name.as_str()?).map(json_to_value),
            // An invalid value: using it fails the render with this message.
            Err(e) => Some(MjValue::from(Error::new(ErrorKind::InvalidOperation, e.clone()))),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.map() {
            Ok(map) => Enumerator::Values(map.keys().map(|k| MjValue::from(k.as_str())).collect()),
            Err(_) => Enumerator::Empty,
        }
    }
}
