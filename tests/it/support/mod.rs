//! Helpers shared by the integration tests.

pub(crate) mod api;
pub(crate) mod browser;
pub(crate) mod changes;
pub(crate) mod cli;
pub(crate) mod commerce;
pub(crate) mod lsp;
pub(crate) mod pages;
pub(crate) mod receiver;
pub(crate) mod served;
pub(crate) mod sim;
pub(crate) mod stub;
pub(crate) mod tryton;

use std::path::PathBuf;

/// The repository's root (the package's manifest folder).
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
