"""The options and help layout every command shares, written once (the idea of sqlite-utils'
`output_options`, with argparse): a flag used by several commands means the same in all of them.

Standard library only: `corpuskit --help` imports this for every command.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from corpuskit.errors import EXIT_USAGE

WIDTH = 99
SNAPSHOT_HELP = "annotation snapshot folder (default: [tool.corpuskit] annotations)"
RELEASES_HELP = "releases folder (default: [tool.corpuskit] releases)"
FORMAT_HELP = {
    "text": "for people (the default)",
    "json": "one JSON document on stdout",
    "github": "GitHub Actions annotations on stdout",
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-written examples in descriptions and epilogs as they are."""


class CommandParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line on stderr and exit 2 (EXIT_USAGE).

    A command marked by `json_usage_errors` also prints its error object on stdout when its
    arguments ask for `--format json`: a script reading stdout gets JSON whatever went wrong."""

    json_usage_errors = False
    _given: Sequence[str] = ()

    def parse_known_args(  # type: ignore[override]  # typeshed spells it as overloads
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)
        # argparse hands a command's unknown options up to `corpuskit`, whose message would name the
        # wrong `--help`: the command that has no subcommands of its own reports them itself.
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and self._subparsers is None:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        text = f"{message} (see `{self.prog} --help`)"
        if self.json_usage_errors and _asks_for_json(self._given):
            from corpuskit.errors import UsageError
            from corpuskit.validation.reporters import report_json_error

            report_json_error(UsageError(text), sys.stdout)
        sys.stderr.write(f"{self.prog}: error: {text}\n")
        sys.exit(EXIT_USAGE)


def report_usage_errors_as_json(parser: argparse.ArgumentParser) -> None:
    """Mark a command whose `--format json` output is also the JSON error object on a usage error."""
    if isinstance(parser, CommandParser):
        parser.json_usage_errors = True


def _asks_for_json(given: Sequence[str]) -> bool:
    """Whether the arguments hold `--format json` (or `--format=json`), before a `--`."""
    for number, token in enumerate(given):
        if token == "--":
            return False
        if token == "--format=json" or (token == "--format" and given[number + 1 : number + 2] == ["json"]):
            return True
    return False


@dataclass(frozen=True)
class ExitCodes:
    """What each exit code means for one command; `data` is None when it never fails a check."""

    ok: str
    usage: str
    data: str | None = None

    def text(self) -> str:
        parts = [f"0 {self.ok}"] + ([f"1 {self.data}"] if self.data else []) + [f"2 {self.usage}"]
        return textwrap.fill("exit codes: " + ", ".join(parts) + ".", width=WIDTH)


def epilog(examples: Sequence[str], exit_codes: ExitCodes, notes: str = "") -> str:
    """The end of every `--help`: examples, then notes (JSON shapes, streams), then the exit codes."""
    lines = ["examples:", *(f"  {example}" for example in examples), ""]
    if notes:
        lines.append(notes.strip("\n"))
    lines.append(exit_codes.text())
    return "\n".join(lines) + "\n"


def add_command(
    subparsers: Any,
    name: str,
    *,
    help: str,
    description: str,
    examples: Sequence[str],
    exit_codes: ExitCodes,
    notes: str = "",
) -> argparse.ArgumentParser:
    """One subcommand (or action of a command group) with its description, examples and exit codes."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog(examples, exit_codes, notes),
        formatter_class=HelpFormatter,
    )
    return parser


def add_action(
    subparsers: Any, name: str, help_text: str, examples: Sequence[str], exit_codes: ExitCodes
) -> argparse.ArgumentParser:
    """One action of a command group (`studio start`, `taxonomy check`): its one-line help, as a
    sentence, is its description."""
    return add_command(
        subparsers,
        name,
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        examples=examples,
        exit_codes=exit_codes,
    )


def add_format(parser: argparse.ArgumentParser, choices: Sequence[str] = ("text", "json")) -> None:
    """`--format`: text for people on stdout/stderr, or machine output that is the whole of stdout."""
    described = "; ".join(f"{choice}: {FORMAT_HELP[choice]}" for choice in choices)
    parser.add_argument(
        "--format", choices=tuple(choices), default="text", help=f"output format; {described}"
    )


def add_snapshot(parser: argparse.ArgumentParser, flag: str | None = None) -> None:
    """The annotation snapshot folder: an optional SNAPSHOT argument, or an option such as `--out`."""
    if flag is None:
        parser.add_argument("snapshot", nargs="?", metavar="SNAPSHOT", help=SNAPSHOT_HELP)
    else:
        parser.add_argument(flag, metavar="SNAPSHOT", help=SNAPSHOT_HELP)


def add_adjudications(parser: argparse.ArgumentParser) -> None:
    """The adjudicated answers that gold decisions and agreement take into account."""
    parser.add_argument(
        "--adjudications", metavar="FILE", help="adjudications file (default: SNAPSHOT/adjudications.jsonl)"
    )


def add_releases(parser: argparse.ArgumentParser, flag: str = "--releases") -> None:
    """The folder that holds the vX.Y.Z releases."""
    parser.add_argument(flag, metavar="DIR", help=RELEASES_HELP)


def add_project(parser: argparse.ArgumentParser, default: str = "by title") -> None:
    """`--project ID`: a Label Studio project by its id instead of by title."""
    parser.add_argument(
        "--project", type=int, metavar="ID", help=f"Label Studio project id (default: {default})"
    )


def add_dry_run(parser: argparse.ArgumentParser, help: str) -> None:
    """`--dry-run`: say what would be done, change nothing."""
    parser.add_argument("--dry-run", action="store_true", help=help)


def add_quiet(parser: argparse.ArgumentParser, help: str = "no progress bars") -> None:
    """`--quiet`/`-q`: less on stderr (never changes stdout)."""
    parser.add_argument("--quiet", "-q", action="store_true", help=help)


def add_strip(parser: argparse.ArgumentParser) -> None:
    """`--strip`: drop boilerplate lines of raw text on reading, for every command that reads the corpus
    (validate, push, release), so that the text they see is the same."""
    parser.add_argument(
        "--strip",
        action="store_true",
        help="drop boilerplate lines of raw .txt files on reading, each recorded in the document's "
        "removed_lines (default: the strip_boilerplate setting; set it so every command agrees)",
    )


def add_taxonomy(parser: argparse.ArgumentParser) -> None:
    """`--taxonomy FILE`: another taxonomy than the corpus's."""
    parser.add_argument(
        "--taxonomy", metavar="FILE", help="taxonomy file (default: [tool.corpuskit] taxonomy)"
    )
