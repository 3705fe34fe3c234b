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

The unary ratios against the null server (issue 15 target 3) may come in
rounds (run_server_bench.sh ROUNDS=N): <rep> is then the round, the null
server's runs are null-async#1 .. #N+1 and treatd's treatd-<policy>-1#1 ..
#N, run alternately. Round r's ratio divides treatd#r by the mean of
null#r and null#r+1 (null#r alone when there is no null#r+1, as with one
round); the ratio rows then judge the median over the rounds, and a
"Unary rounds" section shows every round.
"""
import json
import re
import statistics
import sys


def fmt_us(us):
    if us >= 10000:
        return f"{us / 1000:.1f}ms"
    if us >= 1000:
        return f"{us / 1000:.2f}ms"
    return f"{us:.0f}us"


def load(path):
    """(runs, records): runs maps (scenario, concurrency) to the last such
    row; records lists every row as (scenario, concurrency, rep, row)."""
    runs, records = {}, []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line.startswith("{"):
                continue
            d = json.loads(line)
            scen, _, rep = d.get("label", "?/?").partition("/")[2].partition("#")
            conc = d.get("concurrency", 0)
            runs[(scen, conc)] = d
            records.append((scen, conc, int(rep) if rep.isdigit() else 1, d))
    return runs, records


def table(records, md):
    hdr = ["scenario", "conc", "QPS", "findings/s", "p50", "p90", "p99",
           "srv%", "cli%", "errors"]
    reps = {}
    for scen, _, rep, _ in records:
        reps.setdefault(scen, set()).add(rep)
    rows = []
    for scen, conc, rep, d in records:
        err = d.get("first_error")
        if len(reps[scen]) > 1:
            scen = f"{scen} #{rep}"
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


def ok_row(d):
    return d if d is not None and d.get("errors", 1) == 0 else None


def per_cpu(d):
    """Calls per server CPU-second of row d, or None."""
    if d is None or not d.get("server_cpu_pct", -1) or d["server_cpu_pct"] <= 0:
        return None
    return d.get("qps", 0) * 100 / d["server_cpu_pct"]


def value(d, key):
    d = ok_row(d)
    if d is None:
        return None
    return per_cpu(d) if key == "per_cpu" else d.get(key)


class Rounds:
    """The unary rows by round: {rep: {(scenario, concurrency): row}}."""

    def __init__(self, records):
        self.by_rep = {}
        for scen, conc, rep, d in records:
            self.by_rep.setdefault(rep, {})[(scen, conc)] = d

    def treatd_rounds(self, tag, conc):
        return sorted(r for r, rows in self.by_rep.items()
                      if (f"treatd-{tag}-1", conc) in rows)

    def count(self):
        """The most rounds any treatd unary row ran in."""
        scens = {k for rows in self.by_rep.values() for k in rows
                 if k[0].startswith("treatd-") and k[0].endswith("-1")}
        return max((len(self.treatd_rounds(s[len("treatd-"):-2], c))
                    for s, c in scens), default=0)

    def get(self, rep, scen, conc, key):
        return value(self.by_rep.get(rep, {}).get((scen, conc)), key)

    def ratios(self, tag, conc, key):
        """[(round, treatd#r / mean(null#r, null#r+1) or None)]: key of
        treatd-<tag>-1 over the null server's, from the null runs either
        side of the round that have a value."""
        out = []
        for r in self.treatd_rounds(tag, conc):
            t = self.get(r, f"treatd-{tag}-1", conc, key)
            nulls = [v for v in (self.get(r, "null-async", conc, key),
                                 self.get(r + 1, "null-async", conc, key))
                     if v]
            out.append((r, None if t is None or not nulls
                        else t / statistics.mean(nulls)))
        return out

    def median(self, tag, conc, key):
        """The median over the rounds of ratios(), None without any."""
        vals = [v for _, v in self.ratios(tag, conc, key) if v is not None]
        return statistics.median(vals) if vals else None

    def treatd_median(self, tag, conc, key):
        vals = [v for v in (self.get(r, f"treatd-{tag}-1", conc, key)
                            for r in self.treatd_rounds(tag, conc))
                if v is not None]
        return statistics.median(vals) if vals else None


def unary_rounds(rounds, md):
    """Every round's unary ratio against the null server (issue 15 target
    3) and their median; only with more than one round."""
    n = rounds.count()
    if n < 2:
        return
    cols = max(rounds.by_rep)

    def cell(v, qps):
        if v is None:
            return "n/a"
        return f"{v:,.0f}" if qps else (fmt_us(v) if qps is None else f"{v:.2f}")

    out = []  # (name, cells by rep, median, target, met)
    for conc, key in ((64, "qps"), (8, "p99_us")):
        vals = {r: rounds.get(r, "null-async", conc, key) for r in rounds.by_rep}
        if any(v is not None for v in vals.values()):
            out.append((f"null-async {'QPS' if key == 'qps' else 'p99'} c{conc}",
                        [cell(vals.get(r), True if key == "qps" else None)
                         for r in range(1, cols + 1)], "", "", ""))
    policies = sorted({s.split("-")[1] for rows in rounds.by_rep.values()
                       for s, _ in rows if s.startswith("treatd-")})
    for p in policies:
        if p.endswith(".basic"):
            continue
        views = [("FULL", p, 0.6)]
        if f"{p}.basic" in policies:
            views.append(("BASIC", f"{p}.basic", 0.75))
        for conc, key, what, op in ((64, "qps", "Decide QPS c64", "ge"),
                                    (8, "p99_us", "Decide p99 c8", "le")):
            for view, tag, qps_bound in views:
                if not rounds.treatd_rounds(tag, conc):
                    continue
                raw = dict((r, rounds.get(r, f"treatd-{tag}-1", conc, key))
                           for r in rounds.treatd_rounds(tag, conc))
                out.append((f"[{p}] {view} {what}",
                            [cell(raw[r], True if key == "qps" else None)
                             if r in raw else "" for r in range(1, cols + 1)],
                            "", "", ""))
                got = dict(rounds.ratios(tag, conc, key))
                med = rounds.median(tag, conc, key)
                bound = qps_bound if op == "ge" else 2.0
                target = f"{'>=' if op == 'ge' else '<='} {bound:g}"
                met = "-" if med is None else (
                    "yes" if (med >= bound if op == "ge" else med <= bound) else "NO")
                out.append((f"[{p}] {view} {what} / null's",
                            [cell(got[r], False) if r in got else ""
                             for r in range(1, cols + 1)],
                            cell(med, False), target, met))
    hdr = [str(r) for r in range(1, cols + 1)]
    if md:
        print()
        print("| unary round (null#r, treatd#r) | " + " | ".join(hdr)
              + " | median | target | met |")
        print("|---|" + "---|" * (len(hdr) + 3))
        for name, cells, med, target, met in out:
            print(f"| {name} | " + " | ".join(cells)
                  + f" | {med} | {target} | {met} |")
        return
    print()
    print(f"Unary rounds (issue 15 target 3): {n} rounds; round r's ratio = "
          "treatd#r / mean(null#r, null#r+1); met/NO judges the median")
    w = max(9, max(len(c) for _, cells, *_ in out for c in cells))
    print(f"  {'round':<40} " + " ".join(h.rjust(w) for h in hdr)
          + f"   {'median':>6}  target")
    for name, cells, med, target, met in out:
        line = f"  {name:<40} " + " ".join(c.rjust(w) for c in cells)
        if target:
            line += f"   {med:>6}  {target:<7} {met}"
        print(line.rstrip())


def ratios(runs, md, rounds):
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
    # With unary rounds: the median over the rounds (treatd's median QPS
    # against Cerbos, which runs once).
    med = " (median)" if rounds.count() > 1 else ""
    for p in policies:
        q64 = rounds.treatd_median(p, 64, "qps")
        rows = [
            (f"[{p}] Decide QPS c64 / null-async QPS c64{med}", rounds.median(p, 64, "qps"), ">= 0.6", "ge", 0.6),
            (f"[{p}] Decide QPS c64 / Cerbos 1-finding QPS c64{med}", ratio(q64, get("cerbos-1", 64, "qps")), "~ 7x", "ge", 7.0),
            (f"[{p}] Decide p99 c8 / null-async p99 c8{med}", rounds.median(p, 8, "p99_us"), "<= 2", "le", 2.0),
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
        lines.append((f"[{p}] Decide QPS c64 / null-async QPS c64{med}", rounds.median(p, 64, "qps"), ">= 0.75", "ge", 0.75))
        for scen in sorted({s[len(f"treatd-{p}-"):] for s, _ in runs if s.startswith(f"treatd-{p}-")}):
            lines.append((f"[{p}] {scen} findings/s BASIC / FULL", ratio(best_items(f"treatd-{p}-{scen}"), best_items(f"treatd-{full}-{scen}")), "-", None, None))
    if md:
        print("| ratio | measured | target | met |")
        print("|---|---|---|---|")
    else:
        print()
        print("Ratios (issue 5 targets)" + (
            f"; (median): over the {rounds.count()} unary rounds below"
            if rounds.count() > 1 else ""))
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


def issue15(runs, md, rounds):
    """Issue 15, targets 2 (server) and 3: FULL and BASIC side by side; the
    unary ratios are the median over the rounds (one round: its ratio)."""
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

    def met(value, op, bound):
        if value is None:
            return "-"
        return "yes" if (value >= bound if op == "ge" else value <= bound) else "NO"

    med = f", median of {rounds.count()} rounds" if rounds.count() > 1 else ""
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
            r = rounds.median(tag, 64, "qps")
            cells.append("n/a" if r is None else f"{r:.2f}")
            mets.append(met(r, "ge", bound))
        out.append((f"[{p}] Decide QPS c64 / null server QPS c64{med}", cells, ">= 0.6 / >= 0.75", mets))
        # The same per server CPU-second: on a shared machine the servers
        # get different shares of their pinned core, and this ratio moves
        # less with that than the wall-clock one (a cross-check, no target).
        cells = []
        for view, tag in views.items():
            r = rounds.median(tag, 64, "per_cpu")
            cells.append("n/a" if r is None else f"{r:.2f}")
        out.append((f"[{p}] Decide c64 calls per server CPU-s / null's{med}", cells,
                    "(cross-check)", ["-", "-"]))
        cells, mets = [], []
        for view, tag in views.items():
            r = rounds.median(tag, 8, "p99_us")
            cells.append("n/a" if r is None else f"{r:.2f}")
            mets.append(met(r, "le", 2.0))
        out.append((f"[{p}] Decide p99 c8 / null server p99 c8{med}", cells, "<= 2 / <= 2", mets))
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
    width = max(52, max(len(name) for name, *_ in out))
    for name, cells, target, mets in out:
        print(f"  {name:<{width}} {cells[0]:>36} | {cells[1]:>36}   target {target:<22} {' / '.join(mets)}")


def main():
    runs, records = load(sys.argv[1])
    rounds = Rounds(records)
    md = "--markdown" in sys.argv
    table(records, md)
    if md:
        print()
    ratios(runs, md, rounds)
    issue15(runs, md, rounds)
    unary_rounds(rounds, md)


if __name__ == "__main__":
    main()
