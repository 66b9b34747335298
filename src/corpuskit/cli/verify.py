"""`corpuskit verify`: check every file of a release against its manifest."""

from __future__ import annotations

import argparse
import json
from typing import Any

from corpuskit.cli.options import ExitCodes, add_command, add_format, add_releases

DESCRIPTION = """\
Check that every file of a release is present with the size and SHA-256 recorded in its
manifest.json, and that no file was added. A release is immutable: any difference means it was
changed (or damaged) after it was built.
"""

EXAMPLES = ("corpuskit verify v1.0.0", "corpuskit verify 1.0.0 --releases /data/releases --format json")

NOTES = """\
The problems and the verdict go to stderr; --format json prints {"release", "ok", "files_checked",
"problems": [...]} on stdout.
"""
EXIT_CODES = ExitCodes(
    ok="intact", data="a file is missing, changed or extra", usage="no such release or a bad option"
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "verify",
        help="check a release's files against its manifest checksums",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    parser.add_argument("version", metavar="VERSION", help="vX.Y.Z, X.Y.Z or a release folder")
    add_releases(parser)
    add_format(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from corpuskit.release.load import verify

    result = verify(args.version, releases=args.releases)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        for problem in result.problems:
            print(problem, file=sys.stderr)
        state = "ok" if result.ok else f"FAILED ({len(result.problems)} problem(s))"
        print(f"{result.folder}: {result.checked} files checked: {state}", file=sys.stderr)
    return 0 if result.ok else 1
