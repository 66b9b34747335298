"""`corpuskit.release(...)`: gather the corpus, the snapshot and the gold labels, check the gates, build.

Gates (each refuses with a ReleaseError, exit 1, naming the reason):
1. validation: the raw corpus must validate with no errors;
2. freshness: the snapshot must not be older than the corpus: every document must be a task of the
   snapshot with its current `content_sha256`, and no annotation may carry another hash of its
   document's text (checked while building, see `build._check_snapshot_covers_corpus`);
3. quality: gold must meet the thresholds (`min_annotators`, `min_alpha`); `allow_below_threshold`
   builds anyway and writes the shortfall into the card and the manifest.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpuskit.documents.model import content_sha256
from corpuskit.errors import ReleaseError
from corpuskit.release.build import ReleaseInputs, build_release
from corpuskit.release.inputs import file_sha256, git_state, iter_jsonl, load_taxonomy
from corpuskit.release.shards import DEFAULT_SHARD_BYTES
from corpuskit.release.versions import bump as next_version
from corpuskit.release.versions import normalize
from corpuskit.settings import Settings, load_settings

GUIDELINES = "docs/annotation-guidelines.md"


@dataclass
class ReleaseResult:
    version: str
    folder: Path
    rows: dict[str, dict[str, int]]
    shortfalls: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "folder": str(self.folder),
            "rows": self.rows,
            "below_threshold": self.shortfalls,
        }


def iter_documents(settings: Settings) -> Iterator[dict[str, Any]]:
    """Normalized documents of the raw corpus, one at a time, through the document reader."""
    from corpuskit.documents.reader import SourceRecord, iter_files, read_file

    for path in iter_files([settings.path(settings.raw)]):
        for item in read_file(
            path, root=settings.root, language=settings.language, raw_timezone=settings.raw_timezone
        ):
            if isinstance(item, SourceRecord):
                doc = item.document
                if not doc.get("content_sha256"):
                    doc["content_sha256"] = content_sha256(doc)
                yield doc


def check_validation(settings: Settings) -> list[tuple[str, str]]:
    """Gate 1. Returns the near-duplicate pairs validation found (they shape the splits)."""
    from corpuskit.release.inputs import validate_corpus

    outcome = validate_corpus(settings)
    if not outcome.ok:
        more = f" (and {len(outcome.errors) - 1} more)" if len(outcome.errors) > 1 else ""
        raise ReleaseError(f"validation failed: {outcome.errors[0]}{more}; run `corpuskit validate`")
    return outcome.near_duplicates


def snapshot_meta(folder: Path) -> dict[str, Any]:
    """The snapshot's metadata, after checking the tables the release streams against their hashes."""
    from corpuskit.studio.snapshot import read_snapshot

    meta = dict(read_snapshot(folder, tables=()).meta)
    for name in ("tasks.jsonl", "annotations.jsonl"):
        path = folder / name
        if not path.is_file():
            raise ReleaseError(f"{path}: missing from the snapshot; run `corpuskit pull`")
        if meta.get("files", {}).get(name) != file_sha256(path):
            raise ReleaseError(
                f"{path}: does not match the SHA-256 in snapshot.json (edited by hand or damaged)"
            )
    return meta


@dataclass
class QualityOutcome:
    gold: list[dict[str, Any]]
    agreement: dict[str, Any]
    shortfalls: list[str]
    result: Any


def assess_quality(settings: Settings, folder: Path, taxonomy: Any) -> QualityOutcome:
    """Gold rows and agreement from the quality module, and every shortfall against the thresholds."""
    from corpuskit.quality.agreement import compute_agreement
    from corpuskit.quality.context import resolve_inputs
    from corpuskit.quality.gold import compute_gold
    from corpuskit.quality.ratings import build_ratings

    inputs = resolve_inputs(folder, taxonomy=taxonomy, settings=settings)
    ratings = build_ratings(inputs.rows, inputs.taxonomy, source=inputs.source)
    gold = compute_gold(ratings, inputs.adjudications, settings.min_annotators)
    result = compute_agreement(ratings, gold, source=inputs.source)
    agreement = {
        f"stance.{c.name}": {
            "alpha": c.alpha.value,
            "low": c.alpha.low,
            "high": c.alpha.high,
            "n_items": c.pairable_items,
        }
        for c in result.stance
    }
    topic_set = result.topic_set
    agreement["topics"] = {
        "alpha": topic_set.alpha.value,
        "low": topic_set.alpha.low,
        "high": topic_set.alpha.high,
        "n_items": topic_set.pairable_items,
    }
    shortfalls = quality_shortfalls(agreement, [row.to_json() for row in gold.rows], settings)
    return QualityOutcome(
        gold=[row.to_json() for row in sorted(gold.rows, key=lambda r: r.document_id)],
        agreement=agreement,
        shortfalls=shortfalls,
        result=result,
    )


def quality_shortfalls(
    agreement: dict[str, Any], gold: list[dict[str, Any]], settings: Settings
) -> list[str]:
    """Targets whose alpha is below `min_alpha` and documents with fewer than `min_annotators`."""
    out = []
    for name, figures in sorted(agreement.items()):
        if not name.startswith("stance."):
            continue
        alpha = figures.get("alpha")
        if alpha is None or alpha < settings.min_alpha:
            shown = "undefined" if alpha is None else f"{alpha:.3f}"
            out.append(f"{name}: Krippendorff's alpha {shown} < min_alpha {settings.min_alpha}")
    thin = [
        row["document_id"]
        for row in gold
        if max((d.get("n_annotators", 0) for d in row.get("stance", {}).values()), default=0)
        < settings.min_annotators
    ]
    if thin:
        examples = ", ".join(thin[:5])
        out.append(
            f"{len(thin)} document(s) have fewer than min_annotators={settings.min_annotators} "
            f"annotators (e.g. {examples})"
        )
    return out


def report_writer(result: Any) -> Callable[[Path], Any] | None:
    """The quality module's agreement report, when it provides `write_report`."""
    try:
        module = importlib.import_module("corpuskit.quality.report")
    except ModuleNotFoundError:
        return None
    write = getattr(module, "write_report", None)
    if write is None:
        return None

    def write_into(folder: Path) -> Any:
        return write(result, folder)

    return write_into


def _tasks(folder: Path) -> Iterator[tuple[str, str]]:
    for row in iter_jsonl(folder / "tasks.jsonl"):
        if row.get("document_id") and row.get("content_sha256"):
            yield row["document_id"], row["content_sha256"]


def features_sha256(taxonomy: Any) -> str:
    """One hash of the three tables' `datasets` features (columns, types and class names)."""
    from corpuskit.release.tables import CONFIGS, features_of

    features = {config: features_of(config, taxonomy).to_dict() for config in CONFIGS}
    return hashlib.sha256(json.dumps(features, sort_keys=True).encode()).hexdigest()


def _hash_or_none(path: Path) -> str | None:
    return file_sha256(path) if path.is_file() else None


def release(
    version: str | None = None,
    *,
    bump: str | None = None,
    out: str | Path | None = None,
    allow_below_threshold: bool = False,
    settings: Settings | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> ReleaseResult:
    """Build `releases/vX.Y.Z/` from the corpus and its annotation snapshot, after the gates pass."""
    settings = settings or load_settings()
    releases = Path(out) if out is not None else settings.path(settings.releases)
    if (version is None) == (bump is None):
        raise ReleaseError("give either a VERSION or --bump major|minor|patch")
    version = normalize(version) if version is not None else next_version(releases, bump or "")
    taxonomy = load_taxonomy(settings)
    near_duplicates = check_validation(settings)
    folder = settings.path(settings.annotations)
    meta = snapshot_meta(folder)
    quality = assess_quality(settings, folder, taxonomy)
    if quality.shortfalls and not allow_below_threshold:
        raise ReleaseError(
            "gold is below the quality thresholds: "
            + "; ".join(quality.shortfalls)
            + " (--allow-below-threshold "
            "builds anyway and says so in the card)"
        )
    write_report = report_writer(quality.result)
    guidelines = settings.root / GUIDELINES
    inputs = ReleaseInputs(
        documents=iter_documents(settings),
        annotations=iter_jsonl(folder / "annotations.jsonl"),
        gold=iter(quality.gold),
        tasks=_tasks(folder),
        taxonomy=taxonomy,
        snapshot=meta,
        split_ratios=tuple(settings.split_ratios),  # type: ignore[arg-type]
        near_duplicates=near_duplicates,
        agreement=quality.agreement,
        shortfalls=quality.shortfalls if allow_below_threshold else [],
        hashes={
            "document_schema_sha256": _hash_or_none(settings.path(settings.schema)),
            "taxonomy_sha256": _hash_or_none(settings.path(settings.taxonomy)),
            "guidelines_sha256": _hash_or_none(guidelines),
            "features_sha256": features_sha256(taxonomy),
        },
        git=git_state(settings.root),
        guidelines_version=(_hash_or_none(guidelines) or "")[:12] or None,
        language=settings.language,
        shard_bytes=shard_bytes,
        write_report=write_report,
    )
    target = build_release(inputs, releases, version)
    from corpuskit.release.manifest import read_manifest

    rows = read_manifest(target)["rows"]
    return ReleaseResult(version=version, folder=target, rows=rows, shortfalls=inputs.shortfalls)
