//! Loading configuration: files and folders → positioned, interpolated values → typed pipeline configs,
//! with every error collected and rendered with its location.

pub mod diagnostic;
pub mod duration;
pub mod file;
pub mod interpolate;
pub(crate) mod registry;
pub mod secrets;
pub mod source_map;
