"""Push planning without a server: what the plan makes of documents and tasks, from the tasks
or from the local record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corpuskit.studio.push import incremental, record
from corpuskit.studio.push.plan import REMOVED, STALE, ServerTask, make_plan, task_data, view_of
from corpuskit.studio.push.state import SETTLED, DocState, PushState, data_hash, inputs_digest

VERSION = "1.0.0"


def doc(
    doc_id: str, text: str = "Body.", *, sha: str | None = None, section: str = "world"
) -> dict[str, Any]:
    return {
        "id": doc_id,
        "content_sha256": sha or f"sha-{doc_id}-{text}",
        "title": f"Title {doc_id}",
        "summary": None,
        "section": section,
        "source": {"name": "Outlet"},
        "published_at": "2024-01-01",
        "modified_at": None,
        "language": "en",
        "paragraphs": [{"heading": None, "text": text}],
    }


def task(
    task_id: int, data: dict[str, Any], *, annotated: bool = False, meta: dict[str, Any] | None = None
) -> ServerTask:
    return ServerTask(id=task_id, data=data, meta=meta or {}, annotated=annotated)


def test_a_document_without_a_task_is_new_with_clear_marks() -> None:
    plan = make_plan([doc("a")], [], VERSION)
    assert plan.counts()["new"] == 1
    assert plan.new[0]["data"] == task_data(doc("a"), VERSION)
    assert plan.new[0]["meta"] == {STALE: False, REMOVED: False}
    assert plan.document_ids() == {"a"}


def test_an_unannotated_task_with_other_data_is_changed_and_an_equal_one_unchanged() -> None:
    documents = [doc("a", "New body."), doc("b")]
    tasks = [task(1, task_data(doc("a"), VERSION)), task(2, task_data(doc("b"), VERSION))]
    plan = make_plan(documents, tasks, VERSION)
    assert plan.changed == [(1, task_data(doc("a", "New body."), VERSION))]
    assert plan.unchanged == ["b"]
    assert plan.marks == {}


def test_an_annotated_task_whose_text_changed_is_stale_and_marked_not_overwritten() -> None:
    tasks = [task(1, task_data(doc("a"), VERSION), annotated=True)]
    plan = make_plan([doc("a", "Rewritten.")], tasks, VERSION)
    assert plan.stale == [(1, "a")]
    assert plan.changed == []
    assert plan.marks == {1: {STALE: True, REMOVED: False}}


def test_an_annotated_task_gets_new_display_data_but_keeps_its_text() -> None:
    old = task_data(doc("a"), VERSION)
    plan = make_plan([doc("a", section="europe")], [task(1, old, annotated=True)], VERSION)
    assert plan.stale == []
    [(task_id, shown)] = plan.changed
    assert task_id == 1
    assert shown["section"] == "europe"
    assert {k: shown[k] for k in ("doc_id", "content_sha256", "text")} == {
        k: old[k] for k in ("doc_id", "content_sha256", "text")
    }


def test_a_task_without_its_document_is_removed_only_in_a_whole_corpus_push() -> None:
    tasks = [task(1, task_data(doc("gone"), VERSION), annotated=True)]
    plan = make_plan([], tasks, VERSION)
    assert plan.removed == [(1, "gone", True)]
    assert plan.marks == {1: {STALE: False, REMOVED: True}}
    assert (
        make_plan([], tasks, VERSION, consider_removed=False).counts() == make_plan([], [], VERSION).counts()
    )


def test_an_unannotated_copy_is_deleted_and_an_annotated_one_reported() -> None:
    data = task_data(doc("a"), VERSION)
    copies = make_plan([doc("a")], [task(1, data), task(2, data)], VERSION)
    assert copies.copies == [("a", 2)]
    assert copies.duplicates == []
    held = make_plan([doc("a")], [task(1, data), task(2, data, annotated=True)], VERSION)
    assert held.copies == []
    assert held.duplicates == [("a", [2])]


def _state(documents: list[dict[str, Any]]) -> PushState:
    state = PushState(
        server="http://127.0.0.1:8080",
        project_id=1,
        project_created_at="2024-01-01T00:00:00Z",
        watermark="2024-01-01T00:00:00.000000Z",
        task_count=len(documents),
        foreign=[],
        inputs="digest",
        time_dependent=False,
        documents=len(documents),
        invalid=0,
    )
    for task_id, d in enumerate(documents, start=1):
        state.docs[d["id"]] = DocState(SETTLED, data_hash(task_data(d, VERSION)), True, [task_id])
    return state


def test_the_last_plan_is_replayed_while_nothing_it_depends_on_changed() -> None:
    state = _state([doc("a"), doc("b")])
    replay = incremental.replay(state, [])
    assert replay is not None
    assert sorted(replay.unchanged) == ["a", "b"]
    edited = task(1, task_data(doc("a", "Edited on the server."), VERSION))
    assert incremental.replay(state, [edited]) is None


def test_no_task_is_read_only_while_count_and_latest_change_are_the_records() -> None:
    state = _state([doc("a"), doc("b")])
    mark = state.watermark
    info = {"id": 1, "task_number": 2}
    assert record.unchanged_since(state, info, 2, mark)
    # A task edited or annotated (or one deleted and another added) moves the latest change.
    assert not record.unchanged_since(state, info, 2, "2024-01-02T00:00:00.000000Z")
    # A task deleted lowers the count, in the task list as in the project's own count.
    assert not record.unchanged_since(state, info, 1, mark)
    assert not record.unchanged_since(state, {"id": 1, "task_number": 1}, 2, mark)
    # A record of an empty project has no watermark: nothing to compare with.
    empty = _state([])
    assert not record.unchanged_since(empty, {"id": 1, "task_number": 0}, 0, None)


def test_the_local_plan_reads_only_the_tasks_of_changed_documents() -> None:
    documents = [doc("a"), doc("b")]
    state = _state(documents)
    corpus = [doc("a"), doc("b", "Changed.")]
    wanted = {d["id"]: task_data(d, VERSION) for d in corpus}
    hashes = {doc_id: data_hash(data) for doc_id, data in wanted.items()}
    asked: list[list[int]] = []

    def fetch(ids: Any) -> list[ServerTask]:
        asked.append(list(ids))
        return [task(2, task_data(doc("b"), VERSION))]

    local = incremental.plan_locally(fetch, corpus, wanted, hashes, state, [], VERSION, True)
    assert local is not None
    plan, view = local
    assert asked == [[2]]
    assert plan.unchanged == ["a"]
    assert plan.changed == [(2, wanted["b"])]
    assert view[2] == view_of(task(2, task_data(doc("b"), VERSION)))
    # A task gone from the server: the local plan gives way to a full read.
    assert (
        incremental.plan_locally(lambda ids: None, corpus, wanted, hashes, state, [], VERSION, True) is None
    )


def test_inputs_digest_trusts_a_recorded_fingerprint_only_while_the_stat_is_unchanged(tmp_path: Path) -> None:
    import os
    import time

    import orjson

    raw = [tmp_path / "a.txt", tmp_path / "b.txt"]
    raw[0].write_text("first document\n", encoding="utf-8")
    raw[1].write_text("second document\n", encoding="utf-8")
    cache = tmp_path / "cache" / "fingerprints.json"
    plain = inputs_digest(raw, [], "settings")
    assert inputs_digest(raw, [], "settings", cache) == plain
    # Files changed a moment ago may change again unseen within the timestamp granularity.
    assert not cache.exists()
    # A recorded fingerprint whose stat matches is used without reading the file ...
    stat = raw[0].stat()
    key = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
    cache.parent.mkdir()
    cache.write_bytes(orjson.dumps({str(raw[0]): [*key, "00" * 32]}))
    assert inputs_digest(raw, [], "settings", cache) != plain
    # ... until the file is written again (same bytes, times set back: its ctime still moves).
    while raw[0].stat().st_ctime_ns == stat.st_ctime_ns:  # a new tick of the file system clock
        time.sleep(0.01)
        raw[0].write_text("first document\n", encoding="utf-8")
    os.utime(raw[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert inputs_digest(raw, [], "settings", cache) == plain


def test_a_document_the_dedupe_record_leaves_out_is_neither_pushed_nor_marked_removed() -> None:
    annotated = task(2, task_data(doc("copy"), VERSION), annotated=True)
    plan = make_plan(
        [doc("a")], [task(1, task_data(doc("a"), VERSION)), annotated], VERSION, left_out=frozenset({"copy"})
    )
    assert plan.left_out == [(2, "copy")]
    assert plan.removed == [] and plan.marks == {} and plan.changed == []
    assert plan.counts()["left_out"] == 1
    # Without the record the same task is a removed document (marked, kept: it is annotated).
    assert make_plan([doc("a")], [task(1, task_data(doc("a"), VERSION)), annotated], VERSION).removed == [
        (2, "copy", True)
    ]


def test_left_out_tasks_are_remembered_and_replayed_as_left_out() -> None:
    documents = [doc("a"), doc("copy")]
    state = _state(documents)
    corpus = [doc("a")]
    wanted = {d["id"]: task_data(d, VERSION) for d in corpus}
    hashes = {doc_id: data_hash(data) for doc_id, data in wanted.items()}
    asked: list[list[int]] = []

    def fetch(ids: Any) -> list[ServerTask]:
        asked.append(list(ids))
        return []

    local = incremental.plan_locally(
        fetch, corpus, wanted, hashes, state, [], VERSION, True, frozenset({"copy"})
    )
    assert local is not None
    plan, view = local
    assert asked == [[]] and plan.left_out == [(2, "copy")] and plan.removed == []
    after = incremental.state_after(state, plan, view, hashes)
    assert after.docs["copy"].outcome == "left-out"
    replay = incremental.replay(after, [])
    assert replay is not None and replay.left_out == [(2, "copy")] and replay.unchanged == ["a"]


def test_import_batches_hold_at_most_batch_size_tasks_and_about_batch_chars_of_text() -> None:
    from corpuskit.studio.push import apply

    short = [{"data": task_data(doc(f"s{n}", "word " * 20), VERSION)} for n in range(25)]
    assert [len(b) for b in apply.batches(short, 10)] == [10, 10, 5]
    assert [p["data"]["doc_id"] for b in apply.batches(short, 10) for p in b] == [f"s{n}" for n in range(25)]
    # Long documents close a batch by their text before it holds batch_size tasks.
    third = apply.BATCH_CHARS // 3
    long = [{"data": task_data(doc(f"l{n}", "x" * third), VERSION)} for n in range(7)]
    sizes = [len(b) for b in apply.batches(long, 1000)]
    assert sizes == [2, 2, 2, 1]
    assert all(sum(map(apply.payload_chars, b)) <= apply.BATCH_CHARS for b in apply.batches(long, 1000))
    # A document longer than a whole batch goes alone, never dropped.
    huge = [{"data": task_data(doc("h", "x" * (apply.BATCH_CHARS + 1)), VERSION)}, *long[:1]]
    assert [len(b) for b in apply.batches(huge, 1000)] == [1, 1]
    assert list(apply.batches([], 10)) == []


def test_the_inputs_digest_ignores_settings_no_plan_depends_on(tmp_path: Path) -> None:
    import dataclasses

    from corpuskit.settings import Settings

    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.txt").write_text("first document\n", encoding="utf-8")
    settings = Settings(root=tmp_path)
    digest = record.inputs_digest(settings)
    assert digest is not None
    # Where the server is (the same one reached through LABEL_STUDIO_URL or the studio folder)
    # and what only a release reads leave the corpus as it was ...
    for elsewhere in (
        {"label_studio_url": "http://127.0.0.1:8080"},
        {"studio_dir": "elsewhere"},
        {"license": "CC0-1.0", "min_alpha": 0.5},
    ):
        assert record.inputs_digest(dataclasses.replace(settings, **elsewhere)) == digest
    # ... while what validation or the team design reads does not.
    for planned in (
        {"near_duplicate_threshold": 0.5},
        {"overlap_seed": "another"},
        {"strip_boilerplate": True},
    ):
        assert record.inputs_digest(dataclasses.replace(settings, **planned)) != digest
