"""`corpuskit init`: scaffold a new corpus repository from the templates shipped in the package.

The templates live in `corpuskit/templates/corpus/` (package data, read with importlib.resources).
Path parts named `dot-X` become `.X` in the new repository: a real `.gitignore` among the package
files would act on corpuskit's own git tree. `@NAME@`, `@TITLE@`, `@LANGUAGE@` and
`@CORPUSKIT_VERSION@` in text files are replaced, and `@LABELS@` in the guidelines by one heading
per target, stance value and topic of the template taxonomy, so that the two agree from the start.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from corpuskit import __version__
from corpuskit.errors import UsageError
from corpuskit.files import create_new

if TYPE_CHECKING:
    from corpuskit.taxonomy.model import Label, Target, Taxonomy

TEMPLATE = "corpus"
_DOT = "dot-"
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class InitResult:
    """What `init` did: files created and existing files left as they were (paths relative to root)."""

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


def render(text: str, *, name: str, language: str) -> str:
    """Fill the placeholders of a template text (TOML values are JSON-escaped strings)."""
    return (
        text.replace('"@TITLE@"', json.dumps(_title(name), ensure_ascii=False))
        .replace('"@LANGUAGE@"', json.dumps(language))
        .replace("@NAME@", name)
        .replace("@CORPUSKIT_VERSION@", __version__)
    )


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


def init(directory: str | os.PathLike[str], *, force: bool = False, language: str = "en") -> InitResult:
    """Scaffold a corpus repository in `directory` (created if missing).

    A non-empty directory is refused unless `force`; even then existing files are kept, never
    overwritten, and listed in the result."""
    root = Path(directory).resolve()
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
    for relative, resource in template_files():
        data = resource.read_bytes()
        if not relative.endswith(".json"):
            text = render(data.decode("utf-8"), name=name, language=language)
            if "@LABELS@" in text:
                text = text.replace("@LABELS@", labels_markdown(_template_taxonomy()))
            data = text.encode("utf-8")
        (result.created if create_new(root / relative, data) else result.kept).append(relative)
    return result
