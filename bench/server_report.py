#!/usr/bin/env python3
"""Table and issue-5 ratios from the JSON lines of bench/run_server_bench.sh.

usage: server_report.py results.jsonl [--markdown]

Each line is one load run (loadgen or `treatctl bench --json`) labelled
"<mode>/<scenario>#<rep>". Scenarios: null-async, cerbos-1, cerbos-100 (from
the peer harness) and treatd-<policy>-1, -batch<N>, -stream<N> (StreamDecide
with N findings per message; stream1 is one finding per message, and a
plain -stream from older runs counts as stream1).

Every row is in the table. The stream ratios use the chunked stream row (the
largest N > 1) and show the 1-finding row beside it, without a target; the
stream/batch ratio compares it with the BatchDecide row of the same size run
by the same client (treatd-<policy>-treatctl-batch<N>, or -batch<N> when
treatctl bench ran the batches). A chunked row sent with prebuilt bytes
(treatctl bench --prebuilt) has a typed twin, -stream<N>-typed, which the
same-client ratio uses.
"""
import json
import re
import sys


def fmt_us(us):
    if us >= 10000:
        return f"{us / 1000:.1f}ms"
    if us >= 1000:
        return f"{us / 1000:.2f}ms"
    return f"{us:.0f}us"


def load(path):
    runs = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line.startswith("{"):
                continue
            d = json.loads(line)
            scen = d.get("label", "?/?").partition("/")[2].split("#", 1)[0]
            runs[(scen, d.get("concurrency", 0))] = d
    return runs


def table(runs, md):
    hdr = ["scenario", "conc", "QPS", "findings/s", "p50", "p90", "p99",
           "srv%", "cli%", "errors"]
    rows = []
    for (scen, conc), d in runs.items():
        err = d.get("first_error")
        rows.append([scen, str(conc), f"{d.get('qps', 0):,.0f}",
                     f"{d.get('items_per_s', 0):,.0f}",
                     fmt_us(d.get("p50_us", 0)), fmt_us(d.get("p90_us", 0)),
                     fmt_us(d.get("p99_us", 0)),
                     f"{d['server_cpu_pct']:.0f}" if "server_cpu_pct" in d else "-",
                     f"{d['client_cpu_pct']:.0f}" if d.get("client_cpu_pct", -1) >= 0 else "-",
                     str(d.get("errors", "?")) + (f" ({err.get('name')})" if err else "")])
    if md:
        print("| " + " | ".join(hdr) + " |")
        print("|" + "|".join("---" for _ in hdr) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(hdr)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i in (0, len(hdr) - 1) else c.rjust(w)
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    print(fmt(hdr))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))


def ratios(runs, md):
    def get(scen, conc, key):
        d = runs.get((scen, conc))
        return None if d is None or d.get("errors", 1) != 0 else d.get(key)

    def best_items(scenario):
        vals = [d.get("items_per_s", 0) for (s, _), d in runs.items()
                if s == scenario and d.get("errors", 1) == 0]
        return max(vals) if vals else None

    def ratio(a, b):
        return None if a is None or not b else a / b

    lines = []
    policies = sorted({s.split("-")[1] for s, _ in runs if s.startswith("treatd-")})
    cerbos_items = best_items("cerbos-100")
    for p in policies:
        q64 = get(f"treatd-{p}-1", 64, "qps")
        rows = [
            (f"[{p}] Decide QPS c64 / null-async QPS c64", ratio(q64, get("null-async", 64, "qps")), ">= 0.6", "ge", 0.6),
            (f"[{p}] Decide QPS c64 / Cerbos 1-finding QPS c64", ratio(q64, get("cerbos-1", 64, "qps")), "~ 7x", "ge", 7.0),
            (f"[{p}] Decide p99 c8 / null-async p99 c8", ratio(get(f"treatd-{p}-1", 8, "p99_us"), get("null-async", 8, "p99_us")), "<= 2", "le", 2.0),
        ]
        prefix = f"treatd-{p}-"
        scens = {s for s, _ in runs if s.startswith(prefix)}
        batches = sorted((s for s in scens if s.startswith(prefix + "batch")),
                         key=lambda s: int(re.sub(r"\D", "", s[len(prefix):]) or 0))
        for scen in batches:
            items = best_items(scen)
            rows.append((f"[{p}] {scen[len(prefix):]} findings/s", items, ">= 500,000", "ge", 500000.0))
            rows.append((f"[{p}] {scen[len(prefix):]} findings/s / Cerbos findings/s", ratio(items, cerbos_items), ">= 35x", "ge", 35.0))
        streams = {}  # findings per message -> scenario
        for scen in scens:
            m = re.fullmatch(re.escape(prefix) + r"stream(\d*)", scen)
            if m:
                streams[int(m.group(1) or 1)] = scen
        chunked = max((n for n in streams if n > 1), default=None)
        if 1 in streams:
            rows.append((f"[{p}] {streams[1][len(prefix):]} findings/s (1 finding per message)", best_items(streams[1]), "-", None, None))
        if chunked is not None:
            scen = streams[chunked]
            items = best_items(scen)
            # The batch of the same size driven by the same client
            # (treatctl bench): loadgen is another client, and the client
            # shares the two cores with the server.
            # A prebuilt stream row (--prebuilt) has a typed twin,
            # stream<N>-typed, run by the same client as treatctl-batch<N>.
            typed = f"{prefix}stream{chunked}-typed"
            if not any(s == typed for s, _ in runs):
                typed = scen
            tool = next((d.get("tool") for (s, _), d in runs.items() if s == typed), None)
            same = None
            for cand in (f"{prefix}treatctl-batch{chunked}", f"{prefix}batch{chunked}"):
                if any(s == cand and d.get("tool") == tool for (s, _), d in runs.items()):
                    same = cand
                    break
            rows.append((f"[{p}] {scen[len(prefix):]} findings/s ({chunked} per message)", items, ">= 500,000", "ge", 500000.0))
            rows.append((f"[{p}] {scen[len(prefix):]} findings/s / Cerbos findings/s", ratio(items, cerbos_items), ">= 35x", "ge", 35.0))
            if same is not None:
                rows.append((f"[{p}] {typed[len(prefix):]} / {same[len(prefix):]} findings/s (same client)", ratio(best_items(typed), best_items(same)), ">= 0.8", "ge", 0.8))
            else:
                rows.append((f"[{p}] {scen[len(prefix):]} / batch{chunked} findings/s (same client)", None, ">= 0.8", "ge", 0.8))
            if 1 in streams:
                rows.append((f"[{p}] {scen[len(prefix):]} / {streams[1][len(prefix):]} findings/s", ratio(items, best_items(streams[1])), "-", None, None))
        lines += rows
    # Issue 15: the BASIC view (rows of "policy" <p>.basic) against FULL.
    for p in policies:
        if not p.endswith(".basic") or p[:-len(".basic")] not in policies:
            continue
        full = p[:-len(".basic")]
        q64 = get(f"treatd-{p}-1", 64, "qps")
        lines.append((f"[{p}] Decide QPS c64 / null-async QPS c64", ratio(q64, get("null-async", 64, "qps")), ">= 0.75", "ge", 0.75))
        for scen in sorted({s[len(f"treatd-{p}-"):] for s, _ in runs if s.startswith(f"treatd-{p}-")}):
            lines.append((f"[{p}] {scen} findings/s BASIC / FULL", ratio(best_items(f"treatd-{p}-{scen}"), best_items(f"treatd-{full}-{scen}")), "-", None, None))
    if md:
        print("| ratio | measured | target | met |")
        print("|---|---|---|---|")
    else:
        print()
        print("Ratios (issue 5 targets)")
    for name, value, target, op, bound in lines:
        if value is None:
            shown, met = "n/a", "-"
        else:
            shown = f"{value:,.0f}" if value >= 1000 else f"{value:.2f}"
            if op is None:
                met = "-"
            else:
                met = "yes" if (value >= bound if op == "ge" else value <= bound) else "NO"
        if md:
            print(f"| {name} | {shown} | {target} | {met} |")
        else:
            print(f"  {name:<66} {shown:>10}   target {target:<11} {met}")


def issue15(runs, md):
    """Issue 15, targets 2 (server) and 3: FULL and BASIC side by side."""
    def ok(scen, conc=None):
        for (s, c), d in runs.items():
            if s == scen and (conc is None or c == conc) and d.get("errors", 1) == 0:
                return d
        return None

    def items(scen):
        d = ok(scen)
        if d is None:
            return None, None
        cpu = d.get("server_cpu_pct", -1)
        return d.get("items_per_s"), (cpu if cpu and cpu > 0 else None)

    def fmt_items(scen):
        n, cpu = items(scen)
        if n is None:
            return "n/a"
        if cpu is None:
            return f"{n:,.0f}"
        return f"{n:,.0f} ({cpu:.0f}% srv, {n * 100 / cpu:,.0f}/srv-s)"

    def ratio(a, b):
        return None if a is None or not b else a / b

    def met(value, op, bound):
        if value is None:
            return "-"
        return "yes" if (value >= bound if op == "ge" else value <= bound) else "NO"

    def per_cpu(d):
        if d is None or not d.get("server_cpu_pct", -1) or d["server_cpu_pct"] <= 0:
            return None
        return d.get("qps", 0) * 100 / d["server_cpu_pct"]

    null64 = (ok("null-async", 64) or {}).get("qps")
    null8 = (ok("null-async", 8) or {}).get("p99_us")
    policies = sorted({s.split("-")[1] for s, _ in runs if s.startswith("treatd-")})
    out = []
    for p in policies:
        if p.endswith(".basic") or f"{p}.basic" not in policies:
            continue
        views = {"FULL": p, "BASIC": f"{p}.basic"}
        for scen, label, targets in (
                ("batch1000", "BatchDecide 1,000 per call, findings/s", (250000, 500000)),
                ("batch100", "BatchDecide 100 per call, findings/s", (250000, 500000)),
                ("stream100", "StreamDecide 100 per message, findings/s", (250000, 500000))):
            cells, mets = [], []
            for (view, tag), bound in zip(views.items(), targets):
                cells.append(fmt_items(f"treatd-{tag}-{scen}"))
                mets.append(met(items(f"treatd-{tag}-{scen}")[0], "ge", bound))
            out.append((f"[{p}] {label}", cells, f">= {targets[0]:,} / >= {targets[1]:,}", mets))
        cells, mets = [], []
        for (view, tag), bound in zip(views.items(), (0.6, 0.75)):
            r = ratio((ok(f"treatd-{tag}-1", 64) or {}).get("qps"), null64)
            cells.append("n/a" if r is None else f"{r:.2f}")
            mets.append(met(r, "ge", bound))
        out.append((f"[{p}] Decide QPS c64 / null server QPS c64", cells, ">= 0.6 / >= 0.75", mets))
        # The same per server CPU-second: on a shared machine the servers
        # get different shares of their pinned core, and this ratio moves
        # less with that than the wall-clock one (a cross-check, no target).
        cells = []
        for view, tag in views.items():
            r = ratio(per_cpu(ok(f"treatd-{tag}-1", 64)), per_cpu(ok("null-async", 64)))
            cells.append("n/a" if r is None else f"{r:.2f}")
        out.append((f"[{p}] Decide c64 calls per server CPU-s / null's", cells,
                    "(cross-check)", ["-", "-"]))
        cells, mets = [], []
        for view, tag in views.items():
            r = ratio((ok(f"treatd-{tag}-1", 8) or {}).get("p99_us"), null8)
            cells.append("n/a" if r is None else f"{r:.2f}")
            mets.append(met(r, "le", 2.0))
        out.append((f"[{p}] Decide p99 c8 / null server p99 c8", cells, "<= 2 / <= 2", mets))
    if not out:
        return
    if md:
        print()
        print("| issue 15 target | FULL | BASIC | target FULL / BASIC | met FULL / BASIC |")
        print("|---|---|---|---|---|")
        for name, cells, target, mets in out:
            print(f"| {name} | {cells[0]} | {cells[1]} | {target} | {' / '.join(mets)} |")
        return
    print()
    print("Issue 15 (targets 2 and 3): FULL | BASIC; srv-s = findings per server CPU-second")
    for name, cells, target, mets in out:
        print(f"  {name:<52} {cells[0]:>36} | {cells[1]:>36}   target {target:<22} {' / '.join(mets)}")


def main():
    runs = load(sys.argv[1])
    md = "--markdown" in sys.argv
    table(runs, md)
    if md:
        print()
    ratios(runs, md)
    issue15(runs, md)


if __name__ == "__main__":
    main()
