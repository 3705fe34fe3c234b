#!/usr/bin/env python3
"""Writes a synthetic, full-size FIRST EPSS scores file, for memory benchmarks.

A benchmark aid, not threat intel: the scores are made up. It writes what
bench/intel_bench.cc's WriteFullEpssFile() writes -- the FIRST layout (a
'#model_version:...,score_date:...' line, the header 'cve,epss,percentile',
then one row per CVE sorted as text), ROWS distinct CVE ids spread evenly
over 1999-2025, scores skewed low like the real distribution (0.0004 plus an
exponential with mean 0.025, capped at 1) and percentiles that match the
scores' ranks -- so that the server holds as many entries as it would with
the real daily file (~250,000 CVEs; the shipped intel/epss_scores_sample.csv
has 4,820). Deterministic for a given --seed and --rows; the numbers are not
the same as the C++ generator's (different random engines), the shape is.

With --merge FILE (e.g. the shipped sample), that file's rows are kept with
their real scores and the synthetic rows fill up to ROWS in total, so the
CVEs the sample scores (every KEV CVE among them) still find their scores.

    bench/gen_epss.py --out /tmp/epss-full.csv
    bench/gen_epss.py --rows 250000 --merge intel/epss_scores_sample.csv --out F
"""
import argparse
import bisect
import os
import random
import sys

HEADER = ("#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\n"
          "cve,epss,percentile\n")
FIRST_YEAR, LAST_YEAR = 1999, 2025


def read_merge(path):
    """Rows of an EPSS file as {cve: (epss_text, percentile_text)}."""
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or line.startswith("cve,"):
                continue
            cve, epss, percentile = line.split(",")[:3]
            rows.setdefault(cve, (epss, percentile))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250_000,
                        help="CVE rows in total (default 250000)")
    parser.add_argument("--seed", type=int, default=20240113)
    parser.add_argument("--merge", help="EPSS file whose rows are kept")
    parser.add_argument("--out", default="-", help="output file, - = stdout")
    args = parser.parse_args()

    real = read_merge(args.merge) if args.merge else {}
    want = max(0, args.rows - len(real))
    rng = random.Random(args.seed)

    # Synthetic ids: per year an increasing run of numbers with steps 1-9,
    # as the C++ generator; ids the merged file already has are skipped.
    years = LAST_YEAR - FIRST_YEAR + 1
    synthetic = []
    for y in range(years):
        rows = want // years + (1 if y < want % years else 0)
        number = 0
        made = 0
        while made < rows:
            number += rng.randint(1, 9)
            cve = "CVE-%d-%04d" % (FIRST_YEAR + y, number)
            if cve in real:
                continue
            synthetic.append(cve)
            made += 1

    scores = [min(1.0, 0.0004 + rng.expovariate(40.0)) for _ in synthetic]
    # Percentile = rank of the score among the synthetic rows.
    ordered = sorted(scores)
    n = len(ordered)
    rows = {}
    for cve, score in zip(synthetic, scores):
        rank = bisect.bisect_right(ordered, score)
        rows[cve] = ("%.5f" % score, "%.5f" % (rank / n))
    rows.update(real)

    out = sys.stdout if args.out == "-" else open(args.out, "w",
                                                 encoding="utf-8")
    out.write(HEADER)
    for cve in sorted(rows):
        epss, percentile = rows[cve]
        out.write("%s,%s,%s\n" % (cve, epss, percentile))
    if out is not sys.stdout:
        out.close()
        print("wrote %d rows (%d synthetic, %d from %s) to %s"
              % (len(rows), len(synthetic), len(real),
                 os.path.basename(args.merge) if args.merge else "-",
                 args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
