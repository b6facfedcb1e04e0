#!/usr/bin/env bash
# Peak memory with large records: COUNT records of SIZE_MB MiB each (default 400 × 4 MiB, 1.6 GiB),
# through a pipeline that touches one field and writes every record out. Batches close at
# `runtime.batch_bytes` as well as `batch_size`, so peak RSS should stay a small multiple of the record
# size, not of the input. Prints the peak RSS (GNU time) and checks every record came out.
#   benches/memory.sh                 # 400 × 4 MiB
#   COUNT=100 SIZE_MB=16 benches/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-400}
SIZE_MB=${SIZE_MB:-4}
WORK=${WORK:-$(mktemp -d)}
trap 'rm -rf "$WORK"' EXIT
[ -n "${WEIR_BIN:-}" ] || cargo build --release --locked --quiet
python3 - "$WORK/in.ndjson" "$COUNT" "$SIZE_MB" <<'PY'
import json, sys
path, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blob = "x" * (size * 1024 * 1024)
with open(path, "w") as f:
    for i in range(count):
        f.write('{"id": %d, "blob": "%s"}\n' % (i, blob))
PY
cat > "$WORK/p.yaml" <<'YAML'
name: large-records
source: { id: in, type: file, path: in.ndjson }
steps:
  - { id: tag, type: set, fields: { seen: true } }
sinks:
  - { id: out, type: file, path: out.ndjson }
YAML
/usr/bin/time -f "%e s, peak RSS %M KiB" -o "$WORK/time" "${WEIR_BIN:-${CARGO_TARGET_DIR:-target}/release/weir}" run "$WORK/p.yaml" --quiet --from-start
lines=$(wc -l < "$WORK/out.ndjson")
echo "records: $COUNT × $SIZE_MB MiB; written: $lines; $(cat "$WORK/time")"
[ "$lines" -eq "$COUNT" ]
