#!/usr/bin/env python3
"""Compare NDJSON outputs of the benchmark peers.

    python3 benches/compare_outputs.py REFERENCE OTHER [OTHER...]

Each line is parsed and re-serialised with sorted keys; integral floats are
normalised to integers (185.0 == 185) so only values matter, not key order or
number spelling. Files match if their sorted normalised lines are equal; the
report also says whether the line order was identical. Exit status 1 on any
mismatch.
"""
import json
import sys


def norm(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v


def load(path):
    with open(path, "rb") as f:
        return [json.dumps(norm(json.loads(l)), sort_keys=True, separators=(",", ":"))
                for l in f if l.strip()]


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    ref = load(argv[1])
    ref_sorted = sorted(ref)
    ok = True
    for path in argv[2:]:
        other = load(path)
        if sorted(other) == ref_sorted:
            order = "same order" if other == ref else "different order"
            print(f"MATCH     {path}: {len(other)} records ({order}) == {argv[1]}")
            continue
        ok = False
        a, b = set(ref), set(other)
        print(f"MISMATCH  {path}: {len(other)} records vs {len(ref)} in {argv[1]}; "
              f"{len(a - b)} only in reference, {len(b - a)} only here")
        for l in sorted(a - b)[:3]:
            print(f"   - {l}")
        for l in sorted(b - a)[:3]:
            print(f"   + {l}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
