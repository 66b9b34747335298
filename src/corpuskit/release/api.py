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

import contextlib
import dataclasses
import hashlib
import importlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpuskit.errors import DataError, ReleaseError
from corpuskit.release.build import ReleaseInputs, build_release
from corpuskit.release.inputs import (
    ValidationOutcome,
    document_sources,
    file_sha256,
    git_state,
    load_taxonomy,
    shipped_files,
    snapshot_rows,
    validate_corpus,
)
from corpuskit.release.shards import DEFAULT_SHARD_BYTES
from corpuskit.release.versions import bump as next_version
from corpuskit.release.versions import normalize
from corpuskit.settings import Settings, load_settings

# The snapshot tables a release streams.
RELEASED_TABLES = ("tasks", "annotations")


@dataclass
class ReleaseResult:
    version: str
    folder: Path
    rows: dict[str, dict[str, int]]
    shortfalls: list[str]
    split_warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "folder": str(self.folder),
            "rows": self.rows,
            "below_threshold": self.shortfalls,
            "split_warnings": self.split_warnings,
        }


def check_validation(settings: Settings) -> ValidationOutcome:
    """Gate 1. The outcome carries the near-duplicate pairs validation found (they shape the splits)."""
    outcome = validate_corpus(settings)
    if not outcome.ok:
        more = f" (and {len(outcome.errors) - 1} more)" if len(outcome.errors) > 1 else ""
        raise ReleaseError(f"validation failed: {outcome.errors[0]}{more}; run `corpuskit validate`")
    return outcome


def snapshot_meta(folder: Path) -> dict[str, Any]:
    """The snapshot's metadata, after checking the tables the release streams against their hashes
    (before anything is built: the streams check them again as they are read)."""
    from corpuskit.snapshot import verify_tables

    try:
        return verify_tables(folder, RELEASED_TABLES)
    except DataError as exc:
        raise ReleaseError(str(exc)) from None


@dataclass
class QualityOutcome:
    gold: Iterable[dict[str, Any]]
    agreement: dict[str, Any]
    shortfalls: list[str]
    result: Any


def assess_quality(
    settings: Settings, folder: Path, taxonomy: Any, left_out: Collection[str] = ()
) -> QualityOutcome:
    """Gold rows and agreement from the quality module, and every shortfall against the thresholds.

    The annotations of `left_out` documents (the dedupe record's) are left out of both: the gates
    and the card judge the documents the release holds. The snapshot is read one document at a
    time and never held; the gold rows are decided again, one document at a time, as the build
    reads them."""
    from corpuskit.quality.check import assess_streaming
    from corpuskit.quality.context import recorded_design, resolve_inputs
    from corpuskit.quality.ratings import iter_groups_of

    inputs = resolve_inputs(folder, taxonomy=taxonomy, settings=settings)
    # Named relative to the corpus: the report goes into the release, whose bytes must not depend
    # on where the corpus is checked out (nor show a local path).
    source = inputs.source
    with contextlib.suppress(ValueError):
        source = Path(source).relative_to(settings.root).as_posix()
    excluded = frozenset(left_out)

    def groups() -> Iterator[tuple[str, Sequence[tuple[int, Mapping[str, Any]]]]]:
        for document_id, numbered in iter_groups_of(inputs.rows, source):
            if document_id not in excluded:
                yield document_id, numbered

    assessment = assess_streaming(
        groups,
        taxonomy=inputs.taxonomy,
        adjudications=inputs.adjudications,
        min_annotators=settings.min_annotators,
        min_alpha=settings.min_alpha,
        design=recorded_design(inputs),
        source=source,
        keep_items=3,  # the shortfall names three examples and counts the rest
    )
    result, check = assessment.agreement, assessment.check
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
    shortfalls = [str(failure) for failure in check.targets]
    if check.failed_items:
        examples = "; ".join(str(failure) for failure in check.items[:3])
        shortfalls.append(
            f"{check.failed_items} of {check.checked_items} gold decisions fall short (e.g. {examples})"
        )
    return QualityOutcome(
        gold=(row.to_json() for row in assessment.gold_rows()),
        agreement=agreement,
        shortfalls=shortfalls,
        result=result,
    )


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


def _tasks(folder: Path, meta: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for row in snapshot_rows(folder, "tasks", meta):
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
    strip: bool | None = None,
) -> ReleaseResult:
    """Build `releases/vX.Y.Z/` from the corpus and its annotation snapshot, after the gates pass.

    `strip` (None: the `strip_boilerplate` setting) drops boilerplate lines of raw text, as push did."""
    from corpuskit.validation.api import iter_valid_documents

    settings = settings or load_settings()
    if strip is not None:  # as push: through the settings, which every reading step follows
        settings = dataclasses.replace(settings, strip_boilerplate=strip)
    releases = Path(out) if out is not None else settings.path(settings.releases)
    if (version is None) == (bump is None):
        raise ReleaseError("give either a VERSION or --bump major|minor|patch")
    version = normalize(version) if version is not None else next_version(releases, bump or "")
    taxonomy = load_taxonomy(settings)
    validation = check_validation(settings)
    folder = settings.path(settings.annotations)
    meta = snapshot_meta(folder)
    quality = assess_quality(settings, folder, taxonomy, left_out=validation.left_out)
    if quality.shortfalls and not allow_below_threshold:
        raise ReleaseError(
            "gold is below the quality thresholds: "
            + "; ".join(quality.shortfalls)
            + " (--allow-below-threshold "
            "builds anyway and says so in the card)"
        )
    write_report = report_writer(quality.result)
    guidelines = settings.path(settings.guidelines)
    inputs = ReleaseInputs(
        documents=iter_valid_documents(settings=settings, result=validation.result),
        annotations=snapshot_rows(folder, "annotations", meta),
        gold=iter(quality.gold),
        tasks=_tasks(folder, meta),
        taxonomy=taxonomy,
        snapshot=meta,
        split_ratios=tuple(settings.split_ratios),  # type: ignore[arg-type]
        near_duplicates=validation.near_duplicates,
        duplicate_groups=validation.duplicate_groups,
        left_out=validation.left_out,
        dedupe_record=validation.dedupe_record,
        near_duplicate_threshold=float(settings.near_duplicate_threshold),
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
        license=settings.license,
        pretty_name=settings.pretty_name,
        authors=tuple(settings.authors),
        homepage=settings.homepage,
        source_copyright=settings.source_copyright,
        sources=document_sources(settings, validation.result) if settings.split_by == "source" else None,
        held_out_targets=tuple(settings.held_out_targets),
        shipped=shipped_files(settings),
        shard_bytes=shard_bytes,
        write_report=write_report,
    )
    target = build_release(inputs, releases, version)
    from corpuskit.release.manifest import read_manifest

    manifest = read_manifest(target)
    return ReleaseResult(
        version=version,
        folder=target,
        rows=manifest["rows"],
        shortfalls=inputs.shortfalls,
        split_warnings=manifest["split_warnings"],
    )
