"""`corpuskit adjudicate` round trip on the real Label Studio: disagreements pushed with each annotator's
answer as a prediction, the adjudicator's annotation pulled back into gold, re-runs add only new ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from corpuskit.quality.gold import gold
from corpuskit.settings import Settings
from corpuskit.studio.client import Connection, StudioClient
from corpuskit.studio.pull import pull
from corpuskit.studio.review import adjudicate, review_title
from corpuskit.taxonomy import label_config, load_taxonomy, row_to_result

if TYPE_CHECKING:
    from corpuskit.studio.server import StudioServer

pytestmark = pytest.mark.studio

ROOT = Path(__file__).resolve().parents[2]
TEXT = "Russia and North Korea signed a defence pact. Kyiv asked for more air defence."
R, U = "rnk_military_cooperation", "ukraine_military_aid"


def task(doc_id: str) -> dict[str, Any]:
    return {
        "data": {
            "doc_id": doc_id,
            "content_sha256": "cd" * 32,
            "taxonomy_version": "1.0.0",
            "title": f"Title of {doc_id}",
            "summary": None,
            "section": None,
            "source": None,
            "published_at": None,
            "modified_at": None,
            "text": TEXT,
        }
    }


class Studio:
    """The main project, two annotators and helpers to annotate through the API."""

    def __init__(self, server: StudioServer, ls: Any, tmp: Path, tag: str = "") -> None:
        self.server = server
        self.taxonomy = load_taxonomy(ROOT / "schema" / "taxonomy.yaml")
        self.ls = ls
        title = f"adjudicate round trip{tag}"
        self.settings = Settings(root=tmp, project_title=title)
        main = self.ls.projects.create(title=title, label_config=label_config(self.taxonomy))
        assert main.id is not None
        self.main = main.id
        self.emails = [f"adj{i}{tag}@example.org" for i in (1, 2)]
        self.users = [
            self.ls.users.create(email=f"adj{i}{tag}@example.org", username=f"adj-annotator-{i}{tag}").id
            for i in (1, 2)
        ]
        self.folder = tmp / "annotations"

    def add(self, doc_id: str, answers: list[dict[str, Any]]) -> None:
        self.ls.projects.import_tasks(self.main, request=[task(doc_id)])
        task_id = next(t.id for t in self.ls.tasks.list(project=self.main) if t.data["doc_id"] == doc_id)
        for user, answer in zip(self.users, answers, strict=True):
            result = row_to_result(self.taxonomy, answer, TEXT)
            self.ls.annotations.create(id=task_id, result=result, completed_by=user)

    def pull(self) -> None:
        pull(
            project=self.main,
            out=self.folder,
            taxonomy=self.taxonomy,
            settings=self.settings,
            url=self.server.url,
            token=self.server.token,
        )

    def adjudicate(self) -> Any:
        return adjudicate(
            self.folder,
            settings=self.settings,
            taxonomy=self.taxonomy,
            url=self.server.url,
            token=self.server.token,
        )

    def review_tasks(self, project: int) -> dict[str, Any]:
        return {t.data["doc_id"]: t for t in self.ls.tasks.list(project=project, fields="all")}


def answer(r: str, u: str, topics: list[str]) -> dict[str, Any]:
    return {"stance": {R: r, U: u}, "topics": topics}


def test_adjudication_round_trip(studio_server: StudioServer, tmp_path: Path) -> None:
    with StudioClient(Connection(studio_server.url, studio_server.token)) as client:
        round_trip(Studio(studio_server, client.sdk, tmp_path))


def round_trip(studio: Studio) -> None:
    studio.add(
        "doc-tie",
        [
            answer("favor", "neutral", ["sanctions_un_resolutions"]),
            answer("against", "neutral", ["sanctions_un_resolutions"]),
        ],
    )
    studio.add("doc-same", [answer("neutral", "unrelated", []), answer("neutral", "unrelated", [])])
    studio.pull()
    before = {r.document_id: r for r in gold(studio.folder, taxonomy=studio.taxonomy).rows}
    assert before["doc-tie"].stance[R].flags == ("tie",)
    assert before["doc-same"].stance[R].decided_by == "majority"

    first = studio.adjudicate()
    assert first.project_title == review_title(studio.settings, studio.taxonomy)
    assert first.project_title == f"{studio.settings.project_title} (adjudication)"
    assert (first.pushed, first.disagreements, first.pulled) == (["doc-tie"], ["doc-tie"], 0), first
    review = studio.review_tasks(first.project_id)
    assert set(review) == {"doc-tie"}
    assert review["doc-tie"].data["text"] == TEXT
    predictions = studio.ls.predictions.list(task=review["doc-tie"].id)
    shown = {p.model_version: p.result for p in predictions}
    assert set(shown) == set(studio.emails)
    favor = [r for r in shown[studio.emails[0]] if r["from_name"] == f"stance_{R}"]
    assert favor[0]["value"]["choices"] == ["favor"]

    # The adjudicator decides in the review project.
    decision = answer("against", "neutral", ["sanctions_un_resolutions", "military_cooperation"])
    studio.ls.annotations.create(
        id=review["doc-tie"].id, result=row_to_result(studio.taxonomy, decision, TEXT)
    )

    second = studio.adjudicate()
    assert (second.pulled, second.pushed, second.adjudications) == (1, [], 1)
    assert second.disagreements == []  # adjudicated: nothing left to settle
    rows = [json.loads(line) for line in (studio.folder / "adjudications.jsonl").read_text().splitlines()]
    assert [(r["document_id"], r["stance"][R], r["project_id"]) for r in rows] == [
        ("doc-tie", "against", first.project_id)
    ]
    after = {r.document_id: r for r in gold(studio.folder, taxonomy=studio.taxonomy).rows}
    assert (after["doc-tie"].stance[R].label, after["doc-tie"].stance[R].decided_by) == (
        "against",
        "adjudicated",
    )
    assert after["doc-tie"].stance[R].votes == {
        "favor": 1,
        "against": 1,
    }  # the annotators' votes stay visible
    assert after["doc-tie"].topics["military_cooperation"].decided_by == "adjudicated"
    assert after["doc-same"].stance[R].decided_by == "majority"

    # Nothing new: nothing pushed, nothing pulled, the file is untouched.
    unchanged = (studio.folder / "adjudications.jsonl").read_bytes()
    third = studio.adjudicate()
    assert (third.pulled, third.pushed) == (0, [])
    assert (studio.folder / "adjudications.jsonl").read_bytes() == unchanged
    assert set(studio.review_tasks(first.project_id)) == {"doc-tie"}

    # A new disagreement after a new pull: only that document is added.
    studio.add("doc-new", [answer("favor", "favor", []), answer("favor", "against", [])])
    studio.pull()
    fourth = studio.adjudicate()
    assert fourth.pushed == ["doc-new"]
    assert set(studio.review_tasks(first.project_id)) == {"doc-tie", "doc-new"}
    assert (studio.folder / "adjudications.jsonl").is_file()  # carried over by the re-pull
