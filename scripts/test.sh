#!/usr/bin/env bash
# Runs every test of Weir: formatting, lints, unit and integration tests (including the bad-config
# corpus, the RFC 9535 JSONPath suite, the schema checks and every example pipeline).
# The tests need no services; if a future test does, this script is where it gets installed/started.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (https://rustup.rs)" >&2
  exit 1
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --doc --locked
# Examples (benchmarks of the expression layers) are built by clippy above; they hold no tests.
cargo test --lib --bins --tests --locked
