//! Assembly: a client folder and its pipeline files into typed component configs (`pipeline`, `parse`,
//! `explain`, `folder`, `load`), with every error collected and rendered with its location, and the
//! JSON Schema of those files (`schema`, `schema_editor`). Above the components, whose configs it
//! names; beneath the runtime.

mod explain;
pub(crate) mod folder;
pub(crate) mod load;
pub(crate) mod parse;
pub(crate) mod pipeline;
pub(crate) mod schema;
pub(crate) mod schema_editor;
pub(crate) mod webhook;
