"""`corpuskit demo`: the main job end to end on the embedded Label Studio with synthetic annotators."""

from __future__ import annotations

import argparse
import json
from typing import Any

from corpuskit.cli.options import ExitCodes, add_command, add_format, add_quiet

DESCRIPTION = """\
Run the whole flow once on this corpus: start the embedded Label Studio, validate the raw
folder, push it to a separate demo project, let three DEMO accounts annotate every document
with a deterministic rule (synthetic labels, never human ones), pull, compute agreement and
gold, build a release under demo/releases/ and load it back with datasets.load_dataset.

The server keeps running afterwards so you can annotate for real. A second run changes
nothing it does not need to. `make demo` runs this after creating the environment.
"""

EXAMPLES = (
    "corpuskit demo",
    "corpuskit demo --format json",
    "corpuskit demo --reset        # forget demo/ first (the demo project stays in Label Studio)",
)

NOTES = """\
The summary goes to stdout (with --format json one object); progress goes to stderr.
"""
EXIT_CODES = ExitCodes(
    ok="the whole flow ran",
    data="the demo data failed a check (validation, annotations or a release gate)",
    usage="the server could not start or refused a request, or a bad option",
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "demo",
        help="run the main job end to end with synthetic demo annotators",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    add_format(parser)
    parser.add_argument("--reset", action="store_true", help="remove demo/ before running")
    add_quiet(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpuskit.demo import reset_demo, run_demo

    if args.reset:
        reset_demo()
    result = run_demo(progress=False if args.quiet else None)
    if args.format == "json":
        summary = {
            "synthetic": True,
            "url": result.url,
            "project_id": result.project_id,
            "documents": result.documents,
            "annotations": result.annotations,
            "annotations_created": result.annotations_created,
            "annotators_per_document": result.annotators_per_document,
            "documents_by_annotators": {str(n): c for n, c in sorted(result.by_annotators.items())},
            "alpha": result.alpha,
            "release": str(result.release_folder),
            "release_built": result.release_built,
            "loaded_rows": result.loaded_rows,
            "below_threshold": result.shortfalls,
            "suggest": result.suggest,
        }
        print(json.dumps(summary, indent=2))
    else:
        print("\n".join(result.summary_lines()))
    return 0
