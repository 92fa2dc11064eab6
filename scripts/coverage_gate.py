"""Fail unless line and branch coverage each reach their own threshold.

coverage.py's `fail_under` checks one combined figure; CI gates the two separately.
"""

from __future__ import annotations

import argparse
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("report")
    parser.add_argument("--line", type=float, required=True)
    parser.add_argument("--branch", type=float, required=True)
    args = parser.parse_args()
    with open(args.report, encoding="utf-8") as fh:
        totals = json.load(fh)["totals"]
    line = 100.0 * totals["covered_lines"] / max(totals["num_statements"], 1)
    branch = 100.0 * totals["covered_branches"] / max(totals["num_branches"], 1)
    print(
        f"coverage: line {line:.1f}% (gate {args.line}%), "
        f"branch {branch:.1f}% (gate {args.branch}%)"
    )
    ok = line >= args.line and branch >= args.branch
    if not ok:
        print("coverage gate FAILED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
