"""`corpuskit verify`: check every file of a release against its manifest."""

from __future__ import annotations

import argparse
import json
from typing import Any

DESCRIPTION = """\
Check that every file of a release is present with the size and SHA-256 recorded in its
manifest.json, and that no file was added. A release is immutable: any difference means it was
changed (or damaged) after it was built.
"""

EPILOG = """\
examples:
  corpuskit verify v1.0.0
  corpuskit verify 1.0.0 --releases /data/releases --format json

--format json prints {"release", "ok", "files_checked", "problems": [...]}.
exit codes: 0 intact, 1 a file is missing, changed or extra, 2 no such release.
"""


def register(subparsers: Any) -> None:
    from corpuskit.cli.main import HelpFormatter

    parser = subparsers.add_parser(
        "verify",
        help="check a release's files against its manifest checksums",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("version", metavar="VERSION", help="vX.Y.Z, X.Y.Z or a release folder")
    parser.add_argument("--releases", metavar="DIR", help="releases folder (default: setting)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
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
        print(f"{result.folder}: {result.checked} files checked: {state}")
    return 0 if result.ok else 1
