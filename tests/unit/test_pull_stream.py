"""A pull writes each task's rows as they arrive (`write_stream` into a `SnapshotWriter`): the
snapshot is byte for byte the one the whole-export path writes (`convert_stream`, `add_emails`,
`mark_prelabels`, `write_snapshot`), whether the export comes in document order or not (spilled
runs, merged), whether a worker process converts some of its batches or not (and whatever that
worker declines, or if it dies), and a failed export leaves the folder as it was."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corpuskit.errors import DataError
from corpuskit.snapshot import TABLES, SnapshotWriter, read_meta, write_snapshot
from corpuskit.studio import loop
from corpuskit.studio.export_rows import Mapper, Tables
from corpuskit.studio.pull import (
    Batch,
    PrelabelMarks,
    PullResult,
    UserEmails,
    add_emails,
    convert_stream,
    mark_prelabels,
    taxonomy_mapper,
    write_stream,
)
from corpuskit.studio.pull_worker import ConvertWorker, Declined, Setup
from corpuskit.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "label-studio-exports"
EXPORTS = sorted(
    [
        *(ROOT / "tests" / "data" / "pull").glob("*export*.json"),
        *REAL.glob("*.json"),
        *(REAL / "handwritten").glob("*.json"),
        *(REAL / "recorded").glob("*.json"),
    ]
)
# A labelled prediction that `suggest` did not push makes later annotations on its task unknown.
HISTORY = [
    loop.Event("2000-01-01T00:00:00Z", "suggest", loop.LoopState("uncertainty", "hidden", "ours")),
]
INFO = {
    "id": 1,
    "title": "stream",
    "sampling": "Uncertainty sampling",
    "show_collab_predictions": False,
    "model_version": "ours",
}


TAXONOMY = load_taxonomy(ROOT / "schema" / "taxonomy.yaml")


@pytest.fixture(scope="module")
def mapper() -> Mapper:
    return taxonomy_mapper(TAXONOMY)


def _tasks(path: Path) -> list[Any]:
    export = json.loads(path.read_text(encoding="utf-8"))
    return export if isinstance(export, list) else [export]


def _chunks(tasks: list[Any], size: int = 4096) -> Iterator[bytes]:
    # Label Studio's layout: one line, Python's default separators.
    body = json.dumps(tasks).encode()
    return iter([body[i : i + size] for i in range(0, len(body), size)])


def _users(tasks: list[Any]) -> list[dict[str, Any]]:
    """A user list naming every annotator id the export holds."""
    ids: set[int] = set()
    for task in tasks:
        for key in ("annotations", "drafts"):
            for item in task.get(key) or []:
                if isinstance(item, dict):
                    who = item.get("completed_by", item.get("user"))
                    if isinstance(who, int) and not isinstance(who, bool):
                        ids.add(who)
    return [{"id": user_id, "email": f"user-{user_id}@example.org"} for user_id in sorted(ids)]


def _summarise(folder: Path, tables: Tables, changed: bool, meta: dict[str, Any]) -> PullResult:
    """What a pull that held every row reports of them: the reference `write_stream`'s counts meet."""
    annotators = {
        (row["annotator"]["id"], row["annotator"]["email"])
        for row in tables.annotations
        if row["annotator"]["id"] is not None or row["annotator"]["email"] is not None
    }
    return PullResult(
        folder=folder,
        counts={name: len(rows) for name, rows in tables.by_table().items()},
        annotators=len(annotators),
        cancelled=sum(1 for row in tables.annotations if row["was_cancelled"]),
        ground_truth=sum(1 for row in tables.annotations if row["ground_truth"]),
        changed=changed,
        meta=meta,
        problems=tables.problems,
    )


def _whole(tasks: list[Any], mapper: Mapper, folder: Path) -> dict[str, Any]:
    """The whole-export path: every row held, sorted, then written."""
    tables = convert_stream(_chunks(tasks), mapper)
    add_emails(None, tables, _users(tasks))  # type: ignore[arg-type]
    meta = {"project_id": 1, "exported_at": "2026-11-30T00:00:00Z"}
    meta["loop"] = mark_prelabels(tables, INFO, HISTORY)
    result = _summarise(folder, tables, write_snapshot(folder, tables.by_table(), meta), meta)
    return {
        "counts": result.counts,
        "annotators": result.annotators,
        "cancelled": result.cancelled,
        "ground_truth": result.ground_truth,
        "problems": result.problems,
    }


def _streamed(
    tasks: list[Any],
    mapper: Mapper,
    folder: Path,
    run_rows: int,
    *,
    worker: ConvertWorker | None = None,
    batch_tasks: int | None = None,
    emails: UserEmails | None = None,
    chunks: Iterator[bytes] | None = None,
) -> dict[str, Any]:
    writer = SnapshotWriter(folder, run_rows=run_rows)
    marks = PrelabelMarks(INFO, HISTORY)
    emails = emails or UserEmails(None, _users(tasks))  # type: ignore[arg-type]
    kept = write_stream(
        _chunks(tasks) if chunks is None else chunks,
        mapper,
        writer,
        emails=emails,
        marks=marks,
        worker=worker,
        batch_tasks=batch_tasks,
    )
    writer.commit({"project_id": 1, "exported_at": "2026-11-30T00:00:00Z", "loop": marks.summary()})
    return {
        "counts": kept.counts,
        "annotators": len(kept.annotators),
        "cancelled": kept.cancelled,
        "ground_truth": kept.ground_truth,
        "problems": kept.problems,
    }


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _assert_same(tasks: list[Any], mapper: Mapper, tmp_path: Path, run_rows: int, **streamed: Any) -> None:
    want = _whole(tasks, mapper, tmp_path / "whole")
    got = _streamed(tasks, mapper, tmp_path / "streamed", run_rows, **streamed)
    assert got == want
    assert _files(tmp_path / "streamed") == _files(tmp_path / "whole")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.name)
def test_streamed_snapshot_is_the_whole_export_snapshot(path: Path, mapper: Mapper, tmp_path: Path) -> None:
    _assert_same(_tasks(path), mapper, tmp_path, run_rows=8192)


@pytest.mark.parametrize("run_rows", [1, 2, 3])
@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.name)
def test_out_of_order_export_spills_runs_and_merges_to_the_same_bytes(
    path: Path, run_rows: int, mapper: Mapper, tmp_path: Path
) -> None:
    tasks = _tasks(path)
    random.Random(len(tasks) * 7 + run_rows).shuffle(tasks)
    tasks.reverse()  # documents, ids and positions against the snapshot's order
    _assert_same(tasks, mapper, tmp_path, run_rows)


def test_many_documents_in_reverse_order_merge_from_many_runs(mapper: Mapper, tmp_path: Path) -> None:
    template = _tasks(ROOT / "tests" / "data" / "pull" / "synthetic_export.json")
    tasks = []
    for number in range(60):
        task = json.loads(json.dumps(template[number % len(template)]))
        task["id"] = 1000 - number
        if isinstance(task.get("data"), dict) and "doc_id" in task["data"]:
            task["data"]["doc_id"] = f"doc-{number % 23:03d}"  # documents in several tasks
        tasks.append(task)
    _assert_same(tasks, mapper, tmp_path, run_rows=4)
    meta = read_meta(tmp_path / "streamed")
    assert meta["counts"]["tasks"] == 60


def test_a_truncated_export_leaves_the_folder_as_it_was(mapper: Mapper, tmp_path: Path) -> None:
    tasks = _tasks(REAL / "recorded" / "export-snapshot.json")
    folder = tmp_path / "annotations"
    _whole(tasks, mapper, folder)
    before = _files(folder)
    body = json.dumps(tasks).encode()
    writer = SnapshotWriter(folder, run_rows=2)
    with pytest.raises(DataError, match="truncated"), writer:
        write_stream(iter([body[: len(body) // 2]]), mapper, writer)
    assert _files(folder) == before
    assert [p.name for p in tmp_path.iterdir()] == ["annotations"]


def test_a_document_table_key_must_start_with_the_document(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path / "annotations")
    try:
        with pytest.raises(ValueError, match="document_id"):
            writer.add("tasks", (1,), {"document_id": "doc-1"})
        writer.add("tasks", ("doc-1", 1), {"document_id": "doc-1"})
        writer.add("problems", ("", 1), {"code": "x"})
        assert writer.commit({"project_id": None})
    finally:
        writer.discard()
    assert read_meta(tmp_path / "annotations")["counts"] == {table: 0 for table in TABLES} | {
        "tasks": 1,
        "problems": 1,
    }


def _worker(users: list[dict[str, Any]]) -> ConvertWorker:
    return ConvertWorker(Setup(TAXONOMY, users, INFO, HISTORY))


@pytest.mark.parametrize("batch_tasks", [1, 3])
@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.name)
def test_a_worker_converting_batches_writes_the_same_bytes(
    path: Path, batch_tasks: int, mapper: Mapper, tmp_path: Path
) -> None:
    tasks = _tasks(path)
    random.Random(len(tasks)).shuffle(tasks)
    with _worker(_users(tasks)) as worker:
        _assert_same(tasks, mapper, tmp_path, 3, worker=worker, batch_tasks=batch_tasks)
        assert worker.failure is None


def _many(count: int) -> list[Any]:
    """`count` tasks made from the synthetic export's, each its own document."""
    template = _tasks(ROOT / "tests" / "data" / "pull" / "synthetic_export.json")
    tasks = []
    for number in range(count):
        task = json.loads(json.dumps(template[number % len(template)]))
        task["id"] = number + 1
        if isinstance(task.get("data"), dict) and "doc_id" in task["data"]:
            task["data"]["doc_id"] = f"doc-{number:04d}"
        for item in task.get("annotations") or []:
            if isinstance(item, dict) and isinstance(item.get("completed_by"), int):
                item["completed_by"] = 3 + number % 5  # five annotators
        tasks.append(task)
    return tasks


def test_the_worker_takes_batches_while_this_process_converts_others(mapper: Mapper, tmp_path: Path) -> None:
    tasks = _many(400)
    with _worker(_users(tasks)) as worker:
        handed: list[int] = []
        submit = worker.submit

        def counted(start: int, items: list[Any]) -> int:
            handed.append(len(items))
            return submit(start, items)

        worker.submit = counted  # type: ignore[method-assign]
        _assert_same(tasks, mapper, tmp_path, 64, worker=worker, batch_tasks=4)
    assert handed and sum(handed) <= 400
    assert worker.process.returncode is not None  # stopped with the `with` block


class _Server(UserEmails):
    """The user list as the server would give it when read again (the test's whole list)."""

    def __init__(self, given: list[dict[str, Any]], full: list[dict[str, Any]]) -> None:
        super().__init__(None, given)  # type: ignore[arg-type]
        self.full = full
        self.reads = 0

    def read_again(self) -> dict[Any, Any]:
        self.reads += 1
        return self._index(self.full)


def test_an_annotator_the_worker_does_not_know_sends_the_rest_back(mapper: Mapper, tmp_path: Path) -> None:
    tasks = _many(120)
    users = _users(tasks)
    assert len(users) > 1
    given = users[1:]  # as read before the export: one annotator joined since
    emails = _Server(given, users)
    with _worker(given) as worker:
        answers: list[Any] = []
        result = worker.result

        def seen(ticket: int, *, wait: bool) -> Any:
            answers.append(result(ticket, wait=wait))
            return answers[-1]

        worker.result = seen  # type: ignore[method-assign]
        _assert_same(tasks, mapper, tmp_path, 16, worker=worker, batch_tasks=2, emails=emails)
        assert worker.failure is None
    assert emails.reads == 1  # read again once, by this process, as without a worker
    declined = [a for a in answers if isinstance(a, Declined)]
    assert declined and "user list" in declined[0].reason


def test_a_worker_that_dies_costs_no_row(mapper: Mapper, tmp_path: Path) -> None:
    tasks = _many(300)
    body = json.dumps(tasks).encode()
    with _worker(_users(tasks)) as worker:

        def chunks() -> Iterator[bytes]:
            for at in range(0, len(body), 4096):
                if at == 40 * 4096:
                    worker.process.kill()  # mid-export, batches handed over and unanswered
                    worker.process.wait()
                yield body[at : at + 4096]

        _assert_same(tasks, mapper, tmp_path, 64, worker=worker, batch_tasks=2, chunks=chunks())
        assert worker.failure is not None and "-9" in worker.failure


def test_the_worker_declines_what_it_cannot_read_and_goes_on() -> None:
    with _worker([]) as worker:
        bad = worker.submit(0, [b"{not json"])
        empty = worker.submit(1, [])
        answer = worker.result(bad, wait=True)
        assert isinstance(answer, Declined) and "JSONDecodeError" in answer.reason
        # Tickets after a declined one are this process's to convert.
        assert isinstance(worker.result(empty, wait=True), Declined)
        assert worker.failure is None


def test_a_worker_ends_with_the_pull_that_started_it(tmp_path: Path) -> None:
    """Killed, a pull cannot close its worker: the worker's stdin closes with it, and it exits."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from corpuskit.studio.pull_worker import ConvertWorker, Setup\n"
        "from corpuskit.taxonomy import load_taxonomy\n"
        f"taxonomy = load_taxonomy(Path({str(ROOT / 'schema' / 'taxonomy.yaml')!r}))\n"
        "worker = ConvertWorker(Setup(taxonomy, [], None))\n"
        "worker.result(worker.submit(0, []), wait=True)\n"
        "print(worker.process.pid, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    pull = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert pull.returncode == -signal.SIGKILL, pull.stderr
    pid = int(pull.stdout)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return  # gone (reaped by init)
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z"):
            return  # exited, waiting for init to reap it
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("the worker outlived the pull that started it")


def test_the_worker_gets_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "f" * 40
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", secret)
    monkeypatch.setenv("CORPUSKIT_SOME_SETTING", "kept")
    with _worker([]) as worker:
        environ = Path(f"/proc/{worker.process.pid}/environ").read_bytes().split(b"\0")
        assert b"CORPUSKIT_SOME_SETTING=kept" in environ
        assert not [entry for entry in environ if secret.encode() in entry]
        assert isinstance(worker.result(worker.submit(0, []), wait=True), Batch)


@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.name)
def test_pull_from_an_export_file_writes_what_the_whole_file_gives(
    path: Path, mapper: Mapper, tmp_path: Path
) -> None:
    """`pull --from-export` reads the file in chunks and writes as it goes: the same tables as
    the file read whole and converted at once."""
    from corpuskit.settings import Settings
    from corpuskit.studio.pull import convert_export_file, pull

    tables = convert_export_file(path, mapper)
    write_snapshot(tmp_path / "whole", tables.by_table(), {"project_id": None})
    result = pull(
        from_export=path, out=tmp_path / "streamed", taxonomy=TAXONOMY, settings=Settings(root=tmp_path)
    )
    tables_only = {
        name: data for name, data in _files(tmp_path / "streamed").items() if name.endswith(".jsonl")
    }
    assert tables_only == {n: d for n, d in _files(tmp_path / "whole").items() if n.endswith(".jsonl")}
    assert result.counts == {name: len(rows) for name, rows in tables.by_table().items()}
    assert result.problems == tables.problems


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the export is empty"),
        (b"  \n", "the export is empty"),
        (b"42", "a Label Studio export is a list of tasks or one task, not int"),
        (b'"tasks"', "a Label Studio export is a list of tasks or one task, not str"),
        (b'[{"id": 1, "annotations": [], "data": {"doc_id": "d"}}, {"id": 2', "not a valid JSON export"),
    ],
)
def test_an_export_file_that_is_no_export_names_the_file(body: bytes, message: str, tmp_path: Path) -> None:
    from corpuskit.settings import Settings
    from corpuskit.studio.pull import pull

    source = tmp_path / "export.json"
    source.write_bytes(body)
    out = tmp_path / "annotations"
    with pytest.raises(DataError, match=f"^{re.escape(str(source))}: {re.escape(message)}"):
        pull(from_export=source, out=out, taxonomy=TAXONOMY, settings=Settings(root=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.json"]  # nothing half-written
