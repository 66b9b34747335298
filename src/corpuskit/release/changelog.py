"""`CHANGELOG.md` of a release: this version's changes since the previous one, then the older entries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.release.versions import previous_version, version_dir

if TYPE_CHECKING:
    from corpuskit.release.build import Stats

HEADER = "# Changelog\n"


def write_changelog(
    folder: Path, version: str, releases: Path, stats: Stats, agreement: dict[str, Any]
) -> Path:
    """`agreement` is this release's own (its manifest is written after the changelog)."""
    from corpuskit.release.diff import agreement_change, diff_folders, read_agreement

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
        # Read from the folder being built, the new side would be empty (no manifest yet): every
        # question would show as `-> n/a`. Compare with the figures this release will record.
        change.agreement = agreement_change(read_agreement(old), agreement)
        lines += [f"Changes since v{previous}:", "", *change.lines()]
        log = old / "CHANGELOG.md"
        if log.is_file():
            older = log.read_text(encoding="utf-8").removeprefix(HEADER).lstrip("\n")
    text = HEADER + "\n" + "\n".join(lines) + "\n" + ("\n" + older if older else "")
    path = folder / "CHANGELOG.md"
    path.write_text(text, encoding="utf-8")
    return path
