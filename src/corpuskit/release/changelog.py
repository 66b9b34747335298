"""`CHANGELOG.md` of a release: this version's changes since the previous one, then the older entries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from corpuskit.release.versions import previous_version, version_dir

if TYPE_CHECKING:
    from corpuskit.release.build import Stats

HEADER = "# Changelog\n"


def write_changelog(folder: Path, version: str, releases: Path, stats: Stats) -> Path:
    from corpuskit.release.diff import diff_folders

    previous = previous_version(releases, version)
    lines = [f"## v{version}", ""]
    older = ""
    if previous is None:
        n_docs = sum(stats.rows["documents"].values())
        n_gold = sum(stats.rows["gold"].values())
        lines += [f"- first release: {n_docs} documents, {n_gold} with gold labels"]
    else:
        old = version_dir(releases, previous)
        change = diff_folders(old, folder)
        change.old, change.new = f"v{previous}", f"v{version}"
        lines += [f"Changes since v{previous}:", "", *change.lines()]
        log = old / "CHANGELOG.md"
        if log.is_file():
            older = log.read_text(encoding="utf-8").removeprefix(HEADER).lstrip("\n")
    text = HEADER + "\n" + "\n".join(lines) + "\n" + ("\n" + older if older else "")
    path = folder / "CHANGELOG.md"
    path.write_text(text, encoding="utf-8")
    return path
