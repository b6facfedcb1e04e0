#!/usr/bin/env python3
"""Canonical mapping peer: Python 3 + orjson.

    python3 benches/peers/map_orjson.py [INPUT|-] [OUTPUT|-]   (default stdin -> stdout)

unit_price: half away from zero to 2 decimals on the decimal representation
(repr() is the shortest round-trip form: 184.185 -> "184.185" -> 184.19);
whole results are emitted as integers (185), matching the other peers.
"""
import sys
from decimal import ROUND_HALF_UP, Decimal

try:
    import orjson
except ImportError:  # pragma: no cover
    sys.exit("map_orjson.py: orjson is not installed (pip install orjson)")

loads, dumps = orjson.loads, orjson.dumps
_CENT = Decimal("0.01")


def round2(p):
    if type(p) is int:
        return p
    s = repr(p)
    dot = s.find(".")
    if dot < 0 or "e" in s:  # exponent form / inf / nan: let Decimal do it
        d = Decimal(s).quantize(_CENT, rounding=ROUND_HALF_UP)  # HALF_UP = away from zero
        return int(d) if d == d.to_integral_value() else float(d)
    frac = s[dot + 1:]
    if len(frac) <= 2:
        return p
    neg = s[0] == "-"
    scaled = int(s[1 if neg else 0:dot] + frac[:2]) + (frac[2] >= "5")
    r = scaled // 100 if scaled % 100 == 0 else scaled / 100
    return -r if neg else r


def main(argv):
    inp = sys.stdin.buffer if len(argv) < 2 or argv[1] == "-" else open(argv[1], "rb")
    out = sys.stdout.buffer if len(argv) < 3 or argv[2] == "-" else open(argv[2], "wb")
    buf = []
    append = buf.append
    for line in inp:
        if not line.strip():
            continue
        r = loads(line)
        size = color = None
        found_size = found_color = False
        for a in r["custom_attributes"]:
            code = a.get("attribute_code")
            if code == "size" and not found_size:
                size, found_size = a.get("value"), True
                if found_color:
                    break
            elif code == "color" and not found_color:
                color, found_color = a.get("value"), True
                if found_size:
                    break
        append(dumps({
            "item_no": r["sku"] + "-" + size,
            "description": r["name"] + " (" + size.upper() + ")",
            "unit_price": round2(r["price"]),
            "qty_on_hand": r.get("extension_attributes", {}).get("stock_item", {}).get("qty"),
            "color": color,
        }))
        if len(buf) >= 4096:
            buf.append(b"")
            out.write(b"\n".join(buf))
            buf.clear()
    if buf:
        buf.append(b"")
        out.write(b"\n".join(buf))
    out.flush()


if __name__ == "__main__":
    main(sys.argv)
