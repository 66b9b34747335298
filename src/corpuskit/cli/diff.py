"""`corpuskit diff`: what changed between two releases."""

from __future__ import annotations

import argparse
import json
from typing import Any

from corpuskit.cli.options import ExitCodes, add_command, add_format, add_releases

DESCRIPTION = """\
Compare two releases: documents added, removed and changed (content hash), documents whose gold
labels changed (with the label transitions), and the change in agreement per target. Streams
both releases in id order, so it works on corpora of any size.
"""

EXAMPLES = ("corpuskit diff v1.0.0 v1.1.0", "corpuskit diff 1.0.0 1.1.0 --format json")

NOTES = """\
--format json prints {"old", "new", "documents": {"added", "removed", "changed"}, "labels":
{"changed", "transitions"}, "agreement"}; each of added/removed/changed is {"count", "examples"}.
"""
EXIT_CODES = ExitCodes(ok="compared", usage="no such release or a bad option")


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "diff",
        help="documents, labels and agreement changed between two releases",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    parser.add_argument("old", metavar="OLD", help="older release (vX.Y.Z or folder)")
    parser.add_argument("new", metavar="NEW", help="newer release (vX.Y.Z or folder)")
    add_releases(parser)
    add_format(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpuskit.release.diff import diff

    result = diff(args.old, args.new, releases=args.releases)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
        return 0
    print(f"{result.old} -> {result.new}")
    print("\n".join(result.lines()))
    return 0
