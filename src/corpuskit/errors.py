"""The small error tree: every corpuskit failure maps to one exit code and one line for people."""

from __future__ import annotations

EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2


class CorpuskitError(Exception):
    """Base of every error corpuskit raises on purpose; `str(err)` is the message for people."""

    exit_code = EXIT_USAGE


class DataError(CorpuskitError):
    """The data failed a check (invalid document, annotation, taxonomy, tampered release)."""

    exit_code = EXIT_DATA


class UsageError(CorpuskitError):
    """A bad option, a missing file or a wrong setting."""

    exit_code = EXIT_USAGE


class EnvironmentProblem(CorpuskitError):
    """Something outside corpuskit is wrong: server unreachable, token refused, disk full."""

    exit_code = EXIT_USAGE


class StudioError(EnvironmentProblem):
    """Label Studio could not be reached or refused a request."""


class ReleaseError(DataError):
    """A release could not be built, or an existing one failed verification."""
