"""Checks across the whole corpus: duplicate ids, identical content under two ids, near-duplicates.

Only a compact entry per document is kept (id, a file number and line, the content hash and a
256-byte MinHash signature), never the documents. Near-duplicate candidates come from LSH
banding of the signatures: each band of `rows` values becomes one 64-bit key, equal keys are
found by sorting (no pairwise loop, so a million documents take seconds), and every candidate
pair is verified by its estimated Jaccard similarity before it is reported.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from corpuskit.diagnostics import Diagnostic, Severity
from corpuskit.validation.signatures import NUM_PERM, Signatures, bands_for, empty, estimate_jaccard

# A band key shared by more documents than this is checked as a star around its first document:
# a template paragraph repeated in thousands of articles must not turn into millions of pairs.
_MAX_BUCKET = 64


@dataclass
class Entries:
    """Compact per-document entries, appended in corpus order (file order, then line)."""

    files: list[str] = field(default_factory=list)
    file_of: array[int] = field(default_factory=lambda: array("I"))
    line_of: array[int] = field(default_factory=lambda: array("I"))
    ids: list[str] = field(default_factory=list)
    sha: bytearray = field(default_factory=bytearray)
    signature_blocks: list[Signatures] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, other: Entries) -> None:
        base = len(self.files)
        self.files.extend(other.files)
        self.file_of.extend(base + index for index in other.file_of)
        self.line_of.extend(other.line_of)
        self.ids.extend(other.ids)
        self.sha.extend(other.sha)
        self.signature_blocks.extend(other.signature_blocks)

    def columns(self, start: int, stop: int) -> Signatures:
        """Signature columns start..stop of every document: one band, without joining the blocks
        into one matrix (which would hold the signatures twice at the peak)."""
        if not self.signature_blocks:
            return empty()[:, start:stop]
        return np.concatenate([block[:, start:stop] for block in self.signature_blocks])

    def rows(self, indices: npt.NDArray[np.int64]) -> Signatures:
        """The signatures of the documents at `indices`, in that order."""
        result = np.empty((len(indices), NUM_PERM), dtype=np.uint16)
        ends = np.cumsum([len(block) for block in self.signature_blocks])
        which = np.searchsorted(ends, indices, side="right")
        for number in np.unique(which).tolist():
            mask = which == number
            offset = int(ends[number] - len(self.signature_blocks[number]))
            result[mask] = self.signature_blocks[number][indices[mask] - offset]
        return result

    def where(self, index: int) -> tuple[str, int]:
        return self.files[self.file_of[index]], self.line_of[index]


def _groups(keys: npt.NDArray[np.uint64]) -> Iterator[npt.NDArray[np.intp]]:
    """Indices of runs of equal keys (runs of two or more), each sorted ascending."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    boundaries = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(keys)]))
    for start, end in zip(starts[ends - starts > 1], ends[ends - starts > 1], strict=True):
        yield order[start:end]


def _key64(data: bytes | bytearray, width: int) -> npt.NDArray[np.uint64]:
    """The first 8 bytes of every `width`-byte record, as integers (hash prefixes are uniform)."""
    return np.frombuffer(bytes(data), dtype=np.uint64).reshape(-1, width // 8)[:, 0].copy()


def _id_keys(ids: list[str]) -> npt.NDArray[np.uint64]:
    # Python's string hash is stable within one process, which is all a sort key needs here.
    return np.fromiter((hash(name) for name in ids), dtype=np.int64, count=len(ids)).view(np.uint64)


@dataclass(frozen=True)
class Finding:
    """A pair of documents that clash: `at` is where it is reported, `other` the one it names."""

    code: str
    at: int
    other: int
    similarity: float = 1.0


def _place(entries: Entries, index: int) -> str:
    file, line = entries.where(index)
    return f"{file}:{line}"


def describe(entries: Entries, finding: Finding, threshold: float) -> Diagnostic:
    at, other = finding.at, finding.other
    if finding.code == "duplicate-id":
        message = f"id {entries.ids[at]!r} is also used by {_place(entries, other)}"
    elif finding.code == "duplicate-content":
        message = f"same content as {entries.ids[other]!r} ({_place(entries, other)})"
    else:
        message = (
            f"near-duplicate of {entries.ids[other]!r} ({_place(entries, other)}): estimated "
            f"similarity {finding.similarity:.2f} (MinHash Jaccard, threshold {threshold:g})"
        )
    file, line = entries.where(at)
    return Diagnostic(
        file=file,
        line=line,
        column=None,
        pointer="/id" if finding.code == "duplicate-id" else "",
        severity=Severity.WARNING if finding.code == "near-duplicate" else Severity.ERROR,
        code=finding.code,
        message=message,
        document_id=entries.ids[at],
    )


# A cluster message names this many of its members; `--format json` lists them all.
CLUSTER_LISTED = 5


@dataclass(frozen=True)
class Cluster:
    """Near-duplicates joined by their pairs: `members` are entry indices in corpus order (the
    first is the representative), `low`/`high` the range of the pairs' estimated similarity."""

    members: tuple[int, ...]
    low: float
    high: float

    def to_json(self, entries: Entries) -> dict[str, object]:
        return {
            "representative": entries.ids[self.members[0]],
            "size": len(self.members),
            "similarity": [round(self.low, 4), round(self.high, 4)],
            "members": [
                {"id": entries.ids[i], "file": entries.where(i)[0], "line": entries.where(i)[1]}
                for i in self.members
            ],
        }


def clusters_of(findings: list[Finding]) -> list[Cluster]:
    """Union-find over near-duplicate pairs; clusters in the order of their first member."""
    parent: dict[int, int] = {}

    def root(item: int) -> int:
        parent.setdefault(item, item)
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for finding in findings:
        a, b = root(finding.at), root(finding.other)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = {}
    for item in parent:
        members.setdefault(root(item), []).append(item)
    ranges: dict[int, list[float]] = {}
    for finding in findings:
        ranges.setdefault(root(finding.at), []).append(finding.similarity)
    return [
        Cluster(tuple(sorted(members[key])), min(ranges[key]), max(ranges[key])) for key in sorted(members)
    ]


def describe_cluster(entries: Entries, cluster: Cluster, threshold: float) -> Diagnostic:
    """One warning for a cluster of three or more, at its representative (the first in corpus order)."""
    first = cluster.members[0]
    listed = ", ".join(
        f"{entries.ids[i]!r} ({_place(entries, i)})" for i in cluster.members[1 : 1 + CLUSTER_LISTED]
    )
    more = len(cluster.members) - 1 - CLUSTER_LISTED
    if more > 0:
        listed += f" and {more} more (--format json lists them all)"
    similarity = (
        f"{cluster.low:.2f}"
        if round(cluster.low, 2) == round(cluster.high, 2)
        else f"{cluster.low:.2f}-{cluster.high:.2f}"
    )
    file, line = entries.where(first)
    return Diagnostic(
        file=file,
        line=line,
        column=None,
        pointer="",
        severity=Severity.WARNING,
        code="near-duplicate",
        message=f"near-duplicate cluster of {len(cluster.members)} documents around {entries.ids[first]!r}: "
        f"{listed}; estimated similarity {similarity} (MinHash Jaccard, threshold {threshold:g})",
        document_id=entries.ids[first],
    )


def check_corpus(
    entries: Entries,
    *,
    near_duplicate_threshold: float,
    focus: npt.NDArray[np.bool_] | None = None,
) -> tuple[list[tuple[Diagnostic, Finding | None]], list[Cluster]]:
    """Duplicate ids, identical content and near-duplicates. A clash of two is reported at the
    later document, naming the earlier one; near-duplicates that join three or more documents
    are one warning per cluster (finding None), at its first member. With `focus` (one flag per
    entry), only pairs that involve a focused document are reported, and at the focused one.
    Also returns the clusters of three or more."""
    if len(entries) < 2:
        return [], []
    found: list[tuple[Diagnostic, Finding | None]] = []
    near: list[Finding] = []
    for finding in _findings(entries, near_duplicate_threshold):
        if focus is not None:
            if not focus[finding.at] and not focus[finding.other]:
                continue
            if not focus[finding.at]:
                finding = Finding(finding.code, finding.other, finding.at, finding.similarity)
        if finding.code == "near-duplicate":
            near.append(finding)
        else:
            found.append((describe(entries, finding, near_duplicate_threshold), finding))
    clusters = clusters_of(near)
    large = {member for cluster in clusters if len(cluster.members) > 2 for member in cluster.members}
    for finding in near:
        if finding.at not in large:
            found.append((describe(entries, finding, near_duplicate_threshold), finding))
    big = [cluster for cluster in clusters if len(cluster.members) > 2]
    found += [(describe_cluster(entries, cluster, near_duplicate_threshold), None) for cluster in big]
    return found, big


class Admission:
    """Which documents pass the cross-record checks, decided one document at a time in corpus order.

    A duplicate id or identical content is reported at the later of the two documents (see
    `_findings`), and near-duplicates are only warnings; so whether a document passes is known as
    soon as the documents before it are: it clashes with none of them. `see` is given every
    schema-valid document in corpus order (the document itself only when it passed its own
    checks) and hands each that passes every check to `admit` at once: push starts importing
    while the rest of the corpus is still being read. `check_corpus` over the whole corpus rejects
    exactly the documents not handed over (validate verifies it)."""

    def __init__(self, admit: Callable[[dict[str, Any]], None]) -> None:
        self._admit = admit
        self._ids: set[str] = set()
        self._shas: set[bytes] = set()
        self.admitted: list[str] = []

    def see(self, doc_id: str, sha: bytes, document: dict[str, Any] | None) -> None:
        clash = doc_id in self._ids or sha in self._shas
        self._ids.add(doc_id)
        self._shas.add(sha)
        if document is not None and not clash:
            self.admitted.append(doc_id)
            self._admit(document)


def _findings(entries: Entries, threshold: float) -> Iterator[Finding]:
    count = len(entries)
    same_id: set[int] = set()
    for group in _groups(_id_keys(entries.ids)):
        by_name: dict[str, int] = {}
        for index in group.tolist():
            name = entries.ids[index]
            if name in by_name:
                same_id.add(index)
                yield Finding("duplicate-id", index, by_name[name])
            else:
                by_name[name] = index
    # Documents that repeat an earlier one exactly are reported once and left out of the
    # near-duplicate search (every band of theirs would collide).
    exact_copy = np.zeros(count, dtype=bool)
    for group in _groups(_key64(entries.sha, 32)):
        by_hash: dict[bytes, int] = {}
        for index in group.tolist():
            digest = bytes(entries.sha[index * 32 : index * 32 + 32])
            if digest in by_hash:
                exact_copy[index] = True
                if index not in same_id:
                    yield Finding("duplicate-content", index, by_hash[digest])
            else:
                by_hash[digest] = index
    yield from _near_duplicates(entries, exact_copy, threshold)


def candidate_pairs(signatures: Signatures, threshold: float) -> npt.NDArray[np.int64]:
    """Pairs (i, j), i < j, that share at least one LSH band; shape (n, 2), unique rows."""
    return _candidates(lambda start, stop: signatures[:, start:stop], threshold)


def _candidates(band_columns: Callable[[int, int], Signatures], threshold: float) -> npt.NDArray[np.int64]:
    bands, rows = bands_for(threshold, NUM_PERM)
    weights = (np.random.default_rng(7).integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)).astype(
        np.uint64
    )
    found: list[npt.NDArray[np.int64]] = []
    for band in range(bands):
        block = band_columns(band * rows, (band + 1) * rows).astype(np.uint64)
        with np.errstate(over="ignore"):
            keys = (block * weights).sum(axis=1, dtype=np.uint64)
        for group in _groups(keys):
            members = group if len(group) <= _MAX_BUCKET else group[:_MAX_BUCKET]
            if len(group) > _MAX_BUCKET:
                star = np.stack([np.full(len(group) - 1, group[0]), group[1:]], axis=1)
                found.append(star.astype(np.int64))
            left, right = np.triu_indices(len(members), k=1)
            found.append(np.stack([members[left], members[right]], axis=1).astype(np.int64))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def _near_duplicates(
    entries: Entries, exact_copy: npt.NDArray[np.bool_], threshold: float
) -> Iterator[Finding]:
    pairs = _candidates(entries.columns, threshold)
    if len(pairs) == 0:
        return
    pairs = pairs[~(exact_copy[pairs[:, 0]] | exact_copy[pairs[:, 1]])]
    similarity = estimate_jaccard(entries.rows(pairs[:, 0]), entries.rows(pairs[:, 1]))
    keep = similarity >= threshold
    for (first, later), value in zip(pairs[keep].tolist(), similarity[keep].tolist(), strict=True):
        yield Finding("near-duplicate", later, first, value)


def near_duplicate_pairs(
    entries: Entries, found: list[tuple[Diagnostic, Finding | None]], clusters: list[Cluster]
) -> list[tuple[str, str]]:
    """(earlier id, later id) of every reported near-duplicate pair; a cluster as pairs of its
    representative and each other member (what keeps the cluster in one release split)."""
    pairs = [
        (entries.ids[finding.other], entries.ids[finding.at])
        for _, finding in found
        if finding is not None and finding.code == "near-duplicate"
    ]
    for cluster in clusters:
        first = entries.ids[cluster.members[0]]
        pairs += [(first, entries.ids[member]) for member in cluster.members[1:]]
    return pairs
