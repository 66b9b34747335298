"""`corpuskit agreement`: how much the annotators agree, per stance target and topic."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DESCRIPTION = """\
Compute inter-annotator agreement on a pulled annotation snapshot: Krippendorff's alpha (nominal)
and Fleiss' kappa per stance target, alpha per topic and for the topic sets (MASI distance),
pairwise Cohen's kappa, bootstrap confidence intervals, per-annotator figures and confusion
matrices. Cancelled annotations are excluded and counted. See docs/quality.md.
"""

EPILOG = """\
examples:
  corpuskit agreement
  corpuskit agreement annotations/ --format json > agreement.json
  corpuskit agreement --report reports/agreement --draws 2000 --seed 7

--format json prints one object (shape "corpuskit.agreement/1", documented in docs/quality.md):
  {"format", "source", "taxonomy_version", "counts", "bootstrap", "stance": [...],
   "topics": {"set", "per_topic"}, "annotators": [...], "gold_confusion": {...}}
--report DIR writes agreement.md with PNG confusion-matrix and annotator plots.
exit codes: 0 computed, 1 the snapshot is damaged or malformed, 2 no snapshot or a bad option.
"""


def register(subparsers: Any) -> None:
    from corpuskit.cli.main import HelpFormatter

    parser = subparsers.add_parser(
        "agreement",
        help="inter-annotator agreement of the annotation snapshot",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "snapshot",
        nargs="?",
        metavar="SNAPSHOT",
        help="snapshot folder (default: [tool.corpuskit] annotations)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--report", metavar="DIR", help="also write a Markdown report with PNG plots into DIR"
    )
    parser.add_argument("--adjudications", metavar="FILE", help="default: SNAPSHOT/adjudications.jsonl")
    parser.add_argument("--draws", type=int, default=1000, metavar="N", help="bootstrap draws (default 1000)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="bootstrap seed (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpuskit.errors import UsageError
    from corpuskit.quality.agreement import agreement
    from corpuskit.quality.report import format_table, write_report

    if args.draws < 0:
        raise UsageError("--draws must be 0 or more")
    result = agreement(args.snapshot, adjudications=args.adjudications, draws=args.draws, seed=args.seed)
    if args.format == "json":
        print(json.dumps(result.to_json(), ensure_ascii=False, sort_keys=True))
    else:
        sys.stdout.write(format_table(result))
    if args.report:
        written = write_report(result, args.report)
        print(f"agreement: report written to {written[0]} ({len(written) - 1} plots)", file=sys.stderr)
    return 0
