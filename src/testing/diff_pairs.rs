//! Two runs of a pipeline compared (`weir diff`): each sink's records paired by record key (or by a
//! field, or by position for records without one), field-level differences of each pair, records only
//! one run sent, and the dead letters only one run wrote — in a stable order (sorted by key).

use std::collections::BTreeMap;

use serde_json::Value;

use super::compare::{Difference, Received, differences, shown};
use super::diff::{Capture, DeadLetter};
use crate::expr::jsonpath::JsonPath;

/// What pairs a record of the old run with one of the new.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PairKey {
    /// A key (the record key, or the pairing field); the second is its occurrence (0 for the first
    /// record with that key).
    Key(String, usize),
    /// The place among the records without a key (0 for the first).
    Place(usize),
}

impl std::fmt::Display for PairKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PairKey::Key(key, 0) => f.write_str(key),
            PairKey::Key(key, n) => write!(f, "{key} (#{})", n + 1),
            PairKey::Place(i) => write!(f, "#{}", i + 1),
        }
    }
}

/// What changed at one sink.
#[derive(Debug, Default)]
pub(crate) struct SinkDiff {
    /// The sink's id.
    pub(crate) id: String,
    /// Records both runs sent, with their differences.
    pub(crate) changed: Vec<(PairKey, Vec<Difference>)>,
    /// Records only the new run sent.
    pub(crate) added: Vec<(PairKey, Value)>,
    /// Records only the old run sent.
    pub(crate) removed: Vec<(PairKey, Value)>,
    /// Records both runs sent the same.
    pub(crate) unchanged: usize,
}

/// What changed between two runs of a pipeline.
#[derive(Debug, Default)]
pub(crate) struct PipelineDiff {
    /// Every sink of either version, by id.
    pub(crate) sinks: Vec<SinkDiff>,
    /// Dead letters only the new run wrote.
    pub(crate) new_dead_letters: Vec<DeadLetter>,
    /// Dead letters only the old run wrote.
    pub(crate) gone_dead_letters: Vec<DeadLetter>,
    /// How each run failed (old, new), when that differs.
    pub(crate) errors: Option<(Option<String>, Option<String>)>,
}

impl PipelineDiff {
    /// How many records changed: changed, added or removed at a sink, or dead-lettered by one run
    /// only.
    pub(crate) fn records_changed(&self) -> usize {
        let at_sinks: usize = self.sinks.iter().map(|s| s.changed.len() + s.added.len() + s.removed.len()).sum();
        at_sinks + self.new_dead_letters.len() + self.gone_dead_letters.len()
    }

    /// True when the runs differ in anything.
    pub(crate) fn is_change(&self) -> bool {
        self.records_changed() > 0 || self.errors.is_some()
    }
}

/// The records of `records` by what pairs them: `key` (the first value it finds, strings as they are)
/// when given, else the record key; by place among those without.
fn by_pair_key<'a>(records: &'a [Received], key: Option<&JsonPath>) -> BTreeMap<PairKey, &'a Value> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut places = 0;
    let mut out = BTreeMap::new();
    for (record_key, value) in records {
        let found = match key {
            Some(path) => path.first(value).map(|v| v.as_str().map_or_else(|| shown(v), str::to_string)),
            None => record_key.clone(),
        };
        let pair = match found {
            Some(k) => {
                let n = seen.entry(k.clone()).or_default();
                *n += 1;
                PairKey::Key(k, *n - 1)
            }
            None => {
                places += 1;
                PairKey::Place(places - 1)
            }
        };
        out.insert(pair, value);
    }
    out
}

/// One sink's records compared.
fn sink_diff(id: &str, old: &[Received], new: &[Received], key: Option<&JsonPath>) -> SinkDiff {
    let old = by_pair_key(old, key);
    let mut new = by_pair_key(new, key);
    let mut diff = SinkDiff { id: id.to_string(), ..SinkDiff::default() };
    for (pair, before) in old {
        match new.remove(&pair) {
            Some(after) => {
                let mut found = Vec::new();
                differences("$", before, after, false, &mut found);
                if found.is_empty() {
                    diff.unchanged += 1;
                } else {
                    diff.changed.push((pair, found));
                }
            }
            None => diff.removed.push((pair, before.clone())),
        }
    }
    diff.added = new.into_iter().map(|(pair, v)| (pair, v.clone())).collect();
    diff
}

/// The items of `a` not in `b`, counting repeats (both sorted).
fn only_in(a: &[DeadLetter], b: &[DeadLetter]) -> Vec<DeadLetter> {
    let mut rest = b.to_vec();
    a.iter()
        .filter(|x| match rest.iter().position(|y| y == *x) {
            Some(i) => {
                rest.remove(i);
                false
            }
            None => true,
        })
        .cloned()
        .collect()
}

/// What changed from `old` to `new`; records paired by `key` (a field) when given, else by record
/// key.
pub(crate) fn compare(old: &Capture, new: &Capture, key: Option<&JsonPath>) -> PipelineDiff {
    let mut ids: Vec<&String> = old.sinks.keys().chain(new.sinks.keys()).collect();
    ids.sort();
    ids.dedup();
    let none = Vec::new();
    let sinks = ids
        .into_iter()
        .map(|id| sink_diff(id, old.sinks.get(id).unwrap_or(&none), new.sinks.get(id).unwrap_or(&none), key))
        .collect();
    PipelineDiff {
        sinks,
        new_dead_letters: only_in(&new.dead_letters, &old.dead_letters),
        gone_dead_letters: only_in(&old.dead_letters, &new.dead_letters),
        errors: (old.error != new.error).then(|| (old.error.clone(), new.error.clone())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn capture(records: Vec<Received>) -> Capture {
        Capture { sinks: BTreeMap::from([("s".to_string(), records)]), ..Capture::default() }
    }

    #[test]
    fn records_pair_by_key_and_report_changed_added_removed_and_unchanged() {
        let old = capture(vec![
            (Some("b".into()), json!({"q": 1})),
            (Some("a".into()), json!({"q": 1})),
            (Some("c".into()), json!({"q": 3})),
        ]);
        let new = capture(vec![
            (Some("a".into()), json!({"q": 1})),
            (Some("b".into()), json!({"q": 2})),
            (Some("d".into()), json!({"q": 4})),
        ]);
        let diff = compare(&old, &new, None);
        let sink = &diff.sinks[0];
        assert_eq!(sink.unchanged, 1);
        assert_eq!(sink.changed.len(), 1);
        assert_eq!(sink.changed[0].0.to_string(), "b");
        assert_eq!(sink.changed[0].1[0].change(), "$.q: 1 → 2");
        assert_eq!(sink.added[0].0.to_string(), "d");
        assert_eq!(sink.removed[0].0.to_string(), "c");
        assert_eq!(diff.records_changed(), 3);
    }

    #[test]
    fn records_without_keys_pair_by_place_and_a_field_can_pair_them() {
        let old = capture(vec![(None, json!({"sku": "A", "q": 1})), (None, json!({"sku": "B", "q": 2}))]);
        let new = capture(vec![(None, json!({"sku": "B", "q": 2})), (None, json!({"sku": "A", "q": 1}))]);
        assert_eq!(compare(&old, &new, None).records_changed(), 2, "by place, both records differ");
        let key = JsonPath::compile("$.sku").expect("valid");
        let diff = compare(&old, &new, Some(&key));
        assert!(!diff.is_change(), "{diff:?}");
        assert_eq!(diff.sinks[0].unchanged, 2);
    }

    #[test]
    fn dead_letters_only_one_run_wrote_are_new_or_gone() {
        let letter = |label: &str| DeadLetter { label: label.into(), step: "shape".into(), error: "bad".into() };
        let old = Capture { dead_letters: vec![letter("a"), letter("b")], ..Capture::default() };
        let new = Capture { dead_letters: vec![letter("b"), letter("c")], ..Capture::default() };
        let diff = compare(&old, &new, None);
        assert_eq!(diff.new_dead_letters, vec![letter("c")]);
        assert_eq!(diff.gone_dead_letters, vec![letter("a")]);
    }

    #[test]
    fn the_same_run_twice_is_no_change() {
        let records = vec![(Some("k".into()), json!({"q": 1})), (Some("k".into()), json!({"q": 2}))];
        let diff = compare(&capture(records.clone()), &capture(records), None);
        assert!(!diff.is_change(), "{diff:?}");
        assert_eq!(diff.sinks[0].unchanged, 2);
    }
}
