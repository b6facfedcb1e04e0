#!/usr/bin/env bash
# Check that every peer (and Weir, when target/release/weir exists) produces the
# same records for the canonical mapping:
#   1. benches/fixtures/sample-product.json -> must equal sample-item.json
#   2. benches/fixtures/edge-cases.ndjson   (rounding: 184.185, -184.185, 184.995, 0.005, 1.005, 2.675, ...)
#   3. the first N generated records (default 10000)
# Comparison is by value: keys sorted, lines sorted, 185.0 == 185 (benches/compare_outputs.py).
#
#   benches/verify.sh            N=10000 TOOLS="serde1 orjson" benches/verify.sh
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

N=${N:-10000}
read -r -a TOOL_LIST <<< "${TOOLS:-$ALL_TOOLS}"
ensure_tools "${TOOL_LIST[@]}"
build_peers "${TOOL_LIST[@]}"
ensure_data "$N"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
status=0
check() { # name input expected
    local name=$1 in=$2 ref=$3 outs=() tool
    log "case $name"
    for tool in "${TOOL_LIST[@]}"; do
        if [[ $tool == weir* ]] && ! have_weir; then
            log "  skipping $tool: $WEIR_BIN does not exist yet"; continue
        fi
        if invoke "$tool" "$in" "$TMP/$name.$tool.ndjson" 2> "$TMP/$name.$tool.err"; then
            outs+=("$TMP/$name.$tool.ndjson")
        else
            log "  $tool FAILED:"; tail -n 5 "$TMP/$name.$tool.err" >&2; status=1
        fi
    done
    if [ -z "$ref" ]; then # no expected file: compare against serde1 if it ran, else the first tool
        local i=0 k
        for k in "${!outs[@]}"; do [[ ${outs[$k]} == *.serde1.ndjson ]] && i=$k; done
        ref=${outs[$i]}
        unset "outs[$i]"
    fi
    python3 benches/compare_outputs.py "$ref" "${outs[@]}" | sed "s|$TMP/||g" || status=1
}

check sample "$REPO/benches/fixtures/sample-product.json" benches/fixtures/sample-item.json
check edge-cases "$REPO/benches/fixtures/edge-cases.ndjson" benches/fixtures/edge-cases.expected.ndjson
check "generated-$N" "$REPO/$(data_file "$N")" ""
[ "$status" = 0 ] && log "all outputs match" || log "MISMATCHES found"
exit "$status"
