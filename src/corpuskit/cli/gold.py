"""`corpuskit gold`: gold labels with provenance, and the release gate on agreement."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from corpuskit.cli.options import ExitCodes, add_adjudications, add_command, add_format, add_snapshot

DESCRIPTION = """\
Decide one gold label per document and stance target (and per topic), recording how it was
decided: ground_truth (marked in Label Studio) > adjudicated (corpuskit adjudicate) > majority
(more than half of at least two answers) > single (the answer of a document only one annotator
labelled, flagged single_annotator) > unresolved. Ties are never resolved silently. Writes
SNAPSHOT/gold.jsonl (sorted, atomic) and prints a summary.

With --check nothing is written: exit 1 when a stance target's alpha is below min_alpha, or a
gold label is unresolved, decided by fewer than min_annotators, or decided by a single annotator
on a document the overlap design meant for more ([tool.corpuskit] settings, docs/team.md).
"""

EXAMPLES = (
    "corpuskit gold",
    "corpuskit gold annotations/ --output build/gold.jsonl --format json",
    "corpuskit gold --check",
    "corpuskit gold --check --min-alpha 0.8 --min-annotators 3 --format json",
)

NOTES = """\
--format json prints {"output", "summary": {"documents", "stance", "topics", "flags"}, "rule"};
with --check: {"ok", "min_annotators", "min_alpha", "checked_items", "targets": [{"where",
"message"}], "items": [...]}. The text of --check (failures and verdict) goes to stderr.
"""
EXIT_CODES = ExitCodes(
    ok="written (or the check passed)",
    data="the check failed or the snapshot is malformed",
    usage="no snapshot or a bad option",
)

SHOWN_ITEMS = 20


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "gold",
        help="gold labels with provenance (and --check the quality thresholds)",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    add_snapshot(parser)
    parser.add_argument("--output", metavar="FILE", help="gold file (default: SNAPSHOT/gold.jsonl)")
    add_adjudications(parser)
    parser.add_argument("--check", action="store_true", help="check the thresholds instead of writing")
    parser.add_argument("--min-annotators", type=int, metavar="N", help="override the setting")
    parser.add_argument("--min-alpha", type=float, metavar="X", help="override the setting")
    add_format(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.check:
        return _check(args)
    from corpuskit.quality.gold import write_gold_file

    result = write_gold_file(
        args.snapshot, args.output, adjudications=args.adjudications, min_annotators=args.min_annotators
    )
    output, summary = result.output, result.summary
    if args.format == "json":
        print(json.dumps({"output": str(output), "summary": summary, "rule": result.rule}, sort_keys=True))
        return 0
    flags = _join(summary["flags"]) or "none"
    print(
        f"gold: {summary['documents']} documents written to {output}\n"
        f"  stance labels: {_join(summary['stance'])}\n"
        f"  topic labels:  {_join(summary['topics'])}\n"
        f"  flags: {flags}"
    )
    return 0


def _join(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _check(args: argparse.Namespace) -> int:
    from corpuskit.quality.check import check_gold

    result = check_gold(
        args.snapshot,
        adjudications=args.adjudications,
        min_annotators=args.min_annotators,
        min_alpha=args.min_alpha,
        # The text shows the first few failing labels; JSON lists every one.
        keep_items=None if args.format == "json" else SHOWN_ITEMS,
    )
    if args.format == "json":
        print(json.dumps(result.to_json(), ensure_ascii=False, sort_keys=True))
    else:
        for failure in result.targets:
            print(f"gold --check: {failure}", file=sys.stderr)
        for failure in result.items[:SHOWN_ITEMS]:
            print(f"gold --check: {failure}", file=sys.stderr)
        if result.failed_items > SHOWN_ITEMS:
            print(f"gold --check: ... and {result.failed_items - SHOWN_ITEMS} more items", file=sys.stderr)
        verdict = "passed" if result.ok else "FAILED"
        print(
            f"gold --check {verdict}: {len(result.targets)} targets below min_alpha {result.min_alpha:g}, "
            f"{result.failed_items} of {result.checked_items} labels unresolved, below min_annotators "
            f"{result.min_annotators} or missing the annotators the design asks for",
            file=sys.stderr,
        )
    return 0 if result.ok else 1
