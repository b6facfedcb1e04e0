//! Loading configuration: files and folders → positioned, interpolated values → typed pipeline configs,
//! with every error collected and rendered with its location.

pub mod diagnostic;
pub mod duration;
pub mod encoding;
pub mod file;
pub mod folder;
pub mod interpolate;
pub mod load;
pub mod parse;
pub mod paths;
pub mod pipeline;
pub mod present;
pub mod registry;
pub mod schema;
mod schema_editor;
mod schema_walk;
pub mod secrets;
pub mod source_map;
