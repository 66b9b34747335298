"""The files besides the documents that decide whether a document is valid.

A change to the schema, the taxonomy, the settings or the corpuskit version a corpus pins can turn
a valid document invalid without touching it. `--changed-since` and `--staged` check the whole
corpus when one of them changed, and `init` writes the pre-commit hook's `files` and the workflow's
`paths` from the same list, so the three agree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from corpuskit.settings import Settings

SETTINGS_FILE = "pyproject.toml"
# Where a corpus made by `corpuskit init` pins the corpuskit it is validated with.
PIN_FILES = (".pre-commit-config.yaml", ".github/workflows/validate.yml")


def _escape(path: str) -> str:
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", path)


@dataclass(frozen=True)
class Watched:
    """Paths relative to the corpus root, POSIX style; folders end with '/'. The pin files are
    relative to the top of the git repository, where pre-commit and GitHub read them; `prefix` is
    the corpus folder relative to that top ('' when the corpus is the whole repository)."""

    raw: str
    inputs: tuple[str, ...]
    prefix: str = ""

    def _from_top(self) -> list[str]:
        return [p if p in PIN_FILES else self.prefix + p for p in (self.raw, *self.inputs)]

    def hook_files(self) -> str:
        """The regular expression for the pre-commit hook's `files` (paths from the repository top)."""
        alternatives = [_escape(p) if p.endswith("/") else f"{_escape(p)}$" for p in self._from_top()]
        return f"^({'|'.join(alternatives)})"

    def workflow_paths(self) -> list[str]:
        """The `paths` filter of the GitHub workflow (paths from the repository top)."""
        return [f"{p}**" if p.endswith("/") else p for p in self._from_top()]


def _relative(settings: Settings, path: str, *, folder: bool) -> str:
    relative = PurePosixPath(Path(os.path.relpath(settings.path(path), settings.root)).as_posix())
    return f"{relative}/" if folder else str(relative)


def watched(settings: Settings, prefix: str = "") -> Watched:
    """The raw folder and the validity inputs of a corpus: the folders of its schema and taxonomy
    (a schema may refer to its neighbours), its settings, its dedupe record (an edit to it can make
    the corpus fail: validation checks it) and the files that pin corpuskit."""
    inputs: list[str] = []
    for setting in (settings.schema, settings.taxonomy):
        parent = _relative(settings, str(PurePosixPath(setting).parent), folder=True)
        entry = _relative(settings, setting, folder=False) if parent in ("./", "../") else parent
        if not entry.startswith("../") and entry not in inputs:
            inputs.append(entry)
    record = _relative(settings, settings.dedupe_record, folder=False)
    inputs += [SETTINGS_FILE, *([record] if not record.startswith("../") else []), *PIN_FILES]
    return Watched(raw=_relative(settings, settings.raw, folder=True), inputs=tuple(inputs), prefix=prefix)


def full_check_reason(changed: Iterable[str], settings: Settings, since: str) -> str | None:
    """Why the whole corpus must be checked, when one of `changed` (absolute paths) is a validity
    input: 'schema/document.schema.json changed since origin/main'. The pin files count at the top
    of the git repository (for a corpus in a subfolder, that is not its root)."""
    from corpuskit.validation.gitscope import repository_root

    root = os.path.join(os.path.abspath(settings.root), "")
    top = root
    inputs = watched(settings).inputs
    if any(not path.startswith(root) for path in changed):
        found = repository_root(settings.root)
        top = os.path.join(os.path.abspath(found), "") if found else root
    for path in sorted(changed):
        for entry in inputs:
            base = top if entry in PIN_FILES else root
            if not path.startswith(base):
                continue
            relative = path[len(base) :].replace(os.sep, "/")
            if relative == entry or (entry.endswith("/") and relative.startswith(entry)):
                return f"{relative} changed {since}"
    return None
