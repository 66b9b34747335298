"""`corpuskit pull`: bring every annotation back from Label Studio into the snapshot folder."""

from __future__ import annotations

import argparse
import json
from typing import Any

from corpuskit.cli.options import ExitCodes, add_command, add_format, add_project, add_snapshot

DESCRIPTION = """\
Export a Label Studio project through its bulk export path and write the annotation snapshot:
sorted JSONL tables (tasks, annotations, drafts, predictions, problems) and snapshot.json, replaced
atomically. Results that do not fit the taxonomy are listed in problems.jsonl, never dropped.
With --from-export, convert a JSON export downloaded from Label Studio, without a server.
"""

EXAMPLES = (
    "corpuskit pull",
    "corpuskit pull --project 3 --out annotations/",
    "corpuskit pull --from-export ~/Downloads/project-3-at-2024-11-02.json --format json",
)

NOTES = """\
The summary goes to stdout; with --format json instead one summary object:
  {"folder", "changed", "unchanged_since", "tasks", "annotations", "annotators", "cancelled",
   "ground_truth", "drafts", "predictions", "problems", "prelabels": {"hidden", "shown", "unknown"}|null}
A project whose counts, latest task change, drafts and users are those the last pull saw (and
whose snapshot in the folder is intact) is not exported again: "unchanged since <exported_at>",
and `unchanged_since` holds that time (null otherwise). "prelabels" counts the annotations by
whether model pre-labels were on the annotator's page when they were made (docs/model-loop.md);
null with --from-export.
"""
EXIT_CODES = ExitCodes(
    ok="snapshot written (or unchanged)",
    data="the export file is not valid JSON",
    usage="server unreachable, token refused, unknown project, a truncated export, or a bad option",
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "pull",
        help="pull annotations from Label Studio into annotations/",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    add_project(parser)
    add_snapshot(parser, flag="--out")
    parser.add_argument("--from-export", metavar="FILE", help="convert a downloaded JSON export, no server")
    parser.add_argument(
        "--method",
        choices=("snapshot", "export"),
        default="snapshot",
        help="Label Studio export path: an export snapshot (default, faster) or the export endpoint",
    )
    add_format(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpuskit.studio.pull import pull

    result = pull(project=args.project, out=args.out, from_export=args.from_export, method=args.method)
    summary = result.summary()
    if args.format == "json":
        print(json.dumps(summary, sort_keys=True))
        return 0
    state = "written" if result.changed else "unchanged"
    if result.unchanged_since is not None:
        state = f"unchanged since {result.unchanged_since} (nothing exported)"
    print(
        f"pull: {summary['tasks']} tasks, {summary['annotations']} annotations by {summary['annotators']} "
        f"annotators ({summary['cancelled']} cancelled, {summary['ground_truth']} ground truth), "
        f"{summary['drafts']} drafts, {summary['predictions']} predictions, {summary['problems']} problems; "
        f"snapshot {state} in {summary['folder']}"
    )
    if summary["prelabels"]:
        counts = summary["prelabels"]
        print(
            f"pre-labels on the annotator's page: hidden for {counts['hidden']}, shown for "
            f"{counts['shown']}, unknown for {counts['unknown']} annotations"
        )
    return 0
