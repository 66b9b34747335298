"""A model in the loop, on the project: the queue order, whether annotators see pre-labels, the
model version the queue follows, and the history of every change corpuskit made to them.

Label Studio keeps only the current values (`sampling`, `show_collab_predictions`,
`reveal_preannotations_interactively`, `model_version`); a dataset card must say which visibility
was in force when each annotation was made. So every change corpuskit makes is recorded with its
time, twice: on the server, as a block at the end of the project's description (so that a pull on
another machine sees it), and locally in `.corpuskit/loop/<host>-<port>-<project id>.jsonl` (so a
description edited by hand loses nothing). A pull reads both.

Read in Label Studio 1.23.2: the queue's next task carries predictions only when
`show_collab_predictions` is on (`Task.get_predictions_for_prelabeling`), and the labelling page
pre-fills from them only then; `reveal_preannotations_interactively` only changes how visible
pre-labels appear. Uncertainty sampling (`projects/functions/next_task.py`) orders the tasks that
have predictions of the project's `model_version` by score, lowest first. A PATCH that turns
`show_collab_predictions` off also empties `model_version` (`ProjectSerializer.update`), so the two
are always sent together.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from corpuskit.errors import UsageError
from corpuskit.studio.team import SAMPLING
from corpuskit.taxonomy.annotation_schema import HIDDEN, SHOWN, UNKNOWN

if TYPE_CHECKING:
    from corpuskit.studio.gateway import Gateway

ORDERS = tuple(SAMPLING)
# The project fields this module reads.
FIELDS = (
    "id,title,description,sampling,model_version,show_collab_predictions,reveal_preannotations_interactively"
)
# The project fields that make a `LoopState`.
STATE_FIELDS = frozenset(
    {"sampling", "show_collab_predictions", "reveal_preannotations_interactively", "model_version"}
)
LOCAL_DIR = ".corpuskit/loop"
# The line that opens corpuskit's block in the project description; everything after it is the
# history, one JSON object per line. Text before it is the project's own description.
MARK = "-- corpuskit record of pre-label visibility, queue order and model version (do not edit) --"
# The server's clock (a response's Date header) counts whole seconds: an annotation this close to
# a change cannot be placed on either side of it.
_RESOLUTION = timedelta(seconds=1)


@dataclass(frozen=True)
class LoopState:
    """What corpuskit sets on the project: queue order, pre-label visibility, model version."""

    order: str
    prelabels: str
    model_version: str

    @classmethod
    def of_project(cls, info: Mapping[str, Any]) -> LoopState:
        """The state in force on the server (an order corpuskit does not name is kept verbatim)."""
        names = {value: name for name, value in SAMPLING.items()}
        sampling = str(info.get("sampling") or SAMPLING["sequential"])
        shown = bool(info.get("show_collab_predictions"))
        return cls(
            order=names.get(sampling, sampling),
            prelabels=SHOWN if shown else HIDDEN,
            model_version=str(info.get("model_version") or ""),
        )

    def fields(self) -> dict[str, Any]:
        """The project fields that make this state (model_version always with the visibility)."""
        if self.order not in SAMPLING:
            raise UsageError(f"queue order {self.order!r}: expected one of {', '.join(ORDERS)}")
        return {
            "sampling": SAMPLING[self.order],
            "show_collab_predictions": self.prelabels == SHOWN,
            "reveal_preannotations_interactively": False,
            "model_version": self.model_version,
        }

    def to_json(self) -> dict[str, str]:
        return {"order": self.order, "prelabels": self.prelabels, "model_version": self.model_version}


@dataclass(frozen=True)
class Event:
    """One change corpuskit made: when (UTC, from the server's clock when it said), by which command,
    the state after it, and the visibility found before it when that was not the recorded one (a
    change made by hand in Label Studio, whose time nobody knows)."""

    at: str
    by: str
    state: LoopState
    found: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"at": self.at, "by": self.by, **self.state.to_json()}
        if self.found is not None:
            body["found"] = self.found
        return body

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Event:
        found = raw.get("found")
        return cls(
            at=str(raw["at"]),
            by=str(raw.get("by") or ""),
            state=LoopState(str(raw["order"]), str(raw["prelabels"]), str(raw.get("model_version") or "")),
            found=str(found) if found is not None else None,
        )


def _parse_events(lines: Iterable[str]) -> list[Event]:
    import orjson

    events = []
    for line in lines:
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
            events.append(Event.from_json(raw))
            _moment(events[-1].at)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a line edited by hand: the local copy still has it
    return events


def split_description(description: str | None) -> tuple[str, list[Event]]:
    """The project's own description and corpuskit's history kept after it."""
    text = description or ""
    head, mark, tail = text.partition(MARK)
    if not mark:
        return text, []
    return head.rstrip(), _parse_events(tail.splitlines())


def join_description(own: str, events: Sequence[Event]) -> str:
    import orjson

    lines = [orjson.dumps(event.to_json(), option=orjson.OPT_SORT_KEYS).decode() for event in events]
    return "\n".join(part for part in (own.rstrip(), MARK, *lines) if part)


def local_path(root: Path, server: str, project_id: int) -> Path:
    parts = urlsplit(server)
    host = (parts.hostname or "server").replace(":", "_")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return root / LOCAL_DIR / f"{host}-{port}-{project_id}.jsonl"


def _local_events(path: Path) -> list[Event]:
    try:
        return _parse_events(path.read_text(encoding="utf-8").splitlines())
    except OSError:
        return []


def merged(*histories: Iterable[Event]) -> list[Event]:
    """Every event of the histories once, oldest first."""
    seen: dict[tuple[Any, ...], Event] = {}
    for history in histories:
        for event in history:
            key = (event.at, event.by, event.state, event.found)
            seen.setdefault(key, event)
    return sorted(seen.values(), key=lambda e: (_moment(e.at), e.by))


def history(root: Path | None, server: str, info: Mapping[str, Any]) -> list[Event]:
    """The project's recorded changes: the server's description block and the local copy."""
    _, remote = split_description(info.get("description"))
    local = _local_events(local_path(root, server, int(info["id"]))) if root is not None else []
    return merged(remote, local)


def _moment(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _server_time(date_header: str | None) -> str:
    """The server's clock from a response's Date header (annotations carry the server's times);
    this machine's clock when the header is missing."""
    from email.utils import parsedate_to_datetime

    if date_header:
        with contextlib.suppress(TypeError, ValueError):
            return _stamp(parsedate_to_datetime(date_header))
    return _stamp(datetime.now(UTC))


def recorded_state(events: Sequence[Event]) -> LoopState | None:
    return events[-1].state if events else None


def suggested_state(events: Sequence[Event]) -> LoopState | None:
    """The state push keeps: the last recorded one once `corpuskit suggest` has set one; before
    that (None) push follows the settings (`queue_sampling`, pre-labels hidden)."""
    return recorded_state(events) if any(event.by == "suggest" for event in events) else None


def change(
    studio: Gateway,
    root: Path | None,
    info: Mapping[str, Any],
    wanted: LoopState,
    *,
    by: str,
    extra: Mapping[str, Any] | None = None,
) -> Event | None:
    """Set the project to `wanted` (with `extra` fields, e.g. a push's other settings) and record
    the change; returns the event, or None when the project already was in that state on record."""
    project_id = int(info["id"])
    current = LoopState.of_project(info)
    events = history(root, studio.url, info)
    recorded = recorded_state(events)
    patch = dict(extra or {})
    if current != wanted:
        patch.update(wanted.fields())
    date = studio.projects.update(project_id, patch) if patch else None
    if current == wanted and recorded == wanted:
        return None
    event = Event(
        at=_server_time(date),
        by=by,
        state=wanted,
        # A visibility that is not the recorded one was changed by hand, at a time nobody knows.
        found=current.prelabels if recorded is not None and recorded.prelabels != current.prelabels else None,
    )
    write(studio, root, info, [*events, event])
    return event


def write(studio: Gateway, root: Path | None, info: Mapping[str, Any], events: Sequence[Event]) -> None:
    """Keep the history locally (first: it survives a failing server) and in the description."""
    if root is not None:
        keep(root, studio.url, int(info["id"]), events)
    own, _ = split_description(info.get("description"))
    studio.projects.update(int(info["id"]), {"description": join_description(own, events)})


def keep(root: Path, server: str, project_id: int, events: Sequence[Event]) -> None:
    """The local copy of a project's history, with `events` merged in."""
    import orjson

    from corpuskit.files import atomic_write

    path = local_path(root, server, project_id)
    known = merged(_local_events(path), events)
    body = b"".join(orjson.dumps(e.to_json(), option=orjson.OPT_SORT_KEYS) + b"\n" for e in known)
    atomic_write(path, body)


def creation(fields: Mapping[str, Any], *, by: str) -> tuple[dict[str, Any], Event]:
    """The fields to create a project with, its description already carrying the history's first
    entry (the state it is created in, by this machine's clock: no server has answered yet), so
    that creating it takes one request; `keep` writes the local copy once its id is known."""
    event = Event(at=_server_time(None), by=by, state=LoopState.of_project(fields))
    own = str(fields.get("description") or "")
    return {**fields, "description": join_description(own, [event])}, event


def _interval(events: Sequence[Event], moment: datetime) -> int:
    """The index of the last event at or before `moment` (-1 before the first)."""
    index = -1
    for position, event in enumerate(events):
        if _moment(event.at) <= moment:
            index = position
        else:
            break
    return index


def _visibility_of_interval(events: Sequence[Event], index: int, current: LoopState) -> str:
    if index < 0:
        return UNKNOWN
    state = events[index].state.prelabels
    after = events[index + 1] if index + 1 < len(events) else None
    # A visibility found changed by hand, or changed on the server since: when is not known.
    if after is not None and after.found is not None and after.found != state:
        return UNKNOWN
    if after is None and current.prelabels != state:
        return UNKNOWN
    return state


def visibility(
    events: Sequence[Event], current: LoopState, created_at: str | None, lead_time: float | None
) -> str:
    """Which visibility was in force while an annotation was made: from the page's opening
    (`created_at` minus `lead_time`) to its submission. `unknown` when the history does not cover
    that time, a change fell inside it, or the visibility was found changed by hand."""
    if not created_at:
        return UNKNOWN
    try:
        end = _moment(created_at)
    except ValueError:
        return UNKNOWN
    start = end - timedelta(seconds=float(lead_time or 0.0))
    # An entry stamped S was made in [S, S + 1 s): before `start` for sure only if S + 1 s <= start.
    first = _interval(events, start - _RESOLUTION)
    last = _interval(events, end)
    # Changes of order or model version inside that time leave the visibility as it was.
    seen = {_visibility_of_interval(events, index, current) for index in range(first, last + 1)}
    return seen.pop() if len(seen) == 1 else UNKNOWN


def later_or_unknown(since: str, created_at: str | None, state: str) -> str:
    """`state` for an annotation made before `since` (a time stamp), else unknown."""
    try:
        if since and created_at and _moment(created_at) < _moment(since):
            return state
    except ValueError:
        pass
    return UNKNOWN


def summary(info: Mapping[str, Any], events: Sequence[Event]) -> dict[str, Any]:
    """What a snapshot and `status` record of the loop: the state in force and its history."""
    current = LoopState.of_project(info)
    return {**current.to_json(), "history": [event.to_json() for event in events]}
