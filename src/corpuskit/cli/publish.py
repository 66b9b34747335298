"""`corpuskit publish`: upload a release to the Hugging Face Hub as one tagged commit."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from corpuskit.cli.options import ExitCodes, add_command, add_dry_run, add_format, add_releases

DESCRIPTION = """\
Verify a release, then upload every file to a Hugging Face dataset repository as a single
commit tagged with the version (vX.Y.Z). --dry-run verifies, parses the card's YAML locally and
prints the exact commit operations (path, size, SHA-256) without contacting the Hub.
The token comes from huggingface_hub's usual places (HF_TOKEN, `hf auth login`).
"""

EXAMPLES = (
    "corpuskit publish v1.0.0 --repo-id my-lab/news-stance --dry-run",
    "corpuskit publish v1.0.0 --repo-id my-lab/news-stance",
)

NOTES = """\
--format json prints {"release", "repo_id", "revision_tag", "operations": [{"path_in_repo",
"size", "sha256"}], "card": {...}, "commit_url", "warnings"}. A release holding demo annotations
or built below the quality thresholds is published with a warning on stderr.
"""
EXIT_CODES = ExitCodes(
    ok="published (or planned)",
    data="the release failed verification or its card is incomplete",
    usage="no such release, a Hub error or a bad option",
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "publish",
        help="upload a release to the Hugging Face Hub (one commit, tagged)",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    parser.add_argument("version", metavar="VERSION", help="vX.Y.Z, X.Y.Z or a release folder")
    parser.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="dataset repository on the Hub")
    add_releases(parser)
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    add_dry_run(parser, help="plan the commit without contacting the Hub")
    add_format(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpuskit.release.publish import publish

    plan = publish(
        args.version, args.repo_id, releases=args.releases, dry_run=args.dry_run, private=args.private
    )
    data = plan.to_json()
    for warning in plan.warnings:
        print(f"corpuskit: warning: {warning}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(data, indent=2))
        return 0
    verb = "would upload" if args.dry_run else "uploaded"
    total = sum(op["size"] for op in data["operations"])
    print(
        f"{verb} {len(data['operations'])} files ({total} bytes) to {args.repo_id} as {data['revision_tag']}"
    )
    for op in data["operations"]:
        print(f"  {op['path_in_repo']}  {op['size']}  sha256:{op['sha256']}")
    if plan.commit_url:
        print(plan.commit_url)
    return 0
