#!/usr/bin/env python3
"""Reads what benches/webhooks/run.sh kept and prints the results as Markdown.

usage: analyse.py OUT_DIR RATE DURATION

OUT_DIR holds sent.csv (the load generator's record of each event), erp-requests.json (the ERP
simulator's request log), erp-orders.json (its sales orders), serve-cpu-ms-hwm-kib-drained.txt,
rss-during-load.txt, idle.txt and load.txt. Exits 1 when an event was lost or duplicated.
"""

import csv
import json
import math
import os
import sys
from collections import Counter
from datetime import datetime, timezone


def pct(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def unix_ms(text):
    at = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return at.timestamp() * 1000


def main():
    out, rate, duration = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    path = lambda name: os.path.join(out, name)  # noqa: E731
    with open(path("sent.csv")) as f:
        sent = list(csv.DictReader(f))
    due_ms = {r["increment_id"]: int(r["due_unix_us"]) / 1000 for r in sent}
    accepted = [r for r in sent if r["final_status"] == "200"]
    accepted_ids = {r["increment_id"] for r in accepted}
    accept_ms = [int(r["accept_us"]) / 1000 for r in accepted]
    not_ok_first = sum(1 for r in sent if r["first_status"] != "200")
    resent = sum(1 for r in sent if int(r["attempts"]) > 1)
    statuses = Counter(r["final_status"] for r in sent)

    with open(path("erp-requests.json")) as f:
        requests = json.load(f)
    first_post = {}
    posts = Counter()
    for r in requests:
        if r["method"] != "POST" or not r["path"].endswith("/salesOrders"):
            continue
        try:
            number = json.loads(r["body"]).get("externalDocumentNumber")
        except (ValueError, AttributeError):
            continue
        posts[number] += 1
        at = unix_ms(r["at"])
        first_post[number] = min(at, first_post.get(number, at))
    with open(path("erp-orders.json")) as f:
        orders = json.load(f)["salesOrders"]
    created = Counter(o["externalDocumentNumber"] for o in orders)

    lost = sorted(accepted_ids - set(created))
    duplicated = sorted(n for n, c in created.items() if c > 1)
    strangers = sorted(set(created) - accepted_ids)
    e2e_ms = [first_post[i] - due_ms[i] for i in accepted_ids if i in first_post]
    reposted = sum(1 for n, c in posts.items() if c > 1)

    first_due = min(due_ms.values())
    last_answer = max(due_ms[r["increment_id"]] + int(r["accept_us"]) / 1000 for r in accepted)
    last_created = max(first_post.values()) if first_post else first_due
    killed = None
    if os.path.exists(path("killed-at.txt")):
        with open(path("killed-at.txt")) as f:
            killed = [int(x) for x in f.read().split()]
        cpu_ms = hwm_kib = None
        rss = []
    else:
        with open(path("serve-cpu-ms-hwm-kib-drained.txt")) as f:
            cpu_ms, hwm_kib, _drained_at = (int(x) for x in f.read().split())
        with open(path("rss-during-load.txt")) as f:
            rss = [int(line.split()[1]) for line in f if len(line.split()) == 2]
    with open(path("idle.txt")) as f:
        idle = [line.split() for line in f if line.strip()]
    with open(path("load.txt")) as f:
        load_line = f.read().strip().splitlines()

    print(f"## Webhook load: {int(rate)} signed events/s for {int(duration)} s through `weir serve` into the ERP\n")
    print(f"- Load generator: {load_line[-1] if load_line else '?'}")
    with open(path("loadavg-before.txt")) as f:
        loadavg = f.read().strip().replace(" ", "/")
    print(f"- The sink: 16 requests in flight; load average 1/5/15 min before the load: {loadavg}\n")
    if killed:
        down = (killed[1] - killed[0]) / 1000 if len(killed) > 1 else float("nan")
        print(f"- **`weir serve` was killed (SIGKILL) {(killed[0] - first_due) / 1000:.1f} s into the load** and "
              f"ready again {down:.2f} s later on the same port.\n")
    print("| measure | value |")
    print("|---|---:|")
    print(f"| events sent | {len(sent)} |")
    print(f"| answered 200 | {len(accepted)} ({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))}) |")
    print(f"| first answer not 200 / resent | {not_ok_first} / {resent} |")
    print(f"| accepted per second (first due → last 200) | {len(accepted) / ((last_answer - first_due) / 1000):.0f} |")
    print(f"| accept latency p50 / p90 / p99 / max (ms) | {pct(accept_ms, 50):.1f} / {pct(accept_ms, 90):.1f} / "
          f"{pct(accept_ms, 99):.1f} / {max(accept_ms):.1f} |")
    print(f"| end-to-end latency p50 / p90 / p99 / max (ms) | {pct(e2e_ms, 50):.1f} / {pct(e2e_ms, 90):.1f} / "
          f"{pct(e2e_ms, 99):.1f} / {max(e2e_ms) if e2e_ms else float('nan'):.1f} |")
    print(f"| ERP orders created per second (first due → last order) | "
          f"{len(first_post) / ((last_created - first_due) / 1000):.0f} |")
    print(f"| ERP orders created | {len(created)} of {len(accepted)} accepted |")
    print(f"| **lost** (accepted, never created) | **{len(lost)}** |")
    print(f"| **duplicated** (created twice) | **{len(duplicated)}** |")
    print(f"| created though never accepted | {len(strangers)} |")
    print(f"| orders POSTed more than once | {reposted} |")
    if cpu_ms is not None:
        print(f"| weir serve CPU time (load + drain) | {cpu_ms / 1000:.1f} s = "
              f"{cpu_ms * 1000 / max(1, len(accepted)):.0f} µs per event |")
        print(f"| weir serve RSS during the load: max / last | {max(rss) / 1024:.1f} / {rss[-1] / 1024:.1f} MiB |")
        print(f"| weir serve peak RSS (VmHWM) | {hwm_kib / 1024:.1f} MiB |")
    for n, rss_kib, hwm in idle:
        print(f"| weir serve idle with {n} pipeline(s): RSS / peak | {int(rss_kib) / 1024:.1f} / "
              f"{int(hwm) / 1024:.1f} MiB |")
    if lost:
        print(f"\nLost: {lost[:20]}{' …' if len(lost) > 20 else ''}")
    if duplicated:
        print(f"\nDuplicated: {duplicated[:20]}{' …' if len(duplicated) > 20 else ''}")
    sys.exit(1 if lost or duplicated else 0)


if __name__ == "__main__":
    main()
