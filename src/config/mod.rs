//! Configuration building blocks: files with positions, diagnostics, interpolation, secrets, durations,
//! paths, the component registry macro. They know no component type; turning a pipeline file into
//! component configs is `assemble`.

pub(crate) mod diagnostic;
pub(crate) mod duration;
pub(crate) mod encoding;
pub(crate) mod file;
pub(crate) mod interpolate;
pub(crate) mod paths;
pub(crate) mod present;
pub(crate) mod registry;
pub(crate) mod schedule;
pub(crate) mod schema_walk;
pub(crate) mod secrets;
pub(crate) mod source_map;
