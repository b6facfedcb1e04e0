//! Running one test: the pipeline compiled with the test's tables, its sinks replaced by stand-ins
//! (or kept and answered by mocks or a cassette), state in memory with the test's id map, the given
//! records injected where the test says, then every expectation checked against what the run saw.
//! Under `--record`, the HTTP components a cassette answers send for real and their exchanges are kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::capture::{AcceptingSink, Recorder, StepWays};
use super::cassette::{CassetteUse, Exchange, Recording, Replaying};
use super::compare::{Received, check_records};
use super::load::LoadedTestFile;
use super::mock::ComponentMocks;
use super::prepare::PreparedTest;
use crate::assemble::load::LoadedPipeline;
use crate::graph::plan::{DeadLetterTarget, Plan, compile_with};
use crate::kernel::mock::{RequestHook, RequestMock};
use crate::kernel::stats::RunSummary;
use crate::runtime::executor::{Execution, RunOptions};
use crate::runtime::replay::Replay;
use crate::state::sqlite::SqliteStore;
use crate::state::{DeadLetterEntry, StateStore, StoredDeadLetter};

/// A test that runs longer is stopped and fails (a mocked API paging forever, a step waiting on
/// nothing).
pub(crate) const TEST_DEADLINE: Duration = Duration::from_secs(60);

/// How one test went.
#[derive(Debug)]
pub(crate) struct TestOutcome {
    /// The test's name.
    pub(crate) name: String,
    /// Every expectation that did not hold, as printed.
    pub(crate) failures: Vec<String>,
    /// How long it took.
    pub(crate) duration: Duration,
    /// Which ways each step went.
    pub(crate) ways: std::collections::BTreeMap<String, StepWays>,
    /// Snapshot files and what they should hold now (`--update` writes them).
    pub(crate) snapshots: Vec<(PathBuf, Vec<Received>)>,
    /// The cassette recorded by this run (`--record`), to be written.
    pub(crate) recorded: Option<(PathBuf, Vec<Exchange>)>,
}

/// The pipeline with the test's tables in place of the same-named ones.
fn with_tables(pipeline: &LoadedPipeline, test: &PreparedTest) -> LoadedPipeline {
    let mut folder = (*pipeline.folder).clone();
    let mut config = pipeline.config.clone();
    for table in &test.tables {
        config.tables.remove(table.name());
        folder.tables.insert_shared(Arc::clone(table));
    }
    LoadedPipeline { config, file: Arc::clone(&pipeline.file), folder: Arc::new(folder) }
}

/// The given records as entries injected at their components (a replay of made-up dead letters).
fn injection(pipeline: &str, given: &[(String, Vec<Value>)]) -> Option<Arc<Replay>> {
    if given.is_empty() {
        return None;
    }
    let mut entries = Vec::new();
    for (component, records) in given {
        for record in records {
            let entry = DeadLetterEntry {
                time: String::new(),
                pipeline: pipeline.to_string(),
                step: component.clone(),
                key: None,
                error: String::new(),
                attempts: 0,
                record: record.clone(),
                parent: None,
            };
            entries.push(StoredDeadLetter { id: entries.len() as i64, run_id: None, entry });
        }
    }
    Some(Arc::new(Replay { entries, whole_input: true }))
}

/// What a sandboxed run saw.
pub(crate) struct Sandboxed {
    /// What each sink received and each step passed on.
    pub(crate) recorder: Arc<Recorder>,
    /// The run's summary.
    pub(crate) summary: RunSummary,
    /// True when the run was stopped after [`TEST_DEADLINE`].
    pub(crate) timed_out: bool,
}

/// Runs `plan` as a test does: every sink but those `kept` replaced by a stand-in, dead letters and
/// checkpoints in `state` (in memory), the `given` records injected at their components (the sources
/// read their input when none are given), stopped after [`TEST_DEADLINE`].
pub(crate) fn run_sandboxed(
    mut plan: Plan,
    state: &Arc<dyn StateStore>,
    given: &[(String, Vec<Value>)],
    kept: &dyn Fn(&str) -> bool,
    runtime: &tokio::runtime::Runtime,
) -> Sandboxed {
    stand_in(&mut plan, kept);
    let recorder = Arc::new(Recorder::default());
    let stop = Arc::new(AtomicBool::new(false));
    let options = RunOptions {
        stop: Arc::clone(&stop),
        state: Some(Arc::clone(state)),
        replay: injection(&plan.name, given),
        tap: Some(Arc::clone(&recorder) as Arc<dyn crate::kernel::tap::Tap>),
        ..RunOptions::default()
    };
    let (summary, timed_out) = runtime.block_on(async move {
        let mut wait = Box::pin(Execution::start(plan, options).wait());
        match tokio::time::timeout(TEST_DEADLINE, &mut wait).await {
            Ok(summary) => (summary, false),
            Err(_) => {
                stop.store(true, Ordering::SeqCst);
                (wait.await, true)
            }
        }
    });
    Sandboxed { recorder, summary, timed_out }
}

/// A state store in memory, for a run that must write no state file.
pub(crate) fn in_memory_state() -> Result<Arc<dyn StateStore>, String> {
    let store = SqliteStore::open_in_memory().map_err(|e| format!("cannot open the in-memory state: {e}"))?;
    Ok(Arc::new(store))
}

/// Runs `test` of `file` on `runtime`.
pub(crate) fn run_test(file: &LoadedTestFile, test: &PreparedTest, runtime: &tokio::runtime::Runtime) -> TestOutcome {
    let started = Instant::now();
    let mut outcome = TestOutcome {
        name: test.name.clone(),
        failures: Vec::new(),
        duration: Duration::ZERO,
        ways: Default::default(),
        snapshots: Vec::new(),
        recorded: None,
    };
    if let Err(e) = run_checked(file, test, runtime, &mut outcome) {
        outcome.failures.push(e);
    }
    outcome.duration = started.elapsed();
    outcome
}

fn run_checked(
    file: &LoadedTestFile,
    test: &PreparedTest,
    runtime: &tokio::runtime::Runtime,
    outcome: &mut TestOutcome,
) -> Result<(), String> {
    let pipeline = with_tables(&file.pipeline, test);
    let mocks: Vec<Arc<ComponentMocks>> = test
        .mocks
        .iter()
        .map(|(id, rules)| Arc::new(ComponentMocks::new(id.clone(), rules.iter().map(|r| r.fresh()).collect())))
        .collect();
    let mut by_id: std::collections::BTreeMap<String, RequestHook> =
        mocks.iter().map(|m| (m.component.clone(), RequestHook::Mock(Arc::clone(m) as Arc<dyn RequestMock>))).collect();
    let cassette = test.cassette.as_ref().map(Cassette::of);
    if let (Some(cassette), Some(used)) = (&cassette, &test.cassette) {
        by_id.extend(used.components.iter().map(|id| (id.clone(), cassette.hook(id))));
    }
    let plan = compile_with(&pipeline, &by_id)
        .map_err(|d| format!("the pipeline does not compile with this test's tables:\n{d}"))?;
    let state = in_memory_state()?;
    for (key, names) in &test.ids {
        for (name, value) in names {
            state.put_id(key, name, value).map_err(|e| format!("cannot set the id map: {e}"))?;
        }
    }
    let name = plan.name.clone();
    let Sandboxed { recorder, summary, timed_out } =
        run_sandboxed(plan, &state, &test.given, &|id| kept_sink(test, id), runtime);
    if timed_out {
        outcome.failures.push(format!("the run was stopped after {} s", TEST_DEADLINE.as_secs()));
    }
    outcome.ways = recorder.ways();
    for mock in &mocks {
        outcome.failures.extend(mock.problems());
    }
    match (cassette, &test.cassette) {
        (Some(Cassette::Replay(replay)), _) => outcome.failures.extend(replay.problems()),
        (Some(Cassette::Record(recording)), Some(used)) => {
            outcome.recorded = Some((used.path.clone(), recording.exchanges()));
        }
        _ => {}
    }
    match (&summary.error, &test.expect.error) {
        (Some(error), Some(want)) if !want.is_match(error) => {
            outcome.failures.push(format!("the run failed with `{error}`, which does not match /{want}/"))
        }
        (Some(error), None) => outcome.failures.push(format!("the run failed: {error}")),
        (None, Some(want)) => outcome.failures.push(format!("expected the run to fail with /{want}/; it succeeded")),
        _ => {}
    }
    for (id, checks) in &test.expect.sinks {
        let got = recorder.sink_records(id);
        outcome.failures.extend(check_records(&format!("sink `{id}`"), checks, &got));
        if let Some(snapshot) = &checks.snapshot {
            outcome.snapshots.push((snapshot.path.clone(), got));
        }
    }
    for (id, checks) in &test.expect.steps {
        let got = recorder.step_records(id);
        outcome.failures.extend(check_records(&format!("step `{id}`"), checks, &got));
        if let Some(snapshot) = &checks.snapshot {
            outcome.snapshots.push((snapshot.path.clone(), got));
        }
    }
    if let Some(want) = &test.expect.dead_letters {
        let got = state.dead_letters(Some(&name)).map_err(|e| format!("cannot read the dead letters: {e}"))?;
        outcome.failures.extend(super::dead_letters::check(want, &got));
    }
    for (key, names) in &test.expect.ids {
        let got = state.ids(key).map_err(|e| format!("cannot read the id map: {e}"))?;
        for (name, want) in names {
            match got.get(name) {
                Some(value) if value == want => {}
                Some(value) => outcome.failures.push(format!(
                    "ids: `{key}`.{name}: expected {}, got {}",
                    super::compare::shown(want),
                    super::compare::shown(value)
                )),
                None => outcome
                    .failures
                    .push(format!("ids: `{key}`.{name}: expected {}, missing", super::compare::shown(want))),
            }
        }
    }
    if let Some(want) = &test.expect.counters {
        let got = &summary.records;
        for (what, want, got) in [
            ("received", want.received, got.received),
            ("delivered", want.delivered, got.delivered),
            ("filtered", want.filtered, got.filtered),
            ("dead_lettered", want.dead_lettered, got.dead_lettered),
        ] {
            if let Some(want) = want.filter(|w| *w != got) {
                outcome.failures.push(format!("counters: {what}: expected {want}, got {got}"));
            }
        }
    }
    Ok(())
}

/// True for a sink the test answers (its mocks, or its cassette): it runs for real against them,
/// instead of being a stand-in.
fn kept_sink(test: &PreparedTest, id: &str) -> bool {
    test.mocks.contains_key(id) || test.cassette.as_ref().is_some_and(|c| c.components.iter().any(|c| c == id))
}

/// A test's cassette in its run: being replayed, or being recorded.
enum Cassette {
    Replay(Arc<Replaying>),
    Record(Arc<Recording>),
}

impl Cassette {
    fn of(used: &CassetteUse) -> Self {
        match &used.exchanges {
            Some(exchanges) => Self::Replay(Arc::new(Replaying::new(used.shown.clone(), exchanges.clone()))),
            None => Self::Record(Arc::default()),
        }
    }

    /// What answers (or records) the requests of component `id`.
    fn hook(&self, id: &str) -> RequestHook {
        match self {
            Self::Replay(replay) => RequestHook::Mock(replay.mock(id)),
            Self::Record(recording) => RequestHook::Record(recording.recorder(id)),
        }
    }
}

/// Replaces every sink but those `kept` (mocked) and those that only write into the state store (the
/// test's, in memory) by one that takes everything and writes nothing, and sends dead letters to the
/// run's (in-memory) state store whatever the pipeline says.
fn stand_in(plan: &mut Plan, kept: &dyn Fn(&str) -> bool) {
    for built in &mut plan.sinks {
        if !kept(&built.id) && !built.sink.writes_only_state() {
            built.sink = Box::new(AcceptingSink);
        }
    }
    plan.dead_letter = DeadLetterTarget::Store { fallback: PathBuf::new() };
}
