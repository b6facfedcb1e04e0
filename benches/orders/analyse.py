"""The numbers of benches/orders/run.sh, from the simulators' state and request logs: latency per
order (creation → ERP order, creation → written back) and throughput with and without a rate limit.
Markdown on stdout."""

import datetime
import json
import sys
from collections import defaultdict

work, orders, pace_ms, poll, burst, limit, runs = sys.argv[1:8]


def load(name):
    with open(f"{work}/{name}") as f:
        return json.load(f)


def ms(text):
    """RFC 3339 (`…Z`, milliseconds) or Magento's `YYYY-MM-DD HH:MM:SS` (UTC) → epoch milliseconds."""
    text = text.replace("Z", "+00:00")
    if "T" not in text:
        text = text.replace(" ", "T") + "+00:00"
    return int(datetime.datetime.fromisoformat(text).timestamp() * 1000)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def writebacks(tag):
    """increment_id → arrival of its last successful write-back request (attribute or comment)."""
    orders_by_entity = {o["entity_id"]: o["increment_id"] for o in load(f"{tag}-orders.json")["items"]}
    last = {}
    for r in load(f"{tag}-commerce-requests.json"):
        if r["method"] != "POST" or r["fault"] not in (None, "none"):
            continue
        path = r["path"]
        if path == "/rest/V1/orders":
            ref = json.loads(r["body"])["entity"]["increment_id"]
        elif path.startswith("/rest/V1/orders/") and path.endswith("/comments"):
            ref = orders_by_entity.get(int(path.split("/")[4]))
        else:
            continue
        last[ref] = max(last.get(ref, 0), ms(r["at"]))
    return last


def erp_created(tag):
    return {o["externalDocumentNumber"]: ms(o["lastModifiedDateTime"]) for o in load(f"{tag}-erp-state.json")["salesOrders"]}


# 1. latency
created = {}
with open(f"{work}/created.txt") as f:
    for line in f:
        ref, t = line.split()
        created[ref] = int(t)
shop = {o["increment_id"]: ms(o["created_at"]) for o in load("latency-orders.json")["items"]}
in_erp, written = erp_created("latency"), writebacks("latency")
to_erp = [(in_erp[r] - t) / 1000 for r, t in created.items() if r in in_erp]
to_back = [(written[r] - t) / 1000 for r, t in created.items() if r in written]
to_back_shop = [(written[r] - shop[r]) / 1000 for r in created if r in written]
print(f"## Latency: {len(created)} orders, one every {pace_ms} ms, `weir run` every {poll} s ({runs} runs)\n")
print("| from the order's creation to | orders | p50 (s) | p99 (s) | max (s) |")
print("|---|---:|---:|---:|---:|")
for name, values in [("the ERP's sales order", to_erp), ("its number written back (attribute and comment)", to_back),
                     ("written back, from `created_at` (whole seconds)", to_back_shop)]:
    if values:
        print(f"| {name} | {len(values)} | {pct(values, 50):.2f} | {pct(values, 99):.2f} | {max(values):.2f} |")
missing = [r for r in created if r not in written]
print(f"\nTarget: p99 ≤ poll interval + 2 s = {int(poll) + 2} s. Not written back: {len(missing)}.\n")

# 2. throughput
print(f"## Throughput: {burst} orders waiting, one `weir run`\n")
print("| commerce rate limit | wall (s) | orders/s | shop requests/s | ERP requests/s | shop requests per order |")
print("|---|---:|---:|---:|---:|---:|")
for tag, label in [("unlimited", "none"), ("limited", f"{limit}/s")]:
    with open(f"{work}/{tag}-window.txt") as f:
        t0, t1 = (int(x) for x in f.read().split())
    wall = (t1 - t0) / 1000
    done = len(writebacks(tag))
    shop_requests = [r for r in load(f"{tag}-commerce-requests.json") if t0 <= ms(r["at"]) <= t1]
    erp_requests = [r for r in load(f"{tag}-erp-requests.json") if t0 <= ms(r["at"]) <= t1]
    print(f"| {label} | {wall:.1f} | {done / wall:.2f} | {len(shop_requests) / wall:.2f} | "
          f"{len(erp_requests) / wall:.2f} | {len(shop_requests) / max(done, 1):.2f} |")
by_kind = defaultdict(int)
for r in load("limited-commerce-requests.json"):
    by_kind[f"{r['method']} {'/'.join(p if not p.isdigit() else '{id}' for p in r['path'].split('/'))}"] += 1
print("\nShop requests in the limited run: " + ", ".join(f"`{k}` {v}" for k, v in sorted(by_kind.items())))
