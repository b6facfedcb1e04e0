//! A stable hash of a rendered payload — SHA-256 over its canonical JSON (object keys sorted at every
//! level, no whitespace, serde_json's number and string formatting), written `sha256:<hex>`; it does not
//! depend on the order the template wrote the keys in, nor on serde_json's map type — and the
//! idempotency key a create carries, derived from the intent and that hash.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::state::IntentId;

/// `sha256:<64 hex digits>` of `value`'s canonical JSON.
pub(crate) fn payload_hash(value: &Value) -> String {
    let mut hasher = Sha256::new();
    canonical(value, &mut hasher);
    let digest = hasher.finalize();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn canonical(value: &Value, out: &mut Sha256) {
    match value {
        Value::Array(items) => {
            out.update(b"[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.update(b",");
                }
                canonical(v, out);
            }
            out.update(b"]");
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.update(b"{");
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.update(b",");
                }
                out.update(Value::String(k.clone()).to_string().as_bytes());
                out.update(b":");
                canonical(v, out);
            }
            out.update(b"}");
        }
        scalar => out.update(scalar.to_string().as_bytes()),
    }
}

/// The idempotency key a create carries: a UUID (version 8, RFC 9562) from the intent and the
/// payload's hash — the same for every retry and run of this payload, another for a changed one.
pub(crate) fn idempotency_key(id: &IntentId, hash: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [id.pipeline.as_str(), id.sink.as_str(), id.key.as_str(), hash] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let mut b: [u8; 16] = hasher.finalize()[..16].try_into().unwrap_or_default();
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter_but_values_do() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, "x"], "x": null}}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"a": {"x": null, "y": [1, "x"]}, "b": 1}"#).expect("json");
        assert_eq!(payload_hash(&a), payload_hash(&b));
        assert_ne!(payload_hash(&a), payload_hash(&json!({"b": 2, "a": {"x": null, "y": [1, "x"]}})));
        assert_ne!(payload_hash(&json!("1")), payload_hash(&json!(1)));
    }

    #[test]
    fn the_hash_is_pinned() {
        // sha256 of `{"qty":2,"reference":"R1"}`. Changing the canonical form would make every stored intent look changed: keep it stable.
        assert_eq!(
            payload_hash(&json!({"reference": "R1", "qty": 2})),
            "sha256:cb3bb0e3eeb1b1b9c76c2447cb7b88708c06f16e92eba183bcfa8125af8ab81c"
        );
    }

    #[test]
    fn an_idempotency_key_is_a_uuid_per_intent_and_payload() {
        let id = |key: &str| IntentId { pipeline: "orders".into(), sink: "erp".into(), key: key.into() };
        let key = idempotency_key(&id("order:1"), "sha256:aa");
        assert_eq!(key, idempotency_key(&id("order:1"), "sha256:aa"), "stable across tries and runs");
        assert_ne!(key, idempotency_key(&id("order:1"), "sha256:bb"), "a changed payload");
        assert_ne!(key, idempotency_key(&id("order:2"), "sha256:aa"), "another record");
        let parts: Vec<&str> = key.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{key}");
        assert!(parts[2].starts_with('8'), "version 8: {key}");
    }
}
