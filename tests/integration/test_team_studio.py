"""A team on the real Label Studio: k independent annotators per document through the queue.

Members sign up through the organisation's invite link and ask `GET /api/projects/<id>/next` for
their work, exactly as "Label All Tasks" does in the browser; nothing here chooses tasks for them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from test_push_studio import generate_jsonl, make_corpus

from corpuskit.quality.agreement import agreement
from corpuskit.quality.design import PILOT, PILOT_OVERLAP, OverlapDesign
from corpuskit.quality.gold import gold
from corpuskit.settings import Settings, load_settings
from corpuskit.snapshot import read_snapshot
from corpuskit.studio.client import StudioClient
from corpuskit.studio.gateway import Gateway
from corpuskit.studio.members import Member, sign_up
from corpuskit.studio.progress import status
from corpuskit.studio.progress_tasks import PILOT_MARK, read_task_list
from corpuskit.studio.pull import pull
from corpuskit.studio.push import push, read_tasks
from corpuskit.studio.server import StudioServer
from corpuskit.studio.team import read_overlaps
from corpuskit.taxonomy import load_taxonomy, row_to_result

CORPUSKIT = str(Path(sys.executable).parent / "corpuskit")

pytestmark = pytest.mark.studio


def _corpus(tmp_path: Path, server: StudioServer, n: int, extra: str = "") -> Settings:
    title = f"team {secrets.token_hex(4)}"
    root = make_corpus(tmp_path / "corpus", title, server.data_dir, seeds=False)
    generate_jsonl(root / "raw" / "docs.jsonl", n, seed=n)
    if extra:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
        (root / "pyproject.toml").write_text(text + extra, encoding="utf-8")
    return load_settings(root)


def _client(server: StudioServer) -> StudioClient:
    from corpuskit.studio.client import Connection

    return StudioClient(Connection(server.url, server.token))


def _members(client: StudioClient, n: int) -> list[Member]:
    link = Gateway(client).users.invite_link()
    tag = secrets.token_hex(3)
    return [sign_up(link, f"member{i}-{tag}@example.org", secrets.token_urlsafe(12)) for i in range(n)]


def _answer(settings: Settings, task: dict[str, Any], value: str) -> list[dict[str, Any]]:
    taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    stance = dict.fromkeys(taxonomy.target_ids, value)
    text = str(task["data"]["text"])
    return row_to_result(taxonomy, {"stance": stance, "topics": [], "spans": []}, text)


def _label_from_queue(
    settings: Settings, project_id: int, members: list[Member], limit: int
) -> tuple[dict[int, list[int]], list[dict[str, Any]]]:
    """Members take turns asking the queue and answering, until every queue is empty.

    Returns task id -> the members (user ids) who labelled it, and every payload the queue sent."""
    values = ["favor", "against", "neutral", "unrelated"]
    labelled: dict[int, list[int]] = defaultdict(list)
    payloads: list[dict[str, Any]] = []
    active = list(members)
    steps = 0
    while active:
        for member in list(active):
            task = member.next_task(project_id)
            if task is None:
                active.remove(member)
                continue
            payloads.append({"member": member.user_id, **task})
            assert member.user_id not in labelled[task["id"]], "the queue gave a member a task twice"
            value = values[(task["id"] + members.index(member)) % 2]  # some agreement, some not
            member.submit(task["id"], project_id, _answer(settings, task, value), lead_time=30.0)
            labelled[task["id"]].append(member.user_id)
            steps += 1
            assert steps <= limit, "the queue kept handing out work past the design"
    return labelled, payloads


@pytest.fixture
def server(studio_server_any: StudioServer) -> StudioServer:
    return studio_server_any


def test_three_annotators_following_the_queue_give_every_document_two_independent_answers(
    tmp_path: Path, server: StudioServer
) -> None:
    settings = _corpus(tmp_path, server, 20)
    # A model's suggestions are in the project too: the queue must not show them either.
    targets = load_taxonomy(settings.path(settings.taxonomy)).target_ids
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(
        "".join(
            json.dumps(
                {
                    "document_id": f"gen-{i:05d}",
                    "model_version": "m1",
                    "stance": dict.fromkeys(targets, "favor"),
                    "topics": [],
                    "spans": [],
                    "score": 0.5,
                }
            )
            + "\n"
            for i in range(20)
        ),
        encoding="utf-8",
    )
    with _client(server) as client:
        pushed = push(settings=settings, client=client, predictions=predictions, progress=False)
        project_id = pushed.project_id
        assert project_id is not None and pushed.created == 20 and pushed.predictions == 20
        info = Gateway(client).projects.get(project_id)
        assert info["maximum_annotations"] == 2 and info["overlap_cohort_percentage"] == 100
        assert info["show_annotation_history"] is False and info["show_collab_predictions"] is False
        members = _members(client, 3)
        try:
            labelled, payloads = _label_from_queue(settings, project_id, members, limit=40)
            # A fourth member who joins now finds nothing left: every document has its two answers.
            (late,) = _members(client, 1)
            members.append(late)
            assert late.next_task(project_id) is None
        finally:
            for member in members:
                member.close()
        tasks = read_tasks(client, project_id)
    assert len(tasks) == 20 and set(labelled) == {t.id for t in tasks}
    for task_id, who in labelled.items():
        assert len(who) == 2 and len(set(who)) == 2, (task_id, who)
    # Blind: the queue showed nobody an answer (theirs came later) nor a prediction.
    assert payloads and all(p["annotations"] == [] and p["predictions"] == [] for p in payloads)
    # The work was shared: every member labelled some documents.
    assert all(n > 0 for n in Counter(u for who in labelled.values() for u in who).values())

    folder = tmp_path / "annotations"
    pulled = pull(project=project_id, out=folder, settings=settings)
    assert pulled.counts["annotations"] == 40
    rows = read_snapshot(folder).annotations
    per_doc: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        per_doc[row["document_id"]].add(row["annotator"]["id"])
    assert len(per_doc) == 20 and all(len(ids) == 2 for ids in per_doc.values())
    result = agreement(folder, taxonomy=load_taxonomy(settings.path(settings.taxonomy)))
    assert result.counts["overlapped_documents"] == 20 and result.counts["single_documents"] == 0
    assert result.stance[0].pairable_items == 20

    with _client(server) as client:
        progress = status(settings=settings, project=project_id, client=client)
    assert progress.complete == 20 and progress.remaining == 0
    assert progress.by_annotators == {2: 20}
    assert sorted(a.submitted for a in progress.annotators) == sorted(
        Counter(u for who in labelled.values() for u in who).values()
    )
    assert progress.median_lead_time == 30.0 and progress.hours == 0.0
    assert progress.agreement_documents == 20


def test_an_overlap_share_is_seeded_stable_and_repaired(tmp_path: Path, server: StudioServer) -> None:
    settings = _corpus(tmp_path, server, 30, "overlap_share = 0.5\noverlap_seed = 'team-test'\n")
    design = OverlapDesign.from_settings(settings)
    with _client(server) as client:
        planned = push(settings=settings, client=client, dry_run=True, progress=False).summary()
        assert planned["design"]["overlapped"] + planned["design"]["single"] == 30
        pushed = push(settings=settings, client=client, progress=False)
        project_id = pushed.project_id
        assert project_id is not None
        docs = {t.id: str(t.doc_id) for t in read_tasks(client, project_id)}
        overlaps = {task_id: overlap for task_id, (overlap, _) in read_overlaps(client, project_id).items()}
        wanted = {task_id: 2 if design.in_overlap(doc) else 1 for task_id, doc in docs.items()}
        assert overlaps == wanted
        assert sum(1 for v in wanted.values() if v == 2) == planned["design"]["overlapped"]
        assert 0 < planned["design"]["overlapped"] < 30  # a real mix at share 0.5
        # Someone changes the design on the server: the dry run shows it, the push repairs it.
        client.request(
            "PATCH",
            f"/api/projects/{project_id}",
            json={"maximum_annotations": 1, "show_annotation_history": True, "sampling": "Uniform sampling"},
            what="tamper",
        )
        dry = push(settings=settings, client=client, dry_run=True, progress=False).summary()
        assert dry["project"]["design_repaired"] == [
            "maximum_annotations",
            "sampling",
            "show_annotation_history",
        ]
        again = push(settings=settings, client=client, progress=False).summary()
        assert again["project"]["design_repaired"] == dry["project"]["design_repaired"]
        info = Gateway(client).projects.get(project_id)
        assert (info["maximum_annotations"], info["sampling"], info["show_annotation_history"]) == (
            2,
            "Sequential sampling",
            False,
        )
        after = {task_id: overlap for task_id, (overlap, _) in read_overlaps(client, project_id).items()}
        assert after == wanted
        # An unchanged re-push sets nothing and repairs nothing.
        quiet = push(settings=settings, client=client, progress=False).summary()
        assert quiet["project"]["design_repaired"] == [] and quiet["applied"]["overlap_set"] == 0


def test_a_pilot_round_is_labelled_by_every_member_and_marked(tmp_path: Path, server: StudioServer) -> None:
    settings = _corpus(tmp_path, server, 12)
    with _client(server) as client:
        piloted = push(settings=settings, client=client, pilot=4, progress=False)
        project_id = piloted.project_id
        assert project_id is not None and piloted.created == 4
        assert piloted.summary()["design"]["pilot"] == 4
        state = read_overlaps(client, project_id)
        assert len(state) == 4 and all(o == PILOT_OVERLAP and m.get(PILOT) for o, m in state.values())
        # The same pilot again changes nothing; the main round adds the other eight.
        assert push(settings=settings, client=client, pilot=4, progress=False).created == 0
        main = push(settings=settings, client=client, progress=False)
        assert main.created == 8 and not main.plan.removed
        state = read_overlaps(client, project_id)
        assert sum(1 for _, m in state.values() if m.get(PILOT)) == 4
        # Pages that end exactly at the last task (the server answers 404 past it).
        assert read_overlaps(client, project_id, page_size=4) == state
        # Status's compact list reads the same tasks, marks and languages.
        listed = read_task_list(client, project_id, page_size=4)
        assert list(listed.ids) == sorted(state)
        tasks = read_tasks(client, project_id)
        for task in tasks:
            at = listed.position(task.id)
            assert at is not None
            overlap, meta = state[task.id]
            assert listed.overlaps[at] == overlap
            assert bool(listed.marks[at] & PILOT_MARK) == bool(meta.get(PILOT))
            language = task.data.get("language")
            named = language if isinstance(language, str) else "unknown"
            assert listed.codes[listed.languages[at]] == named
        assert sorted(o for o, _ in state.values()) == [2] * 8 + [PILOT_OVERLAP] * 4
        members = _members(client, 3)
        try:
            # Every member gets the four pilot documents first (overlap first, breadth first).
            firsts = []
            for member in members:
                for _ in range(4):
                    task = member.next_task(project_id)
                    assert task is not None and task["meta"].get(PILOT), "pilot documents come first"
                    firsts.append(task["id"])
                    member.submit(task["id"], project_id, _answer(settings, task, "neutral"), 12.0)
            assert Counter(firsts) == dict.fromkeys(set(firsts), 3) and len(set(firsts)) == 4
        finally:
            for member in members:
                member.close()
    folder = tmp_path / "annotations"
    pull(project=project_id, out=folder, settings=settings)
    rows = read_snapshot(folder).annotations
    assert len(rows) == 12 and all(row.get("pilot") is True for row in rows)
    decided = gold(folder, taxonomy=load_taxonomy(settings.path(settings.taxonomy)))
    assert sum(1 for row in decided.rows if row.pilot) == 4
    assert all(
        d.decided_by == "majority" and d.n_annotators == 3 for r in decided.rows for d in r.stance.values()
    )


def test_status_and_invite_on_the_command_line(tmp_path: Path, server: StudioServer) -> None:
    settings = _corpus(tmp_path, server, 3)
    with _client(server) as client:
        project_id = push(settings=settings, client=client, progress=False).project_id
        (member,) = _members(client, 1)
        try:
            task = member.next_task(project_id)
            assert task is not None
            member.submit(task["id"], project_id, _answer(settings, task, "favor"), 40.0)
            skipped = member.next_task(project_id)
            assert skipped is not None
            member.skip(skipped["id"], project_id)
        finally:
            member.close()
    env = {**os.environ, "LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.token}
    run = subprocess.run(
        [CORPUSKIT, "status", "--format", "json"],
        cwd=settings.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["project"]["id"] == project_id and data["documents"] == 3
    assert data["project"]["server_kind"] == "remote server"  # LABEL_STUDIO_URL names it
    assert data["documents_by_annotators"] == {"0": 2, "1": 1}
    assert data["complete"] == 0 and data["remaining_annotations"] == 5
    (who,) = data["annotators"]
    assert (who["submitted"], who["skipped"], who["median_lead_time"]) == (1, 1, 40.0)
    assert data["estimated_annotator_hours"] == round(5 * 40 / 3600, 2)
    # Languages count every task, the two nobody submitted for too.
    counts = list(data["languages"].values())
    assert sum(c["documents"] for c in counts) == 3 and sum(c["annotated"] for c in counts) == 1
    assert server.token not in run.stdout + run.stderr
    text = subprocess.run(
        [CORPUSKIT, "status"], cwd=settings.root, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "remaining annotations: 5" in text and "1 submitted" in text
    invite = subprocess.run(
        [CORPUSKIT, "studio", "invite"],
        cwd=settings.root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    link = invite.stdout.strip()
    assert link.startswith(f"{server.url}/user/signup/?token=") and "Label All Tasks" in invite.stderr
    assert server.token not in invite.stdout + invite.stderr
    # The link works: a new member signs up with it and is logged in.
    joined = sign_up(link, f"joined-{secrets.token_hex(3)}@example.org", secrets.token_urlsafe(12))
    try:
        assert joined.user_id is not None
    finally:
        joined.close()


def test_settings_of_the_design_are_checked(tmp_path: Path) -> None:
    from corpuskit.errors import UsageError

    for bad, key in (
        ("annotators_per_document = 0", "annotators_per_document"),
        ("overlap_share = 1.5", "overlap_share"),
        ('queue_sampling = "random"', "queue_sampling"),
    ):
        (tmp_path / "pyproject.toml").write_text(f"[tool.corpuskit]\n{bad}\n", encoding="utf-8")
        with pytest.raises(UsageError, match=key):
            load_settings(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.corpuskit]\nannotators_per_document = 3\noverlap_share = 0.25\n", encoding="utf-8"
    )
    design = OverlapDesign.from_settings(load_settings(tmp_path))
    ids = [f"doc-{i}" for i in range(2000)]
    chosen = [i for i in ids if design.in_overlap(i)]
    assert 0.2 < len(chosen) / len(ids) < 0.3  # about the share asked for
    # Seeded by the id alone: the same documents whatever else is in the corpus.
    assert [i for i in ids[:100] if design.in_overlap(i)] == [i for i in chosen if i in ids[:100]]
    other = dataclasses.replace(design, seed="other")
    assert [i for i in ids if other.in_overlap(i)] != chosen
