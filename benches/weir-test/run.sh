#!/usr/bin/env bash
# `weir test` speed (issue 10, point 9): a client folder with 50 tests — the shipped examples'
# pipelines, tests given rows, fixtures, table overrides, mocked HTTP with retries, and snapshots —
# run in-process by the release binary. Prints the wall time of each of RUNS runs and their median,
# and checks that the folder holds no state file afterwards.
#
#   RUNS=5 benches/weir-test/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
cargo build --release --locked -q
WEIR=$PWD/target/release/weir
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r pipelines/examples "$work/folder"
rm -rf "$work/folder/out" "$work/folder/.weir"
cat > "$work/folder/orders-http.yaml" <<'YAML'
name: orders-http
source: { id: orders, type: file, path: data/magento-orders.json, format: json, key: "order:{{ record.increment_id }}" }
steps:
  - { id: paid_only, type: filter, when: "record.status in ['processing', 'complete']" }
  - id: customer
    type: http
    url: https://erp.invalid/api/customers
    query: { email: "{{ record.customer_email }}" }
    select: $.value[0].number
    into: customer_no
  - id: sales_order
    type: template
    value: { externalDocumentNumber: "{{ record.increment_id }}", customerNumber: "{{ record.customer_no }}" }
sinks:
  - id: erp_orders
    type: http
    url: https://erp.invalid/api/salesOrders
    retry: { max_attempts: 4, initial: 2s }
    capture: { erp_number: $.number }
YAML
{
  echo "pipeline: ../orders-http.yaml"
  echo "tests:"
  for i in $(seq 1 27); do
    cat <<YAML
  - name: order flow $i (a 503, then created)
    mocks:
      customer: [{ then: { body: { value: [{ number: C-$i }] } } }]
      erp_orders:
        - when: { method: POST }
          then: [{ status: 503, headers: { Retry-After: "5" } }, { status: 201, body: { number: SO-$i } }]
    expect:
      counters: { received: 3, delivered: 2, filtered: 1, dead_lettered: 0 }
      ids: { "order:000000042": { erp_number: SO-$i } }
YAML
  done
} > "$work/folder/tests/orders-http.yaml"
{
  echo "pipeline: ../stock-to-msi.yaml"
  echo "tests:"
  for i in $(seq 1 10); do
    cat <<YAML
  - name: stock row $i
    given: [{ rows: [{ item_no: SKU-$i, warehouse: WH-NEW, qty_on_hand: "$i", qty_reserved: "0", blocked: "0" }] }]
    tables: { warehouses: [{ warehouse: WH-NEW, source_code: new_dc, name: New }] }
    expect:
      sinks: { msi_bodies: { records: [{ sourceItems: [{ sku: SKU-$i, source_code: new_dc, quantity: $i.0, status: 1 }] }] } }
YAML
  done
} > "$work/folder/tests/stock-more.yaml"
count=$("$WEIR" test "$work/folder" | sed -n 's/^running \([0-9]*\) tests.*/\1/p')
echo "tests: $count"
[ "$count" -ge 50 ] || { echo "expected at least 50 tests, got $count" >&2; exit 1; }
times=()
for run in $(seq 1 "$RUNS"); do
  start=$(date +%s.%N)
  "$WEIR" test "$work/folder" > "$work/out.txt" || { cat "$work/out.txt"; exit 1; }
  end=$(date +%s.%N)
  t=$(echo "$end - $start" | bc -l)
  times+=("$t")
  printf 'run %d: %.3f s (%s)\n' "$run" "$t" "$(tail -1 "$work/out.txt")"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'median of %d runs: %.3f s for %d tests\n' "$RUNS" "$median" "$count"
if find "$work/folder" -name '.weir' -o -name 'state.db' -o -path '*/out/*' | grep -q .; then
  echo "a test run left state or output files behind" >&2
  exit 1
fi
