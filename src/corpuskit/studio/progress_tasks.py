"""The task list `corpuskit status` counts against, in a few bytes per task.

Status needs every task of the project (its overlap, whether it is in the pilot or stale, and the
language of its data), but a project of a million annotations has hundreds of thousands of tasks,
and a dict entry of (overlap, meta) per task costs some 350 bytes. Here each task is a row of
parallel arrays of fixed-size integers, sorted by task id (found again by bisection): 4 bytes of
id, 1 of overlap, 1 of marks and 1 of language (an index into the few distinct codes), an array
widened (2, 4, then 8 bytes an item) only when a value does not fit. The data manager's pages are
folded into them as they arrive and dropped.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from corpuskit.quality.design import PILOT

if TYPE_CHECKING:
    from corpuskit.studio.client import StudioClient

STALE = "corpuskit_stale"
PILOT_MARK = 1
STALE_MARK = 2
# The language index of a task whose data names none: counted as "unknown", like a task whose data
# says "unknown" (a code of its own, so that a task listed twice keeps the last language it gave).
NO_LANGUAGE = 0


# The next wider type of an array that a value does not fit (ending at 8-byte signed integers).
_WIDER = {"B": "H", "H": "I", "I": "q"}


def _widened(values: array[int], error: OverflowError) -> array[int]:
    if values.typecode not in _WIDER:
        raise error
    return array(_WIDER[values.typecode], values)


def append(values: array[int], value: int) -> array[int]:
    """`values` with `value` at its end, copied into a wider type first when it does not fit."""
    while True:
        try:
            values.append(value)
            return values
        except OverflowError as error:
            values = _widened(values, error)


def add_at(values: array[int], at: int, value: int) -> array[int]:
    """`values` with `value` added to its item `at`, widened as `append` widens."""
    while True:
        try:
            values[at] += value
            return values
        except OverflowError as error:
            values = _widened(values, error)


class TaskList:
    """Every task of a project as status counts it: id, overlap, pilot and stale marks, language.

    `add` and `add_page` take the tasks in any order; `seal` (once every task is in) sorts them by
    id when the server did not send them in that order, and keeps the last reading of a task listed
    twice (its last overlap and marks, the last language it gave), as a dict keyed by id would."""

    def __init__(self) -> None:
        self.ids: array[int] = array("I")
        self.overlaps: array[int] = array("B")
        self.marks: array[int] = array("B")
        self.languages: array[int] = array("B")
        self.codes: list[str] = ["unknown"]  # NO_LANGUAGE's name, then each language seen
        self._code_of: dict[str, int] = {}
        self._sealed = True  # in ascending id order, each id once

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, task_id: int, overlap: int, meta: Mapping[str, Any], language: str | None) -> None:
        """One task: its overlap, its meta (where push marks the pilot and stale tasks) and the
        language of its data (None: its data names none)."""
        if self.ids and task_id <= self.ids[-1]:
            self._sealed = False
        self.ids = append(self.ids, task_id)
        self.overlaps = append(self.overlaps, overlap)
        self.marks.append((PILOT_MARK if meta.get(PILOT) else 0) | (STALE_MARK if meta.get(STALE) else 0))
        self.languages = append(self.languages, self._code(language))

    def add_page(self, items: Iterable[Mapping[str, Any]]) -> None:
        """The tasks of one page of the data manager's list (`id`, `overlap`, `meta`, `data`)."""
        for item in items:
            meta = item.get("meta")
            data = item.get("data")
            language = data.get("language") if isinstance(data, dict) else None
            self.add(
                int(item["id"]),
                int(item.get("overlap") or 1),
                meta if isinstance(meta, Mapping) else {},
                language if isinstance(language, str) else None,
            )

    def _code(self, language: str | None) -> int:
        if language is None:
            return NO_LANGUAGE
        code = self._code_of.get(language)
        if code is None:
            code = self._code_of[language] = len(self.codes)
            self.codes.append(language)
        return code

    def seal(self) -> None:
        """Sort by id and keep each id's last reading (nothing to do when the tasks came in
        ascending id order, as Label Studio lists them: `order_by('id')` when no view sorts)."""
        if self._sealed:
            return
        # Only here does status hold something per task beyond its arrays: the order, a list of
        # Python integers (about 80 bytes a task), while the arrays are rebuilt.
        order = sorted(range(len(self.ids)), key=self.ids.__getitem__)
        kept: list[int] = []
        for at in order:
            if kept and self.ids[kept[-1]] == self.ids[at]:
                if self.languages[at] == NO_LANGUAGE:
                    self.languages[at] = self.languages[kept[-1]]
                kept[-1] = at  # `sorted` is stable: the later reading wins
            else:
                kept.append(at)
        del order
        self.ids = array(self.ids.typecode, (self.ids[at] for at in kept))
        self.overlaps = array(self.overlaps.typecode, (self.overlaps[at] for at in kept))
        self.marks = array(self.marks.typecode, (self.marks[at] for at in kept))
        self.languages = array(self.languages.typecode, (self.languages[at] for at in kept))
        self._sealed = True

    def position(self, task_id: int) -> int | None:
        """Where task `task_id` is in the arrays (None: not in the list). Only once sealed."""
        at = bisect_left(self.ids, task_id)
        return at if at < len(self.ids) and self.ids[at] == task_id else None

    @classmethod
    def from_mapping(
        cls, tasks: Mapping[int, tuple[int, Mapping[str, Any]]], languages: Mapping[int, str] | None = None
    ) -> TaskList:
        """The list of a dict of task id -> (overlap, meta) and one of task id -> language."""
        found = cls()
        for task_id, (overlap, meta) in tasks.items():
            found.add(task_id, overlap, meta, (languages or {}).get(task_id))
        found.seal()
        return found


def read_task_list(client: StudioClient, project_id: int, *, page_size: int = 5000) -> TaskList:
    """Every task of the project (`TaskList`), from pages of the data manager's list with the task
    data (for its language): measured on that list, the data costs about nothing more
    (scripts/bench_studio_pull.py status), where exporting every task for it cost eight times the
    export of the worked-on ones. Each page is folded and dropped before the next one is read."""
    from corpuskit.studio.gateway import Gateway

    found = TaskList()
    pages = Gateway(client).tasks.pages(
        project_id, "id,overlap,meta,data", page_size=page_size, what="read the overlap of the tasks"
    )
    for items in pages:
        found.add_page(items)
        del items  # not held while the next page downloads
    found.seal()
    return found
