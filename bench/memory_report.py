#!/usr/bin/env python3
"""RSS sampler and report for bench/run_memory_check.sh.

    memory_report.py sample PID METRICS_PORT PHASE_FILE CSV [--interval S]
    memory_report.py decisions METRICS_PORT
    memory_report.py report CSV --findings N --base B [--tolerance-mb 5]
                            [--target-mb 64] [--json OUT]

sample: once per interval, VmRSS and VmHWM of PID (/proc/PID/status) and
  the server's decision count (the sum of treatd_decisions_total on
  http://127.0.0.1:METRICS_PORT/metrics), with the phase named in PHASE_FILE,
  one CSV row each: unix_s,elapsed_s,phase,decisions,rss_kb,hwm_kb. Stops
  when PID exits or on SIGTERM.
decisions: prints the server's decision count once.
report: one markdown table from the CSV -- RSS when idle with the feeds
  loaded, after the warm-up, per tenth of the N stream findings (counted
  from B, the count when the stream started), and after the stream -- then
  the verdict: "flat" when the largest RSS of the last tenth is within
  --tolerance-mb of the RSS at the end of the first tenth.
"""
import argparse
import csv
import json
import signal
import sys
import time
import urllib.request

MB = 1024.0  # kB per MB (MiB, as /proc counts in KiB)


def decisions(port):
    """Sum of treatd_decisions_total, or None when the scrape fails."""
    try:
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/metrics" % port, timeout=2) as r:
            text = r.read().decode("utf-8", "replace")
    except OSError:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith("treatd_decisions_total"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def status_kb(pid):
    """(VmRSS, VmHWM) in kB, or None when the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    return (int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0]))


def cmd_sample(args):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    start = time.time()
    with open(args.csv, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["unix_s", "elapsed_s", "phase", "decisions",
                         "rss_kb", "hwm_kb"])
        next_tick = start
        while not stop:
            mem = status_kb(args.pid)
            if mem is None:
                break
            try:
                with open(args.phase_file) as f:
                    phase = f.read().strip() or "?"
            except OSError:
                phase = "?"
            count = decisions(args.metrics_port)
            now = time.time()
            writer.writerow(["%.3f" % now, "%.3f" % (now - start), phase,
                             "" if count is None else count, mem[0], mem[1]])
            out.flush()
            next_tick += args.interval
            delay = next_tick - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                next_tick = time.time()


def cmd_decisions(args):
    count = decisions(args.metrics_port)
    if count is None:
        sys.exit("cannot read http://127.0.0.1:%d/metrics" % args.metrics_port)
    print(count)


def mb(kb):
    return "%.1f" % (kb / MB)


def cmd_report(args):
    with open(args.csv, newline="") as f:
        rows = [r for r in csv.DictReader(f)]
    for r in rows:
        r["rss"] = int(r["rss_kb"])
        r["hwm"] = int(r["hwm_kb"])
        r["n"] = int(r["decisions"]) if r["decisions"] else None

    def phase(name):
        return [r for r in rows if r["phase"] == name]

    n = args.findings
    stream = [r for r in phase("stream") if r["n"] is not None]
    tenths = [[] for _ in range(10)]
    for r in stream:
        done = r["n"] - args.base
        tenths[min(9, max(0, done * 10 // n))].append(r)
    processed = max([r["n"] for r in rows if r["n"] is not None] or [0])
    processed -= args.base

    table = []  # (label, findings, samples)

    def add(label, findings, samples):
        table.append((label, findings, samples))

    add("idle: started, policy + feeds loaded", "0", phase("idle"))
    add("after warm-up", "(%s warm-up)" % format(args.warmup, ","),
        phase("warmed"))
    for i, samples in enumerate(tenths):
        add("stream %d-%d%%" % (i * 10, i * 10 + 10),
            "%s" % format((i + 1) * n // 10, ","), samples)
    add("after stream: idle", format(max(processed, 0), ","), phase("after"))

    lines = ["| phase | stream findings | samples | RSS min MB | RSS max MB "
             "| RSS last MB | VmHWM MB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, findings, samples in table:
        if samples:
            rss = [s["rss"] for s in samples]
            lines.append("| %s | %s | %d | %s | %s | %s | %s |" % (
                label, findings, len(samples), mb(min(rss)), mb(max(rss)),
                mb(rss[-1]), mb(samples[-1]["hwm"])))
        else:
            lines.append("| %s | %s | 0 | - | - | - | - |" % (label, findings))

    summary = {"findings_target": n, "stream_findings": processed,
               "tolerance_mb": args.tolerance_mb, "target_mb": args.target_mb}
    idle = phase("idle")
    if idle:
        summary["idle_rss_mb"] = round(idle[-1]["rss"] / MB, 1)
        summary["idle_hwm_mb"] = round(idle[-1]["hwm"] / MB, 1)
    if rows:
        summary["hwm_mb"] = round(max(r["hwm"] for r in rows) / MB, 1)
    first = tenths[0] or stream[:1]
    last = tenths[9]
    notes = []
    if processed < n:
        verdict = "incomplete"
        notes.append("only %s of %s stream findings were processed"
                     % (format(processed, ","), format(n, ",")))
    elif not first or not last:
        verdict = "unknown"
        notes.append("too few samples in the first or last tenth (raise "
                     "FINDINGS or lower SAMPLE_INTERVAL)")
    else:
        ref = first[-1]["rss"]
        peak = max(s["rss"] for s in last)
        growth = (peak - ref) / MB
        summary["rss_after_first_tenth_mb"] = round(ref / MB, 1)
        summary["rss_max_last_tenth_mb"] = round(peak / MB, 1)
        summary["growth_mb"] = round(growth, 1)
        verdict = "flat" if growth <= args.tolerance_mb else "growing"
        notes.append("largest RSS of the last tenth %s MB vs %s MB after "
                     "the first tenth: %+.1f MB (tolerance +%g MB)"
                     % (mb(peak), mb(ref), growth, args.tolerance_mb))
    summary["verdict"] = verdict

    print("\n".join(lines))
    print()
    print("verdict: %s -- %s" % (verdict, "; ".join(notes)))
    if idle:
        print("idle RSS %s MB with the feeds loaded (target <= %g MB: %s); "
              "peak RSS (VmHWM) over the whole run %s MB"
              % (mb(idle[-1]["rss"]), args.target_mb,
                 "met" if idle[-1]["rss"] / MB <= args.target_mb else "MISSED",
                 mb(max(r["hwm"] for r in rows))))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
            f.write("\n")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sample")
    p.add_argument("pid", type=int)
    p.add_argument("metrics_port", type=int)
    p.add_argument("phase_file")
    p.add_argument("csv")
    p.add_argument("--interval", type=float, default=1.0)
    p.set_defaults(run=cmd_sample)
    p = sub.add_parser("decisions")
    p.add_argument("metrics_port", type=int)
    p.set_defaults(run=cmd_decisions)
    p = sub.add_parser("report")
    p.add_argument("csv")
    p.add_argument("--findings", type=int, required=True)
    p.add_argument("--base", type=int, required=True)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--tolerance-mb", type=float, default=5.0)
    p.add_argument("--target-mb", type=float, default=64.0)
    p.add_argument("--json")
    p.set_defaults(run=cmd_report)
    args = parser.parse_args()
    sys.exit(args.run(args) or 0)


if __name__ == "__main__":
    main()
