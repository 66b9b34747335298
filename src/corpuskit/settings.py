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
    # The overlap design (docs/team.md): every document in the overlap share reaches this many
    # independent annotators through Label Studio's queue; the rest get one.
    annotators_per_document: int = 2
    overlap_share: float = 1.0
    # Seeds which documents are in the overlap share and which make up a pilot round.
    overlap_seed: str = "corpuskit"
    # The order of Label Studio's queue: "sequential" (the push order) or "uniform" (random).
    queue_sampling: str = "sequential"
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
    settings = Settings(root=root, extra=extra, **values)
    _check(settings, pyproject)
    return settings


QUEUE_SAMPLING = ("sequential", "uniform")


def _check(settings: Settings, pyproject: Path) -> None:
    """Refuse settings that would make a wrong overlap design, naming the key."""
    where = f"{pyproject}: [tool.corpuskit]"
    k = settings.annotators_per_document
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100:
        raise UsageError(f"{where} annotators_per_document = {k!r}: expected a whole number from 1 to 100")
    share = settings.overlap_share
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 <= share <= 1.0:
        raise UsageError(f"{where} overlap_share = {share!r}: expected a number from 0 to 1")
    if settings.queue_sampling not in QUEUE_SAMPLING:
        raise UsageError(
            f"{where} queue_sampling = {settings.queue_sampling!r}: "
            f"expected one of {', '.join(QUEUE_SAMPLING)}"
        )
    if not isinstance(settings.overlap_seed, str | int) or isinstance(settings.overlap_seed, bool):
        raise UsageError(f"{where} overlap_seed = {settings.overlap_seed!r}: expected a string or a number")
