//! The unit of data that flows through a pipeline: a JSON value plus the metadata the runtime needs
//! (where it came from, its key, and the acknowledgement handle that tells its source when it is done).

use serde_json::Value;

/// One record in flight.
#[derive(Debug, Clone)]
pub struct Record {
    /// The record's data.
    pub value: Value,
}

impl Record {
    /// Wraps a JSON value.
    pub fn new(value: Value) -> Self {
        Self { value }
    }
}
