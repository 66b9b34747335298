"""Settings of a corpus repository: `[tool.corpuskit]` in its pyproject.toml, then environment.

The corpus root is the nearest folder at or above the working directory that holds a
pyproject.toml with a `[tool.corpuskit]` table (or the working directory if there is none).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from corpuskit.errors import UsageError


def _doc(default: Any, text: str, **kwargs: Any) -> Any:
    """A setting's default and its one description (docs/settings.md is generated from these)."""
    return field(default=default, metadata={"doc": text}, **kwargs)


@dataclass(frozen=True)
class Settings:
    root: Path
    raw: str = _doc(
        "raw", "the folder of raw documents (`.txt`, `.json`, `.jsonl`), [raw-format.md](raw-format.md)"
    )
    schema: str = _doc(
        "schema/document.schema.json", "the document JSON Schema, [validation.md](validation.md)"
    )
    taxonomy: str = _doc(
        "schema/taxonomy.yaml", "targets, stance values and topics, [taxonomy.md](taxonomy.md)"
    )
    guidelines: str = _doc(
        "docs/annotation-guidelines.md",
        "the annotation guidelines: the project's instructions in Label Studio, checked by "
        "`taxonomy check`, hashed into a release's card (a missing default file means none)",
    )
    language: str = _doc(
        "en",
        "the language of documents that neither state one nor are detected with confidence "
        "([languages.md](languages.md))",
    )
    languages: tuple[str, ...] = _doc(
        (),
        'the languages the corpus may hold (BCP 47 tags, e.g. `["en", "ar"]`); a document stated or '
        "detected in another one is an error (`language-not-allowed`); empty: any",
    )
    boilerplate: tuple[str, ...] = _doc(
        (),
        "patterns (regular expressions, matched case-insensitively against a whole line) of page "
        "furniture beyond the built-in lists of [raw-format.md](raw-format.md#boilerplate); "
        "such lines are `boilerplate` warnings and never subheadings",
    )
    strip_boilerplate: bool = _doc(
        False,
        "drop `boilerplate` lines when reading raw text, each recorded in the document's "
        "`removed_lines` (as `--strip` does for one run), [raw-format.md](raw-format.md#boilerplate)",
    )
    raw_timezone: str | None = _doc(
        None,
        "IANA time zone in which the raw format's clock times are read; unset keeps them without an "
        "offset ([raw-format.md](raw-format.md))",
    )
    future_tolerance_hours: float = _doc(
        36.0, "how far in the future a published date may lie before it is an error (clock skew, time zones)"
    )
    near_duplicate_threshold: float = _doc(
        0.8, "estimated (MinHash) Jaccard similarity from which two documents are reported as near-duplicates"
    )
    dedupe: bool = _doc(
        False,
        "a whole-corpus `validate` writes the dedupe record (as `validate --dedupe`): one member of "
        "each duplicate cluster kept, the others left out of push and release, "
        "[validation.md](validation.md#dedupe)",
    )
    dedupe_record: str = _doc(
        "dedupe.jsonl",
        "the dedupe record (committed): which member of each duplicate cluster is kept; push and "
        "release honour it, [validation.md](validation.md#dedupe)",
    )
    annotations: str = _doc("annotations", "the pulled snapshot folder, [snapshots.md](snapshots.md)")
    releases: str = _doc("releases", "where releases are built, [releases.md](releases.md)")
    studio_dir: str = _doc(
        ".corpuskit/studio",
        "the embedded or team server's data, logs and credentials, [studio.md](studio.md)",
    )
    label_studio_url: str | None = _doc(
        None, "a team's own Label Studio; the `LABEL_STUDIO_URL` environment variable wins over it"
    )
    label_studio_api_key: str | None = _doc(
        None,
        "environment only (`LABEL_STUDIO_API_KEY`): refused in pyproject.toml, "
        "where a token would be committed",
        repr=False,
    )
    project_title: str | None = _doc(
        None,
        "the Label Studio project push creates and pull finds "
        "(3 to 50 characters; default: the taxonomy's title)",
    )
    min_annotators: int = _doc(
        2, "release gate: fewest answers behind a majority gold label, [quality.md](quality.md)"
    )
    annotators_per_document: int = _doc(
        2, "k: independent annotators for each document in the overlap share (1 to 100), [team.md](team.md)"
    )
    overlap_share: float = _doc(
        1.0, "the share of documents that get k annotators (0 to 1); the rest get one"
    )
    overlap_seed: str = _doc(
        "corpuskit", "seeds which documents are in the overlap share and which make up a pilot round"
    )
    queue_sampling: str = _doc(
        "sequential",
        "the order of Label Studio's queue a push sets: `sequential` (push order) or `uniform` "
        "(random); once `corpuskit suggest --order` has set one, push keeps that",
    )
    min_alpha: float = _doc(
        0.667, "release gate: lowest Krippendorff's alpha per stance target and for the topic sets"
    )
    split_ratios: tuple[float, float, float] = _doc(
        (0.8, 0.1, 0.1), "train, validation and test shares of a release"
    )
    split_by: str = _doc(
        "document",
        "what a release's splits hold out: `document` (a hash of the id) or `source` (every document of "
        "an outlet in one split: held-out sources), [releases.md](releases.md#splits)",
    )
    held_out_targets: tuple[str, ...] = _doc(
        (),
        "stance targets whose rows all go to `test` in the `stance` configs (held-out targets; never "
        "in train or validation)",
    )
    license: str = _doc(
        "other",
        "the release's license: a Hub license id (`cc-by-4.0`, `other`, ...); the texts' copyright "
        "stays with their publishers, so choose it with `source_copyright`",
    )
    pretty_name: str = _doc("corpuskit news stance corpus", "the dataset's name on its card and the Hub")
    authors: tuple[str, ...] = _doc((), "who made the dataset, for the card's citation and Croissant")
    homepage: str | None = _doc(None, "the dataset's home page (card, Croissant `url` when unpublished)")
    source_copyright: str = _doc(
        "The news texts remain the copyright of their publishers; they are included for research on "
        "stance and may not be redistributed outside this dataset.",
        "the copyright statement about the source texts printed on the card (Licensing)",
    )
    extra: dict[str, Any] = field(default_factory=dict)

    def path(self, relative: str) -> Path:
        return (self.root / relative).resolve()


_TUPLES = {"split_ratios", "held_out_targets", "authors", "languages", "boilerplate"}
_ENV = {"label_studio_url": "LABEL_STUDIO_URL", "label_studio_api_key": "LABEL_STUDIO_API_KEY"}
# Never read from pyproject.toml: a file that is committed.
_ENV_ONLY = {"label_studio_api_key": "LABEL_STUDIO_API_KEY"}
# The environment variables that hold a secret: a process corpuskit starts that needs none of
# them does not get them.
SECRET_ENV: tuple[str, ...] = tuple(_ENV_ONLY.values())


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
        if name in _ENV_ONLY:
            raise UsageError(
                f"{pyproject}: [tool.corpuskit] {key}: an API token does not belong in a committed file; "
                f"remove it and set {_ENV_ONLY[name]} in the environment"
            )
        if name in known:
            values[name] = tuple(value) if name in _TUPLES and isinstance(value, list) else value
        else:
            extra[key] = value
            print(
                f"corpuskit: warning: {pyproject}: [tool.corpuskit] {key}: not a corpuskit setting, ignored "
                "(docs/settings.md lists them)",
                file=sys.stderr,
            )
    for name, env in _ENV.items():
        if os.environ.get(env):
            values[name] = os.environ[env]
    settings = Settings(root=root, extra=extra, **values)
    _check(settings, pyproject)
    return settings


QUEUE_SAMPLING = ("sequential", "uniform")
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*\Z")
SPLIT_BY = ("document", "source")


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
    languages = settings.languages
    if not isinstance(languages, tuple) or not all(
        isinstance(tag, str) and _LANGUAGE_TAG.match(tag) for tag in languages
    ):
        raise UsageError(
            f'{where} languages = {languages!r}: expected a list of BCP 47 tags, e.g. ["en", "ar"]'
        )
    primaries = {tag.split("-", 1)[0].lower() for tag in languages}
    if languages and settings.language.split("-", 1)[0].lower() not in primaries:
        raise UsageError(
            f"{where} language = {settings.language!r} is not among languages = {list(languages)!r}"
        )
    patterns = settings.boilerplate
    if not isinstance(patterns, tuple) or not all(isinstance(p, str) and p for p in patterns):
        raise UsageError(f"{where} boilerplate = {patterns!r}: expected a list of regular expressions")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"{where} boilerplate: {pattern!r} is not a regular expression: {exc}") from None
    for name in ("dedupe", "strip_boilerplate"):
        if not isinstance(getattr(settings, name), bool):
            raise UsageError(f"{where} {name} = {getattr(settings, name)!r}: expected true or false")
    if settings.split_by not in SPLIT_BY:
        raise UsageError(f"{where} split_by = {settings.split_by!r}: expected one of {', '.join(SPLIT_BY)}")
    if not isinstance(settings.overlap_seed, str | int) or isinstance(settings.overlap_seed, bool):
        raise UsageError(f"{where} overlap_seed = {settings.overlap_seed!r}: expected a string or a number")


def settings_reference() -> str:
    """docs/settings.md, generated from the settings' definitions (`make docs`; a test checks it)."""
    lines = [
        "# Settings: `[tool.corpuskit]`",
        "",
        "<!-- generated by scripts/gen_cli_reference.py from corpuskit.settings; do not edit -->",
        "",
        "A corpus repository keeps its settings in `pyproject.toml` under `[tool.corpuskit]`; corpuskit",
        "finds the nearest folder at or above the working directory whose `pyproject.toml` has that table.",
        "Paths are relative to that folder; keys may use `-` or `_`. `LABEL_STUDIO_URL` and",
        "`LABEL_STUDIO_API_KEY` come from the environment. A key corpuskit does not know is a warning",
        "naming it and the file; a value out of range is an error naming the key (exit 2).",
        "",
        "| key | default | what it sets |",
        "|---|---|---|",
    ]
    for f in fields(Settings):
        if "doc" not in f.metadata:
            continue
        default = (
            "unset"
            if f.default is None
            else f"`{json.dumps(list(f.default) if isinstance(f.default, tuple) else f.default)}`"
        )
        lines.append(f"| `{f.name}` | {default} | {f.metadata['doc']} |")
    return "\n".join(lines) + "\n"
