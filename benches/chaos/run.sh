#!/usr/bin/env bash
# The orders chaos test (tests/it/demo/chaos.rs) at full size: ORDERS orders (default 2000) through
# pipelines/demo/orders.yaml with 10% 5xx, 5% 429 (Retry-After 1 s) and 2% lost answers injected by
# both simulators, `weir run` started again and again and SIGKILLed at least 6 times; then every
# order once in the ERP, its number written back once, every 429 waited out, the books balanced.
# The normal test command runs the same test with 40 orders (a minute: each 429 pauses a system for
# its Retry-After, so 2,000 orders take about 15 minutes). Its summary line is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
WEIR_CHAOS_ORDERS=${ORDERS:-2000} cargo nextest run --locked --no-capture \
  -E 'test(=demo::chaos::orders_reach_the_erp_exactly_once_through_faults_and_kills)' 2>&1 \
  | grep -E '^(run |chaos:|test result|.*PASS|.*FAIL)'
