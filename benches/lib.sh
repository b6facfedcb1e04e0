# shellcheck shell=bash
# Shared helpers for benches/run.sh and benches/verify.sh. Source it; do not run it.
# Every path is relative to the repository root (the scripts cd there).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

DATA_DIR=${DATA_DIR:-bench-data}             # git-ignored
SEED=${SEED:-42}
PEER_PKG=benches/peers/serde-baseline
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target/bench-peers}
PEER_BIN=$CARGO_TARGET_DIR/release
WEIR_BIN=${WEIR_BIN:-$REPO/target/release/weir}
PIPELINE=benches/pipelines/canonical.yaml
ALL_TOOLS="weir weir-1cpu serde1 serde2 orjson jaq jq"   # the default set
# also known, not run by default: serde1-mimalloc serde2-mimalloc (serde-baseline built with mimalloc)
PEER_BIN_MI=$CARGO_TARGET_DIR/mimalloc/release

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# data_file N -> path of the N-record file (the default 1M file keeps the documented name)
data_file() {
    if [ "$1" = 1000000 ]; then echo "$DATA_DIR/products.ndjson"; else echo "$DATA_DIR/products-$1.ndjson"; fi
}

# build_peers [TOOL...]: the serde-baseline package (and its mimalloc build when a
# *-mimalloc tool is selected).
build_peers() {
    log "building $PEER_PKG (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    cargo build --quiet --release --locked --manifest-path "$PEER_PKG/Cargo.toml" \
        || die "cannot build $PEER_PKG"
    case " $* " in
    *-mimalloc*)
        log "building $PEER_PKG with --features mimalloc"
        cargo build --quiet --release --locked --features mimalloc --manifest-path "$PEER_PKG/Cargo.toml" \
            --target-dir "$CARGO_TARGET_DIR/mimalloc" || die "cannot build $PEER_PKG with mimalloc" ;;
    esac
}

# ensure_data N: generate the N-record file unless it already has N lines.
ensure_data() {
    local n=$1 f
    f=$(data_file "$n")
    if [ -f "$f" ] && [ "$(wc -l < "$f")" -eq "$n" ]; then return; fi
    log "generating $n records (seed $SEED) -> $f"
    local t0=$SECONDS
    "$PEER_BIN/gen-products" --n "$n" --seed "$SEED" "$f" || die "generator failed"
    log "generated $(du -h "$f" | cut -f1) in $((SECONDS - t0)) s"
}

# ensure_tools TOOL...: install what the selected tools need when it is missing.
ensure_tools() {
    local t
    if [ ! -x /usr/bin/time ]; then
        log "installing GNU time (Debian package 'time')"
        as_root apt-get install -y time >/dev/null || die "need /usr/bin/time"
    fi
    for t in "$@"; do
        case $t in
        jq) command -v jq >/dev/null || { log "installing jq"; as_root apt-get install -y jq >/dev/null; } ;;
        jaq)
            if ! command -v jaq >/dev/null; then
                log "installing jaq (cargo install --locked jaq)"
                cargo install --locked jaq || die "cannot install jaq"
            fi ;;
        orjson)
            python3 -c 'import orjson' 2>/dev/null || { log "installing orjson"; python3 -m pip install --quiet orjson; } ;;
        esac
    done
    command -v jaq >/dev/null || export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
}

have_weir() { [ -x "$WEIR_BIN" ]; }

# describe TOOL -> the command line, for the report
describe() {
    case $1 in
    weir) echo "weir run --from-start $PIPELINE${WEIR_ARGS:+ $WEIR_ARGS}" ;;
    weir-1cpu) echo "taskset -c 0 weir run --from-start $PIPELINE${WEIR_ARGS:+ $WEIR_ARGS}" ;;
    serde1) echo "serde-baseline --threads 1 IN OUT" ;;
    serde2) echo "serde-baseline --threads 2 IN OUT (ordered)" ;;
    serde1-mimalloc) echo "serde-baseline --threads 1 IN OUT (mimalloc)" ;;
    serde2-mimalloc) echo "serde-baseline --threads 2 IN OUT (ordered, mimalloc)" ;;
    orjson) echo "python3 benches/peers/map_orjson.py IN OUT" ;;
    jaq) echo "jaq -c -f benches/peers/map.jq < IN > OUT" ;;
    jq) echo "jq -c -f benches/peers/map.jq < IN > OUT" ;;
    *) die "unknown tool $1 (known: $ALL_TOOLS serde1-mimalloc serde2-mimalloc)" ;;
    esac
}

# invoke TOOL IN OUT [prefix...]: run one tool; the prefix (e.g. /usr/bin/time ...)
# wraps the measured process itself, never a shell.
invoke() {
    local tool=$1 in=$2 out=$3
    shift 3
    # weir reads its paths from the pipeline's ${env:...} placeholders.
    # jq and jaq read stdin: jaq 3.1 loads a file *argument* whole (peak RSS ~ file size,
    # 1.5 GiB for the 1M file), while stdin is streamed.
    case $tool in
    weir) WEIR_BENCH_INPUT=$in WEIR_BENCH_OUTPUT=$out "$@" "$WEIR_BIN" run --from-start "$PIPELINE" ${WEIR_ARGS:-} ;;
    weir-1cpu) WEIR_BENCH_INPUT=$in WEIR_BENCH_OUTPUT=$out "$@" taskset -c 0 "$WEIR_BIN" run --from-start "$PIPELINE" ${WEIR_ARGS:-} ;;
    serde1) "$@" "$PEER_BIN/serde-baseline" --threads 1 "$in" "$out" ;;
    serde2) "$@" "$PEER_BIN/serde-baseline" --threads 2 "$in" "$out" ;;
    serde1-mimalloc) "$@" "$PEER_BIN_MI/serde-baseline" --threads 1 "$in" "$out" ;;
    serde2-mimalloc) "$@" "$PEER_BIN_MI/serde-baseline" --threads 2 "$in" "$out" ;;
    orjson) "$@" python3 benches/peers/map_orjson.py "$in" "$out" ;;
    jaq) "$@" jaq -c -f benches/peers/map.jq < "$in" > "$out" ;;
    jq) "$@" jq -c -f benches/peers/map.jq < "$in" > "$out" ;;
    *) die "unknown tool $tool (known: $ALL_TOOLS serde1-mimalloc serde2-mimalloc)" ;;
    esac
}
