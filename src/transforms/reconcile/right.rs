//! The right-hand set of `reconcile`: where it is read from, and loading it into a map key → record.
//! Loaded once, at run time (never in `build()`, so `weir validate` reads no data).

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::expr::template::StringTemplate;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;
use crate::sources::file::{FileSource, FileSourceConfig};
use crate::transforms::context::with_context;

/// Where the right-hand set comes from: one of the step's inputs (any source, e.g. an API), named by
/// id, or files the step reads itself.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum RightConfig {
    /// The id of one of the step's `inputs` (usually a second source of the pipeline, under
    /// `sources`): read to its end before the first left record is compared. A source that feeds only
    /// right-hand sides is read whole on every run (it keeps no checkpoint).
    Input(String),
    /// Files, read like the `file` source: `{ path, format, delimiter }`, the path relative to the
    /// pipeline's folder.
    File(FileSourceConfig),
}

/// A built right-hand source.
#[derive(Debug)]
pub(super) enum RightSource {
    /// Records of this input, handed over by the runtime.
    Input(String),
    File(FileSource),
}

impl RightConfig {
    /// Checks the source's settings (reads nothing); errors are reported under `right`.
    pub(super) fn build(&self, ctx: &BuildContext, errors: &mut BuildErrors) -> Option<RightSource> {
        match self {
            RightConfig::Input(id) => Some(RightSource::Input(id.clone())),
            RightConfig::File(c) => match c.build(ctx) {
                Ok(f) => Some(RightSource::File(f)),
                Err(e) => {
                    for mut error in e.0 {
                        error.field.insert(0, "right".into());
                        errors.0.push(error);
                    }
                    None
                }
            },
        }
    }
}

/// The right-hand set, keyed, in the order it was read.
#[derive(Debug, Default)]
pub(super) struct RightSet {
    /// `(key, record)` in read order (the order `missing_left` findings come out in). Records from an
    /// input keep their acknowledgements until the step emits or filters them.
    pub(super) records: Vec<(String, Record)>,
    index: HashMap<String, usize>,
}

impl RightSet {
    /// The record with this key.
    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.records[i].1.value)
    }

    /// Adds a record from the step's right-hand input; an error for a key that is already there.
    pub(super) fn insert(&mut self, key: &StringTemplate, mut record: Record) -> Result<(), String> {
        let k = with_context(&mut record, |c| key.render(c)).map_err(|e| format!("right_key: {e}"))?;
        if self.index.contains_key(&k) {
            return Err(format!("key `{k}` appears twice in the right-hand input"));
        }
        self.index.insert(k.clone(), self.records.len());
        self.records.push((k, record));
        Ok(())
    }
}

impl RightSource {
    /// Reads the whole set, keying every record with `key`. Any problem — nothing to read, a record
    /// that does not parse or has no key, two records with one key — is an error: a reconciliation
    /// against a set that is not known exactly would report wrong findings.
    pub(super) fn load(&self, key: &StringTemplate) -> Result<RightSet, String> {
        match self {
            // Nothing came from the input: an empty set.
            RightSource::Input(_) => Ok(RightSet::default()),
            RightSource::File(f) => {
                let mut set = RightSet::default();
                // Where each record was read (for messages): (file index, record index).
                let mut positions = Vec::new();
                let mut failure = None;
                let files = f.files().map_err(|e| e.to_string())?;
                let at = |(stream, seq): (u32, u64)| {
                    let file = files.get(stream as usize).map_or_else(String::new, |p| p.display().to_string());
                    format!("record {} of `{file}`", seq + 1)
                };
                f.read(&mut |input| {
                    let position = (input.position.stream, input.position.seq);
                    let value = match input.parsed {
                        Ok(v) => v,
                        Err((e, _)) => {
                            failure = Some(e);
                            return false;
                        }
                    };
                    let mut record = Record::new(value);
                    match with_context(&mut record, |c| key.render(c)) {
                        Ok(k) => match set.index.get(&k) {
                            Some(&first) => {
                                failure = Some(format!(
                                    "key `{k}` appears twice: {} and {}",
                                    at(positions[first]),
                                    at(position)
                                ));
                                false
                            }
                            None => {
                                set.index.insert(k.clone(), set.records.len());
                                set.records.push((k, record));
                                positions.push(position);
                                true
                            }
                        },
                        Err(e) => {
                            failure = Some(format!("right_key of {}: {e}", at(position)));
                            false
                        }
                    }
                })
                .map_err(|e| e.to_string())?;
                failure.map_or(Ok(set), Err)
            }
        }
    }
}
