//! Hot reload for `weir serve`: the folder's configuration files (pipelines, `connections.yaml`,
//! `shared.yaml`, tables) are fingerprinted every few seconds; when they change, the folder is loaded
//! again. A sound folder replaces what runs (the next run of each pipeline uses the new version; a
//! run in progress finishes with the old one; new pipelines start, removed ones stop). A folder with
//! errors changes nothing: the last good version keeps running and the errors are logged and shown by
//! `/readyz` and the API until a later edit fixes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Service;

/// What the configuration files were when last looked at: each file's path, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Fingerprint(BTreeMap<PathBuf, (u64, Option<SystemTime>)>);

/// Folders never holding configuration: state, version control, outputs by convention.
const SKIPPED_DIRS: &[&str] = &["out", "node_modules", "target"];

/// Extensions of the files a pipeline folder is configured with.
const CONFIG_EXTENSIONS: &[&str] = &["yaml", "yml", "csv"];

impl Fingerprint {
    /// Looks at every configuration file under `folder` (hidden folders such as `.weir/` and `.git/`
    /// left out). Unreadable entries are skipped: a file being replaced shows up on the next look.
    pub(super) fn of(folder: &Path) -> Fingerprint {
        let mut files = BTreeMap::new();
        let mut pending = vec![folder.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_str()) {
                        pending.push(path);
                    }
                } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| CONFIG_EXTENSIONS.contains(&e)) {
                    files.insert(path, (meta.len(), meta.modified().ok()));
                }
            }
        }
        Fingerprint(files)
    }
}

/// Watches the folder until the service drains: every `every`, a changed fingerprint reloads.
pub(super) async fn watch(service: Arc<Service>, mut seen: Fingerprint, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if service.is_draining() {
            return;
        }
        let folder = service.folder.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || Fingerprint::of(&folder)).await else { continue };
        if now == seen {
            continue;
        }
        seen = now;
        let reloading = Arc::clone(&service);
        let _ = tokio::task::spawn_blocking(move || reloading.reload()).await;
    }
}
