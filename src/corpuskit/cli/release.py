"""`corpuskit release`: build a versioned, checksummed dataset release from the corpus and its annotations."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from corpuskit.cli.options import ExitCodes, add_command, add_format, add_releases, add_strip

DESCRIPTION = """\
Build releases/vX.Y.Z/: the configs `documents`, `annotations` and `gold`, each split into
train/validation/test as sharded, sorted, zstd Parquet in the Hugging Face layout, with a dataset
card (README.md), manifest.json (SHA-256 of every file), croissant.json and CHANGELOG.md.

Refuses (exit 1, with the reason) when validation fails, when the annotation snapshot is older
than the corpus (a document is not among the snapshot's tasks with its current content hash, or an
annotation was made on another text of its document), or when gold is below the quality
thresholds (min_annotators, min_alpha). An existing version is never overwritten; the build
happens in a temporary folder that is renamed into place only when complete.
"""

EXAMPLES = (
    "corpuskit release 1.0.0",
    "corpuskit release --bump minor",
    "corpuskit release --bump patch --allow-below-threshold --format json",
)

NOTES = """\
--format json prints {"version", "folder", "rows": {config: {split: n}}, "below_threshold": [...],
"split_warnings": [...]}. An empty split is not written (datasets cannot load a split without
rows); release warns about each on stderr, and the card lists them.
"""
EXIT_CODES = ExitCodes(
    ok="built", data="a gate refused or the version exists", usage="a bad option or missing input"
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "release",
        help="build a versioned dataset release (Parquet, card, manifest, Croissant)",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    parser.add_argument("version", nargs="?", metavar="VERSION", help="X.Y.Z (or use --bump)")
    parser.add_argument("--bump", choices=("major", "minor", "patch"), help="next version after the newest")
    add_releases(parser, flag="--out")
    parser.add_argument(
        "--allow-below-threshold",
        action="store_true",
        help="build even when gold is below the thresholds; the card says so",
    )
    add_strip(parser)
    add_format(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpuskit.errors import UsageError
    from corpuskit.release.api import release

    if (args.version is None) == (args.bump is None):
        raise UsageError("give either VERSION or --bump major|minor|patch")
    result = release(
        args.version,
        bump=args.bump,
        out=args.out,
        allow_below_threshold=args.allow_below_threshold,
        strip=True if args.strip else None,
    )
    for warning in result.split_warnings:
        print(f"corpuskit: warning: splits: {warning}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
        return 0
    print(f"released v{result.version} -> {result.folder}")
    for config, splits in result.rows.items():
        print(f"  {config}: " + ", ".join(f"{split} {n}" for split, n in splits.items()))
    for item in result.shortfalls:
        print(f"corpuskit: warning: below threshold: {item}", file=sys.stderr)
    return 0
