#!/usr/bin/env bash
# HTTP sink benchmark (issue 9, point 12): Weir's http sink against the commerce simulator at
# several concurrencies, beside a minimal hand-written reqwest/tokio client (benches/peers/http-baseline)
# doing the same POSTs, in the same run, against the same simulator.
#
#   benches/http/run.sh                       # N=20000, concurrency 1 8 64, 3 runs each
#   N=5000 RUNS=1 CONC="1 64" benches/http/run.sh
#
# Environment:
#   N          requests per run (default 20000): one-item `POST /rest/V1/inventory/source-items` each
#   RUNS       runs per tool and concurrency (default 3); the median req/s is reported
#   CONC       concurrencies (default "1 8 64"): Weir's `max_in_flight`, the peer's tasks
#   SIM_CPUS   taskset CPU list for the simulator (default: the last CPU)
#   CLIENT_CPUS taskset CPU list for Weir and the peer (default: every CPU but the simulator's)
#   WEIR_BIN   (default $CARGO_TARGET_DIR/release/weir, else target/release/weir; never built here)
#   CARGO_TARGET_DIR for the peer build (default target/bench-peers)
#   DATA_DIR   (default bench-data, git-ignored)
#   STATE_DIR  where Weir's state file goes (default: a fresh temporary folder under TMPDIR, i.e. a
#              real disk); STATE_DIR=/dev/shm shows what the commits' fsyncs cost
#
# Each record is {"n", "sku", "source_code", "quantity", "status"}; SKUs cycle over 500 values so the
# simulator's store (indexed by SKU and source) stays small and its memory constant. Weir reads
# the NDJSON file with the default `weir run` (state store on: checkpoint, audit log), renders the body
# `{ sourceItems: ["{{ record }}"] }` and logs in with `auth: magento_admin`; the peer reads the same
# file, parses each line, wraps it the same way and sends it with a token it got the same way.
# req/s = N / wall time of the whole process (start-up, log-in and state store included, for both);
# CPU µs/request = (user+sys) / N from GNU time; peak RSS from GNU time. The simulator's CPU time
# during each run is read from /proc/PID/stat: its share of one CPU tells whether it was the bottleneck.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
N=${N:-20000}
RUNS=${RUNS:-3}
CONC=${CONC:-1 8 64}
DATA_DIR=${DATA_DIR:-bench-data}
NCPU=$(nproc)
SIM_CPUS=${SIM_CPUS:-$((NCPU - 1))}
if [ -z "${CLIENT_CPUS:-}" ]; then
    if [ "$NCPU" -gt 1 ]; then CLIENT_CPUS=0-$((NCPU - 2)); else CLIENT_CPUS=0; fi
fi
if [ -n "${CARGO_TARGET_DIR:-}" ] && [ -x "$CARGO_TARGET_DIR/release/weir" ]; then
    WEIR_BIN=${WEIR_BIN:-$CARGO_TARGET_DIR/release/weir}
else
    WEIR_BIN=${WEIR_BIN:-target/release/weir}
fi
PEER_TARGET=${CARGO_TARGET_DIR:-target}/bench-peers
PEER_BIN=$PEER_TARGET/release/http-baseline
log() { echo "[http-bench] $*" >&2; }
die() { log "$*"; exit 1; }

[ -x "$WEIR_BIN" ] || die "$WEIR_BIN not built: cargo build --release --locked"
command -v /usr/bin/time >/dev/null || die "GNU time (/usr/bin/time) is needed"
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
log "building the peer (release, target dir $PEER_TARGET)"
CARGO_TARGET_DIR=$PEER_TARGET cargo build --quiet --release --locked \
    --manifest-path benches/peers/http-baseline/Cargo.toml || die "cannot build http-baseline"

mkdir -p "$DATA_DIR/http" "$DATA_DIR/results"
INPUT=$ROOT/$DATA_DIR/http/source-items-$N.ndjson
[ -f "$INPUT" ] && [ "$(wc -l < "$INPUT")" -eq "$N" ] || awk -v n="$N" 'BEGIN {
    for (i = 0; i < n; i++)
        printf "{\"n\":%d,\"sku\":\"BENCH-%03d\",\"source_code\":\"default\",\"quantity\":%d,\"status\":%d}\n", i, i % 500, i % 97, (i % 97 ? 1 : 0)
}' > "$INPUT"

TMP=$(mktemp -d)
STATE_DIR=${STATE_DIR:-$TMP}
STATE=$(mktemp -d "$STATE_DIR/weir-http-bench.XXXXXX")/state.db
SIM_PID=
cleanup() { [ -z "$SIM_PID" ] || kill "$SIM_PID" 2>/dev/null || true; rm -rf "$TMP" "$(dirname "$STATE")"; }
trap cleanup EXIT

# The simulator: release build, pinned, its address from the first stdout line.
mkfifo "$TMP/sim.out"
taskset -c "$SIM_CPUS" "$WEIR_BIN" sim commerce --port 0 > "$TMP/sim.out" 2> "$TMP/sim.err" &
SIM_PID=$!
exec 3< "$TMP/sim.out"
read -r ADDR <&3
BASE=$ADDR/rest
log "simulator at $ADDR (pid $SIM_PID, CPUs $SIM_CPUS); clients on CPUs $CLIENT_CPUS"
# Drain the simulator's stdout so it never blocks.
cat <&3 > /dev/null &
TICK=$(getconf CLK_TCK)
sim_cpu() { awk -v t="$TICK" '{print ($14 + $15) / t}' "/proc/$SIM_PID/stat"; }

cat > "$TMP/connections.yaml" <<YAML
connections:
  commerce:
    type: http
    base_url: "$BASE"
    auth: { type: magento_admin, username: admin, password: admin123 }
YAML
pipeline() { # concurrency
    cat > "$TMP/http-bench-$1.yaml" <<YAML
name: http-bench-$1
source: { id: items, type: file, path: "$INPUT", format: ndjson, key: "item-{{ record.n }}" }
sinks:
  - id: commerce
    type: http
    connection: commerce
    path: /V1/inventory/source-items
    body: { sourceItems: ["{{ record }}"] }
    max_in_flight: $1
YAML
    echo "$TMP/http-bench-$1.yaml"
}

# measure TOOL CONC: one run; prints "wall rss_kib user sys sim_cpu_s"
measure() {
    local tool=$1 c=$2 s0 s1 rc=0
    rm -f "$STATE"*
    s0=$(sim_cpu)
    case $tool in
    weir) /usr/bin/time -f '%e %M %U %S' -o "$TMP/time" taskset -c "$CLIENT_CPUS" \
        "$WEIR_BIN" run --quiet --from-start --max-dead-letters 0 --state "$STATE" "$(pipeline "$c")" > "$TMP/out" 2> "$TMP/err" || rc=$? ;;
    peer) /usr/bin/time -f '%e %M %U %S' -o "$TMP/time" taskset -c "$CLIENT_CPUS" \
        "$PEER_BIN" "$BASE" "$INPUT" "$c" > "$TMP/out" 2> "$TMP/err" || rc=$? ;;
    esac
    s1=$(sim_cpu)
    if [ "$rc" -ne 0 ]; then cat "$TMP/err" >&2; die "$tool at concurrency $c failed (exit $rc)"; fi
    echo "$(cat "$TMP/time") $(awk -v a="$s0" -v b="$s1" 'BEGIN {print b - a}')"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

STAMP=$(date +%Y%m%d-%H%M%S)
REPORT=$DATA_DIR/results/http-$STAMP.md
{
    echo "## HTTP sink vs hand-written reqwest client, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $NCPU CPUs, $(uname -sr)"
    echo "- $N one-item source-item POSTs per run, $RUNS runs each (median req/s); simulator on CPUs $SIM_CPUS, clients on CPUs $CLIENT_CPUS; Weir's state file in $STATE_DIR ($(df --output=fstype "$STATE_DIR" | tail -1))"
    echo "- $(rustc --version 2>/dev/null || echo 'rustc n/a'); weir: $WEIR_BIN"
    echo "- uptime at start: $(uptime)"
    echo
    echo "| Concurrency | Weir req/s | Peer req/s | Weir / peer | Weir CPU µs/req | Peer CPU µs/req | Weir peak RSS (MiB) | Peer peak RSS (MiB) | Sim CPU share (Weir / peer runs) | Load 1/5/15 before |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
} | tee "$REPORT"

for c in $CONC; do
    load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)
    declare -A rate cpu rss share
    for tool in weir peer; do
        : > "$TMP/runs-$tool"
        for _ in $(seq "$RUNS"); do
            # Alternate within a concurrency so drift in machine load hits both alike.
            read -r wall kib user sys simcpu <<< "$(measure "$tool" "$c")"
            awk -v n="$N" -v w="$wall" -v k="$kib" -v u="$user" -v s="$sys" -v sc="$simcpu" \
                'BEGIN {printf "%.1f %.1f %.1f %.2f\n", n / w, (u + s) * 1e6 / n, k / 1024, sc / w}' >> "$TMP/runs-$tool"
            log "$tool c=$c: $(tail -1 "$TMP/runs-$tool") (req/s, CPU µs/req, RSS MiB, sim CPU share)"
        done
        rate[$tool]=$(cut -d' ' -f1 "$TMP/runs-$tool" | median)
        cpu[$tool]=$(cut -d' ' -f2 "$TMP/runs-$tool" | median)
        rss[$tool]=$(cut -d' ' -f3 "$TMP/runs-$tool" | sort -g | tail -1)
        share[$tool]=$(cut -d' ' -f4 "$TMP/runs-$tool" | median)
    done
    ratio=$(awk -v a="${rate[weir]}" -v b="${rate[peer]}" 'BEGIN {printf "%.0f%%", 100 * a / b}')
    echo "| $c | ${rate[weir]} | ${rate[peer]} | $ratio | ${cpu[weir]} | ${cpu[peer]} | ${rss[weir]} | ${rss[peer]} | ${share[weir]} / ${share[peer]} | $load |" | tee -a "$REPORT"
done

# Is the simulator the bottleneck? Two peers at the highest concurrency in parallel, half the
# requests each: if together they go clearly faster than one, the simulator had room to spare.
c=${CONC##* }
s0=$(sim_cpu); t0=$(date +%s.%N)
taskset -c "$CLIENT_CPUS" "$PEER_BIN" "$BASE" "$INPUT" "$c" 2> "$TMP/p1" &
p1=$!
taskset -c "$CLIENT_CPUS" "$PEER_BIN" "$BASE" "$INPUT" "$c" 2> "$TMP/p2" &
p2=$!
wait "$p1" "$p2"
t1=$(date +%s.%N); s1=$(sim_cpu)
{
    echo
    awk -v n="$((2 * N))" -v a="$t0" -v b="$t1" -v s0="$s0" -v s1="$s1" -v c="$c" \
        'BEGIN {printf "Two peers in parallel at concurrency %d each (%d requests together): %.1f req/s, simulator CPU share %.2f\n", c, n, n / (b - a), (s1 - s0) / (b - a)}'
    echo
    echo "- uptime at end: $(uptime)"
} | tee -a "$REPORT"
log "report: $REPORT"
