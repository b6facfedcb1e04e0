#!/usr/bin/env bash
# Latency and throughput of pipelines/demo/orders.yaml against both simulators (release build).
#
# 1. Latency: ORDERS orders (default 1000) are created in the commerce simulator at a steady pace
#    (PACE_MS between two, default 200) while `weir run orders.yaml` is started every POLL seconds
#    (default 10; right after the previous run when it took longer), as a schedule would. For each
#    order: the time from its creation to the ERP's sales order (its `lastModifiedDateTime`, set when
#    it is created) and to the write-back (the later of the two requests that wrote `ext_order_id`
#    and the comment, from the commerce sim's request log) — p50, p99, max. The creation time is the
#    script's own clock when it created the order (milliseconds; the order's `created_at` has whole
#    seconds only, and is reported next to it).
# 2. Throughput: BURST orders (default 400) waiting at once, one `weir run`, orders/s through the
#    whole flow (ERP create + both write-backs), without and with COMMERCE_REQUESTS_PER_SECOND=LIMIT
#    (default 4) — and the requests per second each simulator received meanwhile, to show the limit
#    is the bottleneck.
#
# Usage: cargo build --release && benches/orders/run.sh   (WEIR=path/to/weir to use another binary)
# Results as Markdown on stdout and in bench-data/results/orders-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
WEIR=${WEIR:-$PWD/target/release/weir}
ORDERS=${ORDERS:-1000}
PACE_MS=${PACE_MS:-200}
POLL=${POLL:-10}
BURST=${BURST:-400}
LIMIT=${LIMIT:-4}
[ -x "$WEIR" ] || { echo "no $WEIR: cargo build --release first" >&2; exit 2; }
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
now_ms() { date +%s%3N; }

# Starts both simulators; sets COMMERCE_URL, ERP_URL, ERP_COMPANY, ERP_TOKEN_URL.
start_sims() {
  local tag=$1
  "$WEIR" sim commerce --port 0 >"$WORK/$tag-commerce.url" 2>/dev/null &
  PIDS+=($!)
  "$WEIR" sim erp --port 0 --seed 7 >"$WORK/$tag-erp.url" 2>/dev/null &
  PIDS+=($!)
  for f in commerce erp; do
    until [ -s "$WORK/$tag-$f.url" ]; do sleep 0.05; done
  done
  COMMERCE_URL=$(head -1 "$WORK/$tag-commerce.url")
  ERP_URL=$(head -1 "$WORK/$tag-erp.url")
  ERP_COMPANY=$(curl -sf "$ERP_URL/__sim/state" | jq -r .companyId)
  ERP_TOKEN_URL="$ERP_URL/tenant-1/oauth2/v2.0/token"
  export COMMERCE_URL ERP_URL ERP_COMPANY ERP_TOKEN_URL
  "$WEIR" run pipelines/demo/erp-variants.yaml --state "$WORK/$tag.db" --quiet
}

stop_sims() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  PIDS=()
}

dump() { # tag: the sims' state and logs, for the analysis
  local tag=$1
  curl -sf "$ERP_URL/__sim/state" >"$WORK/$tag-erp-state.json"
  curl -sf "$COMMERCE_URL/__sim/requests" >"$WORK/$tag-commerce-requests.json"
  curl -sf "$ERP_URL/__sim/requests" >"$WORK/$tag-erp-requests.json"
  local token
  token=$(curl -sf -X POST "$COMMERCE_URL/rest/V1/integration/admin/token" -H 'Content-Type: application/json' \
    -d '{"username":"admin","password":"admin123"}' | jq -r .)
  curl -sf -H "Authorization: Bearer $token" \
    "$COMMERCE_URL/rest/V1/orders?searchCriteria%5BpageSize%5D=100000" >"$WORK/$tag-orders.json"
}

# --- 1. latency -------------------------------------------------------------------------------------
start_sims latency
"$WEIR" run pipelines/demo/orders.yaml --state "$WORK/latency.db" --quiet   # the 45 seeded orders
curl -sf -X DELETE "$COMMERCE_URL/__sim/requests" >/dev/null
(
  for _ in $(seq "$ORDERS"); do
    t=$(now_ms)
    id=$(curl -sf -X POST "$COMMERCE_URL/__sim/orders" -d '{"count": 1}' | jq -r '.created[0].increment_id')
    echo "$id $t"
    sleep "$(awk "BEGIN {print $PACE_MS/1000}")"
  done
) >"$WORK/created.txt" &
CREATOR=$!
runs=0
while :; do
  started=$(now_ms)
  "$WEIR" run pipelines/demo/orders.yaml --state "$WORK/latency.db" --quiet || echo "run $runs failed" >&2
  runs=$((runs + 1))
  if ! kill -0 "$CREATOR" 2>/dev/null && [ "$(wc -l <"$WORK/created.txt")" -ge "$ORDERS" ] && [ "${last_pass:-0}" = 1 ]; then
    break
  fi
  kill -0 "$CREATOR" 2>/dev/null || last_pass=1
  left=$((POLL * 1000 - ($(now_ms) - started)))
  [ "$left" -gt 0 ] && sleep "$(awk "BEGIN {print $left/1000}")"
done
dump latency

# --- 2. throughput ----------------------------------------------------------------------------------
through() { # tag, extra env
  local tag=$1
  shift
  stop_sims
  start_sims "$tag"
  "$WEIR" run pipelines/demo/orders.yaml --state "$WORK/$tag.db" --quiet
  curl -sf -X POST "$COMMERCE_URL/__sim/orders" -d "{\"count\": $BURST}" >/dev/null
  curl -sf -X DELETE "$COMMERCE_URL/__sim/requests" >/dev/null
  curl -sf -X DELETE "$ERP_URL/__sim/requests" >/dev/null
  local t0 t1
  t0=$(now_ms)
  env "$@" "$WEIR" run pipelines/demo/orders.yaml --state "$WORK/$tag.db" --quiet
  t1=$(now_ms)
  echo "$t0 $t1" >"$WORK/$tag-window.txt"
  dump "$tag"
}
through unlimited
through limited "COMMERCE_REQUESTS_PER_SECOND=$LIMIT"
stop_sims

mkdir -p bench-data/results
python3 benches/orders/analyse.py "$WORK" "$ORDERS" "$PACE_MS" "$POLL" "$BURST" "$LIMIT" "$runs" \
  | tee "bench-data/results/orders-$(date +%Y%m%d-%H%M%S).md"
