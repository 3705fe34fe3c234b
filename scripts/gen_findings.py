#!/usr/bin/env python3
"""Writes N findings as JSON Lines, for benchmarks and scale tests.

A test and benchmark aid, not part of the product: it varies the example
findings (examples/findings.jsonl) deterministically -- unique ids, asset
ids and names from a fleet of hosts, CVSS and EPSS scores, KEV listing,
fix availability and first_seen dates -- so that a run exercises every rule
of the default policy.

    scripts/gen_findings.py 1000000 > /tmp/findings-1m.jsonl
    scripts/gen_findings.py 20000 --seed 7 --out /tmp/f.jsonl
"""
import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "examples", "findings.jsonl")

EXPOSURES = ["EXPOSURE_INTERNET", "EXPOSURE_INTERNAL", "EXPOSURE_ISOLATED"]
CRITICALITIES = ["CRITICALITY_LOW", "CRITICALITY_MEDIUM", "CRITICALITY_HIGH",
                 "CRITICALITY_CRITICAL"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, help="number of findings")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="-", help="output file, - = stdout")
    args = parser.parse_args()

    with open(EXAMPLES, encoding="utf-8") as f:
        templates = [json.loads(line) for line in f if line.strip()]
    rng = random.Random(args.seed)
    out = sys.stdout if args.out == "-" else open(args.out, "w",
                                                 encoding="utf-8")
    for i in range(args.count):
        finding = json.loads(json.dumps(templates[i % len(templates)]))
        finding["id"] = "gen-%08d" % i
        host = rng.randrange(5000)
        asset = finding.setdefault("asset", {})
        asset["id"] = "host-%04d" % host
        asset["name"] = "host-%04d.fleet.example.com" % host
        asset["exposure"] = EXPOSURES[host % len(EXPOSURES)]
        asset["criticality"] = CRITICALITIES[host % len(CRITICALITIES)]
        vuln = finding.get("vulnerability")
        if vuln is not None:
            vuln.setdefault("cvss", {})["score"] = round(rng.uniform(1, 10), 1)
            if "epss" in vuln:
                vuln["epss"]["score"] = round(rng.random() ** 3, 5)
            if rng.random() < 0.02:
                vuln["kev"] = {"listed": True,
                               "dateAdded": "2026-01-05T00:00:00Z"}
        day = 1 + rng.randrange(28)
        finding["firstSeen"] = "2026-11-%02dT08:00:00Z" % day
        out.write(json.dumps(finding, separators=(",", ":")))
        out.write("\n")
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
