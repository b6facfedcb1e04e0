#!/usr/bin/env bash
# Canonical throughput benchmark: Weir vs jq, jaq, Python+orjson and a
# hand-written serde_json program, all doing the mapping of benches/README.md.
#
#   benches/run.sh                      # everything, 1,000,000 records, 3 runs each
#   N=100000 RUNS=3 benches/run.sh      # smaller
#   TOOLS="serde1 orjson" benches/run.sh
#   SLOW_N=200000 benches/run.sh        # jq and jaq on the first 200k records only
#
# Environment:
#   N         records (default 1000000)          RUNS    runs per tool (default 3, min 3 recommended)
#   TOOLS     subset of: weir weir-1cpu serde1 serde2 orjson jaq jq   (default: all)
#   SLOW_N    record count for jq and jaq (default N); the generator is prefix-stable,
#             so this is exactly the first SLOW_N records of the N file
#   OUT       where outputs go (default /dev/null)
#   WEIR_BIN  (default target/release/weir; never built by this script)   WEIR_ARGS extra args
#   CARGO_TARGET_DIR for the peer build (default target/bench-peers)
#   DATA_DIR  (default bench-data, git-ignored)   SEED (default 42)
#
# Input is read once with cat before each tool so it is in the page cache.
# Wall time, peak RSS and CPU time come from GNU time (`/usr/bin/time -f '%e %M %U %S'`);
# records/s = records / median wall time. Records per CPU-second (records /
# median user+sys time) is printed too: it is less sensitive to other load on
# a shared machine than wall time, but it is not the headline number. The load
# average is recorded before each tool: read every number next to it.
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

N=${N:-1000000}
RUNS=${RUNS:-3}
SLOW_N=${SLOW_N:-$N}
OUT=${OUT:-/dev/null}
read -r -a TOOL_LIST <<< "${TOOLS:-$ALL_TOOLS}"

ensure_tools "${TOOL_LIST[@]}"
build_peers "${TOOL_LIST[@]}"
ensure_data "$N"
[ "$SLOW_N" = "$N" ] || ensure_data "$SLOW_N"

RESULTS_DIR=$DATA_DIR/results
mkdir -p "$RESULTS_DIR"
STAMP=$(date +%Y%m%d-%H%M%S)
REPORT=$RESULTS_DIR/run-$STAMP.md
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

versions() {
    echo "- jq: $(jq --version 2>/dev/null || echo n/a); jaq: $(jaq --version 2>/dev/null || echo n/a)"
    echo "- $(python3 --version 2>&1), orjson $(python3 -c 'import orjson; print(orjson.__version__)' 2>/dev/null || echo n/a)"
    echo "- $(rustc --version 2>/dev/null || echo 'rustc n/a'); weir: $(if have_weir; then echo "$WEIR_BIN ($("$WEIR_BIN" --version 2>/dev/null || echo 'no --version'))"; else echo 'not built'; fi)"
}

{
    echo "## Canonical mapping benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -sr)"
    echo "- input: $(data_file "$N") ($N records, $(du -h "$(data_file "$N")" | cut -f1)); jq/jaq on $SLOW_N records; output: $OUT; $RUNS runs per tool"
    versions
    echo "- uptime at start: $(uptime)"
    echo
    echo "| Tool | Command | Records | Wall times (s) | Median wall (s) | Records/s | CPU s (user+sys, median) | Records/CPU-s | Peak RSS (MiB) | Load 1/5/15 before |"
    echo "|---|---|---:|---|---:|---:|---:|---:|---:|---|"
} | tee "$REPORT"

for tool in "${TOOL_LIST[@]}"; do
    describe "$tool" >/dev/null
    n=$N
    case $tool in jq | jaq) n=$SLOW_N ;; esac
    in=$(cd "$(dirname "$(data_file "$n")")" && pwd)/$(basename "$(data_file "$n")")
    if [[ $tool == weir* ]] && ! have_weir; then
        log "skipping $tool: $WEIR_BIN does not exist yet (build Weir with 'cargo build --release' first)"
        echo "| $tool | \`$(describe "$tool")\` | – | skipped: $WEIR_BIN not built | | | | | | |" | tee -a "$REPORT"
        continue
    fi
    cat "$in" > /dev/null # page cache
    load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)
    times=() cpus=() rss=0 failed=
    for ((r = 1; r <= RUNS; r++)); do
        log "$tool run $r/$RUNS on $n records (load $(cut -d' ' -f1 /proc/loadavg))"
        if ! invoke "$tool" "$in" "$OUT" /usr/bin/time -f '%e %M %U %S' -o "$TMP/time" 2> "$TMP/stderr"; then
            log "$tool failed:"; tail -n 20 "$TMP/stderr" >&2; failed=1; break
        fi
        read -r wall kb usr sys < <(tail -n 1 "$TMP/time")
        times+=("$wall")
        cpus+=("$(awk -v u="$usr" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')")
        if ((kb > rss)); then rss=$kb; fi
    done
    if [ -n "$failed" ]; then
        echo "| $tool | \`$(describe "$tool")\` | $n | FAILED (see stderr above) | | | | | | $load |" | tee -a "$REPORT"
        continue
    fi
    med=$(printf '%s\n' "${times[@]}" | median)
    cpu=$(printf '%s\n' "${cpus[@]}" | median)
    rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print "inf" }'; }
    printf '| %s | `%s` | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$tool" "$(describe "$tool")" "$n" \
        "${times[*]}" "$med" "$(rate "$n" "$med")" "$cpu" "$(rate "$n" "$cpu")" \
        "$(awk -v k="$rss" 'BEGIN {printf "%.0f", k / 1024}')" "$load" | tee -a "$REPORT"
done
echo | tee -a "$REPORT"
echo "- uptime at end: $(uptime)" | tee -a "$REPORT"
log "report saved to $REPORT"
