//! Configuration building blocks: files with positions, diagnostics, interpolation, secrets, durations,
//! paths, the component registry macro. They know no component type; turning a pipeline file into
//! component configs is `assemble`.

pub mod diagnostic;
pub mod duration;
pub mod encoding;
pub mod file;
pub mod interpolate;
pub mod paths;
pub mod present;
pub mod registry;
pub(crate) mod schema_walk;
pub mod secrets;
pub mod source_map;
