#!/usr/bin/env bash
# Runs every test of Weir: formatting, lints, unit and integration tests (including the bad-config
# corpus, the RFC 9535 JSONPath suite, the schema checks and every example pipeline).
# The tests need no services; what they need installed is installed here, before any test runs (the
# tests themselves use no network):
# - yaml-language-server (npm), which `tests/it/editor.rs` drives over LSP against `schema/`: installed
#   into `.cache/lsp/` once, at the version pinned below (also in `tests/it/support/lsp.rs`).
# - Tryton 8.2 (PyPI), which `tests/it/tryton.rs` runs on loopback: `scripts/tryton.sh install` puts it
#   into `.cache/tryton/` once (a venv and a bootstrapped template database). Best effort: without
#   Python or the package index the Tryton test says it is skipped, and everything else runs.
# - Chromium and its WebDriver (Debian's `chromium` and `chromium-driver`), which
#   `tests/it/status_page.rs` drives headless against `weir serve`'s status page: installed with
#   apt-get when missing. Best effort too: without them the status page test says it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (https://rustup.rs)" >&2
  exit 1
fi

YAML_LS_VERSION=1.25.0
YAML_LS_DIR=.cache/lsp
if ! grep -qs "\"version\": \"$YAML_LS_VERSION\"" "$YAML_LS_DIR/node_modules/yaml-language-server/package.json"; then
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "node and npm are required: the editor tests run yaml-language-server (https://nodejs.org)" >&2
    exit 1
  fi
  npm install --prefix "$YAML_LS_DIR" --no-audit --no-fund --save-exact "yaml-language-server@$YAML_LS_VERSION"
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } ||
      echo "apt-get install chromium chromium-driver failed: the status page test will be skipped" >&2
  else
    echo "chromium and chromium-driver are missing (apt-get as root is needed): the status page test will be skipped" >&2
  fi
fi

scripts/tryton.sh install || echo "scripts/tryton.sh install failed: the Tryton test will be skipped" >&2

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --doc --locked
# Examples (benchmarks of the expression layers) are built by clippy above; they hold no tests.
cargo test --lib --bins --tests --locked
