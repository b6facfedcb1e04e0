#!/usr/bin/env bash
# The webhook load benchmark (release build): `weir serve` takes RATE signed Adobe Commerce webhooks a
# second (default 500) for DURATION seconds (default 60) and creates each order once in the ERP simulator.
#
# 1. Load: a fresh `weir sim erp` and a fresh `weir serve` of benches/webhooks/folder/ (the
#    `order-placed` pipeline: webhook → sales order → idempotent POST /salesOrders). The load
#    generator (benches/webhooks/load, built here) signs every event before the clock starts, then
#    sends them open loop. Reported: accept latency (due → 200, from the generator), end-to-end
#    latency (due → the ERP receives the order's POST, from the simulator's request log), the rate
#    held, events lost (answered 200, never created) and duplicated (created twice), resends, and
#    weir serve's CPU time and memory meanwhile.
# 2. Idle memory: `weir serve` with IDLE_PIPELINES (default 50) pipelines loaded — half webhook
#    pipelines (each following its inbox), half on a cron schedule that is not due — and nothing to
#    do; its resident memory after SETTLE seconds (default 10), against one pipeline.
#
# Usage: cargo build --release && benches/webhooks/run.sh      (WEIR=path/to/weir for another binary)
# With KILL_AT=S, `weir serve` is killed (SIGKILL) S seconds after the generator starts (it signs for a
# few seconds first) and started again on the same port at once: every event answered 200 must still be created exactly once (the generator resends
# what got no answer, as Commerce would); CPU and memory are then not reported.
# Knobs: RATE, DURATION, KILL_AT, IDLE_PIPELINES, SETTLE. (The sink sends 16 requests at once: `max_in_flight` in
# benches/webhooks/folder/order-placed.yaml.)
# Results as Markdown on stdout and in bench-data/results/webhooks-<date>.md; the raw files stay in
# bench-data/webhooks/ (sent.csv, the ERP's request log and state, the serve log).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
WEIR=${WEIR:-$REPO/target/release/weir}
RATE=${RATE:-500}
DURATION=${DURATION:-60}
IDLE_PIPELINES=${IDLE_PIPELINES:-50}
SETTLE=${SETTLE:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target/bench-peers}
LOAD=$CARGO_TARGET_DIR/release/webhook-load
OUT=$REPO/bench-data/webhooks
[ -x "$WEIR" ] || { echo "no $WEIR: cargo build --release first" >&2; exit 2; }
for tool in curl jq openssl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done
cargo build --quiet --release --locked --manifest-path benches/webhooks/load/Cargo.toml
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  if [ -f "$WORK/restarted.pid" ]; then kill "$(cat "$WORK/restarted.pid")" 2>/dev/null || true; fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK" || true
}
trap cleanup EXIT
rm -rf "$OUT" && mkdir -p "$OUT" bench-data/results
log() { printf '[webhooks] %s\n' "$*" >&2; }

# The key pair Commerce would sign with (PKCS#8 DER for the generator, PEM public key for Weir).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/key.pem" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$WORK/key.pem" -outform DER -out "$WORK/key.der"
COMMERCE_WEBHOOKS_PUBLIC_KEY=$(openssl pkey -in "$WORK/key.pem" -pubout)
export COMMERCE_WEBHOOKS_PUBLIC_KEY

# serve FOLDER LOG: starts `weir serve` on a free port; sets SERVE_PID and SERVE_URL once /readyz is 200.
serve() { # FOLDER LOG [ADDRESS]
  "$WEIR" serve "$1" --listen "${3:-127.0.0.1:0}" --log-format json 2>>"$2" &
  SERVE_PID=$!
  PIDS+=("$SERVE_PID")
  SERVE_URL=
  for _ in $(seq 600); do
    SERVE_URL=$(grep -o 'listening on http://[0-9.:]*' "$2" | head -1 | sed 's/listening on //') || true
    if [ -n "$SERVE_URL" ] && curl -sf "$SERVE_URL/readyz" >/dev/null; then return 0; fi
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$2" >&2; exit 1; }
    sleep 0.1
  done
  echo "weir serve did not become ready" >&2
  exit 1
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
settled() { # order-placed records through the sink, and dead-lettered (from /metrics; after a kill, the
  # ERP's orders: the counters start again with the process)
  if [ -n "${KILL_AT:-}" ]; then
    echo "$(curl -sf "$ERP_URL/__sim/state" | jq '.salesOrders | length') 0"
    return
  fi
  curl -sf "$SERVE_URL/metrics" | awk '
    /^weir_records_out_total\{.*pipeline="order-placed".*node="erp_order"/ {out += $NF}
    /^weir_records_dead_lettered_total\{.*pipeline="order-placed"/ {dead += $NF}
    END {printf "%d %d\n", out, dead}'
}

# --- 1. load ----------------------------------------------------------------------------------------
"$WEIR" sim erp --port 0 --seed 7 >"$WORK/erp.url" 2>/dev/null &
PIDS+=($!)
until [ -s "$WORK/erp.url" ]; do sleep 0.05; done
ERP_URL=$(head -1 "$WORK/erp.url")
ERP_COMPANY=$(curl -sf "$ERP_URL/__sim/state" | jq -r .companyId)
ERP_TOKEN_URL="$ERP_URL/tenant-1/oauth2/v2.0/token"
export ERP_URL ERP_COMPANY ERP_TOKEN_URL
ITEMS=$(curl -sf "$ERP_URL/__sim/state" | jq -r '[.items[] | select(.blocked | not) | .number] | join(",")')
cp -r benches/webhooks/folder "$WORK/load"
serve "$WORK/load" "$OUT/serve-load.log"
LOAD_PID=$SERVE_PID
log "weir serve (pid $LOAD_PID) at $SERVE_URL, ERP at $ERP_URL; $RATE events/s for $DURATION s"
( while kill -0 "$LOAD_PID" 2>/dev/null; do echo "$(date +%s%3N) $(rss_kib "$LOAD_PID")"; sleep 1; done ) \
  >"$OUT/rss-during-load.txt" 2>/dev/null &
PIDS+=($!)
cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg-before.txt"
ticks0=$(cpu_ticks "$LOAD_PID")
if [ -n "${KILL_AT:-}" ]; then
  (
    sleep "$KILL_AT"
    kill -KILL "$LOAD_PID"
    date +%s%3N >"$OUT/killed-at.txt"
    serve "$WORK/load" "$OUT/serve-load.log" "${SERVE_URL#http://}"
    echo "$SERVE_PID" >"$WORK/restarted.pid"
    date +%s%3N >>"$OUT/killed-at.txt"
    wait
  ) &
fi
"$LOAD" --url "$SERVE_URL/hooks/order-placed" --key "$WORK/key.der" --items "$ITEMS" \
  --rate "$RATE" --seconds "$DURATION" --out "$OUT/sent.csv" 2>&1 | tee "$OUT/load.txt" >&2
accepted=$(awk -F, 'NR > 1 && $5 == 200' "$OUT/sent.csv" | wc -l)
log "waiting until the $accepted accepted events are through (at most 300 s)"
for _ in $(seq 1500); do
  read -r out dead < <(settled)
  [ $((out + dead)) -ge "$accepted" ] && break
  sleep 0.2
done
drained_at=$(date +%s%3N)
if [ -z "${KILL_AT:-}" ]; then
  ticks1=$(cpu_ticks "$LOAD_PID")
  echo "$(( (ticks1 - ticks0) * 1000 / $(getconf CLK_TCK) )) $(hwm_kib "$LOAD_PID") $drained_at" >"$OUT/serve-cpu-ms-hwm-kib-drained.txt"
else
  LOAD_PID=$(cat "$WORK/restarted.pid")
fi
curl -sf "$SERVE_URL/metrics" >"$OUT/metrics.txt"
curl -sf "$ERP_URL/__sim/requests" >"$OUT/erp-requests.json"
curl -sf "$ERP_URL/__sim/state" | jq '{salesOrders: [.salesOrders[] | {number, externalDocumentNumber}]}' >"$OUT/erp-orders.json"
kill -TERM "$LOAD_PID"
# (After a kill, the restarted process is not this shell's child: `wait` cannot wait for it.)
while kill -0 "$LOAD_PID" 2>/dev/null; do sleep 0.1; done

# --- 2. idle memory ---------------------------------------------------------------------------------
# idle_folder DIR N: N pipelines, every other one a webhook pipeline (a copy of order-placed), the
# others on a yearly cron (an ERP poll to a file), none due.
idle_folder() {
  mkdir -p "$1"
  cp benches/webhooks/folder/connections.yaml "$1/"
  for i in $(seq "$2"); do
    if [ $((i % 2)) = 1 ]; then
      sed "s/^name: order-placed/name: hook-$i/" benches/webhooks/folder/order-placed.yaml >"$1/hook-$i.yaml"
    else
      cat >"$1/poll-$i.yaml" <<EOF
name: poll-$i
schedule: { cron: "0 3 1 1 *", timezone: Europe/Berlin, missed: skip }
source:
  id: items
  type: http
  connection: erp
  path: /items
  records: "\$.value[*]"
  key: "item:{{ record.number }}"
steps:
  - id: item
    type: template
    value: { sku: "{{ record.number }}", price: "{{ record.unitPrice }}", pipeline: poll-$i }
sinks:
  - { id: out, type: file, path: out/items-$i.ndjson }
EOF
    fi
  done
}
idle() { # N -> "rss_kib hwm_kib"
  local dir=$WORK/idle-$1
  idle_folder "$dir" "$1"
  serve "$dir" "$OUT/serve-idle-$1.log"
  sleep "$SETTLE"
  echo "$(rss_kib "$SERVE_PID") $(hwm_kib "$SERVE_PID")"
  kill -TERM "$SERVE_PID"
  wait "$SERVE_PID" || true
}
read -r idle1_rss idle1_hwm < <(idle 1)
read -r idleN_rss idleN_hwm < <(idle "$IDLE_PIPELINES")
echo "1 $idle1_rss $idle1_hwm" >"$OUT/idle.txt"
echo "$IDLE_PIPELINES $idleN_rss $idleN_hwm" >>"$OUT/idle.txt"

python3 benches/webhooks/analyse.py "$OUT" "$RATE" "$DURATION" \
  | tee "bench-data/results/webhooks-$(date +%Y%m%d-%H%M%S).md"
