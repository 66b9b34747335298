"""`corpuskit pull`: bring every annotation back from Label Studio into the snapshot folder."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DESCRIPTION = """\
Export a Label Studio project through its bulk export path and write the annotation snapshot:
sorted JSONL tables (tasks, annotations, drafts, predictions, problems) and snapshot.json, replaced
atomically. Results that do not fit the taxonomy are listed in problems.jsonl, never dropped.
With --from-export, convert a JSON export downloaded from Label Studio, without a server.
"""

EPILOG = """\
examples:
  corpuskit pull
  corpuskit pull --project 3 --out annotations/
  corpuskit pull --from-export ~/Downloads/project-3-at-2024-11-02.json --format json

The summary goes to stderr; with --format json a summary object goes to stdout:
  {"folder", "changed", "tasks", "annotations", "annotators", "cancelled", "ground_truth",
   "drafts", "predictions", "problems"}
exit codes: 0 snapshot written (or unchanged), 1 the export file is not valid JSON,
2 server unreachable, token refused, unknown project, or a truncated export.
"""


def register(subparsers: Any) -> None:
    from corpuskit.cli.main import HelpFormatter

    parser = subparsers.add_parser(
        "pull",
        help="pull annotations from Label Studio into annotations/",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--project", type=int, metavar="ID", help="Label Studio project id (default: by title)"
    )
    parser.add_argument(
        "--out", metavar="DIR", help="snapshot folder (default: [tool.corpuskit] annotations)"
    )
    parser.add_argument("--from-export", metavar="FILE", help="convert a downloaded JSON export, no server")
    parser.add_argument(
        "--method",
        choices=("snapshot", "export"),
        default="snapshot",
        help="Label Studio export path: an export snapshot (default, faster) or the export endpoint",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="summary format")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpuskit.studio.pull import pull

    result = pull(project=args.project, out=args.out, from_export=args.from_export, method=args.method)
    summary = result.summary()
    state = "written" if result.changed else "unchanged"
    print(
        f"pull: {summary['tasks']} tasks, {summary['annotations']} annotations by {summary['annotators']} "
        f"annotators ({summary['cancelled']} cancelled, {summary['ground_truth']} ground truth), "
        f"{summary['drafts']} drafts, {summary['predictions']} predictions, {summary['problems']} problems; "
        f"snapshot {state} in {summary['folder']}",
        file=sys.stderr,
    )
    if args.format == "json":
        print(json.dumps(summary, sort_keys=True))
    return 0
