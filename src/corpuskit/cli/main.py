"""`corpuskit` entry point: builds the argparse tree from the command modules and maps errors to exit codes.

argparse (not click/typer) keeps `corpuskit --help` well under 0.3 s; every command module
imports only the standard library at top level and loads its library code inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from corpuskit import __version__
from corpuskit.cli.options import CommandParser, HelpFormatter
from corpuskit.errors import EXIT_USAGE, CorpuskitError

__all__ = ["HelpFormatter", "build_parser", "main"]

# One module per command (or command group); each defines `register(subparsers)`.
COMMAND_MODULES: tuple[str, ...] = (
    "validate",
    "studio",
    "push",
    "pull",
    "status",
    "agreement",
    "gold",
    "adjudicate",
    "suggest",
    "taxonomy",
    "release",
    "verify",
    "diff",
    "publish",
    "demo",
    "init",
)

DESCRIPTION = """\
corpuskit turns raw news texts into a validated, human-annotated, versioned dataset:
validate documents, push them to Label Studio, pull every annotator's answers back,
compute agreement and gold labels, and release sharded Parquet in the Hugging Face layout.
"""

EPILOG = """\
examples:
  corpuskit validate raw/
  corpuskit validate --format github --changed-since origin/main

output: results (tables, reports, JSON, generated files, paths created) go to stdout; diagnostics,
verdicts of checks, warnings, notes and progress go to stderr. With --format json, stdout holds
exactly one JSON document (also when a check fails); a usage or environment error prints one line
on stderr and nothing on stdout.
Run `corpuskit COMMAND --help` for the options, examples and exit codes of each command.
exit codes: 0 all good, 1 the data failed a check, 2 usage or environment error.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="corpuskit", description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"corpuskit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"corpuskit.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except CorpuskitError as exc:
        if args.debug:
            raise
        print(f"corpuskit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        from corpuskit.extras import missing_extra

        # The light core lacks what the studio, release and report extras bring: say which to install.
        missing = missing_extra(exc, command=args.command)
        if missing is None or args.debug:
            raise
        print(f"corpuskit: error: {missing}", file=sys.stderr)
        return missing.exit_code
    except KeyboardInterrupt:
        print("corpuskit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a folder that cannot be made, a full disk: the environment, not the data
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"corpuskit: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
