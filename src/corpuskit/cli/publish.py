"""`corpuskit publish`: upload a release to the Hugging Face Hub as one tagged commit."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DESCRIPTION = """\
Verify a release, then upload every file to a Hugging Face dataset repository as a single
commit tagged with the version (vX.Y.Z). --dry-run verifies, parses the card's YAML locally and
prints the exact commit operations (path, size, SHA-256) without contacting the Hub.
The token comes from huggingface_hub's usual places (HF_TOKEN, `hf auth login`).
"""

EPILOG = """\
examples:
  corpuskit publish v1.0.0 --repo-id my-lab/news-stance --dry-run
  corpuskit publish v1.0.0 --repo-id my-lab/news-stance

--format json prints {"release", "repo_id", "revision_tag", "operations": [{"path_in_repo",
"size", "sha256"}], "card": {...}, "commit_url", "warnings"}. A release holding demo annotations
or built below the quality thresholds is published with a warning on stderr.
exit codes: 0 published (or planned), 1 the release failed verification, 2 Hub error or bad option.
"""


def register(subparsers: Any) -> None:
    from corpuskit.cli.main import HelpFormatter

    parser = subparsers.add_parser(
        "publish",
        help="upload a release to the Hugging Face Hub (one commit, tagged)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("version", metavar="VERSION", help="vX.Y.Z, X.Y.Z or a release folder")
    parser.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="dataset repository on the Hub")
    parser.add_argument("--releases", metavar="DIR", help="releases folder (default: setting)")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--dry-run", action="store_true", help="plan the commit without contacting the Hub")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
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
