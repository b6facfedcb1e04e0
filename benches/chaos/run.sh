#!/usr/bin/env bash
# The chaos tests (tests/it/demo/chaos/) at full size, with 10% 5xx, 5% 429 (Retry-After 1 s) and 2%
# lost answers injected by both simulators, `weir run` started again and again and SIGKILLed at
# least 6 times at seeded moments:
#   orders     ORDERS orders (default 2000) through pipelines/demo/orders.yaml: every order once in
#              the ERP, its number written back once (about 15 minutes);
#   shipments  at least SHIPMENTS ERP shipments (default 500; full, by line, one unit then the rest)
#              through pipelines/demo/shipments.yaml: every one exactly one shop shipment, by track.
# Both check that every 429 was waited out and that the books balance. The normal test command runs
# the same tests with 40 orders and 40 shipments. Usage: benches/chaos/run.sh [orders|shipments]...
# (default: both). Each test's summary line is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
flows=("$@")
[ ${#flows[@]} -gt 0 ] || flows=(orders shipments)
for flow in "${flows[@]}"; do
  case "$flow" in
    orders) test='demo::chaos::orders::orders_reach_the_erp_exactly_once_through_faults_and_kills' ;;
    shipments) test='demo::chaos::shipments::erp_shipments_reach_the_shop_exactly_once_through_faults_and_kills' ;;
    *) echo "unknown flow $flow: orders or shipments" >&2; exit 2 ;;
  esac
  echo "== $flow"
  start=$(date +%s)
  WEIR_CHAOS_ORDERS=${ORDERS:-2000} WEIR_CHAOS_SHIPMENTS=${SHIPMENTS:-500} \
    cargo nextest run --locked --no-capture -E "test(=$test)" 2>&1 \
    | grep -E '^(run |chaos:|test result|.*PASS|.*FAIL|thread .* panicked|  left|  right)'
  echo "$flow: $(( $(date +%s) - start )) s"
done
