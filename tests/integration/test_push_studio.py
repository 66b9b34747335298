"""`corpuskit push` against the real Label Studio of the test session.

Each test works in its own copy of the corpus with its own project title, so tests do not see
each other's tasks on the shared server.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from corpuskit.settings import Settings, load_settings
from corpuskit.studio.client import StudioClient
from corpuskit.studio.gateway import Gateway
from corpuskit.studio.push import STALE, push, read_tasks, task_data
from corpuskit.studio.server import StudioServer, free_port
from corpuskit.taxonomy import guidelines_html, label_config, load_taxonomy, row_to_result
from corpuskit.validation.api import iter_valid_documents

REPO = Path(__file__).resolve().parents[2]
CORPUSKIT = str(Path(sys.executable).parent / "corpuskit")

pytestmark = pytest.mark.studio


def make_corpus(root: Path, title: str, studio_dir: Path, *, seeds: bool = True) -> Path:
    """A corpus folder: the repository's schema, taxonomy and guidelines, the seeds from raw/."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "schema", root / "schema")
    (root / "docs").mkdir()
    shutil.copy(REPO / "docs" / "annotation-guidelines.md", root / "docs" / "annotation-guidelines.md")
    if seeds:
        shutil.copytree(REPO / "raw", root / "raw")
    else:
        (root / "raw").mkdir()
    (root / "pyproject.toml").write_text(
        "[tool.corpuskit]\n"
        'raw = "raw"\n'
        f"project_title = {json.dumps(title)}\n"
        f"studio_dir = {json.dumps(str(studio_dir))}\n",
        encoding="utf-8",
    )
    return root


def generate_jsonl(path: Path, count: int, seed: int = 7) -> list[str]:
    """`count` distinct generated documents (random words: no near-duplicates) as one JSONL file."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(5000)]
    ids = []
    with open(path, "w", encoding="utf-8") as out:
        for i in range(count):
            doc_id = f"gen-{i:05d}"
            ids.append(doc_id)
            text = " ".join(rng.choice(words) for _ in range(120))
            record = {
                "id": doc_id,
                "title": f"Generated story {i}",
                "paragraphs": [{"heading": None, "text": text}],
            }
            out.write(json.dumps(record) + "\n")
    return ids


@pytest.fixture(scope="session")
def studio_server(studio_server_any: StudioServer) -> StudioServer:
    """Every test here runs against Label Studio on SQLite and again on PostgreSQL."""
    return studio_server_any


@pytest.fixture
def corpus(tmp_path: Path, studio_server: StudioServer, request: pytest.FixtureRequest) -> Path:
    return make_corpus(tmp_path / "corpus", f"push {request.node.name}"[:50], studio_server.data_dir)


@pytest.fixture(autouse=True)
def _no_remote_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)


def settings_of(root: Path) -> Settings:
    return load_settings(root)


@pytest.fixture
def client(studio_server: StudioServer) -> Iterator[StudioClient]:
    from corpuskit.studio.client import Connection

    with StudioClient(Connection(studio_server.url, studio_server.token)) as opened:
        yield opened


def tasks_by_doc(client: StudioClient, project_id: int) -> dict[str, Any]:
    tasks = read_tasks(client, project_id)
    by_doc: dict[str, Any] = {}
    for task in tasks:
        assert task.doc_id not in by_doc, f"two tasks for {task.doc_id}"
        by_doc[str(task.doc_id)] = task
    return by_doc


@contextmanager
def requests_sent(client: StudioClient) -> Iterator[list[tuple[str, str]]]:
    """(method, path) of every request `client` sends inside the block."""
    sent: list[tuple[str, str]] = []

    def note(request: Any) -> None:
        sent.append((request.method, request.url.path))

    client.http.event_hooks["request"].append(note)
    try:
        yield sent
    finally:
        client.http.event_hooks["request"].remove(note)


def edit_first_paragraph(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def annotate(client: StudioClient, task_id: int, text: str) -> int:
    taxonomy = load_taxonomy(REPO / "schema" / "taxonomy.yaml")
    row = {
        "stance": {target: taxonomy.stance_value_ids[0] for target in taxonomy.target_ids},
        "topics": [taxonomy.topic_ids[0]],
    }
    made = client.sdk.annotations.create(id=task_id, result=row_to_result(taxonomy, row, text))
    return int(made.id)


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    full_env.update(env or {})
    return subprocess.run(
        [CORPUSKIT, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


def test_push_seeds_then_again_creates_nothing(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    settings = settings_of(corpus)
    taxonomy = load_taxonomy(corpus / "schema" / "taxonomy.yaml")
    first = push(settings=settings)
    documents = list(iter_valid_documents(settings=settings))
    assert len(documents) == 2
    assert first.project_created and first.created == 2
    assert first.plan.counts()["new"] == 2
    project_id = first.project_id
    assert project_id is not None

    project = Gateway(client).projects.get(project_id)
    assert project["title"] == settings.project_title
    assert project["label_config"].strip() == label_config(taxonomy).strip()
    assert (
        project["expert_instruction"].strip()
        == guidelines_html(taxonomy, corpus / "docs" / "annotation-guidelines.md").strip()
    )

    tasks = tasks_by_doc(client, project_id)
    assert sorted(tasks) == sorted(doc["id"] for doc in documents)
    for doc in documents:
        task = tasks[doc["id"]]
        assert task.data == task_data(doc, taxonomy.version)
        assert task.meta == {"corpuskit_stale": False, "corpuskit_removed": False}

    second = push(settings=settings)
    assert second.project_id == project_id and not second.project_created and not second.config_updated
    assert second.plan.counts() == {
        "new": 0,
        "changed": 0,
        "stale": 0,
        "unchanged": 2,
        "removed": 0,
        "duplicates": 0,
        "copies": 0,
        "left_out": 0,
    }
    assert (second.created, second.updated, second.marked) == (0, 0, 0)
    assert {d: t.id for d, t in tasks_by_doc(client, project_id).items()} == {
        d: t.id for d, t in tasks.items()
    }


def test_changes_update_unannotated_and_mark_annotated_as_stale(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    settings = settings_of(corpus)
    project_id = push(settings=settings).project_id
    assert project_id is not None
    before = tasks_by_doc(client, project_id)
    edited, annotated = sorted(before)
    annotation_id = annotate(client, before[annotated].id, before[annotated].data["text"])
    ls = client.sdk
    result_before = ls.annotations.get(annotation_id).result

    edit_first_paragraph(corpus / "raw" / f"{edited}.txt", "South Korea", "The Republic of Korea")
    edit_first_paragraph(corpus / "raw" / f"{annotated}.txt", "a", "A")
    annotated_state = tasks_by_doc(client, project_id)
    dry = push(settings=settings, dry_run=True)
    assert (dry.plan.counts()["changed"], dry.plan.counts()["stale"]) == (1, 1)
    assert tasks_by_doc(client, project_id) == annotated_state  # a dry run changes nothing

    result = push(settings=settings)
    assert [doc for _, doc in result.plan.stale] == [annotated]
    assert [task_id for task_id, _ in result.plan.changed] == [before[edited].id]
    assert result.summary()["stale"] == [annotated]
    after = tasks_by_doc(client, project_id)
    new_docs = {d["id"]: d for d in iter_valid_documents(settings=settings)}
    assert after[edited].id == before[edited].id  # updated in place
    assert after[edited].data == task_data(
        new_docs[edited], load_taxonomy(corpus / "schema" / "taxonomy.yaml").version
    )
    assert after[edited].data["content_sha256"] != before[edited].data["content_sha256"]
    assert "The Republic of Korea" in json.dumps(after[edited].data, ensure_ascii=False)
    assert after[edited].meta[STALE] is False
    # The annotated task keeps the text its annotation was made on, and says it is stale.
    assert after[annotated].data == before[annotated].data
    assert after[annotated].meta[STALE] is True
    assert ls.annotations.get(annotation_id).result == result_before

    again = push(settings=settings)
    assert again.plan.counts()["stale"] == 1 and (again.updated, again.marked) == (0, 0)


def test_display_key_added_to_tasks_pushed_before_it_without_a_stale_mark(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    settings = settings_of(corpus)
    version = load_taxonomy(corpus / "schema" / "taxonomy.yaml").version
    documents = {d["id"]: d for d in iter_valid_documents(settings=settings)}
    project_id = push(settings=settings).project_id
    assert project_id is not None
    before = tasks_by_doc(client, project_id)
    for doc_id, task in before.items():
        assert task.data["source_name"] == documents[doc_id]["source"] == task.data["source"]
        # What a push made before `source_name` existed left on the server.
        old = {k: v for k, v in task.data.items() if k != "source_name"}
        client.request("PATCH", f"/api/tasks/{task.id}", json={"data": old}, what="rewind")
    annotated, _plain = sorted(before)  # the first seed names its source (AFP)
    annotation_id = annotate(client, before[annotated].id, before[annotated].data["text"])
    result_before = client.sdk.annotations.get(annotation_id).result

    result = push(settings=settings)
    assert result.plan.counts()["changed"] == 2 and result.plan.counts()["stale"] == 0
    assert result.updated == 2
    after = tasks_by_doc(client, project_id)
    for doc_id, task in after.items():
        assert task.id == before[doc_id].id
        assert task.data == task_data(documents[doc_id], version)
        assert task.meta[STALE] is False
    assert client.sdk.annotations.get(annotation_id).result == result_before

    # A display field of an annotated task follows the document; its text and taxonomy version don't.
    raw = corpus / "raw" / f"{annotated}.txt"
    source = documents[annotated]["source"]
    edit_first_paragraph(raw, f"- {source}\n", "- Reuters\n")
    moved = push(settings=settings)
    assert [t for t, _ in moved.plan.changed] == [before[annotated].id] and not moved.plan.stale
    shown = tasks_by_doc(client, project_id)[annotated]
    assert (shown.data["source"], shown.data["source_name"]) == ("Reuters", "Reuters")
    assert shown.data["content_sha256"] == before[annotated].data["content_sha256"]
    assert shown.meta[STALE] is False

    again = push(settings=settings)
    assert again.plan.counts()["unchanged"] == 2 and (again.updated, again.marked) == (0, 0)


def test_removed_documents_are_reported_not_deleted(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    settings = settings_of(corpus)
    project_id = push(settings=settings).project_id
    assert project_id is not None
    gone = sorted(tasks_by_doc(client, project_id))[0]
    (corpus / "raw" / f"{gone}.txt").unlink()

    result = push(settings=settings)
    assert result.summary()["removed"] == [gone]
    tasks = tasks_by_doc(client, project_id)
    assert gone in tasks and tasks[gone].meta["corpuskit_removed"] is True

    deleting = push(settings=settings, delete_removed=True)
    assert deleting.deleted == 1
    assert gone not in tasks_by_doc(client, project_id)


def test_predictions_import_once_with_model_version(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    settings = settings_of(corpus)
    taxonomy = load_taxonomy(corpus / "schema" / "taxonomy.yaml")
    doc_ids = sorted(d["id"] for d in iter_valid_documents(settings=settings))
    stance = {target: taxonomy.stance_value_ids[-1] for target in taxonomy.target_ids}
    path = corpus / "predictions.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    "document_id": d,
                    "model_version": "baseline-1",
                    "stance": stance,
                    "topics": [],
                    "score": 0.5,
                }
            )
            for d in [*doc_ids, "not-in-corpus"]
        )
        + "\n",
        encoding="utf-8",
    )
    first = push(settings=settings, predictions=path)
    assert first.predictions == 2 and first.predictions_skipped == ["not-in-corpus"]
    assert first.project_id is not None
    ls = client.sdk
    task_ids = [t.id for t in tasks_by_doc(client, first.project_id).values()]
    for task_id in task_ids:
        predictions = list(ls.predictions.list(task=task_id))
        assert [p.model_version for p in predictions] == ["baseline-1"]
        choices = {r["from_name"]: r["value"]["choices"] for r in predictions[0].result}
        assert choices == {f"stance_{t}": [v] for t, v in stance.items()}

    again = push(settings=settings, predictions=path)
    assert again.predictions == 0
    assert all(len(list(ls.predictions.list(task=t))) == 1 for t in task_ids)


def test_killed_push_finishes_on_rerun(
    tmp_path: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    root = make_corpus(tmp_path / "big", "push interrupted", studio_server.data_dir, seeds=False)
    ids = generate_jsonl(root / "raw" / "generated.jsonl", 300)
    process = subprocess.Popen(
        [CORPUSKIT, "push", "--batch-size", "20", "--quiet"],
        cwd=root,
        env={k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    project_id = None
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            found = Gateway(client).projects.find("push interrupted")
            if found:
                project_id = int(found[0]["id"])
                if len(read_tasks(client, project_id)) >= 20:
                    break
            time.sleep(0.05)
        assert process.poll() is None, "the push finished before it could be interrupted"
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert project_id is not None
    # An import request the push had sent before it was killed still completes on the server:
    # count the tasks once that count has settled.
    partial, settled_at = len(read_tasks(client, project_id)), time.monotonic()
    while time.monotonic() - settled_at < 2 and time.monotonic() < deadline + 30:
        time.sleep(0.25)
        now = len(read_tasks(client, project_id))
        if now != partial:
            partial, settled_at = now, time.monotonic()
    assert 20 <= partial < 300

    rerun = run_cli(["push", "--quiet", "--format", "json"], cwd=root)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["plan"]["unchanged"] == partial and summary["applied"]["created"] == 300 - partial
    assert sorted(tasks_by_doc(client, project_id)) == ids
    # The completed re-run left a record: the next push plans from it and finds nothing to do.
    third = push(settings=settings_of(root))
    assert (third.plan_source, third.corpus_unchanged) == ("local", True)
    assert third.plan.counts()["unchanged"] == 300 and third.created == 0


def state_files(root: Path) -> list[Path]:
    return sorted((root / ".corpuskit" / "push-state").glob("*.json"))


def test_repush_plans_from_the_local_record_and_dry_run_writes_none(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    settings = settings_of(corpus)
    dry = push(settings=settings, dry_run=True)
    assert dry.plan.counts()["new"] == 2 and state_files(corpus) == []
    first = push(settings=settings)
    assert (first.plan_source, first.corpus_unchanged) == ("server", False)
    [record] = state_files(corpus)
    text = record.read_text(encoding="utf-8")
    assert studio_server.token not in text and studio_server.password not in text
    assert f"-{first.project_id}.json" in record.name

    second = push(settings=settings)
    assert (second.plan_source, second.corpus_unchanged) == ("local", True)
    assert second.plan.counts()["unchanged"] == 2 and (second.created, second.updated, second.marked) == (
        0,
        0,
        0,
    )
    assert second.documents == first.documents and second.summary()["plan_source"] == "local"

    # A changed document: validated again, only its own task is asked for, updated in place.
    edit_first_paragraph(corpus / "raw" / "004_3652e1919fe20c5e.txt", "Yoon", "President Yoon")
    before = record.read_bytes()
    dry_changed = push(settings=settings, dry_run=True)
    assert dry_changed.plan.counts()["changed"] == 1 and record.read_bytes() == before
    third = push(settings=settings)
    assert (third.plan_source, third.corpus_unchanged) == ("local", False)
    assert (third.plan.counts()["changed"], third.plan.counts()["unchanged"], third.updated) == (1, 1, 1)
    assert push(settings=settings).corpus_unchanged

    # A record that cannot be read is no record: the whole project is read, nothing is doubled.
    record.write_text("{not json", encoding="utf-8")
    fourth = push(settings=settings)
    assert fourth.plan_source == "server" and fourth.plan.counts()["unchanged"] == 2
    assert len(tasks_by_doc(client, first.project_id or 0)) == 2


def test_tasks_changed_behind_corpuskit_are_seen(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    settings = settings_of(corpus)
    version = load_taxonomy(corpus / "schema" / "taxonomy.yaml").version
    project_id = push(settings=settings).project_id
    assert project_id is not None
    tasks = tasks_by_doc(client, project_id)
    edited, gone = sorted(tasks)

    # Text edited in Label Studio: the task is among those changed since the last push.
    data = {**tasks[edited].data, "text": "edited in Label Studio"}
    client.request("PATCH", f"/api/tasks/{tasks[edited].id}", json={"data": data}, what="edit")
    restored = push(settings=settings)
    assert restored.plan_source == "local" and not restored.corpus_unchanged
    assert [task_id for task_id, _ in restored.plan.changed] == [tasks[edited].id]
    documents = {d["id"]: d for d in iter_valid_documents(settings=settings)}
    assert tasks_by_doc(client, project_id)[edited].data == task_data(documents[edited], version)

    # An exact, unannotated copy of a task (what an import the server finished after the client
    # gave up leaves behind): seen among the changed tasks, read with its annotations, deleted.
    client.request(
        "POST",
        f"/api/projects/{project_id}/import",
        json=[{"data": tasks[gone].data}],
        what="add a task",
    )
    doubled = push(settings=settings)
    assert doubled.plan_source == "local" and doubled.summary()["duplicates"] == []
    assert [doc for doc, _ in doubled.plan.copies] == [gone] and doubled.deduplicated == 1
    assert doubled.created == 0
    assert [t.id for t in read_tasks(client, project_id) if t.doc_id == gone] == [tasks[gone].id]

    # A copy that holds work is never deleted: it is reported as a duplicate.
    client.request(
        "POST",
        f"/api/projects/{project_id}/import",
        json=[{"data": tasks[gone].data, "annotations": [{"result": [], "was_cancelled": True}]}],
        what="add an annotated task",
    )
    kept = push(settings=settings)
    assert kept.summary()["duplicates"] == [gone] and kept.deduplicated == 0
    assert len([t for t in read_tasks(client, project_id) if t.doc_id == gone]) == 2

    # A deleted task leaves nothing to query: the count differs, the whole project is read.
    for task in read_tasks(client, project_id):
        if task.doc_id == gone:
            client.request("DELETE", f"/api/tasks/{task.id}", what="delete a task")
    refilled = push(settings=settings)
    assert refilled.plan_source == "server" and refilled.created == 1
    assert sorted(tasks_by_doc(client, project_id)) == sorted(documents)
    again = push(settings=settings)
    assert (again.plan_source, again.corpus_unchanged, again.created) == ("local", True, 0)


def test_a_task_deleted_and_another_added_by_hand_is_seen(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    settings = settings_of(corpus)
    project_id = push(settings=settings).project_id
    assert project_id is not None
    tasks = tasks_by_doc(client, project_id)
    gone = sorted(tasks)[0]
    # As many tasks as the record counts, but not the same ones: the latest change moved.
    client.request("DELETE", f"/api/tasks/{tasks[gone].id}", what="delete a task")
    client.request(
        "POST", f"/api/projects/{project_id}/import", json=[{"data": {"text": "by hand"}}], what="add a task"
    )
    refilled = push(settings=settings)
    assert refilled.plan_source == "server" and refilled.created == 1
    assert sorted(str(t.doc_id) for t in read_tasks(client, project_id) if t.doc_id) == sorted(tasks)
    again = push(settings=settings)
    assert (again.plan_source, again.corpus_unchanged, again.created) == ("local", True, 0)

    # An annotation on a settled task changes nothing the plan depends on; the push after it
    # reads no task at all.
    kept = tasks[sorted(tasks)[1]]
    annotate(client, kept.id, kept.data["text"])
    annotated = push(settings=settings)
    assert (annotated.plan_source, annotated.corpus_unchanged, annotated.created) == ("local", True, 0)
    with requests_sent(client) as sent:
        quiet = push(settings=settings, client=client)
    assert (quiet.plan_source, quiet.corpus_unchanged, quiet.created) == ("local", True, 0)
    assert [path for _, path in sent] == ["/api/projects", "/api/tasks"]


def test_annotation_since_the_last_push_makes_a_changed_document_stale(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    settings = settings_of(corpus)
    project_id = push(settings=settings).project_id
    assert project_id is not None
    tasks = tasks_by_doc(client, project_id)
    annotated, other = sorted(tasks)
    annotate(client, tasks[annotated].id, tasks[annotated].data["text"])
    edit_first_paragraph(corpus / "raw" / f"{annotated}.txt", "a", "A")

    result = push(settings=settings)
    assert result.plan_source == "local"
    assert result.summary()["stale"] == [annotated] and result.plan.unchanged == [other]
    after = tasks_by_doc(client, project_id)
    assert after[annotated].meta[STALE] is True and after[annotated].data == tasks[annotated].data

    # Still stale on the next push, which plans from the record without validating.
    again = push(settings=settings)
    assert (again.plan_source, again.corpus_unchanged) == ("local", True)
    assert again.summary()["stale"] == [annotated] and (again.updated, again.marked) == (0, 0)


def _one_line_error(result: subprocess.CompletedProcess[str], *secrets: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("corpuskit: error: "), result.stderr
    for secret in secrets:
        assert secret not in result.stdout + result.stderr
    return lines[0]


def test_wrong_token_unreachable_server_and_wrong_project(corpus: Path, studio_server: StudioServer) -> None:
    wrong = "0123456789abcdef0123456789abcdef01234567"
    refused = run_cli(
        ["push"], corpus, {"LABEL_STUDIO_URL": studio_server.url, "LABEL_STUDIO_API_KEY": wrong}
    )
    assert "refused the API token" in _one_line_error(refused, wrong, studio_server.token)

    dead = f"http://127.0.0.1:{free_port()}"
    unreachable = run_cli(
        ["push"], corpus, {"LABEL_STUDIO_URL": dead, "LABEL_STUDIO_API_KEY": studio_server.token}
    )
    assert "cannot reach Label Studio" in _one_line_error(unreachable, studio_server.token)

    missing = run_cli(
        ["push", "--project", "999999"],
        corpus,
        {"LABEL_STUDIO_URL": studio_server.url, "LABEL_STUDIO_API_KEY": studio_server.token},
    )
    assert "no project 999999" in _one_line_error(missing, studio_server.token)


def test_cli_push_with_personal_access_token(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    pat = client.sdk.tokens.create().token
    env = {"LABEL_STUDIO_URL": studio_server.url, "LABEL_STUDIO_API_KEY": pat}
    status = run_cli(["studio", "status"], corpus, env)
    assert status.returncode == 0, status.stderr
    assert "personal access token is accepted" in status.stdout
    first = run_cli(["push", "--format", "json"], corpus, env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["applied"]["created"] == 2
    dry = run_cli(["push", "--dry-run"], corpus, env)
    assert dry.returncode == 0, dry.stderr
    assert "plan: 0 new, 0 changed, 0 stale, 2 unchanged, 0 removed" in dry.stdout
    for output in (status, first, dry):
        assert pat not in output.stdout + output.stderr


def test_plain_http_remote_url_warns(corpus: Path, studio_server: StudioServer) -> None:
    from corpuskit.studio.client import connection

    settings = dataclasses.replace(
        settings_of(corpus), label_studio_url="http://annotate.example.org", label_studio_api_key="x" * 40
    )
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        conn = connection(settings)
    assert "plain http" in err.getvalue() and "x" * 40 not in err.getvalue()
    assert not conn.embedded


def test_studio_cli_on_the_embedded_server(corpus: Path, studio_server: StudioServer) -> None:
    status = run_cli(["studio", "status", "--format", "json"], corpus)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {
        "url": studio_server.url,
        "embedded": True,
        "team": False,
        "token": "legacy",
        "user": studio_server.username,
    }
    assert studio_server.token not in status.stdout + status.stderr
    creds = run_cli(["studio", "credentials", "--format", "json"], corpus)
    assert json.loads(creds.stdout) == {
        "url": studio_server.url,
        "username": studio_server.username,
        "password": studio_server.password,
        "token": studio_server.token,
    }


def test_push_leaves_out_what_the_dedupe_record_leaves_out(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    from corpuskit.cli.push import render_text
    from corpuskit.validation.api import validate

    settings = settings_of(corpus)
    project_id = push(settings=settings).project_id
    assert project_id is not None
    original = sorted(tasks_by_doc(client, project_id))[0]
    annotation = annotate(client, tasks_by_doc(client, project_id)[original].id, "text")
    # A second copy of an article that is already pushed and annotated (it sorts after it).
    shutil.copy(corpus / "raw" / f"{original}.txt", corpus / "raw" / "zz-copy.txt")

    assert validate(settings=settings, cache=False, dedupe=True).ok
    record = [json.loads(line) for line in (corpus / "dedupe.jsonl").read_text().splitlines()]
    assert [(r["decision"], r["id"]) for r in record] == [("kept", original), ("left-out", "zz-copy")]
    result = push(settings=settings)
    summary = result.summary()
    assert summary["left_out"] == ["zz-copy"] and summary["left_out_in_project"] == []
    assert summary["plan"]["new"] == 0 and summary["removed"] == []
    assert "left out by the dedupe record, not pushed: zz-copy" in render_text(summary).splitlines()
    assert "zz-copy" not in tasks_by_doc(client, project_id)

    # The maintainer keeps the copy instead: it is pushed, the annotated task is left as it is.
    swapped = [{**r, "decision": "left-out" if r["decision"] == "kept" else "kept"} for r in record]
    (corpus / "dedupe.jsonl").write_text("".join(json.dumps(r) + "\n" for r in swapped), encoding="utf-8")
    result = push(settings=settings)
    summary = result.summary()
    assert summary["left_out"] == [original] and summary["left_out_in_project"] == [original]
    assert summary["plan"]["new"] == 1 and summary["removed"] == [] and summary["applied"]["deleted"] == 0
    tasks = tasks_by_doc(client, project_id)
    assert "zz-copy" in tasks
    assert not tasks[original].meta.get("corpuskit_removed") and tasks[original].annotated
    assert [a.id for a in client.sdk.annotations.list(id=tasks[original].id)] == [annotation]
    assert "already in the project, left as they are" in render_text(summary)
    # Nothing changed since: the next push replays the plan and still reports the left-out document.
    again = push(settings=settings).summary()
    assert again["left_out"] == [original] and again["plan"]["new"] == 0 and again["applied"]["marked"] == 0


def test_push_with_strip_sends_the_stripped_text_and_the_removed_lines(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    from corpuskit.documents.model import body_text

    shutil.copy(REPO / "tests" / "data" / "languages" / "furniture.txt", corpus / "raw" / "furniture.txt")
    with open(corpus / "pyproject.toml", "a", encoding="utf-8") as toml:
        toml.write("strip_boilerplate = true\n")
    settings = settings_of(corpus)
    project_id = push(settings=settings).project_id
    assert project_id is not None
    task = tasks_by_doc(client, project_id)["furniture"]
    (doc,) = [d for d in iter_valid_documents(settings=settings) if d["id"] == "furniture"]
    assert task.data["text"] == body_text(doc) and task.data["content_sha256"] == doc["content_sha256"]
    assert "Advertisement" not in task.data["text"]
    assert [(r["line"], r["text"]) for r in task.data["removed_lines"]] == [
        (6, "Advertisement"),
        (7, "Scroll down for video"),
        (9, "Share this article"),
    ]
    # The other documents strip nothing: their tasks carry no such key.
    assert all(
        "removed_lines" not in t.data
        for name, t in tasks_by_doc(client, project_id).items()
        if name != "furniture"
    )
    # Pushing without stripping (the flag off, the setting overridden) puts the lines back in the text.
    again = push(settings=settings, strip=False)
    assert again.summary()["plan"]["changed"] == 1
    assert "Advertisement" in tasks_by_doc(client, project_id)["furniture"].data["text"]


def test_a_first_push_stopped_while_validating_takes_back_what_it_imported(
    tmp_path: Path, studio_server: StudioServer, client: StudioClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first push imports while validation still reads the corpus; stopped on this side before
    the end (an interrupt in the middle of the corpus, after a batch reached the server), it
    leaves nothing new: the project it created is gone, an existing empty project is emptied
    again, no record is written; the next push then imports every document once."""
    import threading

    from corpuskit.validation import semantic

    title = "push stopped midway"
    root = make_corpus(tmp_path / "stopped", title, studio_server.data_dir, seeds=False)
    ids = generate_jsonl(root / "raw" / "generated.jsonl", 60)
    settings = settings_of(root)
    imported = threading.Event()
    real = semantic.check_document
    calls = 0

    def stop_midway(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 50:
            assert imported.wait(120), "no batch reached the server before the interrupt"
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    def on_batch(created: int) -> None:
        if created >= 10:
            imported.set()

    monkeypatch.setattr(semantic, "check_document", stop_midway)
    with pytest.raises(KeyboardInterrupt):
        push(settings=settings, batch_size=10, on_batch=on_batch, progress=False)
    assert Gateway(client).projects.find(title) == []
    assert state_files(root) == []

    taxonomy = load_taxonomy(root / "schema" / "taxonomy.yaml")
    project_id = int(client.sdk.projects.create(title=title, label_config=label_config(taxonomy)).id)
    calls = 0
    imported.clear()
    with pytest.raises(KeyboardInterrupt):
        push(settings=settings, batch_size=10, on_batch=on_batch, progress=False)
    assert [int(p["id"]) for p in Gateway(client).projects.find(title)] == [project_id]
    assert read_tasks(client, project_id) == []
    assert state_files(root) == []

    monkeypatch.undo()
    done = push(settings=settings, batch_size=10, progress=False)
    assert done.project_id == project_id and done.created == 60
    assert sorted(tasks_by_doc(client, project_id)) == ids
    assert push(settings=settings).corpus_unchanged


def test_a_new_project_is_made_in_one_request_with_its_history(
    corpus: Path, studio_server: StudioServer, client: StudioClient
) -> None:
    from corpuskit.studio import loop

    settings = settings_of(corpus)
    with requests_sent(client) as sent:
        first = push(settings=settings, client=client)
    assert first.project_created and first.project_id is not None
    project = f"/api/projects/{first.project_id}"
    # Created with its settings and history at once; its creation time came with the answer.
    assert [call for call in sent if not call[1].startswith(f"{project}/import")] == [
        ("GET", "/api/projects"),
        ("POST", "/api/projects/"),
        ("GET", "/api/tasks"),
    ]
    info = Gateway(client).projects.get(first.project_id, fields=loop.FIELDS + ",created_at")
    (event,) = loop.history(None, studio_server.url, info)
    assert (event.by, event.state) == ("push", loop.LoopState.of_project(info))
    assert loop.history(settings.root, studio_server.url, {"id": first.project_id}) == [event]
    # The record holds the project's creation time as the server reads it back: the re-push in a
    # new process takes the unchanged path, also when it names the same server through the
    # environment rather than the corpus's studio folder.
    again = run_cli(
        ["push", "--quiet", "--format", "json"],
        corpus,
        {"LABEL_STUDIO_URL": studio_server.url, "LABEL_STUDIO_API_KEY": studio_server.token},
    )
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["plan_source"], summary["corpus_unchanged"]) == ("local", True)
