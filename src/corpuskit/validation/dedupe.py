"""The dedupe record: which member of each duplicate cluster the corpus keeps, written down.

`corpuskit validate --dedupe` (or the `dedupe` setting) writes the record, `dedupe.jsonl` at the
corpus root by default (the `dedupe_record` setting): one JSON object per line, one line per member
of a cluster of identical or near-duplicate documents, sorted so that a change shows as a small diff:

    {"cluster": "wire-0001", "decision": "kept", "id": "wire-0001", "file": "raw/wire.jsonl", "line": 1,
     "match": null, "similarity": null, "why": "earliest published_at", "content_sha256": "..."}
    {"cluster": "wire-0001", "decision": "left-out", "id": "wire-0002", "file": "raw/wire.jsonl",
     "line": 2, "match": "near-duplicate", "similarity": 0.94, "why": null, "content_sha256": "..."}

The rule: a member the record already keeps stays kept (an earlier run's or a maintainer's choice is
stable, so annotations made on it are never dropped from a release because a new copy turned up);
otherwise the member with the earliest `published_at` (times with an offset compared in UTC, times
without one as written; undated documents last), then the first in corpus order (file, then line).

Every other command only reads the record: validation checks it against the corpus (an unknown
file, a document that is gone, changed or no longer a duplicate of the kept one is an error naming
the record's line) and leaves out the members it validly leaves out; push and release use what
validation left in. Clusters the record settles are not reported again.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corpuskit.diagnostics import Diagnostic, Severity
from corpuskit.validation.crossrecord import IDENTICAL, Cluster, Entries

KEPT = "kept"
LEFT_OUT = "left-out"
CODE = "dedupe-record"
_KEYS = ("cluster", "decision", "id", "file", "line", "match", "similarity", "why", "content_sha256")
WHY_EARLIER = "earlier record"
WHY_DATE = "earliest published_at"
WHY_ORDER = "first in corpus order"


@dataclass(frozen=True)
class Member:
    """One line of the record; `at` is its line number in the record file."""

    cluster: str
    decision: str
    id: str
    file: str
    line: int
    content_sha256: str
    match: str | None = None
    similarity: float | None = None
    why: str | None = None
    at: int = 0

    def to_json(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in _KEYS}
        return {key: values[key] for key in _KEYS}


@dataclass
class Decision:
    """What the record, checked against the corpus, decides.

    `left_out`: entry index -> its record line, for every member validly left out; `kept`: entry
    index -> cluster name, for every validly kept member; `diagnostics`: the record's errors."""

    path: Path
    left_out: dict[int, Member] = field(default_factory=dict)
    kept: dict[int, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)

    def settles(self, cluster: Cluster) -> bool:
        """True when the record keeps one member of `cluster` and leaves out all the others (all in
        one of its clusters): the cluster needs no message any more."""
        names = set()
        kept = 0
        for index in cluster.members:
            if index in self.left_out:
                names.add(self.left_out[index].cluster)
            elif index in self.kept:
                names.add(self.kept[index])
                kept += 1
            else:
                return False
        return len(names) == 1 and kept <= 1


def shown(path: Path) -> str:
    """The record's path as diagnostics name files: relative to the working directory when below it."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else Path(relative).as_posix()


def _error(path: Path, line: int, message: str, document_id: str | None = None) -> Diagnostic:
    return Diagnostic(
        file=shown(path),
        line=line,
        column=None,
        pointer="",
        severity=Severity.ERROR,
        code=CODE,
        message=message,
        document_id=document_id,
    )


def read_record(path: Path) -> tuple[list[Member], list[Diagnostic]]:
    """The record's lines (none when the file does not exist) and the lines that cannot be read."""
    members: list[Member] = []
    problems: list[Diagnostic] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as exc:
        return [], [_error(path, 1, f"cannot read the dedupe record: {exc}")]
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(_error(path, number, f"not a JSON object: {exc.msg}"))
            continue
        member = _member(raw, number)
        if isinstance(member, str):
            problems.append(_error(path, number, member))
        else:
            members.append(member)
    return members, problems


def left_out_keys(path: Path) -> frozenset[tuple[str, bytes]]:
    """(id, content hash) of every member the record leaves out, read before the corpus is (for
    the documents handed over as they pass); lines that cannot be read are left to `check_record`."""
    members, _ = read_record(path)
    keys: set[tuple[str, bytes]] = set()
    for member in members:
        if member.decision == LEFT_OUT:
            with contextlib.suppress(ValueError):  # not a hash: check_record reports the line
                keys.add((member.id, bytes.fromhex(member.content_sha256)))
    return frozenset(keys)


def _member(raw: Any, number: int) -> Member | str:
    """The record line as a Member, or why it is not one."""
    if not isinstance(raw, dict):
        return "not a JSON object"
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        return f"unknown key {unknown[0]!r} (a record line has {', '.join(_KEYS)})"
    for key in ("cluster", "id", "file", "content_sha256"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            return f"{key}: expected a non-empty string"
    if raw.get("decision") not in (KEPT, LEFT_OUT):
        return f"decision: expected {KEPT!r} or {LEFT_OUT!r}, not {raw.get('decision')!r}"
    line = raw.get("line")
    if isinstance(line, bool) or not isinstance(line, int) or line < 1:
        return "line: expected a whole number from 1"
    similarity = raw.get("similarity")
    if similarity is not None and (isinstance(similarity, bool) or not isinstance(similarity, int | float)):
        return "similarity: expected a number or null"
    return Member(
        cluster=raw["cluster"],
        decision=raw["decision"],
        id=raw["id"],
        file=raw["file"],
        line=line,
        content_sha256=raw["content_sha256"],
        match=raw.get("match") if isinstance(raw.get("match"), str) else None,
        similarity=float(similarity) if similarity is not None else None,
        why=raw.get("why") if isinstance(raw.get("why"), str) else None,
        at=number,
    )


def _relative_file(name: str, root: Path) -> str:
    from corpuskit.documents.reader import raw_path_of

    return raw_path_of(Path(name), root)


def _roots(groups: Sequence[Cluster]) -> Callable[[int], int]:
    """Which dedupe cluster an entry is in: identical content and near-duplicates joined."""
    parent: dict[int, int] = {}

    def root(item: int) -> int:
        while parent.get(item, item) != item:
            item = parent[item]
        return item

    for group in groups:
        for member in group.members[1:]:
            a, b = root(group.members[0]), root(member)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return root


def check_record(
    path: Path, entries: Entries, groups: Sequence[Cluster], root: Path, *, whole: bool
) -> Decision:
    """Read the record and check it against the corpus. With `whole` (the whole raw folder was
    read) a line naming an unknown file or a document that is gone is an error; otherwise such lines
    are left alone (they may name files outside this run)."""
    members, problems = read_record(path)
    decision = Decision(path=path, diagnostics=problems, members=members)
    if not members:
        return decision
    where: dict[tuple[str, str], int] = {}
    files: set[str] = set()
    relative_of = {number: _relative_file(name, root) for number, name in enumerate(entries.files)}
    files.update(relative_of.values())
    for position in range(len(entries)):
        where.setdefault((relative_of[entries.file_of[position]], entries.ids[position]), position)
    cluster_of = _roots(groups)
    found: dict[int, int] = {}  # record line -> entry index
    first_line: dict[tuple[str, str], int] = {}
    for member in members:
        key = (member.file, member.id)
        if key in first_line:
            decision.diagnostics.append(
                _error(
                    path,
                    member.at,
                    f"{member.id!r} ({member.file}) is listed twice (first on line {first_line[key]})",
                    member.id,
                )
            )
            continue
        first_line[key] = member.at
        index = where.get(key)
        if index is None:
            if whole and member.file not in files:
                message = f"unknown file {member.file!r}: not in the corpus (moved or deleted?)"
                decision.diagnostics.append(_error(path, member.at, message, member.id))
            elif whole:
                message = f"stale: no document {member.id!r} in {member.file}"
                decision.diagnostics.append(_error(path, member.at, message, member.id))
            continue
        if bytes(entries.sha[index * 32 : index * 32 + 32]).hex() != member.content_sha256:
            place = f"{entries.where(index)[0]}:{entries.where(index)[1]}"
            decision.diagnostics.append(
                _error(
                    path,
                    member.at,
                    f"stale: the content of {member.id!r} ({place}) changed since the "
                    "record was written; run `corpuskit validate --dedupe`",
                    member.id,
                )
            )
            continue
        found[member.at] = index
    by_cluster: dict[str, list[Member]] = {}
    for member in members:
        by_cluster.setdefault(member.cluster, []).append(member)
    for name, lines in by_cluster.items():
        kept = [member for member in lines if member.decision == KEPT]
        if len(kept) != 1:
            decision.diagnostics.append(
                _error(path, lines[0].at, f"cluster {name!r} has {len(kept)} kept members, not one")
            )
            continue
        kept_index = found.get(kept[0].at)
        if kept_index is None:
            continue
        decision.kept[kept_index] = name
        for member in lines:
            index = found.get(member.at)
            if member.decision != LEFT_OUT or index is None:
                continue
            if cluster_of(index) != cluster_of(kept_index):
                place = f"{entries.where(index)[0]}:{entries.where(index)[1]}"
                decision.diagnostics.append(
                    _error(
                        path,
                        member.at,
                        f"stale: {member.id!r} ({place}) is no longer identical to or a "
                        f"near-duplicate of the kept {kept[0].id!r}; run `corpuskit validate --dedupe`",
                        member.id,
                    )
                )
                continue
            decision.left_out[index] = member
    return decision


def _date_key(value: str | None) -> tuple[int, datetime]:
    """Earliest first; an offset-aware time compares in UTC, one without an offset as written."""
    if value is None:
        return (1, datetime.max)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return (1, datetime.max)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (0, moment)


def choose(
    entries: Entries,
    groups: Sequence[Cluster],
    published: Sequence[str | None],
    root: Path,
    previous: Decision | None,
) -> list[Member]:
    """The record for the clusters of this corpus: per cluster one kept member (the rule above) and
    every other member left out, with the similarity that joins it to the cluster."""
    cluster_of = _roots(groups)
    joined: dict[int, list[int]] = {}
    match: dict[int, str] = {}
    similarity: dict[int, float] = {}
    for group in groups:
        for position, member in enumerate(group.members):
            joined.setdefault(cluster_of(member), []).append(member)
            best = 1.0 if group.kind == IDENTICAL else group.best[position]
            if best >= similarity.get(member, -1.0):
                similarity[member] = best
                match[member] = group.kind if group.kind == IDENTICAL else "near-duplicate"
    kept_before = previous.kept if previous is not None else {}
    out: list[Member] = []
    clusters = sorted(sorted(set(members)) for members in joined.values())
    for members in clusters:
        kept = min(members, key=lambda index: (_date_key(published[index]), index))
        dated = _date_key(published[kept])
        tie = sum(1 for index in members if _date_key(published[index]) == dated) > 1
        why = WHY_ORDER if dated[0] == 1 or tie else WHY_DATE
        earlier = [index for index in members if index in kept_before]
        if earlier and earlier[0] != kept:
            kept, why = earlier[0], WHY_EARLIER
        name = entries.ids[kept]
        for index in [kept, *(m for m in members if m != kept)]:
            file, line = entries.where(index)
            out.append(
                Member(
                    cluster=name,
                    decision=KEPT if index == kept else LEFT_OUT,
                    id=entries.ids[index],
                    file=_relative_file(file, root),
                    line=line,
                    content_sha256=bytes(entries.sha[index * 32 : index * 32 + 32]).hex(),
                    match=None if index == kept else match[index],
                    similarity=None if index == kept else round(similarity[index], 4),
                    why=why if index == kept else None,
                )
            )
    return out


def render(members: Sequence[Member]) -> str:
    return "".join(json.dumps(m.to_json(), ensure_ascii=False) + "\n" for m in members)


def write_record(path: Path, members: Sequence[Member]) -> bool:
    """Write the record atomically when it differs from the file (an empty record removes the file);
    True when the file changed."""
    from corpuskit.files import atomic_write

    text = render(members)
    try:
        current: str | None = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if not members:
        if current is None:
            return False
        path.unlink(missing_ok=True)
        return True
    if current == text:
        return False
    atomic_write(path, text.encode("utf-8"))
    return True
