//! The `http` step's answer cache: what a request found (or that it found nothing), by the request
//! (method, URL, headers, body), for the rest of the run. Bounded twice: a number of entries and a
//! number of bytes (each entry's key plus its value's JSON text), the least recently used dropped
//! first (`lru`); an answer larger than the whole budget is not kept.

use std::num::NonZeroUsize;

use lru::LruCache;
use serde_json::Value;

/// What a request came to, as kept.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Found {
    /// The selected answer.
    Value(Value),
    /// A `404`, or nothing selected: `on_missing` applies.
    Missing(String),
}

/// The cache.
#[derive(Debug)]
pub(super) struct AnswerCache {
    /// `None` when turned off (`max_entries: 0`).
    entries: Option<LruCache<String, (Found, usize)>>,
    bytes: usize,
    max_bytes: usize,
    /// Requests answered from the cache.
    pub(super) hits: u64,
}

impl AnswerCache {
    pub(super) fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self { entries: NonZeroUsize::new(max_entries).map(LruCache::new), bytes: 0, max_bytes, hits: 0 }
    }

    /// What an equal request found earlier in the run.
    pub(super) fn get(&mut self, key: &str) -> Option<Found> {
        let found = self.entries.as_mut()?.get(key).map(|(found, _)| found.clone());
        self.hits += u64::from(found.is_some());
        found
    }

    /// Keeps what `key` found, dropping the least recently used entries over the bounds.
    pub(super) fn put(&mut self, key: String, found: &Found) {
        let Some(entries) = self.entries.as_mut() else { return };
        let size = key.len()
            + match found {
                Found::Value(v) => v.to_string().len(),
                Found::Missing(reason) => reason.len(),
            };
        if size > self.max_bytes {
            return;
        }
        if let Some((_, (_, old))) = entries.push(key, (found.clone(), size)) {
            self.bytes -= old;
        }
        self.bytes += size;
        while self.bytes > self.max_bytes {
            match entries.pop_lru() {
                Some((_, (_, old))) => self.bytes -= old,
                None => break,
            }
        }
    }

    /// How many answers are kept, and their bytes.
    #[cfg(test)]
    pub(super) fn size(&self) -> (usize, usize) {
        (self.entries.as_ref().map_or(0, LruCache::len), self.bytes)
    }
}
