"""Building one release folder: the configs, streamed, sorted, sharded, then the metadata.

Everything is written into a hidden temporary folder next to the target and renamed into place only
when it is complete and checked, so an interrupted or refused build leaves no version behind.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from corpuskit.errors import EnvironmentProblem, ReleaseError
from corpuskit.files import fsync_dir, fsync_tree
from corpuskit.release.inputs import file_sha256
from corpuskit.release.join import DocumentCursor, Match, gather, keep
from corpuskit.release.readback import shard_files
from corpuskit.release.shards import DEFAULT_SHARD_BYTES, ROW_GROUP_ROWS, SortedShardWriter
from corpuskit.release.splits import SPLITS, SplitAssigner
from corpuskit.release.tables import (
    CONFIGS,
    LabelIndex,
    annotation_row,
    document_row,
    features_of,
    fill_label_text,
    gold_row,
)
from corpuskit.release.versions import LOCK_NAME, TEMP_PREFIX, release_lock, version_dir
from corpuskit.release.views import (
    stance_annotation_key,
    stance_annotation_rows,
    stance_key,
    stance_rows,
    target_names,
)
from corpuskit.taxonomy.features import DECIDED_BY
from corpuskit.taxonomy.model import Taxonomy

Row = dict[str, Any]


@dataclass
class ReleaseInputs:
    """Everything a release is made of. Iterables are consumed once, in order: documents first."""

    documents: Iterable[Row]
    annotations: Iterable[Row]
    gold: Iterable[Row]
    # (document_id, content_sha256) of every task in the snapshot, sorted by document_id.
    tasks: Iterable[tuple[str, str]]
    taxonomy: Taxonomy
    snapshot: dict[str, Any]
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)
    # Clusters of identical or near-duplicate documents, (kind, member ids), and the documents the
    # dedupe record leaves out (not among `documents`): the card counts them.
    duplicate_groups: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    dedupe_record: str | None = None
    near_duplicate_threshold: float = 0.8
    agreement: dict[str, Any] = field(default_factory=dict)
    shortfalls: list[str] = field(default_factory=list)
    hashes: dict[str, str | None] = field(default_factory=dict)
    git: dict[str, Any] = field(default_factory=dict)
    guidelines_version: str | None = None
    license: str = "other"
    language: str = "en"
    pretty_name: str = "corpuskit news stance corpus"
    authors: tuple[str, ...] = ()
    homepage: str | None = None
    source_copyright: str = ""
    # Held-out sources: document id -> source (None keeps the split by document id).
    sources: Mapping[str, str | None] | None = None
    held_out_targets: tuple[str, ...] = ()
    # Files shipped with the release: name in the release -> file in the corpus (taxonomy, guidelines).
    shipped: dict[str, Path] = field(default_factory=dict)
    shard_bytes: int = DEFAULT_SHARD_BYTES
    row_group_rows: int = ROW_GROUP_ROWS
    write_report: Callable[[Path], Any] | None = None


@dataclass
class Stats:
    """The numbers the card, manifest and changelog are written from, gathered while streaming."""

    rows: dict[str, dict[str, int]] = field(
        default_factory=lambda: {c: dict.fromkeys(SPLITS, 0) for c in CONFIGS}
    )
    files: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    sources: Counter[str] = field(default_factory=Counter)
    # Documents per language tag (stated, else detected, else the setting's default).
    languages: Counter[str] = field(default_factory=Counter)
    unknown_source: int = 0
    undated: int = 0
    # The split every document went to because the corpus is too small for the ratios, if any.
    only_split: str | None = None
    example: dict[str, Any] | None = None  # the first `stance` row, shown on the card
    first_date: str | None = None
    last_date: str | None = None
    annotators: set[str] = field(default_factory=set)
    demo_annotators: set[str] = field(default_factory=set)
    cancelled: int = 0
    orphan_annotations: int = 0
    orphan_gold: int = 0
    stale_annotations: list[str] = field(default_factory=list)
    stale_count: int = 0
    unannotated: int = 0
    stance_counts: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    topic_counts: dict[str, Counter[str]] = field(default_factory=dict)
    decided_by: Counter[str] = field(default_factory=Counter)
    pilot_documents: int = 0  # gold rows of pilot documents (labelled by every member)
    documents_by_annotators: Counter[int] = field(default_factory=Counter)  # n annotators -> gold rows
    near_duplicate_groups: int = 0
    # Clusters with two or more released documents, by kind ("identical", "near-duplicate"), and
    # the documents in them.
    clusters: Counter[str] = field(default_factory=Counter)
    clustered: Counter[str] = field(default_factory=Counter)
    # Annotations of documents the dedupe record leaves out (not released; gold and agreement
    # never saw them).
    left_out_annotations: int = 0
    hashes: dict[str, str] = field(default_factory=dict)

    def sha256_of(self, path: Path, rel: str) -> str:
        """SHA-256 of a finished file of the release, computed once (Croissant and manifest both need it)."""
        if rel not in self.hashes:
            self.hashes[rel] = file_sha256(path)
        return self.hashes[rel]


DEMO_DOMAINS = ("example.org", "example.com", "example.net", "localhost")


def _is_demo(annotator: Any) -> bool:
    email = str((annotator or {}).get("email") or "").lower()
    return email.endswith(DEMO_DOMAINS) or "demo" in email.split("@")[0]


def _annotation_key(row: Row) -> tuple[Any, ...]:
    ann = row["annotation_id"]
    created = row["created_at"].isoformat() if row["created_at"] is not None else ""
    return (row["document_id"], -1 if ann is None else ann, row["annotator"], created)


class _Interrupted(BaseException):
    """Raised from SIGTERM so the temporary folder is removed like on Ctrl-C."""


def _on_term(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted


def build_release(inputs: ReleaseInputs, releases: Path, version: str) -> Path:
    """Build `releases/v{version}/` atomically; returns its path. Refuses to overwrite a version."""
    releases.mkdir(parents=True, exist_ok=True)
    target = version_dir(releases, version)
    with release_lock(releases / LOCK_NAME):
        for stale in releases.glob(f"{TEMP_PREFIX}*"):
            # Left by a build that was killed outright; we hold the lock, so nobody is using it.
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists():
            raise ReleaseError(f"{target}: release v{version} already exists; releases are never overwritten")
        work = releases / f"{TEMP_PREFIX}v{version}-{os.getpid()}"
        previous = signal.getsignal(signal.SIGTERM)
        in_main = _in_main_thread()
        if in_main:
            signal.signal(signal.SIGTERM, _on_term)
        try:
            work.mkdir()
            stats = _write_tables(inputs, work)
            _check_snapshot_covers_corpus(inputs, work, stats)
            _write_metadata(inputs, work, stats, version, releases)
            fsync_tree(work)
            os.rename(work, target)
            fsync_dir(releases)
        except _Interrupted as exc:
            shutil.rmtree(work, ignore_errors=True)
            raise ReleaseError(f"release v{version} interrupted; nothing was written") from exc
        except OSError as exc:
            # A full disk or a file size limit: one line for people, not pyarrow's traceback.
            shutil.rmtree(work, ignore_errors=True)
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise EnvironmentProblem(
                f"release v{version} failed: {exc.filename or releases}: {reason}; nothing was written"
            ) from exc
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)
    return target


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


Writers = dict[str, SortedShardWriter]


def _writers(config: str, inputs: ReleaseInputs, work: Path, key: Callable[[Row], Any]) -> Writers:
    schema = features_of(config, inputs.taxonomy).arrow_schema
    return {
        split: SortedShardWriter(
            directory=work / "data" / config,
            split=split,
            schema=schema,
            key=key,
            work=work / ".runs" / config,
            shard_bytes=inputs.shard_bytes,
            row_group_rows=inputs.row_group_rows,
        )
        for split in SPLITS
    }


def _write_tables(inputs: ReleaseInputs, work: Path) -> Stats:
    stats = Stats()
    assign = SplitAssigner(inputs.split_ratios, inputs.near_duplicates, inputs.sources)
    stats.near_duplicate_groups = len(assign.groups.groups())
    taxonomy = inputs.taxonomy
    index = LabelIndex.of(taxonomy)
    annotation_features = features_of("annotations", taxonomy)
    gold_features = features_of("gold", taxonomy)

    group_of: dict[str, list[int]] = {}
    for number, (_, members) in enumerate(inputs.duplicate_groups):
        for member in members:
            group_of.setdefault(member, []).append(number)
    released_in: Counter[int] = Counter()
    documents = _writers("documents", inputs, work, key=lambda row: row["id"])
    for doc in inputs.documents:
        row = document_row(doc)
        released_in.update(group_of.get(row["id"], ()))
        documents[assign(row["id"])].add(row)
        if isinstance(doc.get("language"), str):
            stats.languages[doc["language"]] += 1
        if row["source"]:
            stats.sources[row["source"]] += 1
        else:
            stats.unknown_source += 1
        date = row["published_at"]
        if date:
            stats.first_date = date if stats.first_date is None else min(stats.first_date, date)
            stats.last_date = date if stats.last_date is None else max(stats.last_date, date)
        else:
            stats.undated += 1
    for number, count in released_in.items():
        if count > 1:
            kind = inputs.duplicate_groups[number][0]
            stats.clusters[kind] += 1
            stats.clustered[kind] += count
    _small_corpus(documents, assign, stats)
    _close(documents, "documents", stats, work, inputs)

    views = _Views(inputs, work)
    annotations = _writers("annotations", inputs, work, key=_annotation_key)
    for ann in inputs.annotations:
        if ann.get("was_cancelled"):
            stats.cancelled += 1
            continue
        row = fill_label_text(annotation_row(ann, taxonomy, index), annotation_features)
        stats.annotators.add(row["annotator"])
        if _is_demo(ann.get("annotator")):
            stats.demo_annotators.add(row["annotator"])
        annotations[assign(row["document_id"])].add(row)
    join = partial(_join_annotations, views=views)
    _close(annotations, "annotations", stats, work, inputs, join=join)
    _close(views.writers["stance_annotations"], "stance_annotations", stats, work, inputs)

    stats.stance_counts = {s: {t: Counter() for t in taxonomy.target_ids} for s in SPLITS}
    stats.topic_counts = {s: Counter() for s in SPLITS}
    gold = _writers("gold", inputs, work, key=lambda row: row["id"])
    for item in inputs.gold:
        row = fill_label_text(gold_row(item, taxonomy, index), gold_features)
        gold[assign(row["id"])].add(row)
    _close(gold, "gold", stats, work, inputs, join=partial(_join_gold, views=views))
    _close(views.writers["stance"], "stance", stats, work, inputs)
    shutil.rmtree(work / ".runs", ignore_errors=True)
    return stats


def _small_corpus(documents: Writers, assign: SplitAssigner, stats: Stats) -> None:
    """A corpus whose documents all missed `train` (two demo documents, one near-duplicate group)
    goes to `train` whole: `datasets` cannot load an empty split, and a release without train is no use.
    Documents move to their hashed split once the corpus is large enough to fill train; the card says so."""
    total = sum(writer.num_rows for writer in documents.values())
    if total == 0 or documents["train"].num_rows or not assign.ratios[0]:
        return
    for split in SPLITS[1:]:
        documents["train"].absorb(documents[split])
    assign.only = stats.only_split = "train"


class _Views:
    """The writers of the flat views and where their rows go (held-out targets go to `test`)."""

    def __init__(self, inputs: ReleaseInputs, work: Path) -> None:
        taxonomy = inputs.taxonomy
        unknown = sorted(set(inputs.held_out_targets) - set(taxonomy.target_ids))
        if unknown:
            raise ReleaseError(
                f"held_out_targets: {', '.join(unknown)} not a target of the taxonomy "
                f"({', '.join(taxonomy.target_ids)})"
            )
        self.taxonomy = taxonomy
        self.names = target_names(taxonomy)
        self.held_out = {taxonomy.target_ids.index(t) for t in inputs.held_out_targets}
        self.features = {c: features_of(c, taxonomy) for c in ("stance", "stance_annotations")}
        self.writers = {
            "stance": _writers("stance", inputs, work, key=stance_key),
            "stance_annotations": _writers("stance_annotations", inputs, work, key=stance_annotation_key),
        }

    def add(self, config: str, rows: Iterable[Row], split: str) -> None:
        for row in rows:
            fill_label_text(row, self.features[config])
            self.writers[config]["test" if row["target"] in self.held_out else split].add(row)


# (sorted batch, the document matching each row or None, split, stats, inputs) -> the batch to write
Join = Callable[[Any, list[Any], str, Stats, ReleaseInputs], Any]


def _close(
    writers: dict[str, SortedShardWriter],
    config: str,
    stats: Stats,
    work: Path,
    inputs: ReleaseInputs,
    join: Join | None = None,
) -> None:
    stats.files[config] = {}
    for split, writer in writers.items():
        transform = None
        if join is not None:
            documents = shard_files(work, "documents", split)
            transform = _joiner(join, documents, split, stats, writer, config, inputs)
        result = writer.close(transform=transform)
        stats.files[config][split] = [str(p.relative_to(work)) for p in result.files]
        stats.rows[config][split] = result.num_rows


def _joiner(
    join: Join,
    documents: list[Path],
    split: str,
    stats: Stats,
    writer: SortedShardWriter,
    config: str,
    inputs: ReleaseInputs,
) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """A merge join of this split's sorted rows with the split's (already written, sorted) documents.

    Column-wise: only the key columns become Python values; the join callback filters the batch or
    swaps whole columns taken from the documents, so rows are never converted back and forth."""
    key = "document_id" if config == "annotations" else "id"
    columns = (
        ["id", "content_sha256"] if config == "annotations" else ["id", "title", "text", "content_sha256"]
    )

    def transform(batches: Iterator[Any]) -> Iterator[Any]:
        cursor = DocumentCursor(documents, columns)
        kept_total = 0
        for batch in batches:
            matches = [cursor.find(value) for value in batch.column(key).to_pylist()]
            out = join(batch, matches, split, stats, inputs)
            kept_total += out.num_rows
            if out.num_rows:
                yield out
        writer.num_rows = kept_total

    return transform


def _left_out(batch: Any, matches: list[Match | None], inputs: ReleaseInputs) -> int:
    """How many unmatched annotation rows belong to documents the dedupe record leaves out."""
    if not inputs.left_out or all(m is not None for m in matches):
        return 0
    left = set(inputs.left_out)
    ids = batch.column("document_id").to_pylist()
    return sum(1 for m, doc_id in zip(matches, ids, strict=True) if m is None and doc_id in left)


def _join_annotations(
    batch: Any,
    matches: list[Match | None],
    split: str,
    stats: Stats,
    inputs: ReleaseInputs,
    views: _Views,
) -> Any:
    import pyarrow as pa

    left = _left_out(batch, matches, inputs)
    stats.left_out_annotations += left
    stats.orphan_annotations += sum(1 for m in matches if m is None) - left
    batch, found = keep(batch, matches)
    current = gather(found, "content_sha256", pa.string()).to_pylist()
    ids = batch.column("document_id").to_pylist()
    for made_on, now, doc_id in zip(batch.column("content_sha256").to_pylist(), current, ids, strict=True):
        if made_on and made_on != now:
            stats.stale_count += 1
            if len(stats.stale_annotations) < 5 and doc_id not in stats.stale_annotations:
                stats.stale_annotations.append(doc_id)
    for row in batch.to_pylist():
        views.add("stance_annotations", stance_annotation_rows(row, views.taxonomy, views.names), split)
    return batch


def _join_gold(
    batch: Any,
    matches: list[Match | None],
    split: str,
    stats: Stats,
    inputs: ReleaseInputs,
    views: _Views,
) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    stats.orphan_gold += sum(1 for m in matches if m is None)
    batch, found = keep(batch, matches)
    arrays = list(batch.columns)
    for name in ("title", "text", "content_sha256"):
        index = batch.schema.get_field_index(name)
        arrays[index] = gather(found, name, batch.schema.field(name).type)
    batch = pa.RecordBatch.from_arrays(arrays, schema=batch.schema)
    values = inputs.taxonomy.stance_value_ids
    for target in inputs.taxonomy.target_ids:
        labels = pc.struct_field(batch.column("stance"), [target])  # type: ignore[attr-defined]
        for item in pc.value_counts(labels).to_pylist():  # type: ignore[attr-defined]
            label = item["values"]
            name = values[label] if label is not None and label >= 0 else "(unresolved)"
            stats.stance_counts[split][target][name] += item["counts"]
        decided = pc.struct_field(batch.column("stance_provenance"), [target, "decided_by"])  # type: ignore[attr-defined]
        for item in pc.value_counts(decided).to_pylist():  # type: ignore[attr-defined]
            stats.decided_by[DECIDED_BY[item["values"]]] += item["counts"]
    stats.pilot_documents += sum(1 for pilot in batch.column("pilot").to_pylist() if pilot)
    # The annotators who answered a document: the most that answered any one of its questions.
    answered = [
        pc.struct_field(batch.column("stance_provenance"), [target, "n_annotators"])  # type: ignore[attr-defined]
        for target in inputs.taxonomy.target_ids
    ]
    if answered:
        for item in pc.value_counts(pc.max_element_wise(*answered)).to_pylist():  # type: ignore[attr-defined]
            stats.documents_by_annotators[int(item["values"] or 0)] += item["counts"]
    topics = inputs.taxonomy.topic_ids
    flat = pc.list_flatten(batch.column("topics"))  # type: ignore[attr-defined]
    for item in pc.value_counts(flat).to_pylist():  # type: ignore[attr-defined]
        stats.topic_counts[split][topics[item["values"]]] += item["counts"]
    for row in batch.to_pylist():
        rows = list(stance_rows(row, views.taxonomy, views.names))
        views.add("stance", rows, split)
        if stats.example is None and rows:
            stats.example = {name: rows[0][name] for name in views.features["stance"]}
    return batch


def _check_snapshot_covers_corpus(inputs: ReleaseInputs, work: Path, stats: Stats) -> None:
    """Refuse when the annotation snapshot is older than the corpus.

    Every document must appear in the snapshot's tasks with its current content hash (else it was added
    or edited after the export), and no annotation may have been made on another text of its document."""
    from corpuskit.release.readback import iter_sorted

    tasks = iter(inputs.tasks)
    task = next(tasks, None)
    missing: list[str] = []
    n_missing = 0
    last_task = ""
    for doc in iter_sorted(work, "documents", "id", ["id", "content_sha256"]):
        hashes: set[str] = set()
        while task is not None and task[0] <= doc["id"]:
            if task[0] < last_task:
                raise ReleaseError(f"snapshot tasks are not sorted by document id (at {task[0]!r})")
            last_task = task[0]
            if task[0] == doc["id"]:
                hashes.add(task[1])
            task = next(tasks, None)
        if doc["content_sha256"] not in hashes:
            n_missing += 1
            if len(missing) < 5:
                missing.append(doc["id"])
    if n_missing:
        exported = inputs.snapshot.get("exported_at", "?")
        raise ReleaseError(
            f"the annotation snapshot (exported {exported}) is older than the corpus: "
            f"{n_missing} document(s) are new or changed since, e.g. {', '.join(missing)}; "
            "push and pull again"
        )
    if stats.stale_count:
        raise ReleaseError(
            f"{stats.stale_count} annotation(s) were made on an older text of their document, "
            f"e.g. {', '.join(stats.stale_annotations)}; re-annotate them or pull again"
        )


def _write_metadata(inputs: ReleaseInputs, work: Path, stats: Stats, version: str, releases: Path) -> None:
    from corpuskit.release.card import write_card
    from corpuskit.release.changelog import write_changelog
    from corpuskit.release.croissant import write_croissant
    from corpuskit.release.manifest import write_manifest

    if inputs.write_report is not None:
        report_dir = work / "report"
        report_dir.mkdir()
        inputs.write_report(report_dir)
    for name, source in sorted(inputs.shipped.items()):
        # The taxonomy and guidelines the card cites travel with the data (and into the manifest).
        shutil.copyfile(source, work / name)
    write_changelog(work, version, releases, stats, inputs.agreement)
    write_card(work, inputs, stats, version)
    write_croissant(work, inputs, stats, version)
    write_manifest(work, inputs, stats, version)
