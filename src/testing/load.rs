//! Reading test files: every test file under the paths given, its pipeline (by path or by name), its
//! fixtures, tables and snapshots, and every reference checked against the compiled pipeline — with
//! every error collected at `file:line:col`, as for pipelines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::components::Components;
use super::fixture;
use super::prepare::{PreparedTest, prepare_test};
use super::spec::{Defaults, TestFile};
use crate::assemble::load::{LoadedPipeline, load_paths_partial};
use crate::assemble::parse::Parser;
use crate::config::diagnostic::{Diagnostic, Diagnostics, suggestion};
use crate::config::file::{Anchor, ConfigFile};
use crate::config::registry::schema_fields;
use crate::graph::plan::compile;

/// A test file, loaded and checked.
pub(crate) struct LoadedTestFile {
    /// The file.
    pub(crate) file: Arc<ConfigFile>,
    /// The pipeline under test, its own tables moved into its folder's (loaded once for all its tests,
    /// and counted together by `--coverage`).
    pub(crate) pipeline: LoadedPipeline,
    /// Its steps: `(id, type)`.
    pub(crate) steps: Vec<(String, &'static str)>,
    /// Its tests, each ready to run.
    pub(crate) tests: Vec<PreparedTest>,
}

/// Test files under `paths`: a file is taken as given; a folder is searched for `tests/` folders (at
/// any depth), whose `*.yaml` files are test files.
pub(crate) fn find_test_files(paths: &[PathBuf], diagnostics: &mut Diagnostics) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = out.len();
            collect(path, path.file_name().is_some_and(|n| n == "tests"), &mut out);
            if out.len() == before {
                diagnostics.push(
                    Diagnostic::new("no-tests", format!("no test files (tests/*.yaml) in `{}`", path.display()))
                        .with_hint("tests live in a `tests/` folder of the client folder; see docs/testing.md"),
                );
            }
        } else if path.exists() {
            out.push(path.clone());
        } else {
            diagnostics.push(Diagnostic::new("io", format!("{} does not exist", crate::config::paths::shown(path))));
        }
    }
    out
}

fn collect(dir: &Path, inside_tests: bool, out: &mut Vec<PathBuf>) {
    for (path, name) in crate::config::paths::visible_entries(dir) {
        let name = name.as_str();
        if path.is_dir() {
            // Snapshots and fixtures sit below `tests/` too: only its own files are tests.
            if !inside_tests && !matches!(name, "data" | "tables" | "out" | "target") {
                collect(&path, name == "tests", out);
            }
        } else if inside_tests && matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            // `weir test` (the current folder): `tests/x.yaml` rather than `./tests/x.yaml`.
            out.push(path.strip_prefix(".").map(Path::to_path_buf).unwrap_or(path));
        }
    }
}

/// Loads one test file, reporting every error into `diagnostics`; `None` when the file or its
/// pipeline cannot be used at all. Under `--update` snapshots, under `--record` cassettes, may be
/// missing (they are about to be written).
pub(crate) fn load_test_file(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    options: super::LoadOptions,
    diagnostics: &mut Diagnostics,
) -> Option<LoadedTestFile> {
    let file = match ConfigFile::load(path, path.display().to_string(), env) {
        Ok(f) => Arc::new(f),
        Err(errors) => {
            errors.into_iter().for_each(|d| diagnostics.push(d));
            return None;
        }
    };
    let mut value = file.value.clone();
    fixture::exact_numbers(&file, &mut value, "");
    let mut parser = Parser { file: &file, diagnostics };
    let Some(root) = value.as_object() else {
        let hint = Some("a test file is a mapping with `pipeline` and `tests`; see docs/testing.md".into());
        parser.error("wrong-type", "a test file must be a mapping".into(), "", Anchor::Value, None, "", hint);
        return None;
    };
    let top = schema_fields::<TestFile>();
    parser.check_keys(root, &top.iter().map(String::as_str).collect::<Vec<_>>(), "", None, "");
    let Some(pipeline_ref) = root.get("pipeline") else {
        let hint = Some("add `pipeline: ../my-pipeline.yaml` (a path, or a pipeline's name)".into());
        parser.error("missing-field", "missing field `pipeline`".into(), "", Anchor::Key, None, "", hint);
        return None;
    };
    let pipeline_ref: String = parser.de(pipeline_ref, "/pipeline", None, "")?;
    let defaults: Defaults = match root.get("defaults") {
        Some(v) => parser.de(v, "/defaults", None, "").unwrap_or_default(),
        None => Defaults::default(),
    };
    let pipeline = resolve_pipeline(&file, &pipeline_ref, env, parser.diagnostics)?;
    let plan = match compile(&pipeline) {
        Ok(plan) => plan,
        Err(d) => {
            d.0.into_iter().for_each(|x| parser.diagnostics.push(x));
            return None;
        }
    };
    let components = Components::of(&plan);
    let pipeline = tables_in_folder(pipeline);
    let Some(tests) = root.get("tests").and_then(Value::as_array) else {
        let hint = Some("add `tests:` with at least one test (`- name: …`)".into());
        let (message, anchor) = match root.get("tests") {
            None => ("missing field `tests`", Anchor::Key),
            Some(_) => ("`tests` must be a list of tests", Anchor::Value),
        };
        let at = if root.contains_key("tests") { "/tests" } else { "" };
        parser.error("missing-field", message.into(), at, anchor, None, "", hint);
        return None;
    };
    let mut prepared = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, test) in tests.iter().enumerate() {
        let pointer = format!("/tests/{i}");
        let Some(case) = parser.de::<super::spec::TestCase>(test, &pointer, None, "") else { continue };
        if let Some(first) = names.insert(case.name.clone(), i) {
            parser.error(
                "duplicate-test",
                format!("test `{}` is already defined (test {})", case.name, first + 1),
                &format!("{pointer}/name"),
                Anchor::Value,
                None,
                "",
                Some("give each test of a file its own name".into()),
            );
        }
        let context = super::components::Context {
            file: &file,
            pipeline: &pipeline,
            components: &components,
            update: options.update,
            record: options.record,
        };
        if let Some(test) = prepare_test(&mut parser, &context, &defaults, case, &pointer) {
            prepared.push(test);
        }
    }
    let steps = components.all.iter().filter(|(_, k, _)| *k == "step").map(|(id, _, t)| (id.clone(), *t)).collect();
    Some(LoadedTestFile { file, pipeline, steps, tests: prepared })
}

/// The pipeline with its own tables loaded into its folder's (its own winning), so that every test
/// compiles against the same tables instead of reading them again. It compiled already: its tables load.
fn tables_in_folder(pipeline: LoadedPipeline) -> LoadedPipeline {
    let mut ignored = Diagnostics::default();
    let tables = pipeline.tables(&mut ignored);
    let mut folder = (*pipeline.folder).clone();
    folder.tables = tables;
    let mut config = pipeline.config;
    config.tables.clear();
    LoadedPipeline { config, file: pipeline.file, folder: Arc::new(folder) }
}

/// The pipeline a test file names: a path relative to the file (ending in `.yaml`/`.yml`), else the
/// `name:` of a pipeline of the folder above `tests/` (or the file's own folder).
fn resolve_pipeline(
    file: &Arc<ConfigFile>,
    reference: &str,
    env: &dyn Fn(&str) -> Option<String>,
    diagnostics: &mut Diagnostics,
) -> Option<LoadedPipeline> {
    let dir = file.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let at = || file.locate("/pipeline", Anchor::Value);
    if reference.ends_with(".yaml") || reference.ends_with(".yml") {
        let path = lexically_normal(&dir.join(reference));
        if !path.is_file() {
            diagnostics.push(
                Diagnostic::new("unknown-pipeline", format!("no pipeline file `{}`", path.display()))
                    .at(at())
                    .with_field("pipeline")
                    .with_hint("the path is relative to the test file"),
            );
            return None;
        }
        let (mut loaded, errors) = load_paths_partial(&[path], env);
        if !errors.is_empty() {
            errors.0.into_iter().for_each(|d| diagnostics.push(d));
            return None;
        }
        return loaded.pop();
    }
    let folder = match dir.parent() {
        Some(parent) if dir.file_name().is_some_and(|n| n == "tests") => {
            if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            }
        }
        _ => &dir,
    };
    let (loaded, errors) = load_paths_partial(&[folder.to_path_buf()], env);
    let names: Vec<String> = loaded.iter().map(|p| p.config.name.clone()).collect();
    match loaded.into_iter().find(|p| p.config.name == reference) {
        Some(p) if errors.is_empty() => Some(p),
        Some(_) => {
            errors.0.into_iter().for_each(|d| diagnostics.push(d));
            None
        }
        None => {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            diagnostics.push(
                Diagnostic::new(
                    "unknown-pipeline",
                    format!("no pipeline named `{reference}` in {}", crate::config::paths::shown(folder)),
                )
                .at(at())
                .with_field("pipeline")
                .with_hint(suggestion(reference, &refs, "pipelines")),
            );
            None
        }
    }
}

/// `path` with `..` after a named folder taken out (`tests/../orders.yaml` is `orders.yaml`), as shown
/// in messages; the file is the same one.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir
                if matches!(out.components().next_back(), Some(std::path::Component::Normal(_))) =>
            {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() { PathBuf::from(".") } else { out }
}
