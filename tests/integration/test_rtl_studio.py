"""An Arabic document in the real labelling page (headless Chromium): it reads right to left, and an
evidence span selected on it comes back from `corpuskit pull` with the right offsets and text.

Screenshots go to tests/artifacts/ (labelling-arabic-rtl-*.png).
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from test_e2e_annotator import (
    SUBMIT,
    TEXT,
    api,
    choices,
    pick,
    push_corpus,
    run_cli,
    select_in_text,
    server_env,
    shoot,
    wait_for,
)

from corpuskit.documents.model import body_text
from corpuskit.settings import load_settings
from corpuskit.taxonomy import load_taxonomy
from corpuskit.validation.api import iter_valid_documents

if TYPE_CHECKING:
    from corpuskit.studio.server import StudioServer

pytestmark = [pytest.mark.studio, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
ARABIC = REPO / "tests" / "data" / "languages" / "arabic-budget.txt"
DOC_ID = "arabic-budget"
# A clause of the second body paragraph: "the finance minister said".
QUOTE = "وقال وزير المالية إن الإجراءات ستدخل حيز التنفيذ"


@pytest.fixture
def corpus(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """This repository's schema, taxonomy and guidelines with one Arabic article, in its own project."""
    root = tmp_path / "corpus"
    (root / "raw").mkdir(parents=True)
    shutil.copytree(REPO / "schema", root / "schema")
    shutil.copy(ARABIC, root / "raw" / ARABIC.name)
    (root / "docs").mkdir()
    shutil.copy(REPO / "docs" / "annotation-guidelines.md", root / "docs")
    title = f"rtl {secrets.token_hex(3)} {request.node.name}"[:50]
    (root / "pyproject.toml").write_text(
        f'[tool.corpuskit]\nraw = "raw"\nproject_title = {json.dumps(title)}\n', encoding="utf-8"
    )
    return root


# How Chromium laid out each line of the body (one per paragraph; the empty lines between them
# aside): the line's computed bidi and alignment, where its first and last characters were drawn
# and where its text ends, against the text container's edges. Right to left, the first character
# is drawn right of the last, and the text ends at the container's right edge, however short.
_LAYOUT = """(container) => [...container.querySelectorAll(".lsf-richtext__line")]
    .filter((line) => line.textContent.length > 0)
    .map((line) => {
    const node = line.firstChild;
    const range = (from, to) => {
        const r = document.createRange();
        r.setStart(node, from);
        r.setEnd(node, to);
        return r.getBoundingClientRect();
    };
    const style = getComputedStyle(line);
    const first = range(0, 1), last = range(node.textContent.length - 1, node.textContent.length);
    const text = range(0, node.textContent.length), box = container.getBoundingClientRect();
    return {
        text: node.textContent.slice(0, 20), unicodeBidi: style.unicodeBidi, textAlign: style.textAlign,
        firstLeft: first.left, lastRight: last.right,
        gapRight: box.right - text.right, gapLeft: text.left - box.left,
    };
})"""


def test_an_arabic_document_reads_right_to_left_and_its_span_round_trips(
    corpus: Path, studio_server: StudioServer, chromium_page: Any, studio_login: Any
) -> None:
    env = server_env(studio_server)
    project_id, (task,) = push_corpus(corpus, studio_server, created=1)
    assert (task["data"]["language"], task["data"]["direction"]) == ("ar", "rtl")
    document = next(iter(iter_valid_documents(settings=load_settings(corpus))))
    assert (document["id"], document["language"]) == (DOC_ID, "ar")
    body = body_text(document)
    taxonomy = load_taxonomy(corpus / "schema" / "taxonomy.yaml")
    first_target = taxonomy.targets[0]
    unrelated = next(v.name for v in taxonomy.stance_values if v.id == "unrelated")

    page = chromium_page
    page.set_viewport_size({"width": 1400, "height": 1000})
    studio_login(page, studio_server.url, studio_server.username, studio_server.password)
    page.goto(f"{studio_server.url}/projects/{project_id}/data?task={task['id']}")
    line = page.locator(f"{TEXT} .lsf-richtext__line", has_text=QUOTE)
    line.wait_for()
    shoot(page, "labelling-arabic-rtl-before.png")

    lines = page.locator(TEXT).evaluate(_LAYOUT)
    assert len(lines) == len(document["paragraphs"]) == 3, lines
    for layout in lines:
        assert (layout["unicodeBidi"], layout["textAlign"]) == ("plaintext", "start"), layout
        assert layout["firstLeft"] > layout["lastRight"], layout
        assert layout["gapRight"] < 20, layout
    # The short lines leave their room on the left (left to right, it would be on the right).
    assert sum(layout["gapLeft"] > 50 for layout in lines) == 2, lines
    headline = page.get_by_text(document["title"], exact=True).locator("visible=true").first
    assert headline.evaluate("(el) => getComputedStyle(el).unicodeBidi") == "plaintext"

    for target in taxonomy.targets:
        pick(choices(page, f"Stance: {target.name}"), unrelated)
    page.locator(".lsf-label", has_text=f"Evidence: {first_target.name}").click()
    select_in_text(page, QUOTE)
    region = page.locator(".lsf-outliner-item", has_text=QUOTE[:20])
    region.wait_for()
    page.locator(f"{TEXT} .htx-highlight").first.scroll_into_view_if_needed()
    shoot(page, "labelling-arabic-rtl-span.png")

    page.click(SUBMIT)

    def annotations() -> list[dict[str, Any]]:
        with api(studio_server) as client:
            return list(client.get(f"/api/tasks/{task['id']}").raise_for_status().json()["annotations"])

    assert len(wait_for(annotations, "the submitted annotation")) == 1
    pulled = run_cli(["pull", "--format", "json"], corpus, env)
    assert pulled.returncode == 0, pulled.stderr
    (row,) = [
        json.loads(text)
        for text in (corpus / "annotations" / "annotations.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    start = body.index(QUOTE)
    assert row["document_id"] == DOC_ID
    assert row["spans"] == [
        {"start": start, "end": start + len(QUOTE), "text": QUOTE, "target": first_target.id, "speaker": None}
    ]
    assert body[start : start + len(QUOTE)] == QUOTE
    assert (corpus / "annotations" / "problems.jsonl").read_text(encoding="utf-8") == ""
