"""HTML and script in an article stay inert text all the way: in validation, in Label Studio (checked in
headless Chromium: no dialog, no script run, the markup shown as text), in the pulled snapshot, in the
release's Parquet files (byte for byte) and in the dataset card (shown as text, never as HTML)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from corpuskit.documents.model import body_text
from corpuskit.settings import load_settings
from corpuskit.studio.server import StudioServer
from corpuskit.validation.api import iter_valid_documents
from support.release_corpus import make_corpus, write_snapshot
from support.reliability_log import LOG, reliability  # noqa: F401 (the fixture)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PROJECT_TITLE = "corpuskit inert html test"
DOC_ID = "html-attack"
LOG_SECTION = "inert-markup"

pytestmark = pytest.mark.usefixtures("reliability")


def count(name: str, amount: int = 1) -> None:
    """Record a figure for docs/reliability.md once the assertions it stands for have passed (the
    section is described on first use, so a run that deselects these tests keeps the last figures)."""
    LOG.section(
        LOG_SECTION,
        title="Attackers: HTML and script in an article stay inert text",
        checks=[
            "<script>, <img onerror>, <svg onload>, <iframe> and javascript: links in the title, standfirst,"
            " section, source, body, credits and related links of a pushed article",
            "Label Studio in headless Chromium: no dialog, no payload ran, no element of the document in"
            " the DOM, the markup shown as literal text",
            "pulled task data, the release's Parquet (byte for byte) and the dataset card rendered as the"
            " Hub renders Markdown (no element or attribute from the data)",
        ],
    )
    LOG.count(LOG_SECTION, name, amount)


# Every payload also sets window.__pwned, so a script that ran is seen even where a dialog would not be.
TITLE = "Officials <script>window.__pwned='title';alert('title')</script> meet in Seoul"
SUMMARY = "Leaders <img src=x onerror=\"window.__pwned='summary';alert(2)\"> said talks would resume."
SECTION = "<b onmouseover=alert(3)>Asia</b>"
SOURCE = "<img src=x onerror=\"window.__pwned='source';alert(4)\">"
PARAGRAPHS = [
    "The ministry said <script>alert(1)</script> was found in a press release on Tuesday afternoon.",
    "A reader sent <img src=x onerror=\"window.__pwned='body';alert(1)\"> and "
    '<a href="javascript:alert(5)">a javascript: link</a> to the desk on Wednesday.',
    'An <iframe src="javascript:alert(6)"></iframe> and <svg onload="window.__pwned=\'svg\'"> '
    "appeared in the comments, with &lt;escaped&gt; entities and AT&amp;T beside them.",
]
CREDIT = "with <script>alert(7)</script> inputs"
RELATED_TITLE = "<script>alert(8)</script> more on the summit"
ARTICLE = "\n".join(
    [
        TITLE,
        SUMMARY,
        f"- Section: {SECTION}",
        f"- Source: {SOURCE}",
        "- Published Date: 10:00 | 3 March 2024",
        *PARAGRAPHS,
        f"({CREDIT})",
        f"ALSO READ | {RELATED_TITLE}",
    ]
)
# The markup as it must stay: every field of the document holds it verbatim.
EXPECTED = {
    "title": TITLE,
    "summary": SUMMARY,
    "section": SECTION,
    "source": SOURCE,
    "paragraphs": [{"heading": None, "text": text} for text in PARAGRAPHS],
    "credits": [CREDIT],
    "related": [{"label": "ALSO READ", "title": RELATED_TITLE}],
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_corpus(tmp_path_factory.mktemp("inert") / "corpus", extra=2)
    (root / "raw" / f"{DOC_ID}.txt").write_text(ARTICLE + "\n", encoding="utf-8")
    return root


def the_document(root: Path) -> dict[str, Any]:
    (doc,) = [d for d in iter_valid_documents(settings=load_settings(root)) if d["id"] == DOC_ID]
    return doc


def test_markup_in_an_article_is_read_as_plain_text(corpus: Path) -> None:
    doc = the_document(corpus)
    assert {key: doc[key] for key in EXPECTED} == EXPECTED


class _Tags(HTMLParser):
    """Every element and attribute of an HTML text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


SAFE_CARD_TAGS = {
    *("h1", "h2", "h3", "h4", "p", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td"),
    *("code", "pre", "strong", "em", "blockquote", "hr", "br"),
}


def test_the_release_keeps_the_markup_byte_for_byte_and_the_card_shows_it_as_text(corpus: Path) -> None:
    import markdown_it
    import pyarrow.parquet as pq

    from corpuskit.release.api import release

    write_snapshot(corpus)
    folder = release("1.0.0", settings=load_settings(corpus)).folder
    doc = the_document(corpus)

    rows: dict[str, list[dict[str, Any]]] = {}
    for config in ("documents", "gold"):
        for path in sorted((folder / "data" / config).glob("*.parquet")):
            rows.setdefault(config, []).extend(
                r for r in pq.read_table(path).to_pylist() if r["id"] == DOC_ID
            )
    (document_row,) = rows["documents"]
    for key, value in EXPECTED.items():
        got = document_row[key]
        if key == "related":
            got = [{k: v for k, v in link.items() if v is not None} for link in got]
        assert got == value, key
        assert json.dumps(got, ensure_ascii=False).encode() == json.dumps(value, ensure_ascii=False).encode()
    assert document_row["text"] == body_text(doc)
    (gold_row,) = rows["gold"]
    assert (gold_row["title"], gold_row["text"]) == (TITLE, body_text(doc))

    card = (folder / "README.md").read_text(encoding="utf-8")
    # The Hub renders the card as Markdown with raw HTML allowed: render it the same way.
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(card.split("---\n", 2)[2])
    parsed = _Tags()
    parsed.feed(html)
    tags = {tag for tag, _ in parsed.tags}
    assert tags <= SAFE_CARD_TAGS, tags - SAFE_CARD_TAGS
    # The only attributes are the code blocks' language classes: no handler, no link, no source.
    attributes = {(name, value) for _, attrs in parsed.tags for name, value in attrs}
    assert all(name == "class" and (value or "").startswith("language-") for name, value in attributes)
    # The source is in the card's table of sources, shown as the text it is.
    assert SOURCE in "".join(parsed.text)
    assert SECTION not in card  # sections are not listed, so they cannot inject anything

    from huggingface_hub import DatasetCard

    assert DatasetCard.load(folder / "README.md").data.to_dict()["configs"]
    count("fields checked byte for byte in the release", len(EXPECTED) + 1)


@pytest.mark.studio
@pytest.mark.browser
def test_label_studio_shows_the_markup_as_text_and_runs_nothing(
    corpus: Path,
    studio_server: StudioServer,
    chromium_page: Any,
    studio_login: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from corpuskit.snapshot import read_snapshot
    from corpuskit.studio.client import StudioClient, connection
    from corpuskit.studio.pull import pull
    from corpuskit.studio.push import push, read_tasks

    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    with (corpus / "pyproject.toml").open("a", encoding="utf-8") as handle:
        handle.write(
            f'project_title = "{PROJECT_TITLE}"\nstudio_dir = {json.dumps(str(studio_server.data_dir))}\n'
        )
    settings = load_settings(corpus)
    pushed = push(settings=settings, progress=False)
    assert pushed.project_id is not None
    with StudioClient(connection(settings)) as client:
        (task,) = [t for t in read_tasks(client, pushed.project_id) if t.doc_id == DOC_ID]
    doc = the_document(corpus)
    assert task.data["title"] == TITLE and task.data["text"] == body_text(doc)

    page = chromium_page
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.set_viewport_size({"width": 1400, "height": 2000})
    studio_login(page, studio_server.url, studio_server.username, studio_server.password)
    page.goto(f"{studio_server.url}/projects/{pushed.project_id}/data?task={task.id}")
    body = page.locator(".lsf-htx-richtext").first
    body.wait_for(state="visible")
    # Give the headers time to render and any event handler that got through a moment to fire; the
    # screenshot comes first so that a failure below can be looked at.
    page.mouse.move(300, 300)
    page.wait_for_timeout(1500)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inert-html-labelling-page.png"), full_page=True)

    shown = body.inner_text()
    for paragraph in PARAGRAPHS:
        assert paragraph in shown  # the markup, character for character, as visible text
    # The headline, standfirst, section and source headers show their markup as text too (innerText
    # folds the whitespace of headers, so compare with it folded).
    for value in (TITLE, SUMMARY, SECTION, SOURCE):
        try:
            page.wait_for_function(
                "value => document.body.innerText.replace(/\\s+/g, ' ').includes(value)",
                arg=value,
                timeout=15_000,
            )
        except PlaywrightTimeout:  # show what the page holds instead
            text = " ".join(page.evaluate("() => document.body.innerText").split())
            at = text.find(value[:9])
            raise AssertionError(
                f"{value!r} not shown; the page has {text[max(at, 0) : max(at, 0) + 300]!r}"
            ) from None

    assert dialogs == []
    for frame in page.frames:
        assert frame.evaluate("() => window.__pwned === undefined"), frame.url
        # No element from the document: no script, image, iframe or svg with a handler or a javascript: URL.
        planted = frame.evaluate(
            """() => [...document.querySelectorAll('img[onerror], svg[onload], [onmouseover],'
                + ' iframe[src^="javascript"], a[href^="javascript"], b[onmouseover]')].length"""
        )
        assert planted == 0, frame.url
        scripts = frame.evaluate(
            "() => [...document.querySelectorAll('script')]"
            ".filter(s => s.textContent.includes('alert(')).length"
        )
        assert scripts == 0, frame.url

    # Pulled back, the snapshot's task data holds the same text, byte for byte.
    out = corpus / "pulled"
    pull(project=pushed.project_id, out=out, settings=settings)
    (pulled,) = [t for t in read_snapshot(out, tables=("tasks",)).tasks if t["document_id"] == DOC_ID]
    assert pulled["data"]["title"] == TITLE
    assert pulled["data"]["text"].encode() == body_text(doc).encode()
    for key in ("summary", "section", "source"):
        assert pulled["data"][key] == EXPECTED[key]
    count("fields with markup shown as text in Chromium", len(PARAGRAPHS) + 4)
    count("dialogs opened", len(dialogs))
    count("frames searched for planted elements", len(page.frames))
