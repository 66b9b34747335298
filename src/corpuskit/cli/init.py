"""`corpuskit init`: start a new corpus repository in one command."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from corpuskit.cli.options import ExitCodes, add_command, add_format

DESCRIPTION = """\
Create a corpus repository in DIR: pyproject.toml with [tool.corpuskit], schema/ (document schema,
taxonomy and its schema), raw/ with one fictional example article, docs/annotation-guidelines.md,
.pre-commit-config.yaml (hook corpuskit-validate), .github/workflows/validate.yml, .gitignore and
a README. The result validates at once: `corpuskit validate` and `corpuskit taxonomy check` pass.

The hook and the workflow install corpuskit from --repo (a git URL or folder) at --rev (a tag or
commit): give both, or init asks for them (on a terminal) or, when this corpuskit was installed
from git, uses that repository and revision. The hook's `files` and the workflow's `paths` come
from the settings: the raw folder, the schema and taxonomy folder, pyproject.toml and the pin.

A DIR that is not empty is refused unless --force; existing files are never overwritten (with
--force the missing files are added and the existing ones listed as kept).
"""

EXAMPLES = (
    "corpuskit init my-corpus --repo https://github.com/news-lab/corpuskit --rev v0.1.0",
    "corpuskit init . --force --repo https://github.com/news-lab/corpuskit --rev v0.1.0",
    "corpuskit init corpus-de --language de",
)

NOTES = """\
The paths of the files created go to stdout (one per line; with --format json an object
{"root", "created": [paths], "kept": [paths]}); the next step goes to stderr.
"""
EXIT_CODES = ExitCodes(
    ok="created",
    usage="DIR is not empty (without --force), not a directory, a bad option, or no --repo/--rev where "
    "init cannot ask or tell",
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "init",
        help="scaffold a new corpus repository",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    parser.add_argument("directory", metavar="DIR", help="where to create the repository (made if missing)")
    parser.add_argument(
        "--force", action="store_true", help="add the missing files to a non-empty DIR (keeps existing files)"
    )
    parser.add_argument(
        "--language", default="en", metavar="TAG", help="BCP 47 language of the documents (default: en)"
    )
    parser.add_argument(
        "--repo", metavar="URL", help="git repository (URL or folder) to install corpuskit from"
    )
    parser.add_argument("--rev", metavar="REV", help="tag or commit of --repo to pin")
    add_format(parser)
    parser.set_defaults(func=run)


def _source(args: argparse.Namespace) -> Any:
    from corpuskit.errors import UsageError
    from corpuskit.scaffold import Source, installed_source

    if args.repo and args.rev:
        return Source.of(args.repo, args.rev)
    if args.repo or args.rev:
        raise UsageError("--repo and --rev go together: where corpuskit comes from and which tag or commit")
    found = installed_source()
    if found is None and sys.stdin.isatty():
        print(
            "Where does this corpus get corpuskit from (for its pre-commit hook and workflow)?",
            file=sys.stderr,
        )
        repo = input("git repository URL or folder: ")
        return Source.of(repo, input("tag or commit: "))
    return found


def run(args: argparse.Namespace) -> int:
    from corpuskit.scaffold import init

    source = _source(args)
    result = init(args.directory, source=source, force=args.force, language=args.language)
    if args.format == "json":
        print(json.dumps(result.summary(), ensure_ascii=False, indent=2))
        return 0
    for path in result.created:
        print(path)
    if result.kept:
        print(f"kept {len(result.kept)} existing files: {', '.join(result.kept)}", file=sys.stderr)
    if source is not None:
        print(
            f"the hook and the workflow install corpuskit from {source.repo} at {source.rev}", file=sys.stderr
        )
    print(
        f"corpus repository in {result.root}: next, `cd {args.directory} && corpuskit validate`",
        file=sys.stderr,
    )
    return 0
