//! MSI source items: saving them (`POST /V1/inventory/source-items`, and the operations of an async
//! bulk request to it), by SKU and source.

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
        let same = |s: &Value| s.get("sku") == item.get("sku") && s.get("source_code") == item.get("source_code");
        match stored.iter_mut().find(|s| same(s)) {
            Some(existing) => *existing = item,
            None => stored.push(item),
        }
    }
    Ok(json!([]))
}
