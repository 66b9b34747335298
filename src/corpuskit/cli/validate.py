"""`corpuskit validate`: check raw documents locally, in pre-commit and in CI."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from corpuskit.cli.options import (
    ExitCodes,
    add_command,
    add_format,
    add_quiet,
    add_strip,
    report_usage_errors_as_json,
)

DESCRIPTION = """\
Read every .txt, .json and .jsonl file under PATHS (default: the raw folder of the corpus),
check each document against schema/document.schema.json and the date and content-hash rules,
then check the whole corpus for duplicate ids, identical content under two ids (errors) and
near-duplicates (warnings, with their estimated similarity).

--changed-since and --staged narrow the report to some files, but a change to the schema, the
taxonomy, the settings (pyproject.toml), the dedupe record or the corpuskit pin
(.pre-commit-config.yaml, the workflow) checks every document, and the summary says why.

Clusters of three or more identical or near-duplicate documents are one message each. --dedupe
writes the dedupe record (dedupe.jsonl, the `dedupe_record` setting): per cluster the member
kept (one already kept stays; else the earliest published_at, then the first in corpus order)
and the others left out, which push and release then leave out. Commit the record to review the
choice in a diff; every run checks it against the corpus and a stale line is an error.

Text diagnostics and the summary go to stderr; --format json and github write to stdout.
"""

EXAMPLES = (
    "corpuskit validate",
    "corpuskit validate raw/2024/ extra.jsonl",
    "corpuskit validate --format json > report.json",
    "corpuskit validate --format github --changed-since origin/main",
    "corpuskit validate --staged      # what the next commit holds (the pre-commit hook)",
    "corpuskit validate --root corpora/news   # a corpus in a subfolder, from the repository's top",
    "corpuskit validate --dedupe && git diff dedupe.jsonl   # keep one document per duplicate cluster",
    "corpuskit validate --strip       # drop page furniture; stripped lines counted per file",
)
NOTES = """\
With --format json, a usage or environment error is one object
{"version", "ok": false, "error": {"exit_code", "message"}} on stdout.
"""
EXIT_CODES = ExitCodes(
    ok="no errors (warnings allowed)",
    data="errors found (or warnings with --strict)",
    usage="usage or environment error (missing path, unknown git ref, unreadable schema)",
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "validate",
        help="check raw documents and the corpus as a whole",
        description=DESCRIPTION,
        examples=EXAMPLES,
        exit_codes=EXIT_CODES,
    )
    report_usage_errors_as_json(parser)
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the raw folder)")
    add_format(parser, choices=("text", "json", "github"))
    parser.add_argument(
        "--changed-since",
        metavar="GIT_REF",
        help="report per-document problems only for files added or changed since GIT_REF "
        "(cross-record checks still see the whole corpus)",
    )
    parser.add_argument(
        "--staged",
        action="store_true",
        help="report only on the staged files among PATHS (default: all staged files); the corpus "
        "is what git tracks in the raw folder plus them, untracked files are left out",
    )
    parser.add_argument("--strict", action="store_true", help="warnings fail the run too (exit 1)")
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="the corpus folder (default: the nearest one, from the current folder up, whose "
        "pyproject.toml has [tool.corpuskit]); the pre-commit hook of a corpus in a subfolder of its "
        "repository runs from the repository's top and passes it",
    )
    add_strip(parser)
    parser.add_argument(
        "--dedupe",
        action="store_true",
        help="write the dedupe record: one member kept per cluster of identical or near-duplicate "
        "documents, the others left out of push and release (default: the `dedupe` setting; "
        "whole corpus only)",
    )
    add_quiet(parser, help="no progress bar and no summary line")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the signature cache in .corpuskit/cache/",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpuskit.errors import CorpuskitError, UsageError
    from corpuskit.validation.api import validate
    from corpuskit.validation.reporters import REPORTERS, report_json_error, summary_line

    try:
        if args.staged and args.changed_since:
            raise UsageError("--staged and --changed-since: choose one")
        result = validate(
            args.paths or None,
            changed_since=args.changed_since,
            staged=args.staged,
            cache=not args.no_cache,
            progress=not args.quiet and sys.stderr.isatty(),
            root=args.root,
            dedupe=True if args.dedupe else None,
            strip=True if args.strip else None,
        )
    except CorpuskitError as exc:
        if args.format == "json":
            report_json_error(exc, sys.stdout)
        raise
    out = sys.stderr if args.format == "text" else sys.stdout
    REPORTERS[args.format](result, out)
    if not args.quiet and args.format != "json":
        print(summary_line(result), file=sys.stderr)
    failed = not result.ok or (args.strict and result.warnings > 0)
    return 1 if failed else 0
