"""Checks across the whole corpus: duplicate ids, identical content under two ids, near-duplicates.

Only a compact entry per document is kept (id, a file number and line, the content hash and a
256-byte MinHash signature), never the documents. Near-duplicate candidates come from LSH
banding of the signatures: each band of `rows` values is one integer key, equal keys are
found with dictionaries built in C (no pairwise loop, and no Python-level work for a document
whose keys are unique, so a million documents take seconds), and every candidate pair is
verified by its estimated Jaccard similarity before it is reported.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, combinations, compress, repeat
from operator import lshift, ne, or_
from typing import Any

from corpuskit.diagnostics import Diagnostic, Severity
from corpuskit.validation.signatures import (
    NUM_PERM,
    SIGNATURE_BYTES,
    Signatures,
    bands_for,
    count,
    estimate_jaccard,
)

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

    def band_keys(self, start: int, stop: int) -> list[int]:
        """Signature values start..stop of every document, as one integer each (their bytes, so
        equal keys are equal bands): read by strided slicing of every block in the widest
        unsigned type the band allows, and joined with `map` (C loops, no Python step per document).
        The blocks are never joined into one copy."""
        width = 2 * (stop - start)
        unit = 8 if width % 8 == 0 else 4 if width % 4 == 0 else 2
        step = SIGNATURE_BYTES // unit
        keys: list[int] = []
        for block in self.signature_blocks:
            view = memoryview(block)
            values = view.cast("Q") if unit == 8 else view.cast("I") if unit == 4 else view.cast("H")
            columns = [values[column::step].tolist() for column in range(2 * start // unit, 2 * stop // unit)]
            joined = columns[0]
            for number, column in enumerate(columns[1:], 1):
                joined = list(map(or_, joined, map(lshift, column, repeat(8 * unit * number))))
            keys.extend(joined)
        return keys

    def signature_reader(self) -> Callable[[int], memoryview]:
        """A function from a document's index to its signature (for the blocks as they are now)."""
        blocks = [memoryview(block) for block in self.signature_blocks]
        ends = list(accumulate(count(block) for block in self.signature_blocks))

        def signature(index: int) -> memoryview:
            number = bisect_right(ends, index)
            offset = (index - ends[number]) * SIGNATURE_BYTES + len(blocks[number])
            return blocks[number][offset : offset + SIGNATURE_BYTES]

        return signature

    def where(self, index: int) -> tuple[str, int]:
        return self.files[self.file_of[index]], self.line_of[index]


def _groups(keys: Sequence[Hashable]) -> Iterator[list[int]]:
    """Indices of equal keys (two or more), each group ascending, groups in order of their first."""
    size = len(keys)
    # Each key's first index: a dictionary built from the end keeps the earliest.
    first = dict(zip(reversed(keys), range(size - 1, -1, -1), strict=True))
    if len(first) == size:
        return
    firsts = list(map(first.__getitem__, keys))
    groups: dict[int, list[int]] = {}
    for index in compress(range(size), map(ne, firsts, range(size))):
        groups.setdefault(firsts[index], [firsts[index]]).append(index)
    for start in sorted(groups):
        yield groups[start]


def _key64(data: bytes | bytearray, width: int) -> list[int]:
    """The first 8 bytes of every `width`-byte record, as integers (hash prefixes are uniform)."""
    return memoryview(bytes(data)).cast("Q")[:: width // 8].tolist()


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

NEAR = "near-duplicate"
IDENTICAL = "identical"


@dataclass(frozen=True)
class Cluster:
    """Documents joined by their pairs: `members` are entry indices in corpus order (the first is
    the representative), `low`/`high` the range of the pairs' estimated similarity (1.0 for
    identical content), `best` each member's highest similarity to another member."""

    members: tuple[int, ...]
    low: float
    high: float
    kind: str = NEAR
    best: tuple[float, ...] = ()

    def to_json(self, entries: Entries) -> dict[str, object]:
        return {
            "kind": self.kind,
            "representative": entries.ids[self.members[0]],
            "size": len(self.members),
            "similarity": [round(self.low, 4), round(self.high, 4)],
            "members": [
                {"id": entries.ids[i], "file": entries.where(i)[0], "line": entries.where(i)[1]}
                for i in self.members
            ],
        }


def clusters_of(findings: list[Finding], kind: str = NEAR) -> list[Cluster]:
    """Union-find over pairs; clusters in the order of their first member."""
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
    best: dict[int, float] = {}
    for finding in findings:
        ranges.setdefault(root(finding.at), []).append(finding.similarity)
        for item in (finding.at, finding.other):
            best[item] = max(best.get(item, 0.0), finding.similarity)
    clusters = []
    for key in sorted(members):
        ordered = tuple(sorted(members[key]))
        clusters.append(
            Cluster(ordered, min(ranges[key]), max(ranges[key]), kind, tuple(best[i] for i in ordered))
        )
    return clusters


def describe_cluster(entries: Entries, cluster: Cluster, threshold: float) -> Diagnostic:
    """One message for a cluster of three or more, at its representative (the first in corpus
    order): a warning for near-duplicates, an error for identical content (as for a pair)."""
    first = cluster.members[0]
    listed = ", ".join(
        f"{entries.ids[i]!r} ({_place(entries, i)})" for i in cluster.members[1 : 1 + CLUSTER_LISTED]
    )
    more = len(cluster.members) - 1 - CLUSTER_LISTED
    if more > 0:
        listed += f" and {more} more (--format json lists them all)"
    file, line = entries.where(first)
    if cluster.kind == IDENTICAL:
        message = (
            f"identical content in {len(cluster.members)} documents around {entries.ids[first]!r}: "
            f"{listed}; only the first is kept unless the dedupe record chooses (validate --dedupe)"
        )
    else:
        similarity = (
            f"{cluster.low:.2f}"
            if round(cluster.low, 2) == round(cluster.high, 2)
            else f"{cluster.low:.2f}-{cluster.high:.2f}"
        )
        message = (
            f"near-duplicate cluster of {len(cluster.members)} documents around {entries.ids[first]!r}: "
            f"{listed}; estimated similarity {similarity} (MinHash Jaccard, threshold {threshold:g})"
        )
    return Diagnostic(
        file=file,
        line=line,
        column=None,
        pointer="",
        severity=Severity.ERROR if cluster.kind == IDENTICAL else Severity.WARNING,
        code="duplicate-content" if cluster.kind == IDENTICAL else "near-duplicate",
        message=message,
        document_id=entries.ids[first],
    )


@dataclass(frozen=True)
class CrossChecks:
    """What the checks across the corpus found.

    `found`: diagnostics with the pair they report (None for a cluster message); `clusters`: the
    clusters reported as one message (three or more members; identical content, then
    near-duplicates); `groups`: every cluster of two or more, reported or settled, identical
    content and near-duplicates apart (what dedupe and the release's splits work from);
    `rejected`: entries that fail a cross-record check (a reused id, a copy of identical content)."""

    found: list[tuple[Diagnostic, Finding | None]] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    groups: list[Cluster] = field(default_factory=list)
    rejected: set[int] = field(default_factory=set)


def _toward(finding: Finding, focus: Sequence[bool]) -> Finding:
    """The finding reported at its focused document."""
    if focus[finding.at]:
        return finding
    return Finding(finding.code, finding.other, finding.at, finding.similarity)


# Given every cluster of the corpus, says which of them need no message (the dedupe record's doing).
Settle = Callable[[list[Cluster]], Callable[[Cluster], bool]]


def check_corpus(
    entries: Entries,
    *,
    near_duplicate_threshold: float,
    focus: Sequence[bool] | None = None,
    settle: Settle | None = None,
) -> CrossChecks:
    """Duplicate ids, identical content and near-duplicates. A clash of two is reported at the
    later document, naming the earlier one; clusters of three or more are one message (finding
    None) at their first member. With `focus` (one flag per entry), only pairs that involve a
    focused document are reported, and at the focused one; `groups` still cover the whole corpus.
    `settle`, given every cluster, tells which ones are settled (the dedupe record keeps one of
    their members and leaves the others out): those are not reported."""
    checks = CrossChecks()
    if len(entries) < 2:
        return checks
    near: list[Finding] = []
    identical: list[Finding] = []
    for finding in _findings(entries, near_duplicate_threshold):
        if finding.code == NEAR:
            near.append(finding)
        elif finding.code == "duplicate-content":
            identical.append(finding)
        elif focus is None or focus[finding.at] or focus[finding.other]:
            finding = finding if focus is None else _toward(finding, focus)
            checks.found.append((describe(entries, finding, near_duplicate_threshold), finding))
            checks.rejected.add(finding.at)
    checks.groups.extend(clusters_of(identical, IDENTICAL) + clusters_of(near, NEAR))
    settled = settle(checks.groups) if settle is not None else None
    for kind, findings in ((IDENTICAL, identical), (NEAR, near)):
        if focus is not None:
            findings = [_toward(f, focus) for f in findings if focus[f.at] or focus[f.other]]
        groups = clusters_of(findings, kind)
        reported = [group for group in groups if settled is None or not settled(group)]
        shown = {member for group in reported for member in group.members}
        large = {member for group in reported if len(group.members) > 2 for member in group.members}
        for finding in findings:
            if finding.at in shown and finding.at not in large:
                checks.found.append((describe(entries, finding, near_duplicate_threshold), finding))
                if kind == IDENTICAL:
                    checks.rejected.add(finding.at)
        for group in reported:
            if len(group.members) > 2:
                checks.clusters.append(group)
                checks.found.append((describe_cluster(entries, group, near_duplicate_threshold), None))
                if kind == IDENTICAL:
                    checks.rejected.update(group.members[1:])
    return checks


class Admission:
    """Which documents pass the cross-record checks, decided one document at a time in corpus order.

    A duplicate id or identical content is reported at the later of the two documents (see
    `_findings`), and near-duplicates are only warnings; so whether a document passes is known as
    soon as the documents before it are: it clashes with none of them. `see` is given every
    schema-valid document in corpus order (the document itself only when it passed its own
    checks) and hands each that passes every check to `admit` at once: push starts importing
    while the rest of the corpus is still being read. `check_corpus` over the whole corpus rejects
    exactly the documents not handed over (validate verifies it).

    `left_out` holds (id, content hash) of the documents the dedupe record leaves out: they are
    never handed over and do not count as seen, so the member the record keeps passes even when
    it comes after an identical copy the record leaves out."""

    def __init__(
        self,
        admit: Callable[[dict[str, Any]], None],
        left_out: frozenset[tuple[str, bytes]] = frozenset(),
    ) -> None:
        self._admit = admit
        self._left_out = left_out
        self._ids: set[str] = set()
        self._shas: set[bytes] = set()
        self.admitted: list[str] = []

    def see(self, doc_id: str, sha: bytes, document: dict[str, Any] | None) -> None:
        if (doc_id, sha) in self._left_out:
            return
        clash = doc_id in self._ids or sha in self._shas
        self._ids.add(doc_id)
        self._shas.add(sha)
        if document is not None and not clash:
            self.admitted.append(doc_id)
            self._admit(document)


def _findings(entries: Entries, threshold: float) -> Iterator[Finding]:
    count = len(entries)
    same_id: set[int] = set()
    for group in _groups(entries.ids):
        for index in group[1:]:
            same_id.add(index)
            yield Finding("duplicate-id", index, group[0])
    # Documents that repeat an earlier one exactly are reported once and left out of the
    # near-duplicate search (every band of theirs would collide).
    exact_copy = bytearray(count)
    for group in _groups(_key64(entries.sha, 32)):
        by_hash: dict[bytes, int] = {}
        for index in group:
            digest = bytes(entries.sha[index * 32 : index * 32 + 32])
            if digest in by_hash:
                exact_copy[index] = 1
                if index not in same_id:
                    yield Finding("duplicate-content", index, by_hash[digest])
            else:
                by_hash[digest] = index
    yield from _near_duplicates(entries, exact_copy, threshold)


def candidate_pairs(signatures: Signatures, threshold: float) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of a block of signatures that share at least one LSH band, sorted."""
    return _candidates(Entries(signature_blocks=[signatures]).band_keys, threshold)


def _candidates(band_keys: Callable[[int, int], list[int]], threshold: float) -> list[tuple[int, int]]:
    bands, rows = bands_for(threshold, NUM_PERM)
    found: set[tuple[int, int]] = set()
    for band in range(bands):
        for group in _groups(band_keys(band * rows, (band + 1) * rows)):
            if len(group) > _MAX_BUCKET:
                found.update((group[0], member) for member in group[_MAX_BUCKET:])
            found.update(combinations(group[:_MAX_BUCKET], 2))
    return sorted(found)


def _near_duplicates(entries: Entries, exact_copy: bytearray, threshold: float) -> Iterator[Finding]:
    signature = entries.signature_reader()
    for first, later in _candidates(entries.band_keys, threshold):
        if exact_copy[first] or exact_copy[later]:
            continue
        similarity = estimate_jaccard(signature(first), signature(later))
        if similarity >= threshold:
            yield Finding("near-duplicate", later, first, similarity)


def near_duplicate_pairs(entries: Entries, groups: list[Cluster]) -> list[tuple[str, str]]:
    """(first id, other id) for every near-duplicate cluster, reported or settled: the representative
    and each other member (what keeps the cluster in one release split)."""
    pairs: list[tuple[str, str]] = []
    for group in groups:
        if group.kind == NEAR:
            first = entries.ids[group.members[0]]
            pairs += [(first, entries.ids[member]) for member in group.members[1:]]
    return pairs
