"""A model in the loop on the real Label Studio: predictions, the uncertainty queue, hidden
pre-labels, and the record of what annotators saw.

Annotators are members who signed up through the invite link and take work from Label Studio's
own queue (`GET /api/projects/<id>/next`, what "Label All Tasks" uses); nothing here picks tasks
for them.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from test_e2e_annotator import TEXT, api, run_cli, server_env, shoot, wait_for
from test_push_studio import generate_jsonl, make_corpus

from corpuskit.quality.gold import gold
from corpuskit.release.card_sections import prelabels
from corpuskit.settings import Settings, load_settings
from corpuskit.snapshot import read_snapshot
from corpuskit.studio import loop
from corpuskit.studio.client import Connection, StudioClient
from corpuskit.studio.gateway import Gateway
from corpuskit.studio.members import Member, sign_up
from corpuskit.studio.pull import pull
from corpuskit.studio.push import push, task_data
from corpuskit.studio.server import StudioServer
from corpuskit.studio.suggest import PredictionPlan, pending_tasks, place_predictions, plan_predictions
from corpuskit.taxonomy import load_taxonomy, row_to_result
from corpuskit.validation.api import iter_valid_documents
from support.learnable import learnable_corpus, shuffled, write_snapshot_folder

pytestmark = pytest.mark.studio

# The record's clock counts whole seconds: an annotation made within one of a change of visibility
# is `unknown`. Here changes and annotations are this far apart.
CLOCK = 2.5
# One annotator per document: a document with an answer leaves the queue.
ONE_ANNOTATOR = "annotators_per_document = 1\n"


def corpus(tmp_path: Path, server: StudioServer, n: int, extra: str = ONE_ANNOTATOR) -> Settings:
    root = make_corpus(tmp_path / "corpus", f"suggest {secrets.token_hex(4)}", server.data_dir, seeds=False)
    generate_jsonl(root / "raw" / "docs.jsonl", n, seed=n)
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    (root / "pyproject.toml").write_text(text + extra, encoding="utf-8")
    return load_settings(root)


def client_of(server: StudioServer) -> StudioClient:
    return StudioClient(Connection(server.url, server.token))


def member(client: StudioClient) -> Member:
    link = Gateway(client).users.invite_link()
    return sign_up(link, f"annotator-{secrets.token_hex(4)}@example.org", secrets.token_urlsafe(12))


def answer(settings: Settings, task: dict[str, Any], value: str) -> list[dict[str, Any]]:
    taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    row = {"stance": dict.fromkeys(taxonomy.target_ids, value), "topics": [], "spans": []}
    return row_to_result(taxonomy, row, str(task["data"]["text"]))


def predictions_file(path: Path, settings: Settings, scores: dict[str, float], version: str) -> Path:
    targets = load_taxonomy(settings.path(settings.taxonomy)).target_ids
    rows = [
        {
            "document_id": doc_id,
            "model_version": version,
            "stance": dict.fromkeys(targets, "favor"),
            "topics": [],
            "spans": [],
            "score": score,
        }
        for doc_id, score in scores.items()
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def project_info(client: StudioClient, project_id: int) -> dict[str, Any]:
    return Gateway(client).projects.get(project_id, fields=loop.FIELDS)


def test_the_queue_follows_the_scores_and_what_annotators_saw_is_on_record(
    tmp_path: Path, studio_server: StudioServer
) -> None:
    settings = corpus(tmp_path, studio_server, 6)
    scores = {f"gen-{i:05d}": s for i, s in enumerate([0.9, 0.2, 0.05, 0.7, 0.6, 0.8])}
    predicted = predictions_file(tmp_path / "m1.jsonl", settings, scores, "m1")
    with client_of(studio_server) as client:
        studio = Gateway(client)
        pushed = push(settings=settings, client=client, predictions=predicted, progress=False)
        project_id = pushed.project_id
        assert project_id is not None and pushed.created == 6 and pushed.predictions == 6
        info = project_info(client, project_id)
        # push created the project blind, in push order, and put that on record with its time.
        (created,) = loop.history(settings.root, studio.url, info)
        assert (created.by, created.state) == ("push", loop.LoopState("sequential", "hidden", ""))
        own, on_server = loop.split_description(info["description"])
        assert own == "" and on_server == [created]

        # What `corpuskit suggest --order uncertainty` does once its predictions are in.
        wanted = loop.LoopState("uncertainty", "hidden", "m1")
        event = loop.change(studio, settings.root, info, wanted, by="suggest")
        assert event is not None and event.state == wanted
        info = project_info(client, project_id)
        assert info["sampling"] == "Uncertainty sampling" and info["model_version"] == "m1"
        assert info["show_collab_predictions"] is False
        assert loop.change(studio, settings.root, info, wanted, by="suggest") is None  # nothing new

        annotator = member(client)
        try:
            time.sleep(CLOCK)
            first = annotator.next_task(project_id)
            assert first is not None and first["data"]["doc_id"] == "gen-00002"  # the lowest score
            assert first["predictions"] == []  # hidden: the page gets nothing to pre-fill
            annotator.submit(first["id"], project_id, answer(settings, first, "against"), lead_time=0.5)

            # `--show`: the next task comes with the model's pre-label.
            time.sleep(CLOCK)
            info = project_info(client, project_id)
            shown = loop.LoopState("uncertainty", "shown", "m1")
            assert loop.change(studio, settings.root, info, shown, by="suggest") is not None
            time.sleep(CLOCK)
            second = annotator.next_task(project_id)
            assert second is not None and second["data"]["doc_id"] == "gen-00001"
            assert [p["model_version"] for p in second["predictions"]] == ["m1"]
            annotator.submit(second["id"], project_id, answer(settings, second, "favor"), lead_time=0.5)
        finally:
            annotator.close()

    folder = tmp_path / "annotations"
    pull(project=project_id, out=folder, settings=settings)
    snapshot = read_snapshot(folder)
    seen = {row["document_id"]: row["prelabels"] for row in snapshot.annotations}
    assert seen == {"gen-00002": "hidden", "gen-00001": "shown"}
    record = snapshot.meta["loop"]
    assert record["annotations"] == {"hidden": 1, "shown": 1, "unknown": 0}
    assert (record["order"], record["prelabels"], record["model_version"]) == ("uncertainty", "shown", "m1")
    assert [e["by"] for e in record["history"]] == ["push", "suggest", "suggest"]
    assert "hidden for 1, shown for 1, unknown for 0 of 2 annotations" in prelabels(record)
    # Predictions are their own table: never annotations, never gold.
    assert len(snapshot.predictions) == 6 and len(snapshot.annotations) == 2
    decided = gold(folder, taxonomy=load_taxonomy(settings.path(settings.taxonomy)), min_annotators=1)
    assert sorted(row.document_id for row in decided.rows) == ["gen-00001", "gen-00002"]
    assert {
        d.label for row in decided.rows if row.document_id == "gen-00001" for d in row.stance.values()
    } == {"favor"}
    assert {
        d.label for row in decided.rows if row.document_id == "gen-00002" for d in row.stance.values()
    } == {"against"}

    # Someone hides the pre-labels by hand in Label Studio; when is not known. The next push puts
    # the recorded state back and records what it found, so that stretch becomes unknown.
    time.sleep(CLOCK)
    with client_of(studio_server) as client:
        Gateway(client).projects.update(project_id, {"show_collab_predictions": False, "model_version": "m1"})
        repaired = push(settings=settings, client=client, progress=False)
        assert "show_collab_predictions" in repaired.design_repaired
        info = project_info(client, project_id)
        assert info["show_collab_predictions"] is True and info["sampling"] == "Uncertainty sampling"
        last = loop.history(settings.root, client.url, info)[-1]
        assert (last.by, last.found, last.state.prelabels) == ("push", "hidden", "shown")
    pull(project=project_id, out=folder, settings=settings)
    seen = {row["document_id"]: row["prelabels"] for row in read_snapshot(folder).annotations}
    assert seen == {"gen-00002": "hidden", "gen-00001": "unknown"}


CHECKED = ".lsf-choices input:checked"


def stand_in_model(settings: Settings, scores: dict[str, float], version: str) -> Any:
    """A `Suggester.predict` stand-in with known scores: every stance `favor`."""
    targets = load_taxonomy(settings.path(settings.taxonomy)).target_ids

    def predict(documents: Any) -> Any:
        for doc_id, _ in documents:
            stance = dict.fromkeys(targets, "favor")
            yield {
                "document_id": doc_id,
                "model_version": version,
                "stance": stance,
                "topics": [],
                "score": scores[doc_id],
            }

    return predict


@pytest.mark.browser
def test_hidden_prelabels_leave_the_labelling_page_unanswered(
    tmp_path: Path, studio_server: StudioServer, chromium_page: Any, studio_login: Any
) -> None:
    settings = corpus(tmp_path, studio_server, 2)
    taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    predict = stand_in_model(settings, {"gen-00000": 0.3, "gen-00001": 0.4}, "m1")
    hidden = loop.LoopState("uncertainty", "hidden", "m1")
    shown = loop.LoopState("uncertainty", "shown", "m1")
    email, password = f"annotator-{secrets.token_hex(4)}@example.org", secrets.token_urlsafe(12)

    def plan(state: loop.LoopState) -> PredictionPlan:
        existing = studio.predictions.list(project_id)
        return plan_predictions(existing, pending_tasks(studio, project_id), state, prune=False)

    def place(state: loop.LoopState) -> None:
        place_predictions(studio, project_id, taxonomy, plan(state), predict)
        loop.change(studio, settings.root, project_info(client, project_id), state, by="suggest")

    with client_of(studio_server) as client:
        studio = Gateway(client)
        pushed = push(settings=settings, client=client, progress=False)
        project_id = pushed.project_id
        assert project_id is not None
        assert [t.document_id for t in plan(hidden).new] == ["gen-00000", "gen-00001"]
        place(hidden)
        again = plan(hidden)
        assert (again.new, again.label, again.unlabel) == ([], [], [])  # the same model: nothing new
        assert [labelled for *_, labelled in studio.predictions.list(project_id)] == [False, False]
        sign_up(studio.users.invite_link(), email, password).close()
        annotator = member(client)
        try:
            task = annotator.next_task(project_id)
        finally:
            annotator.close()
    # The score alone orders the queue.
    assert task is not None and task["data"]["doc_id"] == "gen-00000" and task["predictions"] == []

    # An annotator may open any task from the Data Manager; Label Studio pre-fills that page from
    # a prediction whatever `show_collab_predictions` says. Hidden pre-labels have no labels.
    page = chromium_page
    page.set_viewport_size({"width": 1400, "height": 1000})
    studio_login(page, studio_server.url, email, password)
    page.goto(f"{studio_server.url}/projects/{project_id}/data?task={task['id']}")
    page.locator(TEXT).wait_for()
    page.locator(".lsf-choices").first.wait_for()
    page.wait_for_load_state("networkidle")
    shoot(page, "suggest-prelabels-hidden.png")
    assert page.locator(CHECKED).count() == 0  # nothing pre-selected

    # `--show` gives the same predictions their labels: the page opens with the model's answer
    # selected (so the check above can fail); hiding them again takes the labels off.
    with client_of(studio_server) as client:
        studio = Gateway(client)
        assert len(plan(shown).label) == 2
        place(shown)
        page.reload()
        page.locator(TEXT).wait_for()
        wait_for(
            lambda: page.locator(CHECKED).count() == len(taxonomy.target_ids), "the pre-selected stances"
        )
        assert len(plan(hidden).unlabel) == 2
        place(hidden)
        assert [labelled for *_, labelled in studio.predictions.list(project_id)] == [False, False]


# A few hundred labelled documents, as a team would have after its first rounds; two folds keep
# the three fits of this test to well under a minute each on a busy two-core machine.
LABELLED = 300
OPEN = 40
FOLDS = ["--folds", "2"]


def write_raw(path: Path, documents: Any) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        for d in documents:
            paragraphs = [{"heading": None, "text": p} for p in d.text.split("\n\n")]
            out.write(json.dumps({"id": d.document_id, "title": d.title, "paragraphs": paragraphs}) + "\n")
    return path


def test_suggest_reports_pushes_once_and_the_queue_serves_the_least_sure_document_first(
    tmp_path: Path, studio_server: StudioServer
) -> None:
    root = make_corpus(
        tmp_path / "corpus", f"suggest {secrets.token_hex(4)}", studio_server.data_dir, seeds=False
    )
    taxonomy = load_taxonomy(root / "schema" / "taxonomy.yaml")
    documents = learnable_corpus(taxonomy, LABELLED + OPEN, seed=3)
    labelled, still_open = documents[:LABELLED], documents[LABELLED:]
    write_raw(root / "raw" / "open.jsonl", still_open)
    write_raw(root / "raw" / "labelled.jsonl", labelled)
    settings = load_settings(root)  # two annotators per document (the default)
    env = server_env(studio_server)

    with client_of(studio_server) as client:
        studio = Gateway(client)
        pushed = push([root / "raw" / "open.jsonl"], settings=settings, client=client, progress=False)
        project_id = pushed.project_id
        assert project_id is not None and pushed.created == OPEN
        # The labelled documents arrive through the bulk import, each with two annotators' answers.
        annotators = [member(client) for _ in range(2)]
        for annotator in annotators:
            annotator.close()
        valid = {
            d["id"]: d for d in iter_valid_documents([root / "raw" / "labelled.jsonl"], settings=settings)
        }
        assert len(valid) == LABELLED
        time.sleep(CLOCK)
        payloads = []
        for d in labelled:
            data = task_data(valid[d.document_id], taxonomy.version)
            row = {"stance": d.stance, "topics": list(d.topics), "spans": []}
            result = row_to_result(taxonomy, row, data["text"])
            answers = [{"result": result, "completed_by": a.user_id, "lead_time": 1.0} for a in annotators]
            payloads.append({"data": data, "annotations": answers})
        studio.tasks.import_once(project_id, payloads)

    first = run_cli(["suggest", "--order", "uncertainty", *FOLDS, "--format", "json", "--quiet"], root, env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    version = summary["model_version"]
    assert summary["ready"] and summary["reasons"] == [] and summary["training_documents"] == LABELLED
    assert version.startswith(f"{taxonomy.version}-")
    figures = {f["question"]: f for f in summary["evaluation"]["figures"]}
    for target in taxonomy.target_ids:
        assert figures[f"stance.{target}"]["model"] > figures[f"stance.{target}"]["baseline"]
    assert figures["topics"]["model"] > figures["topics"]["baseline"]
    assert Path(summary["report"]).is_file()
    assert (summary["pending"], summary["pushed"]) == (OPEN, OPEN)
    assert summary["after"] == {"order": "uncertainty", "prelabels": "hidden", "model_version": version}

    # The same model again: nothing new, and the figures next to the baselines for people.
    again = run_cli(["suggest", "--order", "uncertainty", *FOLDS, "--quiet"], root, env)
    assert again.returncode == 0, again.stderr
    assert f"nothing new: model {version} is already in the project as asked" in again.stdout
    for target in taxonomy.target_ids:
        assert f"stance.{target}" in again.stdout
    assert " baseline " in again.stdout and "beats the baseline" in again.stdout

    with api(studio_server) as http:
        found = http.get("/api/predictions", params={"project": project_id}).raise_for_status().json()
    assert len(found) == OPEN and {p["model_version"] for p in found} == {version}
    assert all(p["result"] == [] for p in found)  # hidden: the score, no labels
    least_sure = min(found, key=lambda p: p["score"])
    with client_of(studio_server) as client:
        info = project_info(client, project_id)
        assert (info["sampling"], info["model_version"]) == ("Uncertainty sampling", version)
        assert info["show_collab_predictions"] is False
        annotator = member(client)
        try:
            task = annotator.next_task(project_id)
            assert task is not None and task["id"] == least_sure["task"]
            assert task["predictions"] == []
            annotator.submit(task["id"], project_id, answer(settings, task, "neutral"), lead_time=1.0)
        finally:
            annotator.close()

    folder = tmp_path / "annotations"
    pull(project=project_id, out=folder, settings=settings)
    snapshot = read_snapshot(folder)
    assert len(snapshot.annotations) == 2 * LABELLED + 1 and len(snapshot.predictions) == OPEN
    assert {row["prelabels"] for row in snapshot.annotations} == {"hidden"}
    assert prelabels(snapshot.meta["loop"]) == (
        f"Model pre-labels were hidden from annotators for all {2 * LABELLED + 1} annotations. "
        f"At the last pull the queue order was uncertainty, following model version {version}."
    )
    # Predictions never become gold: the open documents have none, but the one just annotated.
    decided = {row.document_id for row in gold(folder, taxonomy=taxonomy).rows}
    assert decided == {d.document_id for d in labelled} | {task["data"]["doc_id"]}

    # A model that learnt nothing (labels shuffled across the texts) is refused: one line, exit 1,
    # and the project keeps the model it has.
    noise = write_snapshot_folder(tmp_path / "shuffled", shuffled(labelled), taxonomy)
    refused = run_cli(["suggest", "--snapshot", str(noise), "--order", "sequential", *FOLDS], root, env)
    assert refused.returncode == 1, refused.stderr
    (line,) = [x for x in refused.stdout.splitlines() if x.startswith("not pushed: ")]
    assert line.endswith("(--force pushes anyway)")
    with client_of(studio_server) as client:
        info = project_info(client, project_id)
        assert (info["sampling"], info["model_version"]) == ("Uncertainty sampling", version)
        assert len(Gateway(client).predictions.list(project_id)) == OPEN
