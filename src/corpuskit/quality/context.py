"""Where agreement and gold read from: a snapshot folder, the settings, the taxonomy if there is one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.errors import DataError, UsageError
from corpuskit.quality.design import OverlapDesign
from corpuskit.quality.ratings import AnnotationRows, TaxonomyLike, annotations_path
from corpuskit.settings import Settings, load_settings
from corpuskit.snapshot import ADJUDICATIONS_FILE, is_snapshot, read_meta

if TYPE_CHECKING:
    from corpuskit.quality.gold import Adjudication


@dataclass(frozen=True)
class Inputs:
    rows: Iterable[Mapping[str, Any]]  # a snapshot's rows are streamed (AnnotationRows)
    source: str
    snapshot: Path | None
    adjudications: Mapping[str, Adjudication]
    taxonomy: TaxonomyLike | None
    settings: Settings


def recorded_design(inputs: Inputs) -> OverlapDesign:
    """The overlap design the snapshot records (the settings when it was pulled), else the
    settings' own: the gate and the card then judge by the same design."""
    if inputs.snapshot is not None and inputs.snapshot.is_dir() and is_snapshot(inputs.snapshot):
        try:
            design = read_meta(inputs.snapshot).get("design")
        except DataError:
            design = None
        if isinstance(design, Mapping):
            return OverlapDesign.from_json(design)
    return OverlapDesign.from_settings(inputs.settings)


def default_snapshot(settings: Settings) -> Path:
    return settings.path(settings.annotations)


def load_taxonomy_if_present(settings: Settings) -> TaxonomyLike | None:
    """The corpus taxonomy when its file exists, else None (the statistics then use the values seen
    in the annotations)."""
    path = settings.path(settings.taxonomy)
    if not path.is_file():
        return None
    from corpuskit.taxonomy import load_taxonomy

    return load_taxonomy(path)


def resolve_inputs(
    snapshot: str | Path | None,
    *,
    rows: Iterable[Mapping[str, Any]] | None = None,
    adjudications: str | Path | Mapping[str, Adjudication] | None = None,
    taxonomy: TaxonomyLike | None = None,
    settings: Settings | None = None,
) -> Inputs:
    """Read the rows (unless given), the adjudications and the taxonomy for one computation."""
    from corpuskit.quality.gold import read_adjudications

    settings = settings or load_settings()
    folder: Path | None = None
    if rows is None:
        folder = Path(snapshot) if snapshot is not None else default_snapshot(settings)
        if not annotations_path(folder).is_file():
            raise UsageError(
                f"{annotations_path(folder)}: no annotation snapshot (run `corpuskit pull` first)"
            )
        rows = AnnotationRows(folder)
        source = str(annotations_path(folder))
        if taxonomy is None:
            taxonomy = load_taxonomy_if_present(settings)
    else:
        rows = list(rows)
        source = "<rows>"
        if snapshot is not None:
            folder = Path(snapshot)
    if adjudications is None:
        adjudications = read_adjudications(folder / ADJUDICATIONS_FILE) if folder and folder.is_dir() else {}
    elif not isinstance(adjudications, Mapping):
        path = Path(adjudications)
        if not path.is_file():
            raise UsageError(f"{path}: no such adjudications file")
        adjudications = read_adjudications(path)
    return Inputs(rows, source, folder, adjudications, taxonomy, settings)


class TaskLanguages:
    """The language of each document from a snapshot's `tasks.jsonl` (push puts `language` in the task
    data), read alongside the annotations: both tables are in document order, so `of` asks in
    increasing document order and only the current task is held. Without a snapshot folder or a
    tasks table every document is unknown."""

    def __init__(self, folder: Path | None) -> None:
        from corpuskit.snapshot import TASKS_FILE, iter_groups

        self.any = False  # whether some task names a language (then agreement counts them)
        self._tasks: Iterator[tuple[str, Sequence[tuple[int, Mapping[str, Any]]]]] = iter(())
        if folder is not None and folder.is_dir() and is_snapshot(folder) and (folder / TASKS_FILE).is_file():
            self._tasks = iter_groups(folder, "tasks")
        self._current: tuple[str, str | None] | None = None
        self._done = False

    def _language(self, rows: Sequence[tuple[int, Mapping[str, Any]]]) -> str | None:
        found = None
        for _, row in rows:  # several tasks of one document: the last one's language, as before
            data = row.get("data")
            language = data.get("language") if isinstance(data, dict) else None
            if isinstance(language, str):
                found = language
        return found

    def of(self, document_id: str) -> str | None:
        """The language of `document_id`, None when its task names none (or it has no task)."""
        while not self._done and (self._current is None or self._current[0] < document_id):
            try:
                key, rows = next(self._tasks)
            except StopIteration:
                self._done = True
                break
            self._current = (key, self._language(rows))
            self.any = self.any or self._current[1] is not None
        if self._current is not None and self._current[0] == document_id:
            return self._current[1]
        return None

    def finish(self) -> None:
        """Read the rest of the tasks, so that `any` also counts documents nobody annotated."""
        for _, rows in self._tasks:
            self.any = self.any or self._language(rows) is not None
        self._done = True
