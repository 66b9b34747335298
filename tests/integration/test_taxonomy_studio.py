"""The generated labelling config on a real Label Studio: accepted by the server, rendered in headless
Chromium for a seed document (headline, body, every choice), and an annotation made in the browser
comes back in the shape `result_to_row_fields` expects: choices and labels exported as their `alias`
(the taxonomy id, not the displayed name), the speaker as a per-region textarea sharing the span's id."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from corpuskit.documents.model import body_text, content_sha256
from corpuskit.documents.rawtext import parse_raw_text
from corpuskit.taxonomy import (
    annotation_problems,
    guidelines_html,
    label_config,
    load_taxonomy,
    result_to_row_fields,
    row_to_result,
)

if TYPE_CHECKING:
    from corpuskit.studio.server import StudioServer

pytestmark = pytest.mark.studio

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "raw" / "000_94744c74cf2a33e7.txt"
ARTIFACTS = ROOT / "tests" / "artifacts"
QUOTE = "This illegal military cooperation between Russia and North Korea is a significant security threat"


def seed_task() -> dict[str, Any]:
    """Task data for the seed document, as push builds it (docs/data-model.md)."""
    parsed = parse_raw_text(SEED.read_text(encoding="utf-8"), doc_id=SEED.stem, raw_path=f"raw/{SEED.name}")
    doc = parsed.document
    assert doc is not None, parsed.problems
    keys = ("title", "summary", "section", "source", "published_at", "modified_at")
    return {
        "doc_id": doc["id"],
        "content_sha256": content_sha256(doc),
        "taxonomy_version": "1.0.0",
        **{key: doc[key] for key in keys},
        "source_name": doc["source"],
        "text": body_text(doc),
    }


def export(server: StudioServer, project: int) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{server.url}/api/projects/{project}/export?exportType=JSON&download_all_tasks=true",
        headers={"Authorization": f"Token {server.token}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        tasks: list[dict[str, Any]] = json.loads(response.read())
    return tasks


@pytest.fixture(scope="module")
def taxonomy() -> Any:
    return load_taxonomy(ROOT / "schema" / "taxonomy.yaml")


@pytest.fixture
def project(
    studio_server: StudioServer, taxonomy: Any, request: pytest.FixtureRequest
) -> Iterator[tuple[Any, int, int]]:
    """A project made from the generated config and instructions, with the seed document as its task."""
    import httpx
    from label_studio_sdk import LabelStudio

    with httpx.Client(timeout=60.0) as http:
        ls = LabelStudio(base_url=studio_server.url, api_key=studio_server.token, httpx_client=http)
        yield _make_project(ls, taxonomy, f"taxonomy {request.node.name}"[:50])


def _make_project(ls: Any, taxonomy: Any, title: str) -> tuple[Any, int, int]:
    created = ls.projects.create(
        title=title,
        label_config=label_config(taxonomy),
        expert_instruction=guidelines_html(taxonomy, ROOT / "docs" / "annotation-guidelines.md"),
        show_instruction=True,
    )
    assert created.id is not None
    ls.projects.import_tasks(created.id, request=[{"data": seed_task()}])
    (task,) = list(ls.tasks.list(project=created.id))
    assert task.id is not None
    return ls, created.id, task.id


def test_label_studio_accepts_the_config_and_round_trips_an_annotation(
    studio_server: StudioServer, taxonomy: Any, project: tuple[Any, int, int]
) -> None:
    ls, project_id, task_id = project
    stored = ls.projects.get(id=project_id)
    assert stored.label_config.strip() == label_config(taxonomy).strip()
    assert "<h1>Annotation guidelines</h1>" in (stored.expert_instruction or "")

    text = seed_task()["text"]
    start = text.index(QUOTE)
    fields = {
        "stance": {"rnk_military_cooperation": "against", "ukraine_military_aid": "neutral"},
        "topics": ["military_cooperation", "troop_deployment", "international_law"],
        "spans": [
            {
                "start": start,
                "end": start + len(QUOTE),
                "text": QUOTE,
                "target": "rnk_military_cooperation",
                "speaker": "Yoon Suk Yeol",
            }
        ],
        "note": "imported through the API",
    }
    ls.annotations.create(id=task_id, result=row_to_result(taxonomy, fields, text))
    (exported,) = export(studio_server, project_id)
    (annotation,) = exported["annotations"]
    back, problems = result_to_row_fields(taxonomy, annotation["result"])
    assert problems == []
    assert back == fields


@pytest.mark.browser
def test_the_labelling_page_renders_and_a_browser_annotation_maps_back(
    studio_server: StudioServer,
    taxonomy: Any,
    project: tuple[Any, int, int],
    chromium_page: Any,
    studio_login: Any,
) -> None:
    _, project_id, task_id = project
    data = seed_task()
    page = chromium_page
    # Tall enough for the whole form: Label Studio scrolls inside its own panels, not the page.
    page.set_viewport_size({"width": 1400, "height": 3200})
    studio_login(page, studio_server.url, studio_server.username, studio_server.password)
    page.goto(f"{studio_server.url}/projects/{project_id}/data?task={task_id}")
    body = page.locator(".lsf-htx-richtext").first
    body.wait_for(state="visible")

    for shown in (data["title"], data["source"], data["section"], data["published_at"]):
        page.get_by_text(shown, exact=True).first.wait_for(state="visible")
    first_paragraph = data["text"].split("\n\n")[0]
    last_paragraph = data["text"].split("\n\n")[-1]
    assert first_paragraph in body.inner_text()
    assert last_paragraph in body.inner_text()
    for value in taxonomy.stance_values:
        choices = page.locator(f"input[name='{value.name}']")
        assert choices.count() == len(taxonomy.targets)
        for index in range(len(taxonomy.targets)):
            assert choices.nth(index).is_visible()
    for topic in taxonomy.topics:
        assert page.locator(f"input[name='{topic.name}']").is_visible(), topic.name
    for target in taxonomy.targets:
        assert page.get_by_text(f"Evidence: {target.name}", exact=True).first.is_visible()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "taxonomy-labelling-page.png"), full_page=True)

    # Annotate: one stance per block, two topics, the quote as evidence with its speaker.
    page.locator("input[name='Against']").nth(0).check()
    page.locator("input[name='Neutral']").nth(1).check()
    page.locator("input[name='Military cooperation']").check()
    page.locator("input[name='Troop deployment']").check()
    page.get_by_text("Evidence: Russia–North Korea military cooperation", exact=True).first.click()
    body.evaluate(
        """(node, quote) => {
            const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
            let text;
            while ((text = walker.nextNode())) {
                const at = text.data.indexOf(quote);
                if (at >= 0) {
                    const range = document.createRange();
                    range.setStart(text, at);
                    range.setEnd(text, at + quote.length);
                    const selection = window.getSelection();
                    selection.removeAllRanges();
                    selection.addRange(range);
                    text.parentElement.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
                    return;
                }
            }
            throw new Error("quote not found in the body");
        }""",
        QUOTE,
    )
    # The speaker box shows for the selected region: select it in the regions list.
    page.get_by_text("Evidence: Russia–North Korea military cooperation", exact=True).last.click()
    speaker = page.locator("input[name='speaker'], textarea[name='speaker']").first
    speaker.wait_for(state="visible")
    speaker.fill("Yoon Suk Yeol")
    speaker.press("Enter")
    note = page.locator("textarea[name='note']")
    note.fill("checked in the browser")
    note.press("Shift+Enter")  # a TextArea keeps only text added with Shift+Enter or its Add button
    page.locator("[data-testid=bottombar-submit-button]").click()

    def submitted() -> list[dict[str, Any]]:
        annotations: list[dict[str, Any]] = export(studio_server, project_id)[0]["annotations"]
        return annotations

    page.wait_for_timeout(500)
    for _ in range(40):
        if submitted():
            break
        page.wait_for_timeout(250)
    (annotation,) = submitted()
    fields, problems = result_to_row_fields(taxonomy, annotation["result"])
    assert problems == []
    start = data["text"].index(QUOTE)
    assert fields == {
        "stance": {"rnk_military_cooperation": "against", "ukraine_military_aid": "neutral"},
        "topics": ["military_cooperation", "troop_deployment"],
        "spans": [
            {
                "start": start,
                "end": start + len(QUOTE),
                "text": QUOTE,
                "target": "rnk_military_cooperation",
                "speaker": "Yoon Suk Yeol",
            }
        ],
        "note": "checked in the browser",
    }
    row = {
        "document_id": data["doc_id"],
        "content_sha256": data["content_sha256"],
        "task_id": task_id,
        "annotation_id": annotation["id"],
        "annotator": {"id": None, "email": None},
        "taxonomy_version": taxonomy.version,
        **fields,
        "lead_time": annotation.get("lead_time"),
        "created_at": annotation["created_at"],
        "updated_at": annotation["updated_at"],
        "was_cancelled": annotation["was_cancelled"],
        "ground_truth": annotation["ground_truth"],
        "original": None,
        "result": annotation["result"],
    }
    assert annotation_problems(taxonomy, row, data["text"]) == []
