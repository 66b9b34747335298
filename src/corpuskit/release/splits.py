"""Stable train/validation/test splits.

A document's split is a pure function of a key: the hash of its id, or, when it belongs to a group of
near-duplicates (the same story from two outlets), the hash of the smallest id in the group. So a
document keeps its split across releases, new documents never move old ones, and near-duplicates
never straddle train and test.

Held-out sources (`split_by = "source"`): the key is the document's source instead, so every
document of an outlet lands in one split; sources linked by a near-duplicate pair form one group
keyed by its smallest source name, so a story two outlets share never straddles splits either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

SPLITS: tuple[str, ...] = ("train", "validation", "test")
_SALT = b"corpuskit-split-v1\x00"
UNKNOWN_SOURCE = "(unknown source)"


def split_of_key(key: str, ratios: Sequence[float]) -> str:
    """The split of a stable key: the first 8 bytes of SHA-256 as a number in [0, 1)."""
    if len(ratios) != len(SPLITS) or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ValueError(f"split_ratios must be three non-negative numbers, got {list(ratios)}")
    digest = hashlib.sha256(_SALT + key.encode("utf-8")).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(ratios)
    edge = 0.0
    for name, ratio in zip(SPLITS, ratios, strict=True):
        edge += ratio
        if point < edge:
            return name
    return SPLITS[-1]


class NearDuplicateGroups:
    """Union-find over near-duplicate pairs; maps an id to the smallest id of its group."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._parent: dict[str, str] = {}
        for a, b in pairs:
            self.union(a, b)

    def _find(self, item: str) -> str:
        parent = self._parent.setdefault(item, item)
        if parent == item:
            return item
        root = self._find(parent)
        self._parent[item] = root
        return root

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self._find(a), self._find(b)
        if root_a != root_b:
            # The smaller id is always the root, so the root is the group's key.
            low, high = sorted((root_a, root_b))
            self._parent[high] = low

    def key(self, document_id: str) -> str:
        return self._find(document_id) if document_id in self._parent else document_id

    def groups(self) -> list[list[str]]:
        members: dict[str, list[str]] = {}
        for item in list(self._parent):
            members.setdefault(self._find(item), []).append(item)
        return sorted(sorted(group) for group in members.values() if len(group) > 1)


class SplitAssigner:
    """The split of every document id, from its near-duplicate group (or its source) and the ratios.

    `sources` (document id -> source) switches to held-out sources."""

    def __init__(
        self,
        ratios: Sequence[float],
        pairs: Iterable[tuple[str, str]] = (),
        sources: Mapping[str, str | None] | None = None,
    ) -> None:
        self.ratios = tuple(float(r) for r in ratios)
        split_of_key("", self.ratios)  # checks the ratios once, up front
        pairs = list(pairs)
        self.groups = NearDuplicateGroups(pairs)
        self.sources = sources
        if sources is not None:
            self.source_groups = NearDuplicateGroups((self._source(a), self._source(b)) for a, b in pairs)
        # Set when every document goes to one split (a corpus too small for the ratios).
        self.only: str | None = None
        self._last: tuple[str | None, str] = (None, "")

    def _source(self, document_id: str) -> str:
        assert self.sources is not None
        return self.sources.get(document_id) or UNKNOWN_SOURCE

    def key(self, document_id: str) -> str:
        if self.sources is not None:
            return "source:" + self.source_groups.key(self._source(document_id))
        return self.groups.key(document_id)

    def __call__(self, document_id: str) -> str:
        if self.only is not None:
            return self.only
        # Annotations arrive grouped by document: remembering the last answer saves most hashing.
        if document_id != self._last[0]:
            self._last = (document_id, split_of_key(self.key(document_id), self.ratios))
        return self._last[1]
