"""`corpuskit status` folded task by task gives exactly the figures of the in-memory measure.

`reference_measure` is the measure status used while it held the whole export converted (kept
here as the reference): every figure `status` prints, text and `--format json`, is compared on the
recorded exports and on a generated export with pilot, stale, cancelled and superseded answers,
annotators named by id only, and a document pushed twice.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from corpuskit.cli.status import render_text
from corpuskit.quality.check import assess
from corpuskit.quality.design import PILOT, OverlapDesign
from corpuskit.quality.ratings import build_ratings
from corpuskit.settings import Settings
from corpuskit.studio.export_rows import Mapper
from corpuskit.studio.progress import AnnotatorProgress, Progress, Tally, measure
from corpuskit.studio.progress_spill import Spill, int_key
from corpuskit.studio.progress_tasks import (
    NO_LANGUAGE,
    PILOT_MARK,
    STALE,
    STALE_MARK,
    TaskList,
    add_at,
    append,
)
from corpuskit.studio.pull import convert_stream, convert_stream_by_task, taxonomy_mapper
from corpuskit.taxonomy import load_taxonomy, row_to_result

ROOT = Path(__file__).parents[2]
EXPORTS = ROOT / "tests" / "data" / "label-studio-exports"
RECORDED = [
    EXPORTS / "recorded" / "export.json",
    EXPORTS / "recorded" / "export-snapshot.json",
    *sorted((EXPORTS / "handwritten").glob("*.json")),
    ROOT / "tests" / "data" / "pull" / "synthetic_export.json",
]


def _who(annotator: Any) -> str:
    if isinstance(annotator, dict):
        if annotator.get("email"):
            return str(annotator["email"])
        if annotator.get("id") is not None:
            return f"user {annotator['id']}"
    return "anonymous"


def reference_measure(
    tasks: Mapping[int, tuple[int, Mapping[str, Any]]],
    annotations: list[dict[str, Any]],
    taxonomy: Any,
    settings: Settings,
    languages: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The in-memory measure as it was before status streamed (the rows in the snapshot's order)."""
    pilot = {task_id for task_id, (_, meta) in tasks.items() if meta.get(PILOT)}
    stale_tasks = {task_id for task_id, (_, meta) in tasks.items() if meta.get(STALE)}
    people: dict[int, set[str]] = defaultdict(set)
    submitted: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    lead: dict[str, list[float]] = defaultdict(list)
    document_of: dict[int, str] = {}
    for row in annotations:
        who = _who(row.get("annotator"))
        if row.get("task_id") is not None:
            document_of[int(row["task_id"])] = str(row["document_id"])
        if row.get("was_cancelled"):
            skipped[who] += 1
            continue
        submitted[who] += 1
        if row.get("task_id") is not None:
            people[int(row["task_id"])].add(who)
        if isinstance(row.get("lead_time"), int | float):
            lead[who].append(float(row["lead_time"]))
    members = len(submitted)
    by_annotators: Counter[int] = Counter()
    complete: set[int] = set()
    remaining = 0
    for task_id, (overlap, _) in tasks.items():
        n = len(people.get(task_id, ()))
        need = max(members, 1) if task_id in pilot else overlap
        if task_id not in pilot:
            by_annotators[n] += 1
        if n >= need:
            complete.add(task_id)
        remaining += max(0, need - n)
    every = [t for times in lead.values() for t in times]
    complete_docs = {document_of[task_id] for task_id in complete if task_id in document_of}
    ratings = build_ratings([r for r in annotations if r["document_id"] in complete_docs], taxonomy)
    agreement: dict[str, dict[str, Any]] = {}
    overlapped = 0
    if ratings.annotations:
        result = assess(
            ratings,
            min_annotators=settings.min_annotators,
            min_alpha=settings.min_alpha,
            design=OverlapDesign.from_settings(settings),
        ).agreement
        overlapped = int(result.counts["overlapped_documents"])
        for c in [*result.stance, result.topic_set]:
            name = c.name if c is result.topic_set else f"stance.{c.name}"
            agreement[name] = {"alpha": c.alpha.value, "items": c.pairable_items}
    stale = sorted(document_of.get(task_id, f"task {task_id}") for task_id in stale_tasks)
    by_language: dict[str, dict[str, int]] = {}
    for task_id in tasks:
        entry = by_language.setdefault(
            (languages or {}).get(task_id, "unknown"), {"documents": 0, "annotated": 0, "complete": 0}
        )
        entry["documents"] += 1
        entry["annotated"] += task_id in people
        entry["complete"] += task_id in complete
    return {
        "documents": len(tasks),
        "pilot_documents": len(pilot),
        "annotators": [
            AnnotatorProgress(
                who,
                submitted[who],
                skipped[who],
                float(statistics.median(lead[who])) if lead[who] else None,
            )
            for who in sorted(set(submitted) | set(skipped))
        ],
        "by_annotators": dict(by_annotators),
        "complete": len(complete),
        "remaining": remaining,
        "median_lead_time": float(statistics.median(every)) if every else None,
        "agreement": agreement,
        "agreement_documents": overlapped,
        "stale": stale,
        "languages": dict(sorted(by_language.items(), key=lambda item: (-item[1]["documents"], item[0]))),
    }


@pytest.fixture(scope="module")
def taxonomy() -> Any:
    return load_taxonomy(ROOT / "schema" / "taxonomy.yaml")


@pytest.fixture(scope="module")
def mapper(taxonomy: Any) -> Mapper:
    return taxonomy_mapper(taxonomy)


def _chunks(body: bytes, size: int = 777) -> Iterator[bytes]:
    return (body[i : i + size] for i in range(0, len(body), size))


def _one_line(export: Any) -> bytes:
    """The export as Label Studio writes it (one line, Python's default separators)."""
    import json

    return json.dumps(export).encode()


def _emails(known: Mapping[int, str]) -> Any:
    def fill(annotator: dict[str, Any]) -> dict[str, Any]:
        if annotator["email"] is None and annotator["id"] in known:
            return {"id": annotator["id"], "email": known[annotator["id"]]}
        return annotator

    return fill


def _printed(figures: dict[str, Any], settings: Settings) -> tuple[dict[str, Any], str]:
    progress = Progress(
        project_id=1,
        project_title="t",
        server="http://127.0.0.1:1",
        design=OverlapDesign.from_settings(settings),
        server_kind="embedded server",
        loop={"order": "sequential", "prelabels": "hidden", "model_version": "", "last_change": None},
        **figures,
    )
    data = progress.to_json()
    return data, render_text(data)


def _both(
    body: bytes,
    tasks: Mapping[int, tuple[int, Mapping[str, Any]]],
    languages: Mapping[int, str],
    known: Mapping[int, str],
    taxonomy: Any,
    mapper: Mapper,
    settings: Settings,
) -> tuple[dict[str, Any], dict[str, Any]]:
    fill = _emails(known)
    tables = convert_stream(_chunks(body), mapper)
    for row in tables.annotations:  # what `pull.add_emails` did to them
        row["annotator"] = fill(row["annotator"])
    old = reference_measure(tasks, tables.annotations, taxonomy, settings, languages)
    tally = Tally(TaskList.from_mapping(tasks, languages), fill)
    try:
        for task_tables in convert_stream_by_task(_chunks(body), mapper):
            tally.add_task(task_tables.annotations)
        new = tally.figures(taxonomy, settings)
        assert tally.spill.folder.is_dir()
    finally:
        tally.close()
    assert not tally.spill.folder.exists()  # the spilled rows are removed
    return old, new


def _tasks_of(export: list[dict[str, Any]], extra: int = 2) -> tuple[dict[int, Any], dict[int, str]]:
    """A task list for a recorded export: overlap 2, the first task in the pilot, the last stale, and
    `extra` tasks nobody opened; languages from the data where there is one."""
    tasks: dict[int, tuple[int, dict[str, Any]]] = {}
    languages: dict[int, str] = {}
    ids = [int(t["id"]) for t in export if isinstance(t.get("id"), int)]
    for task in export:
        if not isinstance(task.get("id"), int):
            continue
        meta: dict[str, Any] = {}
        if task["id"] == ids[0] and len(ids) > 1:
            meta[PILOT] = True
        if task["id"] == ids[-1]:
            meta[STALE] = True
        tasks[task["id"]] = (2, meta)
        data = task.get("data") or {}
        if isinstance(data.get("language"), str):
            languages[task["id"]] = data["language"]
    for n in range(extra):
        tasks[max(ids, default=0) + 100 + n] = (2, {STALE: True} if n == 0 else {})
    return tasks, languages


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_status_streams_to_the_same_figures_on_recorded_exports(
    path: Path, taxonomy: Any, mapper: Mapper
) -> None:
    export = orjson.loads(path.read_bytes())
    export = export if isinstance(export, list) else [export]
    tasks, languages = _tasks_of(export)
    settings = Settings(root=ROOT)
    known = {1: "one@example.org", 2: "two@example.org"}  # users 3 and more stay unnamed
    old, new = _both(_one_line(export), tasks, languages, known, taxonomy, mapper, settings)
    assert new == old
    assert _printed(new, settings) == _printed(old, settings)
    assert old["annotators"]  # every file has someone's answer


def _generated_export(
    taxonomy: Any, seed: int
) -> tuple[list[dict[str, Any]], dict[int, Any], dict[int, str]]:
    """An export in Label Studio's shape, in a task order unlike the documents' order: overlap 3
    (some tasks 2), a pilot of 4 tasks, stale tasks, skips, an annotator who answered a task twice,
    annotators named by id only, one without any identity, missing lead times, and one document
    pushed as two tasks (one complete, one not)."""
    rng = random.Random(seed)
    targets = list(taxonomy.target_ids)
    values = list(taxonomy.stance_value_ids)
    topics = list(taxonomy.topic_ids)
    text = "Russia and North Korea signed a defence pact. " * 3
    export: list[dict[str, Any]] = []
    tasks: dict[int, tuple[int, dict[str, Any]]] = {}
    languages: dict[int, str] = {}
    annotation_id = rng.randrange(1000, 5000)
    task_ids = rng.sample(range(1, 10_000), 60)
    for number, task_id in enumerate(task_ids):
        doc = "doc-dup" if number in (7, 8) else f"doc-{rng.randrange(10**6):06d}-{number}"
        meta: dict[str, Any] = {}
        if number < 4:
            meta[PILOT] = True
        if number % 11 == 5:
            meta[STALE] = True
        overlap = 2 if number % 3 == 0 else 3
        tasks[task_id] = (overlap, meta)
        language = ("en", "ar", "fr")[number % 3]
        if number % 7:
            languages[task_id] = language
        if number >= 50:
            continue  # nobody opened these: in the task list, not in the export
        annotations = []
        who_all = rng.sample(range(1, 7), rng.randint(1, 4))
        if number == 7:
            who_all = [1, 2, 3]
        if number == 8:
            who_all = [4]
        for who in who_all:
            for _ in range(2 if rng.random() < 0.1 else 1):  # sometimes answered twice
                annotation_id += rng.randint(1, 3)
                stance = {
                    t: values[(number + i + (who if rng.random() < 0.3 else 0)) % len(values)]
                    for i, t in enumerate(targets)
                }
                chosen = sorted(t for t in topics if rng.random() < 0.3)
                fields = {"stance": stance, "topics": chosen, "spans": [], "note": None}
                completed_by: Any = {1: {"id": 1, "email": "one@example.org"}, 6: None}.get(who, who)
                annotation: dict[str, Any] = {
                    "id": annotation_id,
                    "completed_by": completed_by,
                    "result": row_to_result(taxonomy, fields, text),
                    "was_cancelled": rng.random() < 0.12,
                    "ground_truth": False,
                    "created_at": f"2026-01-0{rng.randint(1, 9)}T10:00:00.000000Z",
                    "updated_at": f"2026-01-0{rng.randint(1, 9)}T10:00:00.000000Z",
                    "lead_time": round(rng.uniform(3, 90), 3) if rng.random() < 0.9 else None,
                }
                if annotation["was_cancelled"]:
                    annotation["result"] = []
                annotations.append(annotation)
        rng.shuffle(annotations)
        export.append(
            {
                "id": task_id,
                "annotations": annotations,
                "drafts": [],
                "predictions": [],
                "data": {
                    "doc_id": doc,
                    "text": text,
                    "language": language,
                    "taxonomy_version": taxonomy.version,
                },
                "meta": meta,
            }
        )
    return export, tasks, languages


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_status_streams_to_the_same_figures_on_a_generated_export(
    seed: int, taxonomy: Any, mapper: Mapper
) -> None:
    export, tasks, languages = _generated_export(taxonomy, seed)
    settings = Settings(root=ROOT)
    known = {2: "two@example.org", 3: "three@example.org"}  # 4 and 5 stay "user N", 6 anonymous
    old, new = _both(_one_line(export), tasks, languages, known, taxonomy, mapper, settings)
    assert new == old
    assert _printed(new, settings) == _printed(old, settings)
    # The export exercises what it says it does.
    assert old["pilot_documents"] == 4 and old["stale"] and old["agreement"]
    assert any(a.skipped for a in old["annotators"]) and "anonymous" in {
        a.annotator for a in old["annotators"]
    }
    assert {"user 4", "user 5"} <= {a.annotator for a in old["annotators"]}
    assert set(old["languages"]) == {"en", "ar", "fr", "unknown"}
    assert old["complete"] < len(tasks)


def test_measure_over_snapshot_rows_matches_the_reference(taxonomy: Any, mapper: Mapper) -> None:
    """`measure` (snapshot-shaped rows, as a library call) folds through the same tally."""
    export, tasks, languages = _generated_export(taxonomy, 4)
    settings = Settings(root=ROOT)
    rows = convert_stream(_chunks(_one_line(export)), mapper).annotations
    assert measure(tasks, rows, taxonomy, settings, languages) == reference_measure(
        tasks, rows, taxonomy, settings, languages
    )


def test_spilled_ids_sort_as_the_snapshot_sorts_them() -> None:
    ids: list[Any] = [None, -(2**70), -300, -256, -255, -1, 0, 1, 255, 256, 2**63, 2**70, "a", "b"]
    assert sorted(ids[1:-3], key=int_key) == ids[1:-3]
    assert sorted(reversed(ids), key=int_key) == [*ids[1:], None]


def test_spilled_medians_are_exact() -> None:
    spill = Spill()
    try:
        assert spill.median() is None
        times = {"a": [3.0, 1.0, 2.5], "b": [4.0, 0.5, 7.25, 9.0]}
        for who, values in times.items():
            for t in values:
                spill.add_lead(who, t)
        for who, values in times.items():
            assert spill.median(who) == statistics.median(values)
        assert spill.median() == statistics.median([t for v in times.values() for t in v])
        assert spill.median("nobody") is None
    finally:
        spill.close()
    assert not spill.folder.exists()


def _read_as_a_dict(
    pages: list[list[dict[str, Any]]],
) -> tuple[dict[int, tuple[int, dict[str, Any]]], dict[int, str]]:
    """What the task list's pages give read into dicts keyed by task id (as status read them before
    it kept them in arrays): a task listed twice keeps its last overlap and meta, and the last
    language its data gave."""
    tasks: dict[int, tuple[int, dict[str, Any]]] = {}
    languages: dict[int, str] = {}
    for items in pages:
        for item in items:
            tasks[int(item["id"])] = (int(item.get("overlap") or 1), item.get("meta") or {})
            data = item.get("data")
            if isinstance(data, dict) and isinstance(data.get("language"), str):
                languages[int(item["id"])] = data["language"]
    return tasks, languages


def _as_dicts(found: TaskList) -> tuple[dict[int, tuple[int, bool, bool]], dict[int, str]]:
    tasks = {
        task_id: (overlap, bool(marks & PILOT_MARK), bool(marks & STALE_MARK))
        for task_id, overlap, marks in zip(found.ids, found.overlaps, found.marks, strict=True)
    }
    languages = {
        task_id: found.codes[code]
        for task_id, code in zip(found.ids, found.languages, strict=True)
        if code != NO_LANGUAGE
    }
    return tasks, languages


def _pages_of(
    tasks: Mapping[int, tuple[int, Mapping[str, Any]]], languages: Mapping[int, str], seed: int
) -> list[list[dict[str, Any]]]:
    """The data manager's pages for a task list, in a shuffled order, with some tasks listed twice
    (first with another overlap, marks and language; later once without a language)."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for task_id, (overlap, meta) in tasks.items():
        data: dict[str, Any] = {"doc_id": f"d{task_id}"}
        if task_id in languages:
            data["language"] = languages[task_id]
        items.append({"id": task_id, "overlap": overlap, "meta": dict(meta), "data": data})
    rng.shuffle(items)
    twice = rng.sample(items, 6)
    for n, item in enumerate(twice):
        earlier = {"id": item["id"], "overlap": item["overlap"] + 5, "meta": {PILOT: True, STALE: True}}
        earlier["data"] = {"language": "xx"}
        items.insert(0, earlier)
        if n % 2:
            items.append({**item, "data": {"doc_id": "no language"}})
    return [items[i : i + 7] for i in range(0, len(items), 7)]


def test_the_task_list_keeps_what_a_dict_by_task_id_kept() -> None:
    pages = [
        [{"id": 9, "overlap": 2, "meta": {PILOT: True}, "data": {"language": "ar"}}],
        [
            {"id": 3, "overlap": None, "meta": None, "data": None},
            {"id": 2**40, "overlap": 70_000, "meta": {STALE: True}, "data": {"language": "en"}},
            {"id": 9, "overlap": 3, "meta": {}, "data": {"text": "no language"}},
            {"id": 5, "overlap": -1, "meta": {}, "data": {"language": 7}},
        ],
    ]
    found = TaskList()
    for items in pages:
        found.add_page(items)
    found.seal()
    assert list(found.ids) == [3, 5, 9, 2**40]  # sorted by id, each once
    expected_tasks, expected_languages = _read_as_a_dict(pages)
    assert _as_dicts(found) == (
        {
            task_id: (overlap, bool(meta.get(PILOT)), bool(meta.get(STALE)))
            for task_id, (overlap, meta) in expected_tasks.items()
        },
        expected_languages,
    )
    assert expected_languages == {9: "ar", 2**40: "en"}  # task 9 keeps the language it gave first
    assert [found.position(t) for t in (3, 5, 9, 2**40, 4, 2**41)] == [0, 1, 2, 3, None, None]
    # Only the arrays holding a value that did not fit were widened (a negative overlap needs a sign).
    assert (found.ids.typecode, found.overlaps.typecode, found.languages.typecode) == ("q", "q", "B")


def test_the_task_list_in_id_order_is_kept_as_read_and_widens_for_many_languages() -> None:
    found = TaskList()
    found.add_page({"id": n, "overlap": 1, "meta": {}, "data": {"language": f"l{n}"}} for n in range(1, 300))
    found.seal()
    assert list(found.ids) == list(range(1, 300)) and found.languages.typecode == "H"
    assert [found.codes[c] for c in found.languages] == [f"l{n}" for n in range(1, 300)]


def test_counts_widen_when_they_no_longer_fit() -> None:
    from array import array

    counts = array("B", bytes(3))
    counts = add_at(counts, 1, 255)
    assert counts.typecode == "B"
    counts = add_at(counts, 1, 1)
    assert (counts.typecode, list(counts)) == ("H", [0, 256, 0])
    counts = append(counts, -(2**40))
    assert (counts.typecode, list(counts)) == ("q", [0, 256, 0, -(2**40)])
    with pytest.raises(OverflowError):
        append(counts, 2**70)


@pytest.mark.parametrize("seed", [0, 5])
def test_status_streams_the_same_from_pages_in_any_order_with_unlisted_tasks(
    seed: int, taxonomy: Any, mapper: Mapper
) -> None:
    """The task list arrives shuffled, with tasks listed twice, and without some tasks that are in
    the export (created after the list was read): status counts what the dicts by id counted."""
    export, tasks, languages = _generated_export(taxonomy, seed)
    rng = random.Random(seed)
    worked_on = [int(t["id"]) for t in export]
    unlisted = set(rng.sample(worked_on, 5))
    listed = {task_id: value for task_id, value in tasks.items() if task_id not in unlisted}
    pages = _pages_of(listed, languages, seed)
    expected_tasks, expected_languages = _read_as_a_dict(pages)
    settings = Settings(root=ROOT)
    known = {2: "two@example.org"}
    fill = _emails(known)
    body = _one_line(export)
    rows = convert_stream(_chunks(body), mapper).annotations
    for row in rows:
        row["annotator"] = fill(row["annotator"])
    old = reference_measure(expected_tasks, rows, taxonomy, settings, expected_languages)
    found = TaskList()
    for items in pages:
        found.add_page(items)
    tally = Tally(found, fill)
    try:
        for task_tables in convert_stream_by_task(_chunks(body), mapper):
            tally.add_task(task_tables.annotations)
        new = tally.figures(taxonomy, settings)
    finally:
        tally.close()
    assert new == old
    assert _printed(new, settings) == _printed(old, settings)
    assert old["documents"] == len(found) == len(tasks) - len(unlisted)
    # Six tasks listed twice, three of them a third time.
    assert sum(len(items) for items in pages) == len(found) + 9
    assert old["stale"] and old["pilot_documents"] and old["complete"]
