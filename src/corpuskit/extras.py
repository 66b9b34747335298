"""The optional extras of the distribution, and the message for a command that needs a missing one.

`pip install corpuskit-news` is the light core: reading and validating documents. Label Studio,
Parquet releases and the agreement report come with extras, so the pre-commit hook and CI stay
small. Heavy imports happen inside the functions that need them; when one fails because its extra
is not installed, `missing_extra` turns the `ModuleNotFoundError` into a message that names the
extra to install.
"""

from __future__ import annotations

from corpuskit.errors import EnvironmentProblem

DISTRIBUTION = "corpuskit-news"

# Top-level module -> the extra that installs it.
EXTRA_OF_MODULE: dict[str, str] = {
    "label_studio_sdk": "studio",
    "label_studio": "studio",
    "httpx": "studio",
    "pyarrow": "release",
    "datasets": "release",
    "huggingface_hub": "release",
    "matplotlib": "report",
    # The agreement statistics (corpuskit.quality); `release` has it in its own extra.
    "numpy": "report",
    "sklearn": "suggest",
    "scipy": "suggest",
}
# A module that more than one extra installs: the extra of the command that needs it.
_EXTRA_OF_COMMAND: dict[tuple[str, str], str] = {
    ("numpy", "release"): "release",
    ("numpy", "suggest"): "suggest",
    ("matplotlib", "suggest"): "suggest",
}

EXTRAS: tuple[str, ...] = ("studio", "release", "report", "suggest", "all")


def install_command(extra: str | None = None) -> str:
    """`pip install 'corpuskit-news[studio]'` (or the bare distribution without an extra)."""
    return f"pip install '{DISTRIBUTION}[{extra}]'" if extra else f"pip install {DISTRIBUTION}"


class MissingExtra(EnvironmentProblem):
    """A command needs a module that one of the extras installs."""

    def __init__(self, module: str, extra: str, command: str | None = None) -> None:
        self.module = module
        self.extra = extra
        self.command = command
        who = f"corpuskit {command} needs" if command else "this needs"
        super().__init__(
            f"{who} the {extra} extra ({module} is not installed): "
            f"{install_command(extra)} (or [all] for every command)"
        )


def missing_extra(error: ModuleNotFoundError, command: str | None = None) -> MissingExtra | None:
    """The extra that would have provided the module `error` did not find, if it is one of ours."""
    module = (error.name or "").split(".")[0]
    extra = _EXTRA_OF_COMMAND.get((module, command or "")) or EXTRA_OF_MODULE.get(module)
    return MissingExtra(module=module, extra=extra, command=command) if extra else None
