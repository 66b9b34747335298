"""An annotator, tested as an annotator: the real Label Studio UI in headless Chromium, end to end.

`corpuskit push` puts the seeds into a project; a new annotator joins through the organisation's
invite link (the way a team adds people to Label Studio: its user API cannot set a password), logs
in, labels one seed document with the mouse and keyboard, submits; `corpuskit pull` must then
return exactly that annotation. Screenshots of the labelling page go to tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from corpuskit.documents.model import body_text
from corpuskit.settings import load_settings
from corpuskit.taxonomy import load_taxonomy
from corpuskit.validation.api import iter_valid_documents

if TYPE_CHECKING:
    from corpuskit.studio.server import StudioServer

pytestmark = [pytest.mark.studio, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
CORPUSKIT = str(Path(sys.executable).parent / "corpuskit")
ARTIFACTS = REPO / "tests" / "artifacts"

DOC_ID = "000_94744c74cf2a33e7"
# A quote in the seed's body, marked as evidence for the first target, with its speaker.
QUOTE = (
    '"As the war in Ukraine continues for the third year, North Korea has gone beyond providing '
    'weapons to Russia and has even deployed troops," President Yoon Suk Yeol said.'
)
SPEAKER = "Yoon Suk Yeol"
STANCE = {"rnk_military_cooperation": "against", "ukraine_military_aid": "unrelated"}
TOPICS = ["military_cooperation", "troop_deployment"]

SUBMIT = "[data-testid=bottombar-submit-button]"
TEXT = ".lsf-htx-richtext"


def run_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")} | env
    return subprocess.run(
        [CORPUSKIT, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def corpus(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A copy of this repository's corpus (seeds, schema, taxonomy, guidelines) with its own project."""
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copytree(REPO / "schema", root / "schema")
    shutil.copytree(REPO / "raw", root / "raw")
    (root / "docs").mkdir()
    shutil.copy(REPO / "docs" / "annotation-guidelines.md", root / "docs")
    title = f"e2e {secrets.token_hex(3)} {request.node.name}"[:50]
    (root / "pyproject.toml").write_text(
        f'[tool.corpuskit]\nraw = "raw"\nproject_title = {json.dumps(title)}\n', encoding="utf-8"
    )
    return root


def api(server: StudioServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Token {server.token}"}, timeout=60.0)


def sign_up(browser: Any, server: StudioServer, email: str, password: str) -> None:
    """Join the organisation through its invite link, as a new annotator does (in a browser of its own)."""
    with api(server) as client:
        invite = client.get("/api/invite").raise_for_status().json()["invite_url"]
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.url + invite)
        page.fill("input#email", email)
        page.fill("input#password", password)
        page.click("form#signup-form button[type=submit]")
        page.wait_for_url(lambda url: "/user/signup" not in url)
    finally:
        context.close()


def choices(page: Any, header: str) -> Any:
    """The choice block that follows a header of the labelling config (stance blocks share labels)."""
    return page.locator(
        f"xpath=//h3[normalize-space()={json.dumps(header, ensure_ascii=False)}]"
        "/following-sibling::div[contains(@class, 'lsf-choices')][1]"
    )


def pick(block: Any, label: str) -> None:
    # Choices render as antd checkboxes named after the displayed value; the label takes the click.
    block.locator(f"label:has(input[name={json.dumps(label, ensure_ascii=False)}])").click()


def select_in_text(page: Any, quote: str) -> None:
    """Select `quote` inside the document text as a mouse drag would, then release the mouse."""
    line = page.locator(f"{TEXT} .lsf-richtext__line", has_text=quote[:40])
    line.evaluate(
        """(el, quote) => {
            const node = el.firstChild;
            const start = node.textContent.indexOf(quote);
            if (start < 0) throw new Error("quote not in line");
            const range = document.createRange();
            range.setStart(node, start);
            range.setEnd(node, start + quote.length);
            const selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
            el.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
        }""",
        quote,
    )


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def annotations_of(server: StudioServer, task_id: int) -> list[dict[str, Any]]:
    with api(server) as client:
        task = client.get(f"/api/tasks/{task_id}").raise_for_status().json()
    return list(task["annotations"])


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def server_env(server: StudioServer) -> dict[str, str]:
    """The environment that points the CLI at the test session's server."""
    return {"LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.token}


def push_corpus(corpus: Path, server: StudioServer, created: int) -> tuple[int, list[dict[str, Any]]]:
    """`corpuskit push` the corpus as a user would; the project id and its tasks as the server has them."""
    pushed = run_cli(["push", "--format", "json", "--quiet"], corpus, server_env(server))
    assert pushed.returncode == 0, pushed.stderr
    summary = json.loads(pushed.stdout)
    assert summary["applied"]["created"] == created
    project_id = int(summary["project"]["id"])
    with api(server) as client:
        tasks = client.get("/api/tasks", params={"project": project_id}).raise_for_status().json()["tasks"]
    return project_id, list(tasks)


def test_annotator_labels_a_seed_in_the_browser_and_pull_returns_it(
    corpus: Path, studio_server: StudioServer, chromium_page: Any, studio_login: Any
) -> None:
    env = server_env(studio_server)
    project_id, tasks = push_corpus(corpus, studio_server, created=2)
    task_id = next(t["id"] for t in tasks if t["data"]["doc_id"] == DOC_ID)
    settings = load_settings(corpus)
    document = next(d for d in iter_valid_documents(settings=settings) if d["id"] == DOC_ID)
    body = body_text(document)
    taxonomy = load_taxonomy(corpus / "schema" / "taxonomy.yaml")
    targets = {t.id: t.name for t in taxonomy.targets}
    value_names = {v.id: v.name for v in taxonomy.stance_values}
    topic_names = {t.id: t.name for t in taxonomy.topics}

    email = f"annotator-{secrets.token_hex(4)}@example.org"
    password = secrets.token_urlsafe(16)
    page = chromium_page
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_up(page.context.browser, studio_server, email, password)
    studio_login(page, studio_server.url, email, password)

    page.goto(f"{studio_server.url}/projects/{project_id}/data?task={task_id}")
    text = page.locator(TEXT)
    text.wait_for()
    # What the annotator reads above the text: headline, standfirst, section and dates.
    # The data manager's task table behind the editor holds the same strings in hidden cells, so
    # wait for a visible match rather than taking the first one (which may be hidden or not yet drawn).
    for key in ("title", "summary", "section", "published_at"):
        shown = page.get_by_text(document[key], exact=True).locator("visible=true").first
        shown.wait_for(state="visible", timeout=30_000)
        assert shown.is_visible(), key
    shoot(page, "labelling-page-before.png")
    first, second = list(targets)
    stance_blocks = {target: choices(page, f"Stance: {name}") for target, name in targets.items()}
    stance_blocks[first].scroll_into_view_if_needed()
    shoot(page, "labelling-choices-before.png")

    # Submitting with a required stance still empty warns and creates nothing.
    pick(stance_blocks[first], value_names[STANCE[first]])
    page.click(SUBMIT)
    warning = page.locator(".ant-modal-wrap")
    warning.wait_for()
    assert "required" in warning.inner_text()
    assert f"Choose a stance for {targets[second]}" in warning.inner_text()
    shoot(page, "labelling-required-warning.png")
    warning.get_by_role("button", name="OK").click()
    warning.wait_for(state="hidden")
    assert annotations_of(studio_server, task_id) == []

    pick(stance_blocks[second], value_names[STANCE[second]])
    topic_block = choices(page, "Topics (all that apply)")
    for topic in TOPICS:
        pick(topic_block, topic_names[topic])

    page.locator(".lsf-label", has_text=f"Evidence: {targets[first]}").click()
    select_in_text(page, QUOTE)
    region = page.locator(".lsf-outliner-item", has_text=QUOTE[:40])
    region.wait_for()
    # The per-region speaker box appears once the region is selected.
    region.click()
    speaker = page.locator("input[name=speaker]")
    speaker.wait_for()
    speaker.fill(SPEAKER)
    speaker.press("Enter")
    stance_blocks[first].scroll_into_view_if_needed()
    shoot(page, "labelling-choices-after.png")
    text.locator(".htx-highlight").first.scroll_into_view_if_needed()
    shoot(page, "labelling-page-after.png")

    page.click(SUBMIT)
    made = wait_for(lambda: annotations_of(studio_server, task_id), "the submitted annotation")
    assert len(made) == 1

    pulled = run_cli(["pull", "--format", "json"], corpus, env)
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["annotations"] == 1
    rows = [
        json.loads(line)
        for line in (corpus / "annotations" / "annotations.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(rows) == 1
    row = rows[0]
    start = body.index(QUOTE)
    assert row["document_id"] == DOC_ID
    assert row["task_id"] == task_id
    assert row["annotation_id"] == made[0]["id"]
    assert row["content_sha256"] == document["content_sha256"]
    assert row["annotator"]["email"] == email
    assert row["stance"] == STANCE
    assert sorted(row["topics"]) == TOPICS
    assert row["spans"] == [
        {"start": start, "end": start + len(QUOTE), "text": QUOTE, "target": first, "speaker": SPEAKER}
    ]
    assert row["spans"][0]["text"] == body[row["spans"][0]["start"] : row["spans"][0]["end"]]
    assert row["note"] is None
    assert row["was_cancelled"] is False
    assert row["ground_truth"] is False
    assert row["taxonomy_version"] == taxonomy.version
    problems = (corpus / "annotations" / "problems.jsonl").read_text(encoding="utf-8")
    assert problems == ""
    # The annotator's password never reaches the snapshot.
    for path in (corpus / "annotations").iterdir():
        assert password not in path.read_text(encoding="utf-8")
