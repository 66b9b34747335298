"""Property-based tests of reading and validating raw input: whatever the bytes, the end is a valid
document or a located error with a documented code; a valid document survives rendering and JSON.

tests/test_documents_*.py hold the reader's own examples (and a byte fuzz that only checks that reading
does not raise); these go through the whole `corpuskit.validate` path and check where each problem is
reported, on bytes, on article-shaped text and on JSON records with wrong shapes and types."""

from __future__ import annotations

import json
import os
import re
import string
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpuskit.documents.model import content_sha256
from corpuskit.documents.rawtext import parse_raw_text
from corpuskit.documents.reader import SourceRecord, read_file
from corpuskit.documents.rendertext import RenderError, render_raw_text
from corpuskit.settings import Settings
from corpuskit.validation.api import ValidationResult, iter_valid_documents, validate
from corpuskit.validation.schema_check import SchemaChecker, bundled_schema, load_checker
from support.reliability_log import LOG, reliability  # noqa: F401 (the fixture)

REPO = Path(__file__).resolve().parents[2]
SECTION = "bad-input"

pytestmark = pytest.mark.usefixtures("reliability")


def count(name: str, amount: int = 1) -> None:
    """Record a figure for docs/reliability.md once the assertions it stands for have passed (the
    section is described on first use, so a run that deselects these tests keeps the last figures)."""
    LOG.section(
        SECTION,
        title="Bad input: property-based tests of the reader and validation (hypothesis, fixed seed)",
        checks=[
            "arbitrary bytes, article-shaped text with damage mixed in, JSON and JSONL records of any shape:"
            " `corpuskit.validate` never raises and ends in valid documents or errors with file, line and a"
            " code documented in docs/raw-format.md or docs/validation.md",
            "valid documents come back unchanged from .json and .jsonl, and from their rendered raw text",
            "longer runs: CORPUSKIT_PROPERTY_EXAMPLES=N, and `scripts/bench.py fuzz` (atheris)",
        ],
    )
    LOG.count(SECTION, name, amount)


NOW = datetime(2025, 1, 1, tzinfo=UTC)

# Derandomized: the same examples on every run and machine, so CI never turns red by chance. A plain
# settings object rather than a registered profile: registering one while the test session's settings
# differ from the active profile is deprecated in hypothesis (an error under -W error).
# CORPUSKIT_PROPERTY_EXAMPLES=5000 searches longer; scripts/bench.py fuzz searches with coverage guidance.
PROFILE = settings(
    max_examples=int(os.environ.get("CORPUSKIT_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _documented_codes() -> frozenset[str]:
    """Every diagnostic code the reference documents: the code column of docs/raw-format.md's
    normalization table and the code column of docs/validation.md's tables."""
    codes: set[str] = set()
    for line in (REPO / "docs" / "raw-format.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            codes.update(re.findall(r"`([a-z0-9]+(?:-[a-z0-9]+)*)`", line.rstrip(" |").rsplit("|", 1)[-1]))
    for line in (REPO / "docs" / "validation.md").read_text(encoding="utf-8").splitlines():
        codes.update(re.findall(r"^\| `([a-z0-9]+(?:-[a-z0-9]+)*)` \|", line))
    return frozenset(codes)


KNOWN_CODES = _documented_codes()


def test_the_documented_codes_are_found() -> None:
    # Guards the parsing above: if the tables change shape the properties would test nothing.
    assert {"invalid-utf8", "binary-data", "invalid-json", "duplicate-key", "too-many-errors"} <= KNOWN_CODES
    assert {"missing-field", "invalid-id", "forbidden-character", "duplicate-id"} <= KNOWN_CODES


def _line_count(data: bytes) -> int:
    # LF, CRLF and a lone CR each end a line, as the reader counts them.
    return data.count(b"\n") + data.replace(b"\r\n", b"\n").count(b"\r") + 1


def _checker() -> SchemaChecker:
    return load_checker(bundled_schema())


def check_outcome(folder: Path, path: Path, data: bytes) -> ValidationResult:
    """The property every input must have, checked through `corpuskit.validate`."""
    options = Settings(root=folder)
    result = validate([path], settings=options, cache=False, workers=1, now=NOW)
    assert result.files == 1
    # Something always comes out: a valid document or an error, never silence.
    assert result.valid > 0 or result.errors > 0, result
    lines = _line_count(data)
    for diagnostic in result.diagnostics:
        assert diagnostic.file == str(path), diagnostic
        assert diagnostic.code in KNOWN_CODES, diagnostic
        assert diagnostic.message.strip(), diagnostic
        assert diagnostic.line is not None and 1 <= diagnostic.line <= lines, (diagnostic, lines)
        if diagnostic.column is not None:
            assert diagnostic.column >= 1, diagnostic
        assert diagnostic.pointer == "" or diagnostic.pointer.startswith("/"), diagnostic
        assert "Traceback" not in diagnostic.message
    valid = list(iter_valid_documents([path], settings=options, result=result))
    assert len(valid) == result.valid
    checker = _checker()
    for document in valid:
        assert checker.is_valid(document), document
        assert document["content_sha256"] == content_sha256(document)
    count("inputs fuzzed")
    count("problems located", len(result.diagnostics))
    return result


# -- arbitrary bytes --------------------------------------------------------------------------------


@settings(PROFILE)
@given(data=st.binary(max_size=600), suffix=st.sampled_from([".txt", ".json", ".jsonl"]))
def test_any_bytes_end_in_valid_documents_or_located_errors(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str
) -> None:
    folder = tmp_path_factory.mktemp("bytes")
    path = folder / f"input{suffix}"
    path.write_bytes(data)
    check_outcome(folder, path, data)


# -- article-shaped text ----------------------------------------------------------------------------

# Characters that matter to the format or to the schema, mixed into otherwise ordinary words.
_AWKWARD = "\t\x00\x07\x0b\x0c\x1b\x7f\u00a0\u200b\u200d\u202e\u2028\u2066\ufeff|()-:.?<>&\"'\\"
_PLAIN_WORD = st.sampled_from(
    ["Seoul", "said", "the", "talks", "AFP", "Kim\u2019s", "Caf\u00e9", "2024", "<b>", "x|y", "(a)", "-"]
)
_ODD_WORD = st.one_of(
    st.text(alphabet=string.ascii_letters + _AWKWARD, min_size=1, max_size=6),
    st.text(min_size=1, max_size=4),
)
# Most lines are plain (so that many articles are valid and reach the renderer), one in five is damaged.
_SENTENCE = (
    st.integers(0, 4)
    .flatmap(
        lambda n: st.lists(
            st.one_of(_PLAIN_WORD, _ODD_WORD) if n == 0 else _PLAIN_WORD, min_size=1, max_size=12
        )
    )
    .map(" ".join)
)
_DATE_VALUE = st.one_of(
    st.sampled_from(
        [
            "07:38 | 29 October 2024",
            "07:38 | 31 February 2024",
            "25:00 | 1 May 2024",
            "7:5 | 1 Sept 2024",
            "07:38 | 29 Oct. 2099",
            "yesterday",
        ]
    ),
    st.builds(
        "{:02d}:{:02d} | {} {} {}".format,
        st.integers(0, 30),
        st.integers(0, 70),
        st.integers(0, 40),
        st.sampled_from(["January", "Feb", "sept", "Mai", "December"]),
        st.integers(1, 9999),
    ),
)
_BULLET = st.one_of(
    _SENTENCE.map(lambda value: f"- {value}"),
    st.sampled_from(["- Asia", "- AFP", "- Reuters", "- Section:", "- Source: Desk"]),
    st.builds(
        "- {}: {}".format,
        st.sampled_from(["Published Date", "Modified", "Updated date", "published"]),
        _DATE_VALUE,
    ),
)
_TRAILER = st.one_of(
    _SENTENCE.map(lambda value: f"({value})"),
    _SENTENCE.map(lambda value: f"ALSO READ | {value}"),
    _SENTENCE.map(lambda value: f"WATCH | {value} | https://example.org/{len(value)}"),
)
_BODY_LINE = st.one_of(_SENTENCE, _SENTENCE.map(lambda value: value + "."), _TRAILER, _BULLET)
_BLANK = st.sampled_from(["", " ", "\t", "  \t "])


@st.composite
def articles(draw: st.DrawFn) -> bytes:
    """Raw text that looks like an article: headline, standfirst, bullets, body, trailers, with
    damage mixed in (blank lines, odd characters, bad dates, repeated or extra bullets)."""
    lines = [draw(_SENTENCE)]
    if draw(st.booleans()):
        lines.append(draw(_BODY_LINE))
    lines += draw(st.lists(_BULLET, max_size=5))
    lines += draw(st.lists(_BODY_LINE, max_size=10))
    lines += draw(st.lists(_TRAILER, max_size=3))
    padded: list[str] = []
    for line in lines:
        padded += draw(st.lists(_BLANK, max_size=2))
        padded.append(draw(_BLANK) + line + draw(_BLANK))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    data = ending.join(padded).encode("utf-8") + draw(st.sampled_from([b"", ending.encode()]))
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 9)) == 0 and data:  # now and then a corrupt byte somewhere
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00"])) + data[at + 1 :]
    return data


@settings(PROFILE)
@given(data=articles())
def test_article_shaped_text_ends_in_a_valid_document_or_located_errors(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    folder = tmp_path_factory.mktemp("article")
    path = folder / "article.txt"
    path.write_bytes(data)
    result = check_outcome(folder, path, data)
    # A .txt file is one document: valid, or invalid with at least one error.
    assert result.documents == 1
    assert (result.valid == 1) == (result.errors == 0)


@settings(PROFILE)
@given(data=articles())
def test_a_parsed_article_renders_back_to_itself_or_render_names_the_field(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    parsed = parse_raw_text(text, doc_id="doc", raw_path="raw/doc.txt")
    if parsed.document is None:
        assert parsed.problems and all(p.code in KNOWN_CODES and p.line for p in parsed.problems)
        return
    document = parsed.document
    try:
        rendered = render_raw_text(document)
    except RenderError as exc:
        field = str(exc).split(":", 1)[0].split(".", 1)[0]
        assert field in document or field == "document", exc
        return
    again = parse_raw_text(rendered, doc_id="doc", raw_path="raw/doc.txt")
    assert again.problems == ()
    assert again.document == document
    assert render_raw_text(document) == rendered  # rendering is deterministic
    count("documents round-tripped")


# -- JSON and JSONL records of any shape --------------------------------------------------------------

_JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    _SENTENCE,
    st.text(max_size=8),
)
_JSON_VALUE = st.recursive(
    _JSON_SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_GOOD_ID = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,20}\Z")
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(_GOOD_ID, st.sampled_from(["../x", "/etc/passwd", "a/b", "..", "a\x00b", "x" * 200])),
    "title": _SENTENCE,
    "summary": st.one_of(st.none(), _SENTENCE),
    "section": st.one_of(st.none(), _SENTENCE),
    "source": st.one_of(st.none(), st.sampled_from(["AFP", "AP"])),
    "published_at": st.one_of(
        st.none(),
        st.sampled_from(
            ["2024-10-29T07:38:00+09:00", "2024-02-31T00:00:00", "2024-10-29", "2030-01-01T00:00Z"]
        ),
    ),
    "modified_at": st.one_of(st.none(), st.sampled_from(["2024-10-28T00:00:00+09:00", "2024-10-30T07:38"])),
    "language": st.sampled_from(["en", "pt-BR", "english", ""]),
    "paragraphs": st.lists(
        st.fixed_dictionaries({"heading": st.one_of(st.none(), _SENTENCE), "text": _SENTENCE}), max_size=3
    ),
    "credits": st.lists(_SENTENCE, max_size=2),
    "related": st.lists(
        st.fixed_dictionaries(
            {"label": st.just("ALSO READ"), "title": _SENTENCE},
            optional={"url": st.sampled_from(["https://example.org/a", "javascript:alert(1)", "ftp://x"])},
        ),
        max_size=2,
    ),
    "content_sha256": st.one_of(st.just("0" * 64), st.text(max_size=4)),
}


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON record with a random subset of the document fields, each either of the right shape
    or anything at all, plus now and then an unknown field."""
    record: dict[str, Any] = {}
    for name, strategy in _FIELD_VALUES.items():
        if name in ("id", "title", "paragraphs") or draw(st.booleans()):
            if draw(st.integers(0, 9)) == 0:
                record[name] = draw(_JSON_VALUE)
            elif draw(st.integers(0, 19)) != 0:
                record[name] = draw(strategy)
    if draw(st.integers(0, 9)) == 0:
        record[draw(st.text(min_size=1, max_size=8))] = draw(_JSON_VALUE)
    return record


_BROKEN_LINES = st.sampled_from(
    [
        "",
        "   ",
        "{",
        "[]",
        "null",
        '{"id": "a", "id": "b"}',
        '{"id": NaN}',
        "{'id': 1}",
        '"\\ud800"',
        "\u2028",
    ]
)


@settings(PROFILE)
@given(
    lines=st.lists(
        st.one_of(records().map(lambda r: json.dumps(r, ensure_ascii=False)), _BROKEN_LINES),
        min_size=1,
        max_size=6,
    ),
    ending=st.sampled_from(["\n", "\r\n"]),
)
def test_jsonl_records_of_any_shape_end_in_valid_documents_or_errors_on_their_line(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], ending: str
) -> None:
    folder = tmp_path_factory.mktemp("jsonl")
    path = folder / "batch.jsonl"
    data = ending.join(lines).encode("utf-8")
    path.write_bytes(data)
    result = check_outcome(folder, path, data)
    # Records are per line: every problem but a cross-record one sits on a line that holds a record.
    for diagnostic in result.diagnostics:
        if diagnostic.code not in {"duplicate-id", "duplicate-content", "near-duplicate", "empty-file"}:
            assert diagnostic.line is not None
            assert lines[diagnostic.line - 1].strip(), (diagnostic, lines)


@settings(PROFILE)
@given(record=records(), indent=st.sampled_from([None, 1, 4]))
def test_a_json_record_of_any_shape_ends_in_a_valid_document_or_located_errors(
    tmp_path_factory: pytest.TempPathFactory, record: dict[str, Any], indent: int | None
) -> None:
    folder = tmp_path_factory.mktemp("json")
    path = folder / "record.json"
    data = json.dumps(record, indent=indent, ensure_ascii=indent is None).encode("utf-8")
    path.write_bytes(data)
    result = check_outcome(folder, path, data)
    assert result.documents == 1


# -- valid documents survive JSON, JSONL and the raw text format --------------------------------------

_TEXT_CHARS = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"))
_TEXT = st.text(_TEXT_CHARS, min_size=1, max_size=40).map(str.strip).filter(bool)


@st.composite
def valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Documents that pass the schema, with any printable Unicode in their text fields."""
    paragraphs = []
    heading = None
    for _ in range(draw(st.integers(1, 4))):
        # Once a section has a subheading the raw format cannot go back to none, so mostly keep one.
        if heading is None or draw(st.integers(0, 3)) == 0:
            heading = draw(st.one_of(st.none(), st.none(), _TEXT))
        text = draw(_TEXT) + draw(st.sampled_from([".", ".", "?", ""]))
        paragraphs.append({"heading": heading, "text": text})
    doc: dict[str, Any] = {
        "id": draw(_GOOD_ID),
        "title": draw(_TEXT),
        "summary": draw(st.one_of(st.none(), _TEXT, _TEXT)),
        "section": draw(st.one_of(st.none(), _TEXT)),
        "source": draw(st.one_of(st.none(), _TEXT)),
        "published_at": draw(st.one_of(st.none(), st.just("2024-10-29T07:38:00+09:00"))),
        "modified_at": None,
        "language": "en",
        "paragraphs": paragraphs,
        "credits": draw(st.lists(_TEXT, max_size=2)),
        "related": draw(st.lists(st.fixed_dictionaries({"label": _TEXT, "title": _TEXT}), max_size=2)),
        "content_sha256": "",
        "raw_path": None,
    }
    doc["content_sha256"] = content_sha256(doc)
    return doc


@settings(PROFILE)
@given(docs=st.lists(valid_documents(), min_size=1, max_size=4, unique_by=lambda d: d["id"]))
def test_valid_documents_come_back_unchanged_from_json_and_jsonl(
    tmp_path_factory: pytest.TempPathFactory, docs: list[dict[str, Any]]
) -> None:
    checker = _checker()
    docs = [doc for doc in docs if checker.is_valid(doc)]
    folder = tmp_path_factory.mktemp("lossless")
    batch = folder / "batch.jsonl"
    batch.write_text("".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs), encoding="utf-8")
    read = [item for item in read_file(batch, root=folder) if isinstance(item, SourceRecord)]
    assert [item.document for item in read] == [doc | {"raw_path": "batch.jsonl"} for doc in docs]
    assert [item.line for item in read] == list(range(1, len(docs) + 1))
    for doc in docs:
        single = folder / f"{doc['id']}.json"
        single.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        (item,) = read_file(single, root=folder)
        assert isinstance(item, SourceRecord)
        assert item.document == doc | {"raw_path": single.name}
    count("documents round-tripped", 2 * len(docs))


@settings(PROFILE)
@given(doc=valid_documents())
def test_a_valid_document_renders_to_text_that_parses_back_to_it(doc: dict[str, Any]) -> None:
    if not _checker().is_valid(doc):
        return
    try:
        text = render_raw_text(doc)
    except RenderError as exc:
        field = str(exc).split(":", 1)[0].split(".", 1)[0]
        assert field in doc or field == "document", exc
        return
    # The text holds clock times; the offset comes back from the time zone the corpus names.
    parsed = parse_raw_text(text, doc_id=doc["id"], raw_timezone="Asia/Seoul")
    assert parsed.problems == ()
    assert parsed.document == doc
    count("documents round-tripped")
