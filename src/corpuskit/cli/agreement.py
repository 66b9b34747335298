"""`corpuskit agreement`: how much the annotators agree, per stance target and topic."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from corpuskit.cli.options import ExitCodes, add_adjudications, add_command, add_format, add_snapshot

DESCRIPTION = """\
Compute inter-annotator agreement on a pulled annotation snapshot: Krippendorff's alpha (nominal)
and Fleiss' kappa per stance target, alpha per topic and for the topic sets (MASI distance),
pairwise Cohen's kappa, bootstrap confidence intervals, per-annotator figures and confusion
matrices. Cancelled annotations are excluded and counted. See docs/quality.md.
"""

EXAMPLES = (
    "corpuskit agreement",
    "corpuskit agreement annotations/ --format json > agreement.json",
    "corpuskit agreement --report reports/agreement --draws 2000 --seed 7",
)

NOTES = """\
--format json prints one object (shape "corpuskit.agreement/1", documented in docs/quality.md):
  {"format", "source", "taxonomy_version", "counts", "bootstrap", "stance": [...],
   "topics": {"set", "per_topic"}, "annotators": [...], "gold_confusion": {...}}
--report DIR writes agreement.md with PNG confusion-matrix and annotator plots (named on stderr).
"""
EXIT_CODES = ExitCodes(
    ok="computed", data="the snapshot is damaged or malformed", usage="no snapshot or a bad option"
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "agreement",
        help="inter-annotator agreement of the annotation snapshot",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    add_snapshot(parser)
    add_format(parser)
    parser.add_argument(
        "--report", metavar="DIR", help="also write a Markdown report with PNG plots into DIR"
    )
    add_adjudications(parser)
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
