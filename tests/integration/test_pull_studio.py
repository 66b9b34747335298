"""`corpuskit pull` against the real Label Studio: two annotators, cancelled, updated, ground truth, draft,
prediction and an unannotated task, through both export paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from corpuskit.errors import StudioError
from corpuskit.studio.pull import pull
from corpuskit.taxonomy import label_config, load_taxonomy, row_to_result

if TYPE_CHECKING:
    from corpuskit.studio.server import StudioServer

pytestmark = pytest.mark.studio

ROOT = Path(__file__).resolve().parents[2]
TEXT = 'Russia and North Korea signed a defence pact.\n\n"We need more air defence," Zelensky said.'
SHA = "ab" * 32


def _task(doc_id: str, text: str) -> dict[str, Any]:
    return {
        "data": {
            "doc_id": doc_id,
            "content_sha256": SHA,
            "taxonomy_version": "1.0.0",
            "title": f"Title of {doc_id}",
            "summary": None,
            "section": "Asia",
            "source": "AFP",
            "published_at": "2024-06-19",
            "modified_at": None,
            "text": text,
        },
        "meta": {"corpuskit_stale": False, "corpuskit_removed": False},
    }


@pytest.fixture(scope="session")
def studio_server(studio_server_any: StudioServer) -> StudioServer:
    """Every test here runs against Label Studio on SQLite and again on PostgreSQL."""
    return studio_server_any


@pytest.fixture(scope="module")
def project(studio_server: StudioServer) -> Iterator[dict[str, Any]]:
    from label_studio_sdk import LabelStudio

    with httpx.Client(timeout=60.0) as http:
        ls = LabelStudio(base_url=studio_server.url, api_key=studio_server.token, httpx_client=http)
        yield _make_project(ls, studio_server)


def _make_project(ls: Any, studio_server: StudioServer) -> dict[str, Any]:
    taxonomy = load_taxonomy(ROOT / "schema" / "taxonomy.yaml")
    created = ls.projects.create(title="pull test project", label_config=label_config(taxonomy))
    assert created.id is not None
    pid = created.id
    ls.projects.import_tasks(
        pid, request=[_task("doc-a", TEXT), _task("doc-b", TEXT), _task("doc-c", "Empty.")]
    )
    tasks = {t.data["doc_id"]: t.id for t in ls.tasks.list(project=pid)}
    ann = ls.users.create(email="ann@example.org", username="ann")
    bob = ls.users.create(email="bob@example.org", username="bob")
    start = TEXT.index('"We')
    full = {
        "stance": {"rnk_military_cooperation": "against", "ukraine_military_aid": "neutral"},
        "topics": ["military_cooperation", "war_in_ukraine"],
        "spans": [
            {"start": start, "end": start + 27, "target": "ukraine_military_aid", "speaker": "Zelensky"}
        ],
        "note": "hard call",
    }
    first = {
        "stance": {"rnk_military_cooperation": "favor", "ukraine_military_aid": "unrelated"},
        "topics": [],
    }
    a1 = ls.annotations.create(
        id=tasks["doc-a"], result=row_to_result(taxonomy, first, TEXT), completed_by=ann.id, lead_time=12.5
    )
    assert a1.id is not None
    ls.annotations.update(id=a1.id, result=row_to_result(taxonomy, full, TEXT))
    a2 = ls.annotations.create(id=tasks["doc-a"], result=[], completed_by=bob.id, was_cancelled=True)
    a3 = ls.annotations.create(
        id=tasks["doc-b"], result=row_to_result(taxonomy, first, TEXT), completed_by=bob.id, ground_truth=True
    )
    headers = {"Authorization": f"Token {studio_server.token}"}
    draft = httpx.post(
        f"{studio_server.url}/api/tasks/{tasks['doc-b']}/drafts",
        headers=headers,
        json={"result": row_to_result(taxonomy, {"stance": {"rnk_military_cooperation": "neutral"}}, TEXT)},
    )
    assert draft.status_code == 201, draft.text
    ls.predictions.create(
        task=tasks["doc-b"],
        result=row_to_result(taxonomy, first, TEXT),
        model_version="baseline-0.1",
        score=0.75,
    )
    return {
        "id": pid,
        "tasks": tasks,
        "users": {"ann": ann.id, "bob": bob.id},
        "annotations": {"full": a1.id, "cancelled": a2.id, "ground_truth": a3.id},
        "draft": draft.json()["id"],
    }


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("method", ["export", "snapshot"])
def test_pull_checks_every_field(
    studio_server: StudioServer, project: dict[str, Any], tmp_path: Path, method: str
) -> None:
    out = tmp_path / "annotations"
    result = pull(
        project=project["id"], out=out, url=studio_server.url, token=studio_server.token, method=method
    )
    # The plain export endpoint gives predictions as bare ids: kept, and reported.
    id_only = method == "export"
    assert result.summary() | {"folder": None} == {
        "folder": None,
        "changed": True,
        "unchanged_since": None,
        "tasks": 3,
        "annotations": 3,
        "annotators": 2,
        "cancelled": 1,
        "ground_truth": 1,
        "drafts": 1,
        "predictions": 1,
        "problems": 1 if id_only else 0,
        # A project corpuskit did not create has no record of what annotators saw: said, not guessed.
        "prelabels": {"hidden": 0, "shown": 0, "unknown": 3},
    }, result.problems
    rows = [json.loads(line) for line in (out / "annotations.jsonl").read_text(encoding="utf-8").splitlines()]
    ids, users, tasks = project["annotations"], project["users"], project["tasks"]
    start = TEXT.index('"We')
    common = {"content_sha256": SHA, "taxonomy_version": "1.0.0", "original": None}
    expected = [
        {
            **common,
            "document_id": "doc-a",
            "task_id": tasks["doc-a"],
            "annotation_id": ids["full"],
            "annotator": {"id": users["ann"], "email": "ann@example.org"},
            "stance": {"rnk_military_cooperation": "against", "ukraine_military_aid": "neutral"},
            "topics": ["military_cooperation", "war_in_ukraine"],
            "spans": [
                {
                    "start": start,
                    "end": start + 27,
                    "text": '"We need more air defence,"',
                    "target": "ukraine_military_aid",
                    "speaker": "Zelensky",
                }
            ],
            "note": "hard call",
            "lead_time": 12.5,
            "was_cancelled": False,
            "ground_truth": False,
        },
        {
            **common,
            "document_id": "doc-a",
            "task_id": tasks["doc-a"],
            "annotation_id": ids["cancelled"],
            "annotator": {"id": users["bob"], "email": "bob@example.org"},
            "stance": {"rnk_military_cooperation": None, "ukraine_military_aid": None},
            "topics": [],
            "spans": [],
            "note": None,
            "lead_time": None,
            "was_cancelled": True,
            "ground_truth": False,
        },
        {
            **common,
            "document_id": "doc-b",
            "task_id": tasks["doc-b"],
            "annotation_id": ids["ground_truth"],
            "annotator": {"id": users["bob"], "email": "bob@example.org"},
            "stance": {"rnk_military_cooperation": "favor", "ukraine_military_aid": "unrelated"},
            "topics": [],
            "spans": [],
            "note": None,
            "lead_time": None,
            "was_cancelled": False,
            "ground_truth": True,
        },
    ]
    assert {row["prelabels"] for row in rows} == {"unknown"}
    for row, want in zip(rows, expected, strict=True):
        assert {k: row[k] for k in want} == want
        assert row["created_at"].endswith("Z") and row["updated_at"] >= row["created_at"]
        assert isinstance(row["result"], list) and isinstance(row["extra"], dict)
    assert rows[0]["updated_at"] > rows[0]["created_at"]  # the update is seen
    (draft,) = [json.loads(line) for line in (out / "drafts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert (draft["draft_id"], draft["document_id"], draft["stance"]["rnk_military_cooperation"]) == (
        project["draft"],
        "doc-b",
        "neutral",
    )
    (prediction,) = [
        json.loads(x) for x in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert (prediction["document_id"], prediction["model_version"], prediction["score"]) == (
        ("doc-b", None, None) if id_only else ("doc-b", "baseline-0.1", 0.75)
    )
    tasks_rows = [json.loads(x) for x in (out / "tasks.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [t["document_id"] for t in tasks_rows] == ["doc-a", "doc-b", "doc-c"]
    meta = json.loads((out / "snapshot.json").read_text(encoding="utf-8"))
    assert (meta["project_id"], meta["project_title"], meta["server"]) == (
        project["id"],
        "pull test project",
        studio_server.url,
    )
    assert studio_server.token not in "".join(p.read_text(encoding="utf-8") for p in out.iterdir())

    before = _files(out)
    again = pull(
        project=project["id"], out=out, url=studio_server.url, token=studio_server.token, method=method
    )
    assert again.changed is False
    assert _files(out) == before


def test_both_export_paths_give_the_same_tables(
    studio_server: StudioServer, project: dict[str, Any], tmp_path: Path
) -> None:
    for method in ("export", "snapshot"):
        pull(
            project=project["id"],
            out=tmp_path / method,
            url=studio_server.url,
            token=studio_server.token,
            method=method,
        )
    a, b = _files(tmp_path / "export"), _files(tmp_path / "snapshot")
    assert a["tasks.jsonl"] == b["tasks.jsonl"]

    def core(data: bytes) -> list[dict[str, Any]]:
        # `extra` differs by design: the export endpoint names annotators by id, the snapshot in full.
        return [{k: v for k, v in json.loads(x).items() if k != "extra"} for x in data.splitlines()]

    assert core(a["annotations.jsonl"]) == core(b["annotations.jsonl"])


@pytest.mark.parametrize("method", ["export", "snapshot"])
def test_a_pull_with_its_conversion_worker_writes_the_same_tables(
    studio_server: StudioServer,
    project: dict[str, Any],
    tmp_path: Path,
    method: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A project this small is converted in pull's own process. With the worker's threshold at
    nothing and one task per batch, the worker converts batches too, and every table is byte for
    byte the same."""
    from corpuskit.studio import pull as pull_module
    from corpuskit.studio import pull_worker

    def pulled(folder: Path) -> dict[str, bytes]:
        pull(
            project=project["id"], out=folder, url=studio_server.url, token=studio_server.token, method=method
        )
        return {name: data for name, data in _files(folder).items() if name.endswith(".jsonl")}

    alone = pulled(tmp_path / "alone")
    handed: list[int] = []
    workers: list[pull_worker.ConvertWorker] = []

    class Counted(pull_worker.ConvertWorker):
        def __init__(self, setup: pull_worker.Setup) -> None:
            super().__init__(setup)
            workers.append(self)

        def submit(self, start: int, items: list[Any]) -> int:
            handed.append(len(items))
            return super().submit(start, items)

    monkeypatch.setattr(pull_worker, "ConvertWorker", Counted)
    monkeypatch.setattr(pull_worker, "MIN_TASKS", 0)
    monkeypatch.setattr(pull_worker, "cores", lambda: 2)
    monkeypatch.setattr(pull_module, "BATCH_TASKS", 1)
    assert pulled(tmp_path / "with-worker") == alone
    assert len(workers) == 1 and handed, "the worker took no batch"
    assert workers[0].failure is None
    assert workers[0].process.returncode == 0  # stopped when the pull ended


def test_wrong_token_and_project_are_one_line_errors(studio_server: StudioServer, tmp_path: Path) -> None:
    with pytest.raises(StudioError, match="refused the API token"):
        pull(project=1, out=tmp_path / "a", url=studio_server.url, token="0" * 40)
    with pytest.raises(StudioError, match="has no project 999999"):
        pull(project=999999, out=tmp_path / "a", url=studio_server.url, token=studio_server.token)
    assert not (tmp_path / "a").exists()


def test_pull_finds_the_project_push_created_by_its_title(
    studio_server: StudioServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The taxonomy's title is longer than Label Studio's 50 characters: push shortens it, and pull,
    given no project id, must look for the same shortened title."""
    import shutil

    from corpuskit.settings import load_settings
    from corpuskit.studio.push import push

    repo = Path(__file__).resolve().parents[2]
    root = tmp_path / "corpus"
    shutil.copytree(repo / "schema", root / "schema")
    shutil.copytree(repo / "raw", root / "raw")
    (root / "docs").mkdir()
    shutil.copy(repo / "docs" / "annotation-guidelines.md", root / "docs")
    (root / "pyproject.toml").write_text(
        f"[tool.corpuskit]\nstudio_dir = {json.dumps(str(studio_server.data_dir))}\n", encoding="utf-8"
    )
    monkeypatch.setenv("LABEL_STUDIO_URL", studio_server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", studio_server.token)
    settings = load_settings(root)
    assert len(load_taxonomy(root / "schema" / "taxonomy.yaml").title) > 50
    pushed = push(settings=settings, progress=False)
    pulled = pull(settings=settings)
    assert pulled.meta["project_id"] == pushed.project_id
    assert pulled.counts["tasks"] == 2


def test_an_unchanged_project_is_not_exported_again_and_every_change_is_seen(
    studio_server: StudioServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-pull of an unchanged project says since when, without an export; an annotation updated
    in place, a deleted annotation, a new or edited draft, a prediction and a damaged snapshot
    folder each make the next pull export again."""
    import time

    from label_studio_sdk import LabelStudio

    from corpuskit.settings import Settings
    from corpuskit.studio.gateway import ExportsAPI

    taxonomy = load_taxonomy(ROOT / "schema" / "taxonomy.yaml")
    settings = Settings(root=tmp_path)
    out = tmp_path / "annotations"
    exports: list[int] = []
    real_read = ExportsAPI.read

    def counted(self: ExportsAPI, project_id: int, *args: Any, **kwargs: Any) -> Any:
        exports.append(project_id)
        return real_read(self, project_id, *args, **kwargs)

    monkeypatch.setattr(ExportsAPI, "read", counted)
    headers = {"Authorization": f"Token {studio_server.token}"}
    with httpx.Client(timeout=60.0, base_url=studio_server.url, headers=headers) as http:
        ls = LabelStudio(base_url=studio_server.url, api_key=studio_server.token, httpx_client=http)
        pid = ls.projects.create(title="pull unchanged", label_config=label_config(taxonomy)).id
        assert pid is not None
        ls.projects.import_tasks(pid, request=[_task("doc-a", TEXT), _task("doc-b", TEXT)])
        tasks = {t.data["doc_id"]: t.id for t in ls.tasks.list(project=pid)}
        stamp = time.time_ns()
        carol = ls.users.create(email=f"carol-{stamp}@example.org", username=f"carol-{stamp}")
        first = {
            "stance": {"rnk_military_cooperation": "favor", "ukraine_military_aid": "unrelated"},
            "topics": [],
        }
        other = {
            "stance": {"rnk_military_cooperation": "against", "ukraine_military_aid": "neutral"},
            "topics": [],
        }
        made = ls.annotations.create(
            id=tasks["doc-a"], result=row_to_result(taxonomy, first, TEXT), completed_by=carol.id
        )
        assert made.id is not None

        def again() -> Any:
            return pull(
                project=pid,
                out=out,
                url=studio_server.url,
                token=studio_server.token,
                settings=settings,
                taxonomy=taxonomy,
            )

        def assert_exported(result: Any) -> None:
            assert result.unchanged_since is None and exports[-1] == pid and len(exports) == count + 1

        count = 0
        written = again()
        assert written.changed and written.unchanged_since is None and exports == [pid]
        files = _files(out)

        count = len(exports)
        same = again()
        assert len(exports) == count, "an unchanged project was exported"
        assert same.unchanged_since == written.meta["exported_at"] and not same.changed
        assert same.summary() | {"unchanged_since": None} == written.summary() | {"changed": False}
        assert _files(out) == files

        # An annotation updated in place: the same counts, a moved task.
        ls.annotations.update(id=made.id, result=row_to_result(taxonomy, other, TEXT))
        count = len(exports)
        updated = again()
        assert_exported(updated)
        assert updated.changed and _files(out)["annotations.jsonl"] != files["annotations.jsonl"]
        count = len(exports)
        assert again().unchanged_since is not None and len(exports) == count

        # A new draft moves nothing of its task; an edited draft neither.
        posted = http.post(
            f"/api/tasks/{tasks['doc-b']}/drafts",
            json={
                "result": row_to_result(taxonomy, {"stance": {"rnk_military_cooperation": "neutral"}}, TEXT)
            },
        )
        assert posted.status_code == 201, posted.text
        count = len(exports)
        drafted = again()
        assert_exported(drafted)
        assert drafted.counts["drafts"] == 1
        time.sleep(0.01)
        patched = http.patch(
            f"/api/drafts/{posted.json()['id']}",
            json={"result": row_to_result(taxonomy, {"stance": {"rnk_military_cooperation": "favor"}}, TEXT)},
        )
        assert patched.status_code == 200, patched.text
        count = len(exports)
        assert_exported(again())

        # A deleted annotation.
        ls.annotations.delete(id=made.id)
        count = len(exports)
        deleted = again()
        assert_exported(deleted)
        assert deleted.counts["annotations"] == 0

        # A prediction.
        ls.predictions.create(
            task=tasks["doc-a"], result=row_to_result(taxonomy, first, TEXT), model_version="m-1", score=0.5
        )
        count = len(exports)
        predicted = again()
        assert_exported(predicted)
        assert predicted.counts["predictions"] == 1

        # A table edited on disk is no snapshot to keep: exported and written again.
        count = len(exports)
        assert again().unchanged_since is not None and len(exports) == count
        (out / "tasks.jsonl").write_text("", encoding="utf-8")
        repaired = again()
        assert_exported(repaired)
        assert repaired.changed
