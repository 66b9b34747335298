"""`corpuskit init`: scaffold a new corpus repository from the templates shipped in the package.

The templates live in `corpuskit/templates/corpus/` (package data, read with importlib.resources).
Path parts named `dot-X` become `.X` in the new repository: a real `.gitignore` among the package
files would act on corpuskit's own git tree. `@NAME@`, `@TITLE@`, `@LANGUAGE@` and
`@CORPUSKIT_VERSION@` in text files are replaced, and `@LABELS@` in the guidelines by one heading
per target, stance value and topic of the template taxonomy, so that the two agree from the start.

Where the corpus gets corpuskit from (`Source`: a git repository and a tag or commit) fills
`@REPO@`, `@REV@` and the pip requirements: the pre-commit hook and the workflow install exactly
that. The hook's `files` and the workflow's `paths` (`@HOOK_FILES@`, `@WORKFLOW_PATHS@`) come
from the corpus' settings, so a changed schema or settings file runs them too. A corpus made in a
subfolder of a git repository gets them at the repository's top, where pre-commit and GitHub read
them, naming the subfolder (and the hook passes it as `--root`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from corpuskit import __version__
from corpuskit.errors import UsageError
from corpuskit.extras import DISTRIBUTION
from corpuskit.files import create_new
from corpuskit.settings import Settings
from corpuskit.validation.inputs import PIN_FILES

if TYPE_CHECKING:
    from corpuskit.taxonomy.model import Label, Target, Taxonomy

TEMPLATE = "corpus"
_DOT = "dot-"
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class Source:
    """Where a corpus gets corpuskit from: a git repository (URL or local path) and a tag or commit."""

    repo: str
    rev: str

    @classmethod
    def of(cls, repo: str, rev: str) -> Source:
        """Check both parts; a local folder becomes its absolute path (pre-commit and pip both clone it)."""
        repo, rev = repo.strip(), rev.strip()
        if not repo or any(c.isspace() for c in repo):
            raise UsageError(f"--repo: {repo!r} is not a git repository URL or folder")
        if not rev or rev.startswith("-") or any(c.isspace() for c in rev):
            raise UsageError(f"--rev: {rev!r} is not a tag or commit of {repo}")
        if "://" not in repo and not re.match(r"^[\w.-]+@[\w.-]+:", repo):
            folder = Path(repo).expanduser()
            if not folder.is_dir():
                raise UsageError(f"--repo: {repo}: not a URL and no such folder")
            repo = str(folder.resolve())
        return cls(repo=repo, rev=rev)

    def requirement(self, extra: str | None = None) -> str:
        """The pip requirement, e.g. `corpuskit-news[all] @ git+https://host/corpuskit@v0.1.0`."""
        url = Path(self.repo).as_uri() if self.repo.startswith("/") else self.repo
        if re.match(r"^[\w.-]+@[\w.-]+:", url):  # scp-like git@host:path
            user_host, path = url.split(":", 1)
            url = f"ssh://{user_host}/{path}"
        name = f"{DISTRIBUTION}[{extra}]" if extra else DISTRIBUTION
        return f"{name} @ git+{url}@{self.rev}"


def installed_source() -> Source | None:
    """The git repository and revision this corpuskit was installed from (pip's direct_url.json,
    PEP 610), when it was installed from git; None otherwise."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution(DISTRIBUTION).read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return None
    vcs = data.get("vcs_info") if isinstance(data, dict) else None
    if not isinstance(vcs, dict) or vcs.get("vcs") != "git" or not data.get("url"):
        return None
    rev = vcs.get("requested_revision") or vcs.get("commit_id")
    return Source(repo=str(data["url"]), rev=str(rev)) if rev else None


@dataclass(frozen=True)
class InitResult:
    """What `init` did: files created and existing files left as they were (paths relative to root;
    a corpus in a subfolder of its repository has its pin files at the top: `../.github/...`)."""

    root: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {"root": str(self.root), "created": self.created, "kept": self.kept}


def template_files() -> Iterator[tuple[str, Traversable]]:
    """Every template file as (path in the new repository, resource), in a stable order."""
    base = resources.files("corpuskit.templates") / TEMPLATE

    def walk(node: Traversable, parts: tuple[str, ...]) -> Iterator[tuple[str, Traversable]]:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name == "__pycache__":
                continue
            name = "." + child.name[len(_DOT) :] if child.name.startswith(_DOT) else child.name
            if child.is_dir():
                yield from walk(child, (*parts, name))
            else:
                yield str(PurePosixPath(*parts, name)), child

    yield from walk(base, ())


def _title(name: str) -> str:
    # Label Studio refuses project titles shorter than 3 characters.
    return name if len(name) >= 3 else f"corpus {name}"


def render(
    text: str,
    *,
    name: str,
    language: str,
    settings: Settings,
    install: str,
    source: Source,
    prefix: str = "",
) -> str:
    """Fill the placeholders of a template text (TOML and YAML values are JSON-escaped strings).

    `install` is what the workflow gives `pip install` (a requirement, or `.` for a checkout).
    `prefix` is the corpus folder relative to the top of its git repository ('' at the top): the
    hook passes it as `--root` and the workflow's steps run in it."""
    from corpuskit.validation.inputs import watched

    files = watched(settings, prefix)
    folder = prefix.rstrip("/")
    hook_args = f"        args: {json.dumps(['--root', folder])}\n" if folder else ""
    working_directory = (
        f"    defaults:\n      run:\n        working-directory: {json.dumps(folder)}\n" if folder else ""
    )
    cache_path = json.dumps(f"{prefix}.corpuskit/cache") if folder else ".corpuskit/cache"
    return (
        text.replace("@HOOK_ARGS@", hook_args)
        .replace("@WORKING_DIRECTORY@", working_directory)
        .replace("@CACHE_PATH@", cache_path)
        .replace('"@TITLE@"', json.dumps(_title(name), ensure_ascii=False))
        .replace('"@LANGUAGE@"', json.dumps(language))
        .replace("@NAME@", name)
        .replace("@CORPUSKIT_VERSION@", __version__)
        .replace("@REPO_LINK@", source.repo)
        .replace("@REPO@", json.dumps(source.repo))
        .replace("@REV@", json.dumps(source.rev))
        .replace("@HOOK_FILES@", json.dumps(files.hook_files()))
        .replace("@WORKFLOW_PATHS@", json.dumps(files.workflow_paths()))
        .replace("@REQUIREMENT_ALL@", shlex.quote(source.requirement("all")))
        .replace("@REQUIREMENT@", shlex.quote(install))
    )


def _settings_of(root: Path) -> Settings:
    """The settings the new repository will have: its own pyproject.toml when one is kept
    (`--force`), else the defaults the template writes."""
    import tomllib

    table: dict[str, object] = {}
    with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
        table = (
            tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
            .get("tool", {})
            .get("corpuskit", {})
        )
    keys = {"raw", "schema", "taxonomy"}
    values = {
        k.replace("-", "_"): v for k, v in table.items() if k.replace("-", "_") in keys and isinstance(v, str)
    }
    return Settings(root=root, **values)  # type: ignore[arg-type]


def labels_markdown(taxonomy: Taxonomy) -> str:
    """A heading per label of `taxonomy`, each with a placeholder for the team's hard cases."""
    sections: list[tuple[str, Sequence[Target | Label]]] = [
        ("Stance targets", taxonomy.targets),
        ("Stance values", taxonomy.stance_values),
        ("Topics", taxonomy.topics),
    ]
    lines: list[str] = []
    for title, labels in sections:
        lines += [f"### {title}", ""]
        for label in labels:
            lines += [f"- **{label.name}** (`{label.id}`): _no hard cases yet._"]
        lines.append("")
    return "\n".join(lines)


def _template_taxonomy() -> Taxonomy:
    from corpuskit.taxonomy import load_taxonomy

    resource = resources.files("corpuskit.templates") / TEMPLATE / "schema" / "taxonomy.yaml"
    with resources.as_file(resource) as path:
        return load_taxonomy(path)


def init(
    directory: str | os.PathLike[str],
    *,
    source: Source | None = None,
    force: bool = False,
    language: str = "en",
) -> InitResult:
    """Scaffold a corpus repository in `directory` (created if missing).

    `source` is where the corpus gets corpuskit from; without it, the git repository this
    corpuskit was installed from, else a UsageError. A non-empty directory is refused unless
    `force`; even then existing files are kept, never overwritten, and listed in the result."""
    root = Path(directory).resolve()
    source = source or installed_source()
    if source is None:
        raise UsageError(
            "init needs --repo URL --rev REV: the git repository and the tag or commit of corpuskit "
            "that the new corpus' pre-commit hook and workflow install (this corpuskit was not "
            "installed from git, so it cannot tell)"
        )
    if not _LANGUAGE.match(language):
        raise UsageError(f"--language: {language!r} is not a BCP 47 language tag (e.g. en, de, pt-BR)")
    if root.exists() and not root.is_dir():
        raise UsageError(f"{directory}: exists and is not a directory")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise UsageError(
            f"{directory}: directory is not empty; use --force to add the missing files "
            "(existing files are kept)"
        )
    root.mkdir(parents=True, exist_ok=True)
    result = InitResult(root=root)
    name = root.name
    settings = _settings_of(root)
    top = _repository_top(root)
    prefix = f"{root.relative_to(top).as_posix()}/" if top != root else ""
    for relative, resource in template_files():
        data = resource.read_bytes()
        if not relative.endswith(".json"):
            text = render(
                data.decode("utf-8"),
                name=name,
                language=language,
                settings=settings,
                install=source.requirement(),
                source=source,
                prefix=prefix,
            )
            if "@LABELS@" in text:
                text = text.replace("@LABELS@", labels_markdown(_template_taxonomy()))
            data = text.encode("utf-8")
        # pre-commit and GitHub read their files at the top of the repository only.
        target = (top if relative in PIN_FILES else root) / relative
        listed = Path(os.path.relpath(target, root)).as_posix()
        (result.created if create_new(target, data) else result.kept).append(listed)
    return result


def _repository_top(root: Path) -> Path:
    """The top of the git repository `root` is in, or `root` itself outside git."""
    from corpuskit.validation.gitscope import repository_root

    top = repository_root(root)
    if top is None:
        return root
    top = top.resolve()
    return top if root == top or top in root.parents else root
