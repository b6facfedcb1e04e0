//! MSI source items: the stored list with its index by SKU and source, and saving them
//! (`POST /V1/inventory/source-items`, and the operations of an async bulk request to it).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::input::{LIST_LIMIT, list};
use super::{MagentoError, Sim, lock};

/// `POST /V1/inventory/source-items` (also an async bulk operation's data): saves each item (by SKU
/// and source), answers `[]`.
pub(super) fn save_source_items(sim: &Sim, value: &Value) -> Result<Value, MagentoError> {
    let limit = sim.options.input_limit.then_some(LIST_LIMIT);
    let items = list(value, "sourceItems", limit, "\\Magento\\InventoryApi\\Api\\Data\\SourceItemInterface")?;
    let mut saved = Vec::with_capacity(items.len());
    for item in items {
        let sku = item.get("sku").and_then(Value::as_str);
        let source = item.get("source_code").and_then(Value::as_str);
        let (Some(sku), Some(source)) = (sku, source) else {
            return Err(MagentoError::new(400, "Validation Failed"));
        };
        let quantity =
            item.get("quantity").and_then(|q| q.as_f64().or_else(|| q.as_str()?.parse().ok())).unwrap_or(0.0);
        let status = item.get("status").and_then(|s| s.as_i64().or_else(|| s.as_str()?.parse().ok())).unwrap_or(0);
        saved.push(json!({"sku": sku, "source_code": source, "quantity": quantity, "status": status}));
    }
    let mut stored = lock(&sim.source_items);
    for item in saved {
        stored.save(item);
    }
    Ok(json!([]))
}

/// The source items in the order they were first saved (searches page through them), and where each
/// (SKU, source) is — a save finds its item at once, not by reading the ~2,000 seeded ones: the
/// simulator must not be what limits a client's throughput.
#[derive(Debug, Default)]
pub(super) struct SourceItems {
    list: Vec<Value>,
    at: HashMap<(String, String), usize>,
}

impl SourceItems {
    /// The list `items` (each with `sku` and `source_code`).
    pub(super) fn new(items: Vec<Value>) -> Self {
        let mut stored = SourceItems::default();
        for item in items {
            stored.save(item);
        }
        stored
    }

    /// Every item, in the order first saved.
    pub(super) fn list(&self) -> &[Value] {
        &self.list
    }

    /// Replaces the item of the same SKU and source, or adds it.
    fn save(&mut self, item: Value) {
        let text = |field: &str| item.get(field).and_then(Value::as_str).unwrap_or_default().to_string();
        let key = (text("sku"), text("source_code"));
        match self.at.get(&key) {
            Some(&i) => self.list[i] = item,
            None => {
                self.at.insert(key, self.list.len());
                self.list.push(item);
            }
        }
    }
}
