//! `weir init DIR`: scaffolds a client folder — connections, shared tables, a lookup table, sample
//! input, one pipeline, and a `.gitignore` that keeps state and outputs out of git. It never
//! overwrites a file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

/// The files of a new client folder, relative to it.
const FILES: &[(&str, &str)] = &[
    (
        ".gitignore",
        "# Weir's state (checkpoints, dead letters, run history) and the pipelines' outputs belong to the
# machine that runs them, not to git.
.weir/
out/
",
    ),
    (
        "connections.yaml",
        "# Named HTTP endpoints and request budgets (see docs/configuration.md#connectionsyaml).
# Secrets are never written here: use ${secret:NAME} and set NAME in the environment.
connections:
  erp:
    type: http
    base_url: \"${env:ERP_URL:-https://erp.example.com/api}\"
    timeout: 30s
",
    ),
    (
        "shared.yaml",
        "# Tables every pipeline of this folder sees, besides tables/*.csv.
tables:
  countries:
    - { iso2: US, erp_country: USA }
    - { iso2: DE, erp_country: DEU }
",
    ),
    ("tables/sizes.csv", "commerce_size,erp_size\nS,SM\nM,MD\nL,LG\n"),
    (
        "data/orders.ndjson",
        "{\"id\":1,\"size\":\"S\",\"country\":\"US\"}
{\"id\":2,\"size\":\"M\",\"country\":\"DE\"}
{\"id\":3,\"size\":\"L\",\"country\":\"US\"}
",
    ),
    (
        "orders.yaml",
        "# A pipeline: read the sample orders, map them with the folder's tables, write NDJSON to out/.
# Check it with `weir validate .`, run it with `weir run .` (state goes to .weir/, ignored by git).
name: orders
source:
  id: orders
  type: file
  path: data/orders.ndjson
  key: \"order:{{ record.id }}\"
steps:
  - id: erp_order
    type: template
    value:
      order_no: \"{{ record.id }}\"
      size: \"{{ record.size | lookup('sizes', column='erp_size') }}\"
      country: \"{{ record.country | lookup('countries', column='erp_country') }}\"
sinks:
  - id: out
    type: file
    path: out/orders.ndjson
",
    ),
];

/// Writes the scaffold into `dir` (created if missing); refuses, writing nothing, when any of its files
/// exists already.
pub(crate) fn init(dir: &Path) -> anyhow::Result<ExitCode> {
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let existing: Vec<String> =
        FILES.iter().filter(|(name, _)| dir.join(name).exists()).map(|(name, _)| (*name).to_string()).collect();
    if !existing.is_empty() {
        eprintln!("error: {}: {} already exists; nothing was written", shown.display(), existing.join(", "));
        return Ok(ExitCode::from(1));
    }
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", shown.join(name).display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", shown.join(name).display()))?;
    }
    eprintln!(
        "created the client folder {}: `weir validate {d}`, then `weir run {d}`; commit it to git except what \
         .gitignore lists (.weir/ state, out/ outputs)",
        shown.display(),
        d = dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
