"""`corpuskit adjudicate`: send disagreements to a review project, bring the adjudicator's answers back."""

from __future__ import annotations

import argparse
import json
from typing import Any

from corpuskit.cli.options import ExitCodes, add_command, add_format, add_project, add_snapshot

DESCRIPTION = """\
Pull the review project's adjudicated answers into SNAPSHOT/adjudications.jsonl, then push the
documents on which annotators still disagree (a gold label left unresolved by a tie or no majority,
or conflicting ground truths) to the review project in Label Studio, with the same labelling config
and each annotator's answer shown as a prediction named after the annotator. Documents already in
the review project are not pushed again, so re-running adds only new disagreements. Run
`corpuskit pull` first so that the snapshot is current; `corpuskit gold` then uses the adjudications.
"""

EXAMPLES = (
    "corpuskit adjudicate",
    "corpuskit adjudicate annotations/ --any-disagreement",
    "corpuskit adjudicate --project 7 --format json",
)

NOTES = """\
The summary goes to stdout; --format json prints {"project_id", "project_title",
"adjudications_file", "adjudications", "pulled", "disagreements", "pushed": [document ids],
"already_in_review"}.
"""
EXIT_CODES = ExitCodes(
    ok="done",
    data="the snapshot is malformed",
    usage="no snapshot, no server, the server refused, or a bad option",
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "adjudicate",
        help="review disagreements in Label Studio and pull the adjudicated labels",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    add_snapshot(parser)
    add_project(parser, default="the review project '<title> (adjudication)'")
    parser.add_argument(
        "--any-disagreement",
        action="store_true",
        help="also send labels decided by a majority that was not unanimous",
    )
    add_format(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpuskit.quality.adjudicate import adjudicate

    result = adjudicate(args.snapshot, project=args.project, any_disagreement=args.any_disagreement)
    summary = result.summary()
    if args.format == "json":
        print(json.dumps(summary, sort_keys=True))
        return 0
    print(
        f"adjudicate: {result.pulled} new or changed adjudications pulled ({result.adjudications} in "
        f"{result.adjudications_file}); {len(result.disagreements)} documents need adjudication: "
        f"{len(result.pushed)} pushed, {len(result.already_in_review)} already in review project "
        f"{result.project_id} ({result.project_title!r})"
    )
    return 0
