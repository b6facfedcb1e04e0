//! The examples in the documentation are real: every fenced ```` ```yaml ```` block of `docs/**/*.md` and
//! `README.md` whose first line is a `# weir-doc: …` marker is written to a temporary client folder and
//! loaded and compiled the way `weir validate` does it (`load_paths` + `compile`).
//!
//! - `# weir-doc: pipeline` — a complete pipeline; it must validate.
//! - `# weir-doc: connections` / `# weir-doc: shared` — a `connections.yaml` / `shared.yaml`; it is
//!   loaded next to a minimal pipeline and must validate.
//! - `# weir-doc: test` — a test file for the shipped examples; it is written to `tests/` of a copy of
//!   `pipelines/examples/` and `weir test` runs it: it must pass.
//! - a block fenced as ```` ```yaml invalid ```` — a deliberately broken pipeline; it must fail.
//!
//! The temporary folder holds the example tables (`pipelines/examples/tables/*.csv`), so `sizes` and
//! `warehouses` can be looked up; source files need not exist (a path only has to be a valid glob). The
//! environment is fixed ([`DOC_ENV`]), so `${env:…:-default}` takes its default unless listed there.
//!
//! A `pipeline` block of the cookbook named like a file of `pipelines/examples/` must quote that file
//! verbatim.
//!
//! A ```` ```yaml ```` block under `docs/` that looks like a whole pipeline (top-level `source` and `sinks`)
//! but carries no marker fails the test: every complete example is checked. Fragments stay unmarked.

use std::path::{Path, PathBuf};

use weir::api::{compile, load_paths};

use crate::support::repo;

/// The only variables `${env:…}` and `${secret:…}` see while the examples are checked.
const DOC_ENV: &[(&str, &str)] = &[
    ("MAGENTO_TOKEN", "doc-magento-token"),
    ("ERP_API_KEY", "doc-erp-api-key"),
    ("ERP_HOST", "erp.example.com"),
    ("ERP_COMPANY", "00000000-0000-0000-0000-000000000001"),
    ("COMMERCE_HOST", "shop.example.com"),
    ("COMMERCE_CONSUMER_KEY", "doc-consumer-key"),
    ("COMMERCE_CONSUMER_SECRET", "doc-consumer-secret"),
    ("COMMERCE_ACCESS_TOKEN", "doc-access-token"),
    ("COMMERCE_ACCESS_TOKEN_SECRET", "doc-access-token-secret"),
    ("ERP_TOKEN", "doc-erp-token"),
    ("PIM_KEY", "doc-pim-key"),
    ("LEGACY_PASSWORD", "doc-legacy-password"),
    ("B1_PASSWORD", "doc-b1-password"),
    ("B1_HOST", "b1.example.com"),
    ("B1_COMPANY", "SBODEMOUS"),
    ("B1_USER", "manager"),
    ("COMMERCE_ADMIN_USER", "weir"),
    ("COMMERCE_ADMIN_PASSWORD", "doc-admin-password"),
    ("BC_TENANT", "contoso.onmicrosoft.com"),
    ("BC_CLIENT_ID", "00000000-0000-0000-0000-000000000000"),
    ("BC_CLIENT_SECRET", "doc-client-secret"),
    ("TRYTON_KEY", "doc-tryton-key"),
    ("WEBHOOK_SECRET", "doc-webhook-secret"),
    ("ADOBE_IO_CLIENT_ID", "doc-adobe-io-client"),
    // A real RSA public key (made for these examples; its private half was thrown away): the webhook
    // source reads it when the example is built.
    (
        "COMMERCE_WEBHOOKS_PUBLIC_KEY",
        "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApSVotNpT17duq7n99xjT
u7+q0bBkgTno3m26kw2pP2NcDMerNXHKmN1vCHn5UcvgpYvqN2ZJgl9j4TqAIAU6
ictEIfCA9OPgKDeJ3n9XB2/x4cH4YS0YLSMKSyNeSAlWzcOf3l6fvWS0An6ln2Lm
BhqXYh3TWQAQHGADZtJV+g+HcLrRhBKrsWJ32LTfo8xcB1XmNKJVx2WX+LH+pDO6
MPOx3D/Pm0TYYpG3sS09UCKSWoilhQrb7ocSUnDhfx4Xs/+MfYeJ5pCvSY8KJNKA
fbGtsRbx+TipObgiIgX7JRDa6cl8/wVWg/wsXJC8U1TkueC+voyG3uanQhhyMErI
1wIDAQAB
-----END PUBLIC KEY-----",
    ),
];

const MARKER: &str = "# weir-doc:";

/// One fenced code block.
struct Block {
    /// The Markdown file, relative to the repository.
    file: String,
    /// 1-based number of the block among the file's fenced blocks.
    number: usize,
    /// 1-based line of the opening fence.
    line: usize,
    /// The info string after the fence (`yaml`, `yaml invalid`, `sh` …).
    info: String,
    /// The block's text, ending with a newline.
    text: String,
}

impl Block {
    fn label(&self) -> String {
        format!("{} block {} (line {})", self.file, self.number, self.line)
    }

    fn is_yaml(&self) -> bool {
        self.info.split_whitespace().next() == Some("yaml")
    }

    /// The kind named by a `# weir-doc: KIND` first line.
    fn marker(&self) -> Option<&str> {
        self.text.lines().next()?.trim().strip_prefix(MARKER).map(str::trim)
    }
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// Every fenced block of a Markdown file (backtick or tilde fences, any length, optionally indented).
fn blocks(file: &str, text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(String, Block)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                let fence: String = trimmed.chars().take_while(|&c| c == '`' || c == '~').collect();
                if fence.len() >= 3 && fence.chars().all(|c| c == fence.chars().next().unwrap_or('`')) {
                    let block = Block {
                        file: file.to_string(),
                        number: out.len() + 1,
                        line: i + 1,
                        info: trimmed[fence.len()..].trim().to_string(),
                        text: String::new(),
                    };
                    open = Some((fence, block));
                }
            }
            Some((fence, block)) => {
                let closing = trimmed.trim_end();
                if closing.starts_with(fence.as_str()) && closing.chars().all(|c| fence.starts_with(c)) {
                    if let Some((_, block)) = open.take() {
                        out.push(block);
                    }
                } else {
                    block.text.push_str(line);
                    block.text.push('\n');
                }
            }
        }
    }
    if let Some((_, block)) = open {
        panic!("{}: unclosed code fence", block.label());
    }
    out
}

fn doc_env(name: &str) -> Option<String> {
    DOC_ENV.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_string())
}

const MINIMAL_PIPELINE: &str = "name: doc-minimal
source:
  id: input
  type: file
  path: input.ndjson
sinks:
  - id: out
    type: stdout
";

/// Writes `files` into a fresh client folder (with the example tables) and validates its pipelines.
fn validate(files: &[(&str, &str)]) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let tables = dir.path().join("tables");
    std::fs::create_dir(&tables).map_err(|e| e.to_string())?;
    let examples = repo().join("pipelines/examples/tables");
    for entry in std::fs::read_dir(&examples).map_err(|e| e.to_string())?.filter_map(Result::ok) {
        std::fs::copy(entry.path(), tables.join(entry.file_name())).map_err(|e| e.to_string())?;
    }
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).map_err(|e| e.to_string())?;
    }
    let pipelines = load_paths(&[dir.path().to_path_buf()], &doc_env).map_err(|d| d.to_string())?;
    if pipelines.is_empty() {
        return Err("no pipeline was loaded".into());
    }
    let mut errors = String::new();
    for p in &pipelines {
        if let Err(d) = compile(p) {
            errors.push_str(&d.to_string());
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Runs a documented test file with `weir test` in a copy of the examples' client folder.
fn passes_as_a_test(text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let folder = dir.path().join("examples");
    crate::support::copy_dir(&repo().join("pipelines/examples"), &folder, &["out", ".weir"]);
    std::fs::write(folder.join("tests/documented.yaml"), text).map_err(|e| e.to_string())?;
    let out = crate::support::cli::weir(&["test", "tests/documented.yaml"], &folder);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// A cookbook pipeline quoted from `pipelines/examples/` (same `name:` as a shipped file) must be that
/// file, verbatim after the marker line, so the cookbook cannot drift from what the tests run.
fn same_as_shipped(block: &Block) -> Result<(), String> {
    if !block.file.starts_with("docs/cookbook") {
        return Ok(());
    }
    let Some(name) = block.text.lines().find_map(|l| l.strip_prefix("name: ")) else { return Ok(()) };
    let shipped = repo().join("pipelines/examples").join(format!("{}.yaml", name.trim()));
    let Ok(original) = std::fs::read_to_string(&shipped) else { return Ok(()) };
    let quoted = block.text.split_once('\n').map_or("", |(_, rest)| rest);
    if quoted == original { Ok(()) } else { Err(format!("differs from {}; copy the file again", shipped.display())) }
}

/// True when `text` parses as a mapping with top-level `source` and `sinks`: a whole pipeline.
fn looks_like_pipeline(text: &str) -> bool {
    let Ok(serde_yaml::Value::Mapping(map)) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return false;
    };
    ["source", "sinks"].iter().all(|k| map.contains_key(serde_yaml::Value::String((*k).to_string())))
}

#[test]
fn documented_examples_validate() {
    let root = repo();
    let mut files = vec![root.join("README.md")];
    markdown_files(&root.join("docs"), &mut files);
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in &files {
        let rel = path.strip_prefix(&root).unwrap_or(path).display().to_string();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        for block in blocks(&rel, &text).into_iter().filter(Block::is_yaml) {
            let expect_invalid = block.info.split_whitespace().any(|w| w == "invalid");
            let result = match block.marker() {
                Some("pipeline") => validate(&[("pipeline.yaml", &block.text)]).and_then(|()| same_as_shipped(&block)),
                Some("connections") => validate(&[("connections.yaml", &block.text), ("p.yaml", MINIMAL_PIPELINE)]),
                Some("shared") => validate(&[("shared.yaml", &block.text), ("p.yaml", MINIMAL_PIPELINE)]),
                Some("test") => passes_as_a_test(&block.text),
                Some(other) => Err(format!("unknown marker `{MARKER} {other}`")),
                None if expect_invalid => match validate(&[("pipeline.yaml", &block.text)]) {
                    Ok(()) => Err("marked `invalid` but validates".into()),
                    Err(_) => Ok(()),
                },
                None if rel.starts_with("docs") && looks_like_pipeline(&block.text) => Err(format!(
                    "a complete pipeline without `{MARKER} pipeline` as its first line (or `yaml invalid` fence)"
                )),
                None => continue,
            };
            checked += 1;
            if let Err(e) = result {
                failures.push(format!("{}:\n{e}", block.label()));
            }
        }
    }
    assert!(failures.is_empty(), "{} documentation example(s) fail:\n\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 20, "only {checked} documentation examples found; is the marker still `{MARKER} pipeline`?");
}

#[test]
fn fences_are_parsed() {
    let md = "text\n```yaml\n# weir-doc: pipeline\nname: x\n```\n\n````md\n```yaml\ninner\n```\n````\n~~~yaml invalid\na: 1\n~~~\n";
    let found = blocks("t.md", md);
    assert_eq!(found.len(), 3);
    assert_eq!((found[0].number, found[0].line, found[0].marker()), (1, 2, Some("pipeline")));
    assert_eq!(found[1].info, "md");
    assert!(found[1].text.contains("```yaml"), "a longer fence encloses a shorter one");
    assert_eq!((found[2].info.as_str(), found[2].text.as_str()), ("yaml invalid", "a: 1\n"));
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file: its headings (outside code blocks), with GitHub's `-1`, `-2`
/// suffixes for repeated ones, and explicit `<a name="…">` / `<a id="…">` anchors.
fn anchors(text: &str) -> Vec<String> {
    let explicit = regex::Regex::new(r#"<a (?:name|id)="([^"]+)""#).expect("regex");
    let mut out: Vec<String> = Vec::new();
    for line in prose_lines(text) {
        out.extend(explicit.captures_iter(line).map(|c| c[1].to_string()));
        let Some(heading) = line.strip_prefix('#') else { continue };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(&heading.replace('`', ""));
        let repeats = out
            .iter()
            .filter(|a| **a == base || a.strip_prefix(&format!("{base}-")).is_some_and(|n| n.parse::<u32>().is_ok()))
            .count();
        out.push(if repeats == 0 { base } else { format!("{base}-{repeats}") });
    }
    out
}

/// The lines of a Markdown file outside fenced code blocks.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fence: Option<String> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker: String = trimmed.chars().take_while(|&c| c == '`' || c == '~').collect();
        match &fence {
            None if marker.len() >= 3 => fence = Some(marker),
            None => out.push(line),
            Some(open) if marker.starts_with(open.as_str()) && trimmed.trim_end().len() == marker.len() => fence = None,
            Some(_) => {}
        }
    }
    out
}

/// Relative links (`[text](path#anchor)`) of a Markdown file, outside code blocks and code spans.
fn relative_links(text: &str) -> Vec<String> {
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").expect("regex");
    let code_span = regex::Regex::new(r"`[^`]*`").expect("regex");
    let mut out = Vec::new();
    for line in prose_lines(text) {
        let line = code_span.replace_all(line, "");
        for m in link.captures_iter(&line) {
            let target = &m[1];
            if !target.contains("://") && !target.starts_with("mailto:") {
                out.push(target.to_string());
            }
        }
    }
    out
}

#[test]
fn intra_doc_links_and_anchors_resolve() {
    let root = repo();
    let mut files = vec![root.join("README.md")];
    markdown_files(&root.join("docs"), &mut files);
    let mut broken = Vec::new();
    let mut checked = 0;
    for path in &files {
        let rel = path.strip_prefix(&root).unwrap_or(path).display().to_string();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        for target in relative_links(&text) {
            checked += 1;
            let (file, anchor) = target.split_once('#').map_or((target.as_str(), None), |(f, a)| (f, Some(a)));
            let linked = if file.is_empty() { path.clone() } else { path.parent().unwrap_or(&root).join(file) };
            if !linked.exists() {
                broken.push(format!("{rel}: `{target}`: no file {}", linked.display()));
                continue;
            }
            if let Some(anchor) = anchor.filter(|_| linked.extension().is_some_and(|e| e == "md")) {
                let linked_text = std::fs::read_to_string(&linked).unwrap_or_default();
                if !anchors(&linked_text).iter().any(|a| a == anchor) {
                    broken.push(format!("{rel}: `{target}`: no heading with the anchor `#{anchor}`"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{} broken link(s):\n{}", broken.len(), broken.join("\n"));
    assert!(checked >= 20, "only {checked} links found; is the link pattern right?");
}

#[test]
fn anchors_follow_github() {
    let md = "# Concepts\n## Dead-letter queue\n```\n# not a heading\n```\n## `weir run` options\n## Dead-letter queue\n| <a name=\"x\"></a>`x` |\n";
    assert_eq!(anchors(md), vec!["concepts", "dead-letter-queue", "weir-run-options", "dead-letter-queue-1", "x"]);
    assert_eq!(relative_links("see [a](a.md#x), `[b](b.md)` and [c](https://x.org)\n"), vec!["a.md#x"]);
}

/// The text of the first fenced block of `text` with info string `info` after the line holding `after`.
fn block_after(file: &str, text: &str, after: &str, info: &str) -> String {
    let line = text.lines().position(|l| l.contains(after)).unwrap_or_else(|| panic!("{file}: no `{after}`"));
    blocks(file, text)
        .into_iter()
        .find(|b| b.line > line && b.info == info)
        .unwrap_or_else(|| panic!("{file}: no ```{info} block after `{after}`"))
        .text
}

/// The step examples read `data/stock.csv` as shown in steps.md (header row included), and the `batch`
/// example prints what the page says it prints.
#[test]
fn the_batch_example_runs_on_the_documented_stock_csv() {
    let text = std::fs::read_to_string(repo().join("docs/steps.md")).expect("steps.md");
    let csv = block_after("docs/steps.md", &text, "read `data/stock.csv`", "csv");
    assert!(csv.starts_with("sku,warehouse,qty\n"), "the documented file has its header row: {csv}");
    let pipeline = block_after("docs/steps.md", &text, "## batch", "yaml");
    let expected = block_after("docs/steps.md", &text, "give two", "json");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    std::fs::write(dir.path().join("data/stock.csv"), &csv).expect("write");
    std::fs::write(dir.path().join("p.yaml"), &pipeline).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--quiet", "p.yaml"])
        .current_dir(dir.path())
        .env("WEIR_LOG", "off")
        .output()
        .expect("weir runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let values = |text: &str| -> Vec<serde_json::Value> {
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    };
    assert_eq!(values(&String::from_utf8_lossy(&out.stdout)), values(&expected));
}
