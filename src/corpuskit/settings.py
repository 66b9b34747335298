"""Settings of a corpus repository: `[tool.corpuskit]` in its pyproject.toml, then environment.

The corpus root is the nearest folder at or above the working directory that holds a
pyproject.toml with a `[tool.corpuskit]` table (or the working directory if there is none).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from corpuskit.errors import UsageError


@dataclass(frozen=True)
class Settings:
    root: Path
    raw: str = "raw"
    schema: str = "schema/document.schema.json"
    taxonomy: str = "schema/taxonomy.yaml"
    language: str = "en"
    # IANA time zone in which the raw text format's clock times are read; None keeps them
    # explicitly without an offset (see docs/raw-format.md).
    raw_timezone: str | None = None
    # How far in the future a published date may lie before it is an error (clock skew, time zones).
    future_tolerance_hours: float = 36.0
    near_duplicate_threshold: float = 0.8
    annotations: str = "annotations"
    releases: str = "releases"
    studio_dir: str = ".corpuskit/studio"
    label_studio_url: str | None = None
    label_studio_api_key: str | None = field(default=None, repr=False)
    project_title: str | None = None
    min_annotators: int = 2
    min_alpha: float = 0.667
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    extra: dict[str, Any] = field(default_factory=dict)

    def path(self, relative: str) -> Path:
        return (self.root / relative).resolve()


_ENV = {"label_studio_url": "LABEL_STUDIO_URL", "label_studio_api_key": "LABEL_STUDIO_API_KEY"}


def find_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if "corpuskit" in data.get("tool", {}):
                return folder
    return here


def load_settings(start: Path | None = None) -> Settings:
    """Read `[tool.corpuskit]`, then let LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY override."""
    root = find_root(start)
    table: dict[str, Any] = {}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            table = dict(
                tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("corpuskit", {})
            )
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{pyproject}: [tool.corpuskit] cannot be read: {exc}") from exc
    known = {f.name for f in fields(Settings)} - {"root", "extra"}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name in known:
            values[name] = tuple(value) if name == "split_ratios" else value
        else:
            extra[key] = value
    for name, env in _ENV.items():
        if os.environ.get(env):
            values[name] = os.environ[env]
    return Settings(root=root, extra=extra, **values)
