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
from corpuskit.errors import EXIT_USAGE, CorpuskitError

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

exit codes: 0 all good, 1 the data failed a check, 2 usage or environment error.
Run `corpuskit COMMAND --help` for the options and examples of each command.
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-written examples in descriptions and epilogs as they are."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
