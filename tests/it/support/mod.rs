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

use std::path::{Path, PathBuf};

/// The repository's root (the package's manifest folder).
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies the folder `from` into `to` (created when absent), recursively, leaving out the entries named
/// in `leave_out` at any depth (e.g. `out`, `.weir`: outputs and state of earlier runs).
pub(crate) fn copy_dir(from: &Path, to: &Path, leave_out: &[&str]) {
    std::fs::create_dir_all(to).expect("a folder");
    for entry in std::fs::read_dir(from).expect("readable").flatten() {
        let (path, name) = (entry.path(), entry.file_name());
        if leave_out.iter().any(|left| name == *left) {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &to.join(&name), leave_out);
        } else {
            std::fs::copy(&path, to.join(&name)).expect("a copy");
        }
    }
}
