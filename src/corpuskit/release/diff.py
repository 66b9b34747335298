"""What changed between two releases: documents added/removed/changed, gold labels, agreement.

Both releases are read in id order (each split's shards are sorted; the splits are merged), so the
comparison streams and its memory does not grow with the corpus; only counts and a few examples are kept.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpuskit.release.readback import iter_sorted

EXAMPLES = 20
Row = dict[str, Any]


@dataclass
class Changes:
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, item: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(item)

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "examples": self.examples}


@dataclass
class ReleaseDiff:
    old: str
    new: str
    added: Changes = field(default_factory=Changes)
    removed: Changes = field(default_factory=Changes)
    changed: Changes = field(default_factory=Changes)
    labels_changed: Changes = field(default_factory=Changes)
    label_transitions: Counter[str] = field(default_factory=Counter)
    agreement: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "documents": {
                "added": self.added.to_json(),
                "removed": self.removed.to_json(),
                "changed": self.changed.to_json(),
            },
            "labels": {
                "changed": self.labels_changed.to_json(),
                "transitions": dict(sorted(self.label_transitions.items())),
            },
            "agreement": self.agreement,
        }

    def lines(self) -> list[str]:
        """The diff as Markdown bullet points (used by `corpuskit diff` and CHANGELOG.md)."""

        def item(label: str, changes: Changes) -> str:
            more = f" (e.g. {', '.join(changes.examples[:5])})" if changes.count else ""
            return f"- {label}: {changes.count}{more}"

        out = [
            item("documents added", self.added),
            item("documents removed", self.removed),
            item("documents changed (text)", self.changed),
            item("documents whose gold labels changed", self.labels_changed),
        ]
        out += [f"  - {name}: {n}" for name, n in sorted(self.label_transitions.items())]
        for name, change in sorted(self.agreement.items()):
            out.append(f"- agreement {name}: {_fmt(change.get('old'))} -> {_fmt(change.get('new'))}")
        if not self.agreement:
            out.append("- agreement: unchanged")
        return out


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _outer_join(
    left: Iterator[Row], right: Iterator[Row], key: str
) -> Iterator[tuple[Row | None, Row | None]]:
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[key] < b[key]):
            yield a, None
            a = next(left, None)
        elif a is None or b[key] < a[key]:
            yield None, b
            b = next(right, None)
        else:
            yield a, b
            a, b = next(left, None), next(right, None)


def _class_names(folder: Path) -> dict[str, list[str]]:
    """Class names of the gold `stance` targets and `topics`, from the embedded features."""
    import pyarrow.parquet as pq

    from corpuskit.release.readback import shard_files

    for split in ("train", "validation", "test"):
        files = shard_files(folder, "gold", split)
        if files:
            meta = pq.read_schema(files[0]).metadata or {}  # type: ignore[no-untyped-call]
            features = json.loads(meta.get(b"huggingface", b"{}")).get("info", {}).get("features", {})
            names = {t: f["names"] for t, f in features.get("stance", {}).items()}
            names["topics"] = features.get("topics", {}).get("feature", {}).get("names", [])
            return names
    return {}


def _labels(row: Row, names: dict[str, list[str]]) -> dict[str, Any]:
    stance = {
        t: (names[t][v] if v is not None and v >= 0 else None) for t, v in (row["stance"] or {}).items()
    }
    topics = sorted(names["topics"][t] for t in row["topics"] or [])
    return {"stance": stance, "topics": topics}


def diff_folders(old: Path, new: Path) -> ReleaseDiff:
    result = ReleaseDiff(old=old.name, new=new.name)
    columns = ["id", "content_sha256"]
    for a, b in _outer_join(
        iter_sorted(old, "documents", "id", columns), iter_sorted(new, "documents", "id", columns), "id"
    ):
        if a is None and b is not None:
            result.added.add(b["id"])
        elif b is None and a is not None:
            result.removed.add(a["id"])
        elif a is not None and b is not None and a["content_sha256"] != b["content_sha256"]:
            result.changed.add(a["id"])
    old_names, new_names = _class_names(old), _class_names(new)
    columns = ["id", "stance", "topics"]
    for a, b in _outer_join(
        iter_sorted(old, "gold", "id", columns), iter_sorted(new, "gold", "id", columns), "id"
    ):
        if a is None or b is None:
            continue
        la, lb = _labels(a, old_names), _labels(b, new_names)
        if la == lb:
            continue
        result.labels_changed.add(a["id"])
        for target in sorted(set(la["stance"]) | set(lb["stance"])):
            va, vb = la["stance"].get(target), lb["stance"].get(target)
            if va != vb:
                result.label_transitions[f"stance.{target}: {va} -> {vb}"] += 1
        if la["topics"] != lb["topics"]:
            result.label_transitions["topics"] += 1
    result.agreement = _agreement_change(old, new)
    return result


def read_agreement(folder: Path) -> dict[str, Any]:
    """The agreement figures a release's manifest recorded ({} when it has none)."""
    path = folder / "manifest.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8")).get("agreement") or {}
    return data if isinstance(data, dict) else {}


def agreement_change(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """The questions whose alpha differs between two agreement tables, old and new value each."""
    return {
        name: {"old": (a.get(name) or {}).get("alpha"), "new": (b.get(name) or {}).get("alpha")}
        for name in sorted(set(a) | set(b))
        if (a.get(name) or {}).get("alpha") != (b.get(name) or {}).get("alpha")
    }


def _agreement_change(old: Path, new: Path) -> dict[str, dict[str, float | None]]:
    return agreement_change(read_agreement(old), read_agreement(new))


def diff(old: str, new: str, releases: str | Path | None = None) -> ReleaseDiff:
    """Compare two releases (`"1.0.0"`, `"v1.1.0"` or paths to release folders)."""
    from corpuskit.release.load import resolve_release

    return diff_folders(resolve_release(old, releases), resolve_release(new, releases))
