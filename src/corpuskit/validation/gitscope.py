"""What git says about the corpus: files changed since a ref, files staged, files tracked, the top.

`--changed-since` and `--staged` narrow the per-document report to some files; GitHub annotations
need paths relative to the repository's top folder. Every git call of validation lives here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from corpuskit.errors import UsageError

SHALLOW_HINT = (
    "this clone is shallow: fetch the history the ref needs "
    "(in GitHub Actions, actions/checkout with fetch-depth: 0)"
)


def _git(root: Path, *args: str, what: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise UsageError(f"{what.split()[0]} needs git: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise UsageError(f"{what}: {detail}")
    return done.stdout


def _names(text: str) -> list[str]:
    return [name for name in text.split("\0") if name]


def repository_root(start: Path) -> Path | None:
    """The top folder of the git work tree holding `start`, or None outside git."""
    try:
        done = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def _is_shallow(root: Path) -> bool:
    try:
        return _git(root, "rev-parse", "--is-shallow-repository", what="git").strip() == "true"
    except UsageError:
        return False


def changed_files(root: Path, ref: str) -> set[str]:
    """Absolute paths of files added or changed since `ref` (committed, staged, unstaged or untracked)."""
    what = f"--changed-since {ref!r}"
    top = Path(_git(root, "rev-parse", "--show-toplevel", what=what).strip())
    try:
        _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", what=what)
    except UsageError:
        hint = f"; {SHALLOW_HINT}" if _is_shallow(root) else ""
        raise UsageError(f"{what}: not a commit in {top}{hint}") from None
    names = _names(_git(root, "diff", "--name-only", "-z", "--diff-filter=ACMRT", ref, "--", what=what))
    names += _names(_git(root, "ls-files", "--others", "--exclude-standard", "-z", what=what))
    return {os.path.abspath(top / name) for name in names}


def staged_files(root: Path) -> set[str]:
    """Absolute paths of the files added or changed in git's index (what the next commit holds)."""
    top = Path(_git(root, "rev-parse", "--show-toplevel", what="--staged").strip())
    names = _names(
        _git(root, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMRT", what="--staged")
    )
    return {os.path.abspath(top / name) for name in names}


def tracked_files(root: Path, folder: Path) -> set[str]:
    """Absolute paths of the files under `folder` that git's index holds (untracked files left out)."""
    names = _names(_git(root, "ls-files", "-z", "--full-name", "--", str(folder), what="--staged"))
    top = Path(_git(root, "rev-parse", "--show-toplevel", what="--staged").strip())
    return {os.path.abspath(top / name) for name in names}
