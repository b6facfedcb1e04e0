//! The layers of the crate, checked from the code: a module may name (`crate::…`) only modules of its
//! own layer or of a layer beneath it. The layers, bottom up, are those of `docs/architecture.md`:
//! building blocks, expressions/tables/state, the core every component uses, the components, assembly,
//! the runtime, the test harness, the CLI and the public API (`src/main.rs` only calls `api::cli_main`; `lib.rs` only
//! declares modules).
//!
//! The crate was reshaped into these layers (issue 8); [`KNOWN_UPWARD`] lists references allowed to
//! run upwards, and it is empty. The test fails on any upward reference not listed, and on a listed
//! one that is gone.
//! Unit tests inside `src/` may use anything and are not read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Module path prefixes and their layer; the longest matching prefix decides.
const LAYERS: &[(&str, u8)] = &[
    // 0: building blocks
    ("config", 0),
    ("fault", 0),
    ("exact_json", 0),
    ("clock", 0),
    ("csv_text", 0),
    ("stdout", 0),
    // 1: expressions, tables, the state store, and telemetry (metrics read the state store at scrape time)
    ("expr", 1),
    ("tables", 1),
    ("state", 1),
    ("telemetry", 1),
    // 2: what every component uses
    ("kernel", 2),
    // 3: the components
    ("sources", 3),
    ("transforms", 3),
    ("sinks", 3),
    ("connectors", 3),
    // 4: assembly: pipeline files into component configs, the graph, the plan
    ("assemble", 4),
    ("graph", 4),
    // 5: the runtime
    ("runtime", 5),
    // 6: `weir test`, which runs pipelines under its own hooks; `weir serve`, which runs them under
    // their triggers
    ("testing", 6),
    ("serve", 6),
    // 7: the command line, and the public API (`api`, which re-exports from every layer)
    ("cli", 7),
    ("api", 7),
    ("sim", 7),
];

/// Upward references in today's tree, as `from -> to` module paths (the referenced module as far as
/// [`LAYERS`] resolves it). Remove a line when its reference goes; never add one.
const KNOWN_UPWARD: &[&str] = &[];

fn layer(module: &str) -> Option<(u8, &'static str)> {
    LAYERS
        .iter()
        .filter(|(prefix, _)| module == *prefix || module.starts_with(&format!("{prefix}::")))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(prefix, layer)| (*layer, *prefix))
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|p| *p != "mod").collect();
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its unit tests.
fn code_of(text: &str) -> String {
    let cut = text.find("#[cfg(test)]\nmod ").unwrap_or(text.len());
    text[..cut]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split(" // ").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b…` path named in `code` (`use crate::{a, b::c}` included), as module paths.
fn references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if rest.starts_with('{') {
            let end = rest.find('}').unwrap_or(rest.len());
            for part in rest[1..end].split(',') {
                let path: String =
                    part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
                if !path.is_empty() {
                    found.insert(path.trim_end_matches(':').to_string());
                }
            }
            continue;
        }
        let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
        found.insert(path.trim_end_matches(':').to_string());
    }
    found
}

#[test]
fn modules_name_only_their_own_layer_or_those_beneath() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut upward = BTreeSet::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name == "tests.rs" || name.ends_with("_tests.rs") || name == "testing.rs" {
            continue;
        }
        let from = module_of(&src, file);
        let Some((from_layer, _)) = layer(&from) else { continue };
        let text = std::fs::read_to_string(file).expect("readable");
        for target in references(&code_of(&text)) {
            if let Some((to_layer, to)) = layer(&target)
                && to_layer > from_layer
            {
                upward.insert(format!("{from} -> {to}"));
            }
        }
    }
    let known: BTreeSet<String> = KNOWN_UPWARD.iter().map(|s| s.to_string()).collect();
    let new: Vec<&String> = upward.difference(&known).collect();
    let gone: Vec<&String> = known.difference(&upward).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "upward references added (move the code down, or the thing it needs down):\n  {}\n\
         listed references that are gone (remove them from KNOWN_UPWARD):\n  {}",
        new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
        gone.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
    );
}

#[test]
fn the_reference_reader_finds_paths_in_every_form() {
    let code = "use crate::a::b::C;\nuse crate::{x::y, z};\nlet v = crate::m::f(1);";
    let found: Vec<String> = references(code).into_iter().collect();
    assert_eq!(found, ["a::b::C", "m::f", "x::y", "z"]);
    assert_eq!(layer("kernel::projection::text").map(|l| l.0), Some(2));
    assert_eq!(layer("runtime::executor").map(|l| l.0), Some(5));
    assert_eq!(layer("config::diagnostic").map(|l| l.0), Some(0));
    assert_eq!(layer("assemble::pipeline::PipelineConfig").map(|l| l.0), Some(4));
    assert_eq!(layer("testing::run").map(|l| l.0), Some(6));
    assert_eq!(layer("api").map(|l| l.0), Some(7));
}
