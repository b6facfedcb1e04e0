//! What a test file says (`tests/*.yaml`, `weir schema --kind test`): the pipeline under test, and per
//! test its inputs, table and id-map overrides, HTTP answers, and what must come out. Only the shape
//! lives here; `load` checks the references and reads the files, `run` runs it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::assemble::pipeline::TableConfig;

/// A test file: the tests of one pipeline.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "the file's shape and schema: `load` reads its parts one by one, to report every error")]
pub(crate) struct TestFile {
    /// The pipeline under test: a path relative to this file (`../orders.yaml`), or the `name:` of a
    /// pipeline in the folder above `tests/`.
    pub(crate) pipeline: String,
    /// What every test of the file starts from; a test's own `tables`, `ids` and `mocks` win (table by
    /// table, key by key, component by component).
    #[serde(default)]
    pub(crate) defaults: Defaults,
    /// The tests, run one after another, each on fresh, empty state (in memory: no file is written).
    pub(crate) tests: Vec<TestCase>,
}

/// Settings shared by the tests of a file.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Defaults {
    /// Tables replacing the pipeline's or the folder's tables of the same name.
    #[serde(default)]
    pub(crate) tables: BTreeMap<String, TableConfig>,
    /// Id-map entries present before the run: record key → names → values (what `ids:` of a sink or
    /// `lookup_id` reads).
    #[serde(default)]
    pub(crate) ids: BTreeMap<String, Map<String, Value>>,
    /// Answers to the HTTP requests of components, by component id.
    #[serde(default)]
    pub(crate) mocks: BTreeMap<String, Vec<MockRule>>,
}

/// One test.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestCase {
    /// The test's name, unique in its file; shown in the output and matched by `--filter`.
    pub(crate) name: String,
    /// Input records. Without any, the pipeline's sources read what they are configured to read (a
    /// file source its file; an HTTP source needs mocks).
    #[serde(default)]
    pub(crate) given: Vec<Given>,
    /// Tables replacing the pipeline's or the folder's tables of the same name, for this test.
    #[serde(default)]
    pub(crate) tables: BTreeMap<String, TableConfig>,
    /// Id-map entries present before the run: record key → names → values.
    #[serde(default)]
    pub(crate) ids: BTreeMap<String, Map<String, Value>>,
    /// Answers to the HTTP requests of components, by component id: the first rule whose `when`
    /// matches a request answers it. A request no rule matches fails the test.
    #[serde(default)]
    pub(crate) mocks: BTreeMap<String, Vec<MockRule>>,
    /// A cassette file (relative to this file, `cassettes/<name>.json`) of HTTP exchanges recorded by
    /// `weir test --record`: the requests of every HTTP component without `mocks` (sinks included) are
    /// answered from it, each by the recorded exchange with the same method, path, query and body, in
    /// order. A request the cassette does not hold, or an exchange left unused, fails the test.
    /// Recording sends the requests to the real API, writes included.
    #[serde(default)]
    pub(crate) cassette: Option<String>,
    /// What must be true after the run.
    #[serde(default)]
    pub(crate) expect: Expect,
}

/// Records given to one component.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Given {
    /// The source or step (by id) that receives the records; default: the pipeline's source. A record
    /// given to a source gets its key from the source's `key:`; given to a step, it has no key unless
    /// the step makes one.
    #[serde(default)]
    pub(crate) to: Option<String>,
    /// The records, written here.
    #[serde(default)]
    pub(crate) rows: Option<Vec<Value>>,
    /// A fixture file with the records, relative to the test file: `.ndjson`/`.jsonl` (one record per
    /// line), `.json` (an array of records, or one record), `.csv` (a header row; every value a string,
    /// as the file source reads CSV).
    #[serde(default)]
    pub(crate) fixture: Option<String>,
}

/// One mocked answer (or answers) and the requests it answers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MockRule {
    /// Which requests this rule answers; every part given must match. Omitted: every request.
    #[serde(default)]
    pub(crate) when: RequestMatch,
    /// The answer; a list gives one answer per matching request in turn, the last one repeating.
    pub(crate) then: Answers,
    /// How many requests this rule must answer in the test; omitted: any number.
    #[serde(default)]
    pub(crate) times: Option<u64>,
}

/// A request pattern.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestMatch {
    /// The method (`GET`, `POST`, …), any case.
    #[serde(default)]
    pub(crate) method: Option<String>,
    /// The URL path: `*` stands for one path segment, `**` for any number of them
    /// (`/V1/orders/*/comments`), or `re:` and a regular expression matched against the whole path.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// Query parameters the request must carry, with these values (others may be present too).
    #[serde(default)]
    pub(crate) query: BTreeMap<String, String>,
    /// A JSON body the request's body must contain: every field given must be there with this value
    /// (fields not given are not compared).
    #[serde(default)]
    pub(crate) body: Option<Value>,
}

/// One answer, or a list of them given in turn.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum Answers {
    // A list first: serde would also read a list as a `MockAnswer` (its fields by position).
    /// One answer per matching request, in order; the last repeats.
    Sequence(Vec<MockAnswer>),
    /// The same answer for every matching request.
    One(MockAnswer),
}

/// What a mock answers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MockAnswer {
    /// The HTTP status. Default 200.
    #[serde(default = "ok_status")]
    pub(crate) status: u16,
    /// Response headers (`Retry-After`, `ETag`, `Link` …).
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// A JSON body (sent with `content-type: application/json`).
    #[serde(default)]
    pub(crate) body: Option<Value>,
    /// A body sent as it is written (instead of `body`).
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// No answer at all: the request times out (its outcome unknown, as when a response is lost).
    #[serde(default)]
    pub(crate) timeout: bool,
}

fn ok_status() -> u16 {
    200
}

/// What must be true after a test's run. Everything omitted is not checked; a run that fails (a
/// fatal error) fails the test unless `error` expects it.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    /// What each sink (by id) received.
    #[serde(default)]
    pub(crate) sinks: BTreeMap<String, RecordsExpectation>,
    /// What each step (by id) passed on.
    #[serde(default)]
    pub(crate) steps: BTreeMap<String, RecordsExpectation>,
    /// Every dead letter of the run, in any order: each entry matches exactly one, and none may be left
    /// over. `[]`: no dead letter at all.
    #[serde(default)]
    pub(crate) dead_letters: Option<Vec<DeadLetterExpectation>>,
    /// The run's totals.
    #[serde(default)]
    pub(crate) counters: Option<CounterExpectation>,
    /// The id map after the run: record key → names → values (what a sink's `capture` recorded, e.g.
    /// the ERP's order number). Names not listed are not compared.
    #[serde(default)]
    pub(crate) ids: BTreeMap<String, Map<String, Value>>,
    /// The run fails with an error matching this regular expression.
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// Records a sink received or a step passed on. The ways of checking combine.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordsExpectation {
    /// Exactly these records, in this order (or paired by `key`). Numbers compare as written: `52.00`
    /// is not `52`, because the receiving system sees the text.
    #[serde(default)]
    pub(crate) records: Option<Vec<Value>>,
    /// Each of these must match a different record received (a mapping matches when every field it
    /// lists matches; fields it leaves out are not compared).
    #[serde(default)]
    pub(crate) contains: Option<Vec<Value>>,
    /// Conditions every record must meet: JSONPath filter expressions on the record as `@`
    /// (`@.quantity >= 0`, `@.lines[0].sku == 'MH01-XS-Black'`).
    #[serde(default)]
    pub(crate) each: Vec<String>,
    /// How many records.
    #[serde(default)]
    pub(crate) count: Option<usize>,
    /// A JSONPath to the field that pairs expected and received records (`$.reference`): order then
    /// does not matter, and differences are reported by that value.
    #[serde(default)]
    pub(crate) key: Option<String>,
    /// A snapshot file (relative to the test file) holding the expected records, one per line, sorted by
    /// record key; `weir test --update` writes it.
    #[serde(default)]
    pub(crate) snapshot: Option<String>,
}

/// One expected dead letter.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeadLetterExpectation {
    /// The component (by id) that rejected the record.
    pub(crate) step: String,
    /// A regular expression the reason must match (searched, not anchored).
    #[serde(default)]
    pub(crate) reason: Option<String>,
    /// The record's key, exactly.
    #[serde(default)]
    pub(crate) key: Option<String>,
}

/// The run's totals over all its inputs.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CounterExpectation {
    /// Inputs read (or given to the source).
    #[serde(default)]
    pub(crate) received: Option<u64>,
    /// Inputs delivered by every sink they reached.
    #[serde(default)]
    pub(crate) delivered: Option<u64>,
    /// Inputs dropped on purpose.
    #[serde(default)]
    pub(crate) filtered: Option<u64>,
    /// Inputs dead-lettered.
    #[serde(default)]
    pub(crate) dead_lettered: Option<u64>,
}
