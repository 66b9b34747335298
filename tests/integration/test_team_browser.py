"""A team of two, tested as a team: k = 2 annotators per document through Label Studio's own queue.

`push` sets the project up for k independent annotators (maximum_annotations = k, blind settings);
two annotators join by corpuskit's invite link in headless Chromium, each opens the project and
clicks "Label All Tasks", as a person does. The second must get the document the first has just
labelled, without seeing her answer; both work the queue until it is empty; a third person who
joins then finds nothing left; `pull` returns both answers of every document and `agreement`
measures both documents.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from test_e2e_annotator import choices, pick

from corpuskit.quality.agreement import agreement
from corpuskit.settings import load_settings
from corpuskit.studio import members
from corpuskit.studio.client import Connection, StudioClient
from corpuskit.studio.gateway import Gateway
from corpuskit.studio.pull import pull
from corpuskit.studio.push import push
from corpuskit.taxonomy import load_taxonomy
from corpuskit.validation.api import iter_valid_documents

if TYPE_CHECKING:
    from corpuskit.studio.server import StudioServer
    from corpuskit.taxonomy.model import Taxonomy

pytestmark = [pytest.mark.studio, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]

SUBMIT = "[data-testid=bottombar-submit-button]"
HEADLINE = ".lsf-main-view__annotation h2"
CHECKED = ".lsf-choices input:checked"
EMPTY_QUEUE = "No More Tasks Left in Queue"
# Each annotator gives the same answer to every document, a different one from the other's, so
# every pulled row shows whose answer it is.
ANSWERS: dict[str, dict[str, Any]] = {
    "a": {
        "stance": {"rnk_military_cooperation": "against", "ukraine_military_aid": "unrelated"},
        "topics": ["military_cooperation"],
    },
    "b": {
        "stance": {"rnk_military_cooperation": "against", "ukraine_military_aid": "neutral"},
        "topics": ["military_cooperation", "troop_deployment"],
    },
}


@dataclass
class Annotator:
    """One person in a browser of her own, and the tasks the queue gave her."""

    key: str
    email: str
    password: str
    page: Any
    labelled: list[int] = field(default_factory=list)


@pytest.fixture(autouse=True)
def _no_remote_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)


@pytest.fixture
def corpus(tmp_path: Path, studio_server: StudioServer) -> Path:
    """The two seed documents of raw/ in a corpus of its own, with a project title no other test uses."""
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copytree(REPO / "schema", root / "schema")
    shutil.copytree(REPO / "raw", root / "raw")
    (root / "docs").mkdir()
    shutil.copy(REPO / "docs" / "annotation-guidelines.md", root / "docs")
    (root / "pyproject.toml").write_text(
        "[tool.corpuskit]\n"
        'raw = "raw"\n'
        f"project_title = {json.dumps(f'team {secrets.token_hex(4)}')}\n"
        f"studio_dir = {json.dumps(str(studio_server.data_dir))}\n"
        "annotators_per_document = 2\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture
def client(studio_server: StudioServer) -> Iterator[StudioClient]:
    with StudioClient(Connection(studio_server.url, studio_server.token)) as opened:
        yield opened


@pytest.fixture
def new_browser(chromium_page: Any) -> Iterator[Callable[[], Any]]:
    """A page in a browser context of its own (own cookies: one per person); all closed at the end."""
    browser = chromium_page.context.browser
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context.new_page()

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


def sign_up_by_invite(page: Any, invite: str, email: str, password: str) -> None:
    """Open the invite link, fill Label Studio's sign-up form, and land logged in."""
    page.goto(invite)
    page.fill("form#signup-form input#email", email)
    page.fill("form#signup-form input#password", password)
    page.click("form#signup-form button[type=submit]")
    page.wait_for_url(lambda url: "/user/signup" not in url)


def is_next_task(response: Any) -> bool:
    # What the labelling stream asks for its next task (the button and every submit).
    return "/api/dm/actions" in response.url and "id=next_task" in response.url


def shown_task(page: Any, response: Any) -> dict[str, Any] | None:
    """The task the queue answered with, once the page shows it; None once it shows the empty queue."""
    if response.status == 404:
        page.get_by_text(EMPTY_QUEUE, exact=True).wait_for()
        return None
    assert response.status == 200, response.text()
    task: dict[str, Any] = response.json()
    page.locator(HEADLINE, has_text=task["data"]["title"]).wait_for()
    return task


def open_queue(page: Any, url: str, project_id: int) -> dict[str, Any] | None:
    """Open the project's tasks and click "Label All Tasks"; close the instructions it opens with."""
    page.goto(f"{url}/projects/{project_id}/data")
    with page.expect_response(is_next_task) as answer:
        page.get_by_role("button", name="Label All Tasks").click()
    # The project shows its instructions when the stream starts (show_instruction), queue empty or not.
    instructions = page.locator(".lsf-modal-ls", has_text="Labeling Instructions")
    instructions.wait_for()
    instructions.get_by_role("button", name="Close modal").click()
    instructions.wait_for(state="hidden")
    return shown_task(page, answer.value)


def expect_checked(page: Any, count: int) -> None:
    """Exactly `count` choices show as chosen (waits for the page to settle)."""
    from playwright.sync_api import expect

    expect(page.locator(CHECKED)).to_have_count(count)


def label_and_submit(who: Annotator, task: dict[str, Any], taxonomy: Taxonomy) -> dict[str, Any] | None:
    """Answer every required stance block (and the topics) of the shown task, submit, and return
    the task the queue gives next (None when it is empty)."""
    page = who.page
    targets = {t.id: t.name for t in taxonomy.targets}
    values = {v.id: v.name for v in taxonomy.stance_values}
    topics = {t.id: t.name for t in taxonomy.topics}
    answer = ANSWERS[who.key]
    for target, value in answer["stance"].items():
        pick(choices(page, f"Stance: {targets[target]}"), values[value])
    for topic in answer["topics"]:
        pick(choices(page, "Topics (all that apply)"), topics[topic])
    # What the page shows as chosen is exactly this annotator's answer (the check B's page passes).
    expect_checked(page, len(answer["stance"]) + len(answer["topics"]))

    def is_submission(response: Any) -> bool:
        return response.request.method == "POST" and f"/api/tasks/{task['id']}/annotations" in response.url

    with page.expect_response(is_submission) as saved, page.expect_response(is_next_task) as following:
        page.click(SUBMIT)
    assert saved.value.status == 201, saved.value.text()
    who.labelled.append(int(task["id"]))
    return shown_task(page, following.value)


def user_id(completed_by: Any) -> int:
    return int(completed_by["id"] if isinstance(completed_by, dict) else completed_by)


def member_id(url: str, who: Annotator) -> int:
    session = members.log_in(url, who.email, who.password)
    try:
        assert session.user_id is not None
        return session.user_id
    finally:
        session.close()


def work_the_queue(who: Annotator, task: dict[str, Any] | None, taxonomy: Taxonomy) -> None:
    while task is not None:
        task = label_and_submit(who, task, taxonomy)
    assert who.page.get_by_text(EMPTY_QUEUE, exact=True).is_visible()


def test_two_annotators_by_invite_each_label_every_document_blind(
    corpus: Path,
    studio_server: StudioServer,
    client: StudioClient,
    new_browser: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = studio_server.url
    settings = load_settings(corpus)
    taxonomy = load_taxonomy(corpus / "schema" / "taxonomy.yaml")
    titles = {d["id"]: d["title"] for d in iter_valid_documents(settings=settings)}
    assert len(titles) == 2

    # 1. The corpus goes to Label Studio, set up for two independent annotators per document.
    pushed = push(settings=settings, client=client)
    assert pushed.created == 2
    project_id = pushed.project_id
    assert project_id is not None
    project = Gateway(client).projects.get(project_id)
    assert project["maximum_annotations"] == 2
    assert (project["show_annotation_history"], project["show_collab_predictions"]) == (False, False)
    tasks = client.request("GET", "/api/tasks", params={"project": project_id}, what="tasks").json()["tasks"]
    doc_of = {int(t["id"]): t["data"]["doc_id"] for t in tasks}
    assert sorted(doc_of.values()) == sorted(titles)

    # 2. Two annotators join by the invite link, each in a browser of her own.
    invite = Gateway(client).users.invite_link()
    assert invite.startswith(f"{url}/user/signup")
    run = secrets.token_hex(4)
    team = {
        key: Annotator(key, f"team-{key}-{run}@example.org", secrets.token_urlsafe(16), new_browser())
        for key in ("a", "b")
    }
    for who in team.values():
        sign_up_by_invite(who.page, invite, who.email, who.password)
    a, b = team["a"], team["b"]

    # 3. A labels the first document her queue gives her and submits it; the stream moves on.
    first = open_queue(a.page, url, project_id)
    assert first is not None
    headline = a.page.locator(HEADLINE).inner_text()
    assert headline == titles[doc_of[first["id"]]]
    a_next = label_and_submit(a, first, taxonomy)
    assert a_next is not None and a_next["id"] != first["id"]
    # A's answer is on the task (the admin sees it), so what B is shown next is blind, not empty.
    answered = client.request("GET", f"/api/tasks/{first['id']}", what="task").json()["annotations"]
    assert [user_id(x["completed_by"]) for x in answered] == [member_id(url, a)]

    # B's queue gives her the same document, with nothing of A's answer on it.
    b_first = open_queue(b.page, url, project_id)
    assert b_first is not None and b_first["id"] == first["id"]
    assert b.page.locator(HEADLINE).inner_text() == headline
    assert (b_first["annotations"], b_first["predictions"], b_first["drafts"]) == ([], [], [])
    inputs = b.page.locator(".lsf-choices input")
    inputs.first.wait_for()
    assert inputs.count() == len(taxonomy.targets) * len(taxonomy.stance_values) + len(taxonomy.topics)
    expect_checked(b.page, 0)
    shown = b.page.content().lower()
    # The page names its own user (her avatar) and never A.
    assert b.email.split("@")[0] in shown and a.email.split("@")[0] not in shown
    # Asked as B (her own session, not the admin's), the queue still holds that task for her and
    # gives none of the answers already on it.
    b_session = members.log_in(url, b.email, b.password)
    try:
        queued = b_session.next_task(project_id)
    finally:
        b_session.close()
    assert queued is not None and queued["id"] == first["id"]
    assert (queued["annotations"], queued["predictions"]) == ([], [])

    # 4. Both work their queues until they are empty: every document gets both annotators.
    b_next = label_and_submit(b, b_first, taxonomy)
    assert b_next is not None and b_next["id"] == a_next["id"]
    work_the_queue(a, a_next, taxonomy)
    work_the_queue(b, b_next, taxonomy)
    assert sorted(a.labelled) == sorted(b.labelled) == sorted(doc_of)

    # A third annotator who joins now finds nothing left: the queue and the browser say so.
    c_email, c_password = f"team-c-{run}@example.org", secrets.token_urlsafe(16)
    c_session = members.sign_up(invite, c_email, c_password)
    try:
        assert c_session.next_task(project_id) is None
    finally:
        c_session.close()
    c_page = new_browser()
    c_page.goto(f"{url}/user/login")
    c_page.fill("input#email", c_email)
    c_page.fill("input#password", c_password)
    c_page.click("form button[type=submit]")
    c_page.wait_for_url(lambda current: "/user/login" not in current)
    assert open_queue(c_page, url, project_id) is None
    assert c_page.get_by_text("All tasks in the queue have been completed").is_visible()
    assert c_page.locator(HEADLINE).count() == 0

    # 5. pull returns both answers of every document, each under its annotator.
    snapshot = corpus / "annotations"
    pulled = pull(project=project_id, out=snapshot, settings=settings)
    assert pulled.counts["annotations"] == 4 and pulled.annotators == 2
    rows = [
        json.loads(line) for line in (snapshot / "annotations.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    key_of = {who.email: who.key for who in team.values()}
    by_doc: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_doc.setdefault(row["document_id"], {})[key_of[row["annotator"]["email"]]] = row
    assert sorted(by_doc) == sorted(titles)
    for doc_id, answers in by_doc.items():
        assert sorted(answers) == ["a", "b"], doc_id
        for key, row in answers.items():
            assert row["stance"] == ANSWERS[key]["stance"]
            assert sorted(row["topics"]) == ANSWERS[key]["topics"]
            assert row["was_cancelled"] is False
    assert len(rows) == 4

    # ... and agreement is measured on both documents, from two annotators.
    monkeypatch.chdir(corpus)
    result = agreement(snapshot)
    assert result.counts["overlapped_documents"] == 2
    assert result.counts["single_documents"] == 0
    assert result.counts["annotators"] == 2
