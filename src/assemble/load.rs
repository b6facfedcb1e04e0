//! Loading what the user points Weir at: a pipeline file, or a client folder (its `*.yaml` pipelines,
//! `connections.yaml`, `shared.yaml`, `tables/*.csv`), recursively for folders of folders. Every error
//! of every file is collected before giving up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::folder::{ConnectionsFile, SharedFile, build_connections, parse_connections};
use super::parse::{Parser, escape};
use super::pipeline::{PipelineConfig, TableConfig};
use crate::config::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::config::file::{Anchor, ConfigFile};
use crate::kernel::build::NamedConnection;
use crate::tables::{Table, Tables};

/// File names in a client folder that are not pipelines.
pub(crate) const CONNECTIONS_FILE: &str = "connections.yaml";
/// See [`CONNECTIONS_FILE`].
pub(crate) const SHARED_FILE: &str = "shared.yaml";
/// Sub-folders that never hold pipelines.
const SKIPPED_DIRS: &[&str] = &["tables", "tests", "schemas", "data", "expected", "out"];

/// A client folder: shared definitions plus its pipelines.
#[derive(Debug, Clone)]
pub(crate) struct Folder {
    /// The folder.
    pub(crate) dir: PathBuf,
    /// `connections.yaml`, if present, as written.
    pub(crate) connections: ConnectionsFile,
    /// Its connections, built (each checked by its kind's `build()`), as components take them by name.
    pub(crate) named_connections: Arc<BTreeMap<String, NamedConnection>>,
    /// True when `connections.yaml` exists but could not be read (not UTF-8, not YAML, an unset
    /// secret …): its errors are reported, and components naming a connection add none of their own.
    pub(crate) connections_unreadable: bool,
    /// Tables from `tables/*.csv` and `shared.yaml`.
    pub(crate) tables: Tables,
    /// Where each folder-level table came from (for errors).
    pub(crate) table_origins: BTreeMap<String, String>,
}

/// A parsed pipeline and the folder it belongs to.
#[derive(Debug, Clone)]
pub struct LoadedPipeline {
    /// The typed config.
    pub config: PipelineConfig,
    /// Its file.
    pub(crate) file: Arc<ConfigFile>,
    /// The folder it lives in.
    pub(crate) folder: Arc<Folder>,
}

impl LoadedPipeline {
    /// The folder relative paths resolve against.
    pub(crate) fn base_dir(&self) -> &Path {
        &self.folder.dir
    }

    /// Folder tables plus the pipeline's own, with the pipeline's own winning.
    pub fn tables(&self, diagnostics: &mut Diagnostics) -> Tables {
        let mut tables = self.folder.tables.clone();
        for (name, config) in &self.config.tables {
            let pointer = format!("/tables/{}", escape(name));
            match load_table(name, config, &self.folder.dir, &self.file, &pointer) {
                Ok(t) => {
                    tables.insert(t);
                }
                Err(message) => diagnostics.push(
                    Diagnostic::new("bad-table", message)
                        .at(self.file.locate(&pointer, Anchor::Value))
                        .with_field(format!("tables.{name}")),
                ),
            }
        }
        tables
    }
}

/// Loads the table `name` defined at `pointer` of `file`. Inline rows keep their columns in the order
/// they are written (the first column is the default key column), although the parsed mapping has
/// forgotten it: the position index knows where each key was.
pub(crate) fn load_table(
    name: &str,
    config: &TableConfig,
    dir: &Path,
    file: &ConfigFile,
    pointer: &str,
) -> Result<Table, String> {
    match config {
        TableConfig::File(path) => Table::from_csv_path(name, &dir.join(path)).map_err(|e| e.to_string()),
        TableConfig::Csv(csv) => {
            let delimiter = match csv.delimiter {
                None => None,
                Some(c) if c.is_ascii() => Some(c as u8),
                Some(c) => return Err(format!("table `{name}`: delimiter `{c}` is not a single-byte character")),
            };
            Table::from_csv_path_with_delimiter(name, &dir.join(&csv.path), delimiter).map_err(|e| e.to_string())
        }
        TableConfig::Rows(rows) => {
            Table::from_rows_with_columns(name, written_column_order(rows, file, pointer), rows.clone())
                .map_err(|e| e.to_string())
        }
    }
}

/// The columns of inline `rows` (at `pointer` of `file`) in the order they are first written: the first
/// row's keys by position, then any key a later row adds, by its position in that row. Keys without a
/// recorded position (reached through a YAML alias) keep their relative order after the positioned ones.
fn written_column_order(
    rows: &[serde_json::Map<String, serde_json::Value>],
    file: &ConfigFile,
    pointer: &str,
) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let mut keys: Vec<(Option<(usize, usize)>, &String)> = row
            .keys()
            .filter(|k| !columns.contains(k))
            .map(|k| {
                let span = file.span(&format!("{pointer}/{i}/{}", escape(k)));
                (span.map(|s| s.key.unwrap_or(s.value)).map(|p| (p.line, p.col)), k)
            })
            .collect();
        // `None` sorts first; put unpositioned keys last instead (stable, so they keep their order).
        keys.sort_by_key(|(pos, _)| (pos.is_none(), *pos));
        columns.extend(keys.into_iter().map(|(_, k)| k.clone()));
    }
    columns
}

/// Reads environment variables for `${env:…}` and `${secret:…}`.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// How a path is shown in errors: as given, relative to the current directory when possible.
fn display(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let shown = cwd.as_deref().and_then(|c| path.strip_prefix(c).ok()).unwrap_or(path);
    shown.display().to_string()
}

fn is_yaml(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Loads every pipeline under `paths`, collecting all errors.
pub fn load_paths(paths: &[PathBuf], env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<LoadedPipeline>, Diagnostics> {
    let (pipelines, diagnostics) = load_paths_partial(paths, env);
    if diagnostics.is_empty() { Ok(pipelines) } else { Err(diagnostics) }
}

/// Loads every pipeline under `paths`, returning the ones that parsed (possibly with some steps or
/// sinks missing, see [`PipelineConfig::unparsed`]) alongside every error, so that later checks can
/// still report theirs.
pub fn load_paths_partial(
    paths: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
) -> (Vec<LoadedPipeline>, Diagnostics) {
    let mut diagnostics = Diagnostics::default();
    let mut pipelines = Vec::new();
    let mut folders: BTreeMap<PathBuf, Arc<Folder>> = BTreeMap::new();
    for path in paths {
        let files = if path.is_dir() {
            let mut found = Vec::new();
            collect_pipeline_files(path, &mut found);
            if found.is_empty() {
                diagnostics.push(Diagnostic::new(
                    "no-pipelines",
                    format!("no pipeline files (*.yaml) in `{}`", display(path)),
                ));
            }
            found
        } else if path.exists() {
            vec![path.clone()]
        } else {
            diagnostics.push(Diagnostic::new("io", format!("{} does not exist", crate::config::paths::shown(path))));
            continue;
        };
        for file_path in files {
            let dir = file_path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
            let folder = match folders.get(&dir) {
                Some(f) => Arc::clone(f),
                None => {
                    let f = Arc::new(load_folder(&dir, env, &mut diagnostics));
                    folders.insert(dir.clone(), Arc::clone(&f));
                    f
                }
            };
            match ConfigFile::load(&file_path, display(&file_path), env) {
                Ok(file) => {
                    let file = Arc::new(file);
                    let mut parser = Parser { file: &file, diagnostics: &mut diagnostics };
                    if let Some(config) = parser.pipeline() {
                        pipelines.push(LoadedPipeline { config, file: Arc::clone(&file), folder });
                    }
                }
                Err(errors) => errors.into_iter().for_each(|d| diagnostics.push(d)),
            }
        }
    }
    check_unique_names(&pipelines, &mut diagnostics);
    (pipelines, diagnostics)
}

fn collect_pipeline_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for (path, name) in crate::config::paths::visible_entries(dir) {
        let name = name.as_str();
        if path.is_dir() {
            if !SKIPPED_DIRS.contains(&name) {
                collect_pipeline_files(&path, out);
            }
        } else if is_yaml(&path) && name != CONNECTIONS_FILE && name != SHARED_FILE {
            out.push(path);
        }
    }
}

fn load_folder(dir: &Path, env: &dyn Fn(&str) -> Option<String>, diagnostics: &mut Diagnostics) -> Folder {
    let mut folder = Folder {
        dir: dir.to_path_buf(),
        connections: ConnectionsFile::default(),
        named_connections: Arc::default(),
        connections_unreadable: false,
        tables: Tables::default(),
        table_origins: BTreeMap::new(),
    };
    let tables_dir = dir.join("tables");
    if let Ok(entries) = std::fs::read_dir(&tables_dir) {
        let mut csvs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .collect();
        csvs.sort();
        for path in csvs {
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
            match Table::from_csv_path(&name, &path) {
                Ok(t) => {
                    folder.table_origins.insert(name, display(&path));
                    folder.tables.insert(t);
                }
                Err(e) => diagnostics.push(Diagnostic::new("bad-table", e.to_string()).at(Some(Location {
                    file: display(&path),
                    pos: Default::default(),
                    line_text: String::new(),
                }))),
            }
        }
    }
    for (name, is_connections) in [(CONNECTIONS_FILE, true), (SHARED_FILE, false)] {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let file = match ConfigFile::load(&path, display(&path), env) {
            Ok(f) => Arc::new(f),
            Err(errors) => {
                errors.into_iter().for_each(|d| diagnostics.push(d));
                folder.connections_unreadable |= is_connections;
                continue;
            }
        };
        let mut parser = Parser { file: &file, diagnostics };
        if is_connections {
            let parsed = parse_connections(&mut parser);
            folder.named_connections = Arc::new(build_connections(&parsed.file, &parsed.failed, &file, diagnostics));
            folder.connections_unreadable = parsed.unreadable;
            folder.connections = parsed.file;
        } else if let Some(shared) = parser.de::<SharedFile>(&file.value, "", None, "") {
            for (table, config) in shared.tables {
                let pointer = format!("/tables/{}", escape(&table));
                match load_table(&table, &config, dir, &file, &pointer) {
                    Ok(t) => {
                        folder.table_origins.insert(table.clone(), display(&path));
                        folder.tables.insert(t);
                    }
                    Err(e) => {
                        diagnostics.push(Diagnostic::new("bad-table", e).at(file.locate(&pointer, Anchor::Value)))
                    }
                }
            }
        }
    }
    folder
}

fn check_unique_names(pipelines: &[LoadedPipeline], diagnostics: &mut Diagnostics) {
    let mut seen: BTreeMap<&str, &LoadedPipeline> = BTreeMap::new();
    for p in pipelines {
        if let Some(first) = seen.get(p.config.name.as_str()) {
            let hint = format!("`{}` already uses this name; pipeline names must be unique", first.file.display);
            diagnostics.push(
                Diagnostic::new("duplicate-name", format!("duplicate pipeline name `{}`", p.config.name))
                    .with_hint(hint)
                    .at(p.file.locate("/name", Anchor::Value)),
            );
        } else {
            seen.insert(&p.config.name, p);
        }
    }
}
