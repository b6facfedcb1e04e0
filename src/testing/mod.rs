//! `weir test`: tests of pipelines kept in the client folder (`tests/*.yaml`). A test gives records to
//! a source or a step, replaces tables and the id map, answers HTTP requests with mocks, and checks
//! what each sink received and each step passed on, the dead letters and the counters. Runs in-process
//! on state in memory: a test run writes no state file, and sends nothing anywhere — every sink is a
//! stand-in unless mocked, and a component that would make a request without mocks (or a cassette)
//! is refused. The one exception is `--record`: the HTTP components a test's cassette answers send
//! to the real API, and their exchanges are written as the cassette.
//!
//! The layers: `spec` (the file's shape and schema), `components` (what the checks work from), `load`
//! and `prepare` (reading and checking),
//! `fixture` (records in files, snapshots), `mock` (answers to requests), `cassette` (recorded HTTP),
//! `capture` and `run` (one test's run), `compare` and `dead_letters` (what failed, record by record),
//! `report` (the output), `coverage` (what no test exercised). `weir diff` runs two versions of a
//! pipeline the same way (`diff`) and pairs what came out (`diff_pairs`).

mod capture;
pub(crate) mod cassette;
pub(crate) mod compare;
pub(crate) mod components;
pub(crate) mod coverage;
mod dead_letters;
pub(crate) mod diff;
pub(crate) mod diff_pairs;
mod fixture;
pub(crate) mod load;
mod mock;
pub(crate) mod prepare;
pub(crate) mod report;
mod run;
pub(crate) mod spec;

use std::path::PathBuf;

use crate::config::diagnostic::Diagnostics;
pub(crate) use load::LoadedTestFile;
pub(crate) use run::TestOutcome;

/// The JSON Schema of test files.
pub fn test_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<spec::TestFile>().to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$id".into(), serde_json::Value::String("https://weir.dev/schema/test.schema.json".into()));
        obj.insert("title".into(), serde_json::Value::String("Weir test file".into()));
    }
    crate::assemble::schema_editor::for_editors(&mut schema);
    schema
}

/// How test files are read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LoadOptions {
    /// `--update`: snapshots are about to be written; they need not exist.
    pub(crate) update: bool,
    /// `--record`: cassettes are about to be recorded; they need not exist.
    pub(crate) record: bool,
}

/// Loads every test file under `paths`; every error of every file, or the files.
pub(crate) fn load_all(
    paths: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
    options: LoadOptions,
) -> Result<Vec<LoadedTestFile>, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let files = load::find_test_files(paths, &mut diagnostics);
    let loaded: Vec<LoadedTestFile> =
        files.iter().filter_map(|f| load::load_test_file(f, env, options, &mut diagnostics)).collect();
    if diagnostics.is_empty() { Ok(loaded) } else { Err(diagnostics) }
}

/// Runs the tests of `files` whose names contain `filter` (all when `None`), one after another on one
/// runtime, telling `each` about every test as it ends. Returns the outcomes by file, and how many
/// tests the filter left out.
pub(crate) fn run_all(
    files: &[LoadedTestFile],
    filter: Option<&str>,
    runtime: &tokio::runtime::Runtime,
    each: &mut dyn FnMut(&LoadedTestFile, &TestOutcome),
) -> (Vec<Vec<TestOutcome>>, usize) {
    let mut filtered_out = 0;
    let mut all = Vec::new();
    for file in files {
        let mut outcomes = Vec::new();
        for test in &file.tests {
            if filter.is_some_and(|f| !test.name.contains(f)) {
                filtered_out += 1;
                continue;
            }
            let outcome = run::run_test(file, test, runtime);
            each(file, &outcome);
            outcomes.push(outcome);
        }
        all.push(outcomes);
    }
    (all, filtered_out)
}

/// Writes every cassette recorded in `outcomes` (`weir test --record`); the files written and how many
/// exchanges each holds.
pub(crate) fn write_cassettes(outcomes: &[Vec<TestOutcome>]) -> std::io::Result<Vec<(PathBuf, usize)>> {
    let mut written = Vec::new();
    for (path, exchanges) in outcomes.iter().flatten().filter_map(|o| o.recorded.as_ref()) {
        cassette::write(path, exchanges)?;
        written.push((path.clone(), exchanges.len()));
    }
    Ok(written)
}

/// Writes every snapshot of `outcomes` (`weir test --update`); the files written.
pub(crate) fn write_snapshots(outcomes: &[Vec<TestOutcome>]) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for outcome in outcomes.iter().flatten() {
        for (path, records) in &outcome.snapshots {
            fixture::write_snapshot(path, records)?;
            written.push(path.clone());
        }
    }
    Ok(written)
}
