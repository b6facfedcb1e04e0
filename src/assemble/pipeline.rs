//! The typed shape of a pipeline file, and of the folder-level files beside it. These types are the
//! single source of the JSON Schema in `schema/`; the loader fills them from positioned YAML.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::file::ConfigFile;
use crate::config::registry::Registry;
use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;
use crate::transforms::StepConfig;

/// Where a component was written: its file and JSON Pointer, for errors found after parsing.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The file.
    pub(crate) file: Arc<ConfigFile>,
    /// JSON Pointer of the component within the file (`/steps/2`).
    pub(crate) pointer: String,
}

/// One pipeline: its sources, steps, and sinks.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields, title = "Weir pipeline", transform = one_of_source_or_sources)]
pub struct PipelineConfig {
    /// Unique name of the pipeline (used in logs, the dead-letter output and run history).
    pub name: String,
    /// What the pipeline is for.
    #[serde(default)]
    #[expect(dead_code, reason = "a key for the people reading the file: accepted and in the schema, never read")]
    pub(crate) description: Option<String>,
    /// When `weir serve` runs the pipeline: `{ every: 5m }`, or `{ cron: "0 2 * * *", timezone:
    /// Europe/Berlin }`, with `missed` for runs due while the engine was down. `weir run` ignores it.
    #[serde(default)]
    pub(crate) schedule: Option<crate::config::schedule::ScheduleConfig>,
    /// Where records come from, when there are several (e.g. the two sides of a `reconcile`): each
    /// with its own `id`, named by the `inputs` of the steps that read it (the first step reads the
    /// first source by default). Write `source` or `sources`, not both.
    // Read from `source` (one) or `sources` (a list); `source` is added to the schema by
    // `one_of_source_or_sources`. Sources that failed to parse are missing here (their errors are
    // already reported).
    #[serde(default)]
    #[schemars(schema_with = "sources_schema")]
    pub(crate) sources: Vec<SourceSpec>,
    /// Processing steps. They run in file order unless a step names its `inputs`.
    #[serde(default)]
    pub(crate) steps: Vec<StepSpec>,
    /// Where records go. A sink without `inputs` takes the output of the last step.
    pub(crate) sinks: Vec<SinkSpec>,
    /// Where records that fail a step are written (default `.weir/dead-letter/<name>.ndjson` in the
    /// pipeline's folder).
    #[serde(default)]
    pub(crate) dead_letter: Option<DeadLetterConfig>,
    /// Lookup tables local to this pipeline (in addition to the folder's `tables/*.csv`).
    #[serde(default)]
    pub(crate) tables: BTreeMap<String, TableConfig>,
    /// How long the state store keeps this pipeline's audit log (`weir trace`) and run history
    /// (`weir runs`). Pruned after every run; `weir state compact` gives the space back to the disk.
    #[serde(default)]
    pub(crate) retention: crate::state::RetentionConfig,
    /// Runtime tuning.
    #[serde(default)]
    pub(crate) runtime: RuntimeSettings,
    /// Ids of steps and sinks that failed to parse (their errors are already reported); later checks
    /// skip what they would make look wrong, so that every other error still surfaces.
    #[schemars(skip)]
    pub(crate) unparsed: Vec<String>,
}

/// Where dead-lettered records are written.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeadLetterConfig {
    /// `state` (the default): the state store's dead-letter queue, listed and replayed with
    /// `weir dlq`. Leave out when `path` is set.
    #[serde(default)]
    pub(crate) store: Option<DeadLetterStore>,
    /// An NDJSON file instead of the state store, relative to the pipeline's folder; one entry per line
    /// with the pipeline, step, key, error, attempts, time and the record as it entered the failing
    /// step. Entries written there cannot be replayed with `weir dlq replay`.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// Largest record (its JSON text, in bytes) an entry stores whole; a bigger one is stored
    /// truncated — its first KiB, its size, its key and the error, which names its source position —
    /// so that one huge record cannot fail every run. Default 16 MiB.
    #[serde(default)]
    pub(crate) max_record_size: Option<usize>,
}

pub(crate) use crate::kernel::dead_letter::DEFAULT_MAX_DEAD_LETTER_RECORD;

/// Stores that can hold dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeadLetterStore {
    /// The state store (`.weir/state.db` by default).
    State,
}

/// A lookup table: a CSV file (with a header row) or inline rows.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum TableConfig {
    /// Path of a CSV file with a header row, relative to the pipeline's folder.
    File(String),
    /// A CSV file with options: `{ path: tables/x.csv, delimiter: ";" }`.
    Csv(CsvTableConfig),
    /// Inline rows; each row maps column names to values.
    Rows(Vec<Map<String, Value>>),
}

/// A CSV table file with options.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CsvTableConfig {
    /// Path of a CSV file with a header row, relative to the pipeline's folder.
    pub(crate) path: String,
    /// Field delimiter (one ASCII character). Default: `;` or a tab when the header row holds one of
    /// them and no comma, else `,`.
    #[serde(default)]
    pub(crate) delimiter: Option<char>,
}

fn default_batch_size() -> usize {
    // Measured: 256 × 4 keeps peak RSS of the canonical benchmark near 75 MB at the same throughput as
    // 1024 × 4 (180 MB); see docs/performance.md.
    256
}

fn default_channel_capacity() -> usize {
    4
}

fn default_batch_bytes() -> usize {
    // Large enough that records of a few KiB still travel 256 at a time (the canonical benchmark's
    // batches stay whole); small enough that records of several MiB each travel one or two at a time.
    1 << 20
}

/// Runtime tuning of one pipeline.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuntimeSettings {
    /// Largest number of records moved between components at once.
    #[serde(default = "default_batch_size")]
    pub(crate) batch_size: usize,
    /// Batches buffered between two components before the upstream one waits (backpressure).
    #[serde(default = "default_channel_capacity")]
    pub(crate) channel_capacity: usize,
    /// Largest input size, in bytes, of the records moved at once: a batch closes at `batch_size`
    /// records or at this many bytes of input, whichever comes first (a record larger than this travels
    /// alone). With `channel_capacity` it bounds the memory records in flight take, whatever their
    /// size. Default 1048576 (1 MiB).
    #[serde(default = "default_batch_bytes")]
    pub(crate) batch_bytes: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            batch_size: default_batch_size(),
            channel_capacity: default_channel_capacity(),
            batch_bytes: default_batch_bytes(),
        }
    }
}

/// Keys every source has besides its type's own.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceCommon {
    /// Unique id of the source within the pipeline.
    pub(crate) id: String,
    /// Template giving each record a stable key (e.g. `order:{{ record.increment_id }}`), used in
    /// dead-letter entries, dedupe and the id map; common to every source (see
    /// [concepts.md](concepts.md#records)).
    #[serde(default)]
    pub(crate) key: Option<String>,
}

pub(crate) use crate::kernel::record::OnError;

/// Keys every step has besides its type's own.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepCommon {
    /// Unique id of the step within the pipeline.
    pub(crate) id: String,
    /// Ids of the components whose output this step reads (default: the step before it, or the
    /// source for the first step). Several ids merge their outputs (fan-in).
    #[serde(default)]
    pub(crate) inputs: Option<Vec<String>>,
    /// What to do with a record this step cannot process: `dead_letter` (default), `drop`, or `fail`.
    #[serde(default)]
    pub(crate) on_error: OnError,
}

/// Keys every sink has besides its type's own.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SinkCommon {
    /// Unique id of the sink within the pipeline.
    pub(crate) id: String,
    /// Ids of the components whose output this sink writes (default: the last step, or the source).
    #[serde(default)]
    pub(crate) inputs: Option<Vec<String>>,
}

/// A source with its common keys.
#[derive(Debug, Clone)]
pub(crate) struct SourceSpec {
    /// Common keys.
    pub(crate) common: SourceCommon,
    /// The type-specific config.
    pub(crate) config: SourceConfig,
    /// Where it was written.
    pub(crate) origin: Origin,
}

/// A step with its common keys.
#[derive(Debug, Clone)]
pub(crate) struct StepSpec {
    /// Common keys.
    pub(crate) common: StepCommon,
    /// The type-specific config.
    pub(crate) config: StepConfig,
    /// Where it was written.
    pub(crate) origin: Origin,
}

/// A sink with its common keys.
#[derive(Debug, Clone)]
pub(crate) struct SinkSpec {
    /// Common keys.
    pub(crate) common: SinkCommon,
    /// The type-specific config.
    pub(crate) config: SinkConfig,
    /// Where it was written.
    pub(crate) origin: Origin,
}

/// `{ "type": "<name>", …common keys, …the type's keys }` for every type of a registry, as `oneOf`.
pub(super) fn component_schema<R: Registry, C: JsonSchema>(generator: &mut SchemaGenerator, what: &str) -> Schema {
    let common = generator.root_schema_for::<C>();
    let common_props = common.get("properties").cloned().unwrap_or_default();
    let common_required = common.get("required").cloned().unwrap_or(Value::Array(Vec::new()));
    let mut variants = Vec::new();
    for (type_name, reference) in R::variant_schemas(generator) {
        let def_name =
            reference.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()).map(str::to_string);
        let mut body = match &def_name {
            Some(name) => generator.definitions_mut().remove(name).unwrap_or_default(),
            None => reference.as_value().clone(),
        };
        let Some(obj) = body.as_object_mut() else { continue };
        let props = obj.entry("properties").or_insert_with(|| Value::Object(Map::new()));
        if let Some(props) = props.as_object_mut() {
            for (k, v) in common_props.as_object().into_iter().flatten() {
                props.insert(k.clone(), v.clone());
            }
            props.insert(
                "type".into(),
                json_schema!({"const": type_name, "description": format!("The {what} type.")}).to_value(),
            );
        }
        let mut required: Vec<Value> = common_required.as_array().cloned().unwrap_or_default();
        required.push(Value::String("type".into()));
        if let Some(Value::Array(own)) = obj.get("required") {
            required.extend(own.iter().cloned());
        }
        obj.insert("required".into(), Value::Array(required));
        obj.insert("additionalProperties".into(), Value::Bool(false));
        obj.insert("title".into(), Value::String(format!("{type_name} {what}")));
        let name = format!("{}_{}", what, type_name);
        generator.definitions_mut().insert(name.clone(), body);
        variants.push(json_schema!({"$ref": format!("#/$defs/{name}")}).to_value());
    }
    // Components are named by an `id` key; connections by their key in a map.
    let has_id = common_props.get("id").is_some();
    let (required, keys) = if has_id { (vec!["id", "type"], "`id`, `type`") } else { (vec!["type"], "`type`") };
    json_schema!({
        "description": format!("A {what}: {keys}, and the keys of that type."),
        "type": "object",
        "required": required,
        "properties": { "type": { "enum": R::TYPES, "description": format!("The {what} type.") } },
        "oneOf": variants,
    })
}

fn sources_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<SourceSpec>();
    json_schema!({ "type": "array", "minItems": 1, "items": item })
}

/// Adds `source` (one source, the usual case) beside `sources`: a pipeline has one of the two keys,
/// not both and not neither.
fn one_of_source_or_sources(schema: &mut Schema) {
    let source = serde_json::json!({ "$ref": "#/$defs/Source", "description": "Where records come from." });
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        // Before `sources`, in the order a pipeline is usually written.
        let rest = std::mem::take(properties);
        for (key, value) in rest {
            if key == "sources" {
                properties.insert("source".into(), source.clone());
            }
            properties.insert(key, value);
        }
    }
    // `if`/`then`/`else` rather than `oneOf`: editors report the failing branch of a `oneOf` even
    // when the other holds, which put a "missing `sources`" on every pipeline with other mistakes.
    schema.insert("if".into(), serde_json::json!({ "required": ["sources"] }));
    schema.insert("then".into(), serde_json::json!({ "not": { "required": ["source"] } }));
    schema.insert("else".into(), serde_json::json!({ "required": ["source"] }));
}

impl JsonSchema for SourceSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Source".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        component_schema::<SourceConfig, SourceCommon>(generator, "source")
    }
}

impl JsonSchema for StepSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Step".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        component_schema::<StepConfig, StepCommon>(generator, "step")
    }
}

impl JsonSchema for SinkSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Sink".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        component_schema::<SinkConfig, SinkCommon>(generator, "sink")
    }
}
