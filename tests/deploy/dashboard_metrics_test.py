#!/usr/bin/env python3
"""Every PromQL expression of deploy/grafana/treatd-dashboard.json queries
metrics a real treatd exports, with labels and label values it really has.

The test starts the built treatd on 127.0.0.1 (free ports) with the default
policy, the shipped feeds and a SQLite ledger, drives it so every labelled
series exists (decisions through unary and batch calls, a call that fails,
calls refused by --max-concurrent-calls=1), scrapes /metrics, and then for
each expression of the dashboard checks:
  - every metric name in it is in the scrape (histogram _bucket/_count/_sum
    included);
  - every label in a matcher or in by (...) exists on a metric of the
    expression (Prometheus adds instance and job; histograms have le);
  - every value of an = matcher occurs in the scrape (state="open" is a
    value treatd writes);
  - every function is a PromQL function.
Bounded: treatd is stopped by PID at the end, every call has a timeout.
Usage: dashboard_metrics_test.py TREATD TREATCTL SOURCE_DIR
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

FUNCTIONS = {
    "sum", "min", "max", "avg", "count", "topk", "bottomk", "quantile",
    "count_values", "stddev", "stdvar", "group", "rate", "irate", "increase",
    "delta", "idelta", "deriv", "histogram_quantile", "time", "abs", "clamp_min",
    "clamp_max", "label_replace", "vector", "scalar", "avg_over_time",
    "max_over_time", "min_over_time", "sum_over_time", "absent", "round",
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "and", "or", "unless", "offset", "bool"}
TARGET_LABELS = {"instance", "job"}  # added by Prometheus when it scrapes
FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)
    return ok


def parse_scrape(text):
    """{sample name: {label: set(values)}} of an exposition text."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ", line)
        if not m:
            continue
        labels = series.setdefault(m.group(1), {})
        for lm in re.finditer(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""):
            labels.setdefault(lm.group(1), set()).add(lm.group(2))
    return series


def parse_expr(expr):
    """(metric names, {metric: [(label, op, value)]}, by-labels, functions)."""
    matchers = {}
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", expr):
        matchers.setdefault(m.group(1), []).extend(
            re.findall(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"([^"]*)"', m.group(2)))
    by = set()
    for m in re.finditer(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        by |= {l.strip() for l in m.group(1).split(",") if l.strip()}
    bare = re.sub(r"\{[^}]*\}", "", expr)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", bare)
    bare = re.sub(r'"[^"]*"', "", bare)
    names, functions = set(), set()
    for m in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", bare):
        word = m.group(1)
        if m.group(2):
            functions.add(word)
        elif word not in KEYWORDS:
            names.add(word)
    return names, matchers, by, functions


def main():
    treatd, treatctl, source = sys.argv[1:4]
    work = tempfile.mkdtemp(prefix="dashboard-metrics-")
    proc = None
    try:
        policy = os.path.join(work, "policy.yaml")
        shutil.copy(os.path.join(source, "policies", "default.yaml"), policy)
        args = [treatd, "--listen", "127.0.0.1:0", "--metrics-listen",
                "127.0.0.1:0", "--policy", policy,
                "--kev", os.path.join(source, "intel",
                                      "known_exploited_vulnerabilities.json"),
                "--epss", os.path.join(source, "intel",
                                       "epss_scores_sample.csv"),
                "--max-concurrent-calls", "1",
                "--ledger", os.path.join(work, "ledger.db")]
        out = open(os.path.join(work, "out.txt"), "w")
        log = open(os.path.join(work, "log.txt"), "w")
        proc = subprocess.Popen(args, stdout=out, stderr=log)
        address, metrics_port = None, None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (address is None or metrics_port is None):
            if proc.poll() is not None:
                break
            with open(os.path.join(work, "out.txt")) as f:
                m = re.search(r"treatd listening on (127\.0\.0\.1:\d+);", f.read())
                address = m.group(1) if m else None
            with open(os.path.join(work, "log.txt")) as f:
                m = re.search(r'"metrics_port":(\d+)', f.read())
                metrics_port = m.group(1) if m else None
            time.sleep(0.05)
        if not check(address is not None and metrics_port not in (None, "0"),
                     f"treatd started ({address}, metrics :{metrics_port})"):
            with open(os.path.join(work, "log.txt")) as f:
                print(f.read()[-3000:])
            return 1

        findings = os.path.join(source, "examples", "findings.jsonl")
        bad = os.path.join(work, "bad.jsonl")
        with open(bad, "w") as f:
            f.write('{"id":"bad","kind":"FINDING_KIND_VULNERABILITY",'
                    '"vulnerability":{"cvss":{"score":42}}}\n')
        for cmd in (
                ["decide", "--target", address, findings],
                ["bench", "--target", address, "--mode", "batch", "-c", "1",
                 "-d", "0.5", "--warmup", "0", findings],
                # Over --max-concurrent-calls=1: some calls are refused.
                ["bench", "--target", address, "--mode", "unary", "-c", "16",
                 "-d", "1", "--warmup", "0", findings],
                # An invalid finding: INVALID_ARGUMENT.
                ["bench", "--target", address, "--mode", "unary", "-c", "1",
                 "-d", "0.3", "--warmup", "0", bad]):
            r = subprocess.run([treatctl] + cmd, capture_output=True, text=True,
                               timeout=60)
            print(f"     treatctl {cmd[0]} {' '.join(cmd[3:5])}: exit {r.returncode}")
        # A policy edit: the reload counter moves.
        with open(policy, "a") as f:
            f.write("\n# edited by the test\n")
        time.sleep(2.5)
        with urllib.request.urlopen(
                f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
            scrape = resp.read().decode()
        series = parse_scrape(scrape)
        print(f"     scraped {len(series)} series names from treatd")

        with open(os.path.join(source, "deploy", "grafana",
                               "treatd-dashboard.json")) as f:
            dash = json.load(f)
        exprs = [(p["title"], t["expr"]) for p in dash["panels"]
                 for t in p.get("targets", [])]
        check(len(exprs) >= 20, f"{len(exprs)} expressions in the dashboard")
        for title, expr in exprs:
            names, matchers, by, functions = parse_expr(expr)
            where = f"'{title}': {expr}"
            unknown_fn = functions - FUNCTIONS
            check(not unknown_fn, f"{where}: functions {sorted(functions)} are PromQL")
            missing = {n for n in names if n not in series}
            check(names and not missing,
                  f"{where}: metrics {sorted(names)} exported"
                  + (f" (missing: {sorted(missing)})" if missing else ""))
            labels = set(TARGET_LABELS)
            for n in names:
                labels |= set(series.get(n, {}))
            check(by <= labels, f"{where}: by-labels {sorted(by)} exist"
                  + (f" (unknown: {sorted(by - labels)})" if not by <= labels else ""))
            for metric, ms in matchers.items():
                have = series.get(metric, {})
                for label, op, value in ms:
                    check(label in have or label in TARGET_LABELS,
                          f"{where}: {metric} has label {label}")
                    if op == "=" and label in have:
                        check(value in have[label],
                              f"{where}: {metric}{{{label}=\"{value}\"}} occurs "
                              f"(values: {sorted(have[label])})")
        # The parser finds what it should (guards against a vacuous pass).
        n, m, b, fns = parse_expr(
            'histogram_quantile(0.99, sum by (le, method) '
            '(rate(treatd_x_bucket{code="OK"}[$__rate_interval])))')
        check(n == {"treatd_x_bucket"} and b == {"le", "method"}
              and m == {"treatd_x_bucket": [("code", "=", "OK")]}
              and fns == {"histogram_quantile", "sum", "rate"},
              "self-check: the expression parser")
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    if FAILURES:
        print(f"dashboard metrics: {len(FAILURES)} checks failed")
        return 1
    print("dashboard metrics: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
