"""The taxonomy as typed, immutable values (what `load_taxonomy` returns).

Ids are what annotations store; names and definitions are what annotators read. The order of
every tuple is the display order in Label Studio and the class order of the dataset features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TypeVar

_Made = TypeVar("_Made")

# Migration vocabulary: what kind of label a change touches and what it does to it.
KINDS: tuple[str, ...] = ("target", "stance_value", "topic")
OPS: tuple[str, ...] = ("rename", "merge", "split", "add", "retire")


@dataclass(frozen=True)
class Label:
    """A stance value or a topic."""

    id: str
    name: str
    definition: str
    hotkey: str | None = None


@dataclass(frozen=True)
class Target:
    """A stance target: one single-choice block in Label Studio."""

    id: str
    name: str
    definition: str
    required: bool = True
    hotkeys: dict[str, str] = field(default_factory=dict)
    evidence_hotkey: str | None = None

    @property
    def control_name(self) -> str:
        return f"stance_{self.id}"


@dataclass(frozen=True)
class Change:
    """One step of a migration; `sources` are ids of the old version, `targets` ids of the new one."""

    op: str
    kind: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    reason: str | None = None

    def describe(self) -> str:
        kind = self.kind.replace("_", " ")
        old = ", ".join(repr(s) for s in self.sources)
        new = ", ".join(repr(t) for t in self.targets)
        return {
            "rename": f"rename {kind} {old} -> {new}",
            "merge": f"merge {kind}s {old} -> {new}",
            "split": f"split {kind} {old} -> {new} (needs re-annotation)",
            "add": f"add {kind} {new}",
            "retire": f"retire {kind} {old}",
        }[self.op]


@dataclass(frozen=True)
class Migration:
    from_version: str
    to_version: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Feature:
    """An optional part of the interface (evidence spans, the note)."""

    enabled: bool
    definition: str
    speaker: bool = False


@dataclass(frozen=True)
class Taxonomy:
    version: str
    title: str
    targets: tuple[Target, ...]
    stance_values: tuple[Label, ...]
    topics: tuple[Label, ...]
    evidence: Feature
    note: Feature
    migrations: tuple[Migration, ...] = ()
    path: Path | None = None

    @cached_property  # asked for every annotation a pull converts
    def target_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.targets)

    @cached_property
    def stance_value_ids(self) -> tuple[str, ...]:
        return tuple(v.id for v in self.stance_values)

    @cached_property
    def topic_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics)

    @cached_property
    def id_sets(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        """Target, stance value and topic ids as sets (membership is asked for every annotation)."""
        return frozenset(self.target_ids), frozenset(self.stance_value_ids), frozenset(self.topic_ids)

    def ids(self, kind: str) -> tuple[str, ...]:
        """Ids of one kind of label ("target", "stance_value" or "topic")."""
        return {"target": self.target_ids, "stance_value": self.stance_value_ids, "topic": self.topic_ids}[
            kind
        ]

    def target(self, target_id: str) -> Target:
        for target in self.targets:
            if target.id == target_id:
                return target
        raise KeyError(target_id)

    @property
    def source(self) -> str:
        """Where the taxonomy came from, for messages."""
        return str(self.path) if self.path is not None else "<taxonomy>"


def label_rows(taxonomy: Taxonomy) -> list[dict[str, str]]:
    """Every label as a row `{kind, id, name, hotkey, definition}` in display order (`taxonomy show`)."""
    rows: list[dict[str, str]] = []
    for target in taxonomy.targets:
        keys = " ".join(target.hotkeys.get(v.id, "-") for v in taxonomy.stance_values)
        rows.append(
            {
                "kind": "target",
                "id": target.id,
                "name": target.name,
                "hotkey": keys,
                "definition": target.definition,
            }
        )
    for value in taxonomy.stance_values:
        rows.append(
            {
                "kind": "stance_value",
                "id": value.id,
                "name": value.name,
                "hotkey": "",
                "definition": value.definition,
            }
        )
    for topic in taxonomy.topics:
        rows.append(
            {
                "kind": "topic",
                "id": topic.id,
                "name": topic.name,
                "hotkey": topic.hotkey or "",
                "definition": topic.definition,
            }
        )
    if taxonomy.evidence.enabled:
        for target in taxonomy.targets:
            rows.append(
                {
                    "kind": "evidence",
                    "id": target.id,
                    "name": f"Evidence: {target.name}",
                    "hotkey": target.evidence_hotkey or "",
                    "definition": taxonomy.evidence.definition,
                }
            )
    if taxonomy.note.enabled:
        rows.append(
            {
                "kind": "note",
                "id": "note",
                "name": "Note",
                "hotkey": "",
                "definition": taxonomy.note.definition,
            }
        )
    return rows


def per_taxonomy(build: Callable[[Taxonomy], _Made]) -> Callable[[Taxonomy], _Made]:
    """`build(taxonomy)` worked out once per taxonomy object, for work done per annotation (pull
    converts every annotation of a project). By identity: hashing a frozen taxonomy would hash
    all of its labels on every call. The taxonomy is kept beside what was built from it, so its
    id is not reused while the entry lives."""
    made: dict[int, tuple[Taxonomy, _Made]] = {}

    def get(taxonomy: Taxonomy) -> _Made:
        known = made.get(id(taxonomy))
        if known is None or known[0] is not taxonomy:
            known = made[id(taxonomy)] = (taxonomy, build(taxonomy))
        return known[1]

    return get
