"""Carry annotations made under an older taxonomy version to a newer one, without losing work.

A new version declares what changed (rename, merge, split, add, retire). `migrate_rows` applies
those changes to annotation rows and keeps, in `original`, the values as first annotated plus the
taxonomy version they were made under. A label that disappears without a declared change while
annotations use it is an error naming the label, never a silent drop. Values that can no longer
be trusted (a split label, a retired stance value, a merge of disagreeing targets) become null and
are listed in `original.needs_reannotation`.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpuskit.errors import DataError, UsageError
from corpuskit.taxonomy.loader import version_key
from corpuskit.taxonomy.model import KINDS, Change, Migration, Taxonomy

Row = dict[str, Any]


def migration_path(new: Taxonomy, from_version: str) -> list[Migration]:
    """The migrations of `new` that lead from `from_version` to `new.version`, oldest first.

    Versions without a declared migration (say, only definitions were reworded) change no labels."""
    start, end = version_key(from_version), version_key(new.version)
    if start > end:
        raise DataError(
            f"{new.source}: version {new.version} is older than {from_version}; migrations only go forward"
        )
    return [
        m for m in new.migrations if version_key(m.from_version) >= start and version_key(m.to_version) <= end
    ]


def _covered(path: list[Migration], kind: str) -> set[str]:
    return {source for m in path for c in m.changes if c.kind == kind for source in c.sources}


def _declared_new(path: list[Migration], kind: str) -> set[str]:
    return {target for m in path for c in m.changes if c.kind == kind for target in c.targets}


def _check_declarations(old: Taxonomy, new: Taxonomy, path: list[Migration]) -> None:
    """The changes of the first step must name labels that exist in `old` (the file given for it)."""
    for migration in path:
        if migration.from_version != old.version:
            continue
        for change in migration.changes:
            for source in change.sources:
                if source not in old.ids(change.kind):
                    raise DataError(
                        f"{new.source}: migration {migration.from_version} -> {migration.to_version}: "
                        f"{change.describe()}: unknown {change.kind.replace('_', ' ')} {source!r} "
                        f"in {old.source} (version {old.version})"
                    )


def unmapped_removals(old: Taxonomy, new: Taxonomy) -> dict[str, list[str]]:
    """Labels of `old` missing from `new` with no declared change: kind -> ids."""
    path = migration_path(new, old.version)
    out: dict[str, list[str]] = {}
    for kind in KINDS:
        gone = [i for i in old.ids(kind) if i not in new.ids(kind) and i not in _covered(path, kind)]
        if gone:
            out[kind] = gone
    return out


def _uses(row: Mapping[str, Any], kind: str, label: str) -> bool:
    stance = row.get("stance") or {}
    if kind == "target":
        return stance.get(label) is not None or any(s.get("target") == label for s in row.get("spans") or [])
    if kind == "stance_value":
        return label in stance.values()
    return label in (row.get("topics") or [])


def _original(row: Mapping[str, Any]) -> dict[str, Any]:
    if row.get("original"):
        return copy.deepcopy(dict(row["original"]))
    return {
        "taxonomy_version": row.get("taxonomy_version"),
        "stance": copy.deepcopy(row.get("stance") or {}),
        "topics": list(row.get("topics") or []),
        "spans": copy.deepcopy(list(row.get("spans") or [])),
        "note": row.get("note"),
        "migrations": [],
        "needs_reannotation": [],
    }


def _apply(change: Change, row: Row, reannotate: list[str]) -> bool:
    """Apply one change to `row` in place; True when the row changed."""
    stance: dict[str, Any] = row["stance"]
    before = copy.deepcopy((row["stance"], row["topics"], row["spans"]))

    def flag(item: str) -> None:
        if item not in reannotate:
            reannotate.append(item)

    if change.kind == "target":
        if change.op == "rename":
            (old,), (new,) = change.sources, change.targets
            if old in stance:
                stance[new] = stance.pop(old)
            for span in row["spans"]:
                if span["target"] == old:
                    span["target"] = new
        elif change.op == "merge":
            (new,) = change.targets
            values = {stance.pop(s) for s in change.sources if s in stance} - {None}
            # Disagreeing targets cannot be merged into one answer: that needs a new decision.
            stance[new] = values.pop() if len(values) == 1 else None
            if stance[new] is None:
                flag(new)
            for span in row["spans"]:
                if span["target"] in change.sources:
                    span["target"] = new
        elif change.op == "split":
            (old,) = change.sources
            stance.pop(old, None)
            for new in change.targets:
                stance[new] = None
                flag(new)
            row["spans"] = [s for s in row["spans"] if s["target"] != old]
        elif change.op == "add":
            (new,) = change.targets
            stance.setdefault(new, None)
            if stance[new] is None:
                flag(new)
        elif change.op == "retire":
            (old,) = change.sources
            stance.pop(old, None)
            row["spans"] = [s for s in row["spans"] if s["target"] != old]
    elif change.kind == "stance_value":
        for target, value in list(stance.items()):
            if value not in change.sources:
                continue
            if change.op in ("rename", "merge"):
                stance[target] = change.targets[0]
            elif change.op in ("split", "retire"):
                stance[target] = None
                flag(target)
    elif change.kind == "topic":
        topics: list[str] = row["topics"]
        if any(t in change.sources for t in topics):
            kept = [t for t in topics if t not in change.sources]
            if change.op in ("rename", "merge"):
                kept.append(change.targets[0])
            elif change.op == "split":
                flag("topics")
            row["topics"] = list(dict.fromkeys(kept))
    return before != (row["stance"], row["topics"], row["spans"])


def migrate_row(row: Mapping[str, Any], old: Taxonomy, new: Taxonomy) -> Row:
    """One row, made under `old` (or a later version on the way to `new`), as it reads under `new`."""
    version = row.get("taxonomy_version") or old.version
    out: Row = copy.deepcopy(dict(row))
    if version == new.version:
        return out
    path = migration_path(new, version)
    out["stance"] = dict(out.get("stance") or {})
    out["topics"] = list(out.get("topics") or [])
    out["spans"] = list(out.get("spans") or [])
    original = _original(row)
    reannotate: list[str] = original["needs_reannotation"]
    for migration in path:
        for change in migration.changes:
            if _apply(change, out, reannotate):
                original["migrations"].append(
                    f"{migration.from_version} -> {migration.to_version}: {change.describe()}"
                )
    order = {topic: i for i, topic in enumerate(new.topic_ids)}
    out["topics"] = sorted(out["topics"], key=lambda t: order.get(t, len(order)))
    out["stance"] = {t: out["stance"].get(t) for t in new.target_ids} | {
        t: v for t, v in out["stance"].items() if t not in new.target_ids
    }
    out["taxonomy_version"] = new.version
    out["original"] = original
    return out


def _label(row: Mapping[str, Any]) -> str:
    return f"document {row.get('document_id')!r} annotation {row.get('annotation_id')!r}"


def migrate_rows(rows: Iterable[Mapping[str, Any]], old: Taxonomy, new: Taxonomy) -> list[Row]:
    """Migrate annotation rows from `old` to `new`; raise DataError naming the label for an unmapped
    removal of a label the rows use, or for any value that does not exist in `new` afterwards."""
    rows = list(rows)
    path = migration_path(new, old.version)
    _check_declarations(old, new, path)
    for kind, labels in unmapped_removals(old, new).items():
        for label in labels:
            users = [
                r
                for r in rows
                if r.get("taxonomy_version", old.version) == old.version and _uses(r, kind, label)
            ]
            if users:
                raise DataError(
                    f"{new.source}: version {new.version} removes {kind.replace('_', ' ')} {label!r} of "
                    f"version {old.version} without a migration, but {len(users)} annotation(s) use it "
                    f"(first: {_label(users[0])}); declare a rename, merge, split or retire for it"
                )
    migrated = [migrate_row(row, old, new) for row in rows]
    for row in migrated:
        problem = _leftover(row, new)
        if problem:
            raise DataError(f"{new.source}: after migrating to {new.version}, {_label(row)} {problem}")
    return migrated


def _leftover(row: Mapping[str, Any], new: Taxonomy) -> str | None:
    for target, value in (row.get("stance") or {}).items():
        if target not in new.target_ids:
            return f"still has stance target {target!r}, which {new.version} does not define"
        if value is not None and value not in new.stance_value_ids:
            return f"still has stance value {value!r}, which {new.version} does not define"
    for topic in row.get("topics") or []:
        if topic not in new.topic_ids:
            return f"still has topic {topic!r}, which {new.version} does not define"
    for span in row.get("spans") or []:
        if span.get("target") not in new.target_ids:
            return (
                f"has an evidence span for target {span.get('target')!r}, which {new.version} does not define"
            )
    return None


@dataclass
class TaxonomyDiff:
    """What changing from `old` to `new` does to the labels and, given rows, to existing annotations."""

    old_version: str
    new_version: str
    changes: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    renamed_display: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rows: int = 0
    rows_changed: int = 0
    rows_needing_reannotation: int = 0
    affected: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "changes": [{"change": c, "annotations": self.affected.get(c, 0)} for c in self.changes],
            "added_without_migration": self.added,
            "display_changes": self.renamed_display,
            "unmapped_removals": self.unmapped,
            "errors": self.errors,
            "annotations": {
                "total": self.rows,
                "changed": self.rows_changed,
                "needs_reannotation": self.rows_needing_reannotation,
            },
        }


def diff_taxonomies(
    old: Taxonomy, new: Taxonomy, rows: Iterable[Mapping[str, Any]] | None = None
) -> TaxonomyDiff:
    """Declared changes, undeclared additions/removals and name changes; with `rows`, how many
    annotations each change touches and whether migrating them would fail."""
    result = TaxonomyDiff(old.version, new.version)
    try:
        path = migration_path(new, old.version)
        _check_declarations(old, new, path)
    except DataError as exc:
        result.errors.append(str(exc))
        return result
    result.changes = [f"{m.from_version} -> {m.to_version}: {c.describe()}" for m in path for c in m.changes]
    for kind in KINDS:
        declared = _declared_new(path, kind)
        for label in new.ids(kind):
            if label not in old.ids(kind) and label not in declared:
                result.added.append(f"{kind.replace('_', ' ')} {label!r}")
    for kind, labels in unmapped_removals(old, new).items():
        result.unmapped.extend(f"{kind.replace('_', ' ')} {label!r}" for label in labels)
    names_old = {(k, i): n for k in KINDS for i, n in _names(old, k)}
    for kind in KINDS:
        for label, name in _names(new, kind):
            before = names_old.get((kind, label))
            if before is not None and before != name:
                result.renamed_display.append(f"{kind.replace('_', ' ')} {label!r}: {before!r} -> {name!r}")
    if rows is None:
        return result
    rows = list(rows)
    result.rows = len(rows)
    try:
        migrated = migrate_rows(rows, old, new)
    except DataError as exc:
        result.errors.append(str(exc))
        return result
    for source, after in zip(rows, migrated, strict=True):
        original = after.get("original") or {}
        done = original.get("migrations", [])
        fresh = done[len((source.get("original") or {}).get("migrations", [])) :]
        if fresh:
            result.rows_changed += 1
        result.affected.update(fresh)
        if original.get("needs_reannotation"):
            result.rows_needing_reannotation += 1
    return result


def _names(taxonomy: Taxonomy, kind: str) -> list[tuple[str, str]]:
    if kind == "target":
        return [(t.id, t.name) for t in taxonomy.targets]
    labels = taxonomy.stance_values if kind == "stance_value" else taxonomy.topics
    return [(label.id, label.name) for label in labels]


def read_rows(path: str | Path) -> list[Row]:
    """Annotation rows from a JSONL snapshot (annotations/annotations.jsonl)."""
    from corpuskit.jsonl import iter_jsonl

    try:
        return list(iter_jsonl(Path(path)))
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: annotation snapshot not found") from exc


def diff_files(old: str | Path, new: str | Path, annotations: str | Path | None = None) -> TaxonomyDiff:
    """`diff_taxonomies` for two taxonomy files (or `REV:PATH` in git) and an optional JSONL snapshot."""
    from corpuskit.taxonomy.loader import load_taxonomy_at

    rows = read_rows(annotations) if annotations is not None else None
    return diff_taxonomies(load_taxonomy_at(old), load_taxonomy_at(new), rows)
