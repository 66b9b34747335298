"""The raw text format: the seeds field by field, every guessing rule, and render/parse round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpuskit.documents.model import FIELDS, content_sha256
from corpuskit.documents.rawtext import ParsedText, parse_clock_date, parse_raw_text, resolve_timezone
from corpuskit.documents.rendertext import RenderError, render_raw_text
from corpuskit.errors import UsageError

DATA = Path(__file__).parents[1] / "data" / "documents"
SEED_000 = "000_94744c74cf2a33e7"
SEED_004 = "004_3652e1919fe20c5e"


def parse_file(name: str, **options: Any) -> ParsedText:
    path = DATA / name
    return parse_raw_text(
        path.read_text(encoding="utf-8"), doc_id=path.stem, raw_path=f"raw/{path.name}", **options
    )


def parse(text: str, **options: Any) -> ParsedText:
    return parse_raw_text(text, doc_id="doc", **options)


def only_problem(result: ParsedText) -> tuple[str, int | None, str]:
    assert result.document is None
    assert len(result.problems) == 1, result.problems
    problem = result.problems[0]
    return problem.code, problem.line, problem.pointer


def test_seed_000_every_field() -> None:
    result = parse_file(f"{SEED_000}.txt")
    assert result.problems == ()
    doc = result.document
    assert doc is not None
    assert list(doc) == list(FIELDS)
    assert doc["id"] == SEED_000
    assert doc["title"] == (
        "Russia-N. Korea military cooperation 'significant security threat': S. Korea president"
    )
    assert doc["summary"].startswith("South Korean President Yoon Suk Yeol warned that increasing")
    assert doc["summary"].endswith("poses serious risks to international security and peace.")
    assert doc["section"] == "Asia"
    assert doc["source"] == "AFP"
    assert doc["published_at"] == "2024-10-29T07:38:00"
    assert doc["modified_at"] == "2024-10-29T07:40:00"
    assert doc["language"] == "en"
    assert len(doc["paragraphs"]) == 14
    assert all(paragraph["heading"] is None for paragraph in doc["paragraphs"])
    assert doc["paragraphs"][0]["text"].startswith("South Korea's president said Tuesday")
    assert doc["paragraphs"][1]["text"] == (
        '"As the war in Ukraine continues for the third year, North Korea has gone beyond providing'
        ' weapons to Russia and has even deployed troops," President Yoon Suk Yeol said.'
    )
    assert doc["paragraphs"][-1]["text"].endswith("vice foreign minister in charge of Russian affairs.")
    assert doc["credits"] == []
    assert doc["related"] == []
    assert doc["raw_path"] == f"raw/{SEED_000}.txt"
    assert doc["content_sha256"] == content_sha256(doc)
    lines = result.field_lines
    assert (lines["/title"], lines["/summary"], lines["/section"], lines["/source"]) == (1, 2, 3, 4)
    assert (lines["/published_at"], lines["/modified_at"]) == (5, 6)
    assert lines["/paragraphs/0/text"] == 7
    assert lines["/paragraphs/13/text"] == 20


def test_seed_004_every_field() -> None:
    result = parse_file(f"{SEED_004}.txt")
    assert result.problems == ()
    doc = result.document
    assert doc is not None
    assert doc["title"] == (
        "'International community will...' South Korea on 'illegal' military cooperation"
        " between Russia, North Korea"
    )
    # The standfirst is a lead quote here.
    assert doc["summary"].startswith('"Military cooperation between North Korea and Russia is illegal')
    assert doc["summary"].endswith('," said South Korean President Yoon Suk Yeol.')
    assert (doc["section"], doc["source"], doc["published_at"], doc["modified_at"]) == (None,) * 4
    headings = [paragraph["heading"] for paragraph in doc["paragraphs"]]
    assert (
        headings == [None] * 6 + ["Russia, North Korea and Ukraine"] * 4 + ["Tensions with North Korea"] * 5
    )
    texts = [paragraph["text"] for paragraph in doc["paragraphs"]]
    assert "Russia, North Korea and Ukraine" not in texts
    assert "Tensions with North Korea" not in texts
    assert doc["credits"] == ["with AP inputs"]
    assert doc["related"] == [
        {
            "label": "ALSO READ",
            "title": "Kim Jong Un discussed arms cooperation with Russian defence minister: Reports",
        }
    ]
    # Curly quotes and apostrophes survive byte for byte.
    assert texts[11].startswith("\u201cOur two countries (South Korea and the US) reaffirmed")
    assert "Kim\u2019s visit to Russia" in texts[1]
    raw = (DATA / f"{SEED_004}.txt").read_text(encoding="utf-8")
    assert all(text in raw for text in texts)
    lines = result.field_lines
    assert lines["/paragraphs/6/heading"] == 9
    assert lines["/paragraphs/6/text"] == 10
    assert lines["/paragraphs/10/heading"] == 14
    assert (lines["/credits/0"], lines["/related/0/title"]) == (20, 21)


def test_seeds_render_back_to_their_own_text() -> None:
    for name in (SEED_000, SEED_004):
        raw = (DATA / f"{name}.txt").read_text(encoding="utf-8")
        doc = parse_file(f"{name}.txt").document
        assert doc is not None
        assert render_raw_text(doc) == raw.rstrip("\n") + "\n"


def test_html_and_script_stay_plain_text() -> None:
    doc = parse_file("html-in-body.txt").document
    assert doc is not None
    assert (
        doc["paragraphs"][1]["text"] == '<script>alert("hi")</script> was pasted into the article by mistake.'
    )
    assert doc["paragraphs"][2]["text"] == "<b>Bold</b> claims & <i>italics</i> stay as written."
    assert (doc["section"], doc["source"]) == ("Europe", "Reuters")


def test_keyed_bullets_in_any_order_and_month_abbreviations() -> None:
    doc = parse_file("keyed-metadata.txt").document
    assert doc is not None
    assert doc["summary"] is None  # line 2 is a bullet: no standfirst
    assert (doc["section"], doc["source"]) == ("Asia Pacific", "Yonhap")
    assert (doc["published_at"], doc["modified_at"]) == ("2024-02-01T23:05:00", "2024-02-02T09:15:00")


def test_a_lone_bullet_is_the_source_only_when_it_names_an_agency() -> None:
    agency = parse_file("lone-agency.txt").document
    section = parse_file("lone-section.txt").document
    assert agency is not None and section is not None
    assert (agency["section"], agency["source"]) == (None, "PTI")
    assert (section["section"], section["source"]) == ("India", None)


def test_a_third_unlabelled_bullet_is_an_error() -> None:
    assert only_problem(parse_file("too-many-bullets.txt")) == ("unexpected-metadata", 5, "")


def test_a_repeated_keyed_bullet_is_an_error() -> None:
    text = "T\nS\n- Published Date: 07:38 | 29 October 2024\n- Published: 08:00 | 29 October 2024\nBody."
    assert only_problem(parse(text)) == ("duplicate-metadata", 4, "/published_at")


@pytest.mark.parametrize(
    ("bullet", "message"),
    [
        ("07:38 | 31 February 2024", "31 February 2024 is not a date"),
        ("07:38 | 29 Febtober 2024", "'Febtober' is not an English month name"),
        ("25:10 | 29 October 2024", "25:10 is not a time of day"),
        ("29 October 2024", "is not in the form 'HH:MM | D Month YYYY'"),
    ],
)
def test_impossible_or_malformed_dates_are_located(bullet: str, message: str) -> None:
    result = parse(f"Title\nStandfirst.\n- Asia\n\n- Modified Date: {bullet}\nBody.")
    assert only_problem(result) == ("invalid-date", 5, "/modified_at")
    assert message in result.problems[0].message


def test_dates_take_the_configured_time_zone_offset() -> None:
    text = "T\nS\n- Published Date: 07:38 | 29 October 2024\n- Modified Date: 07:38 | 29 July 2024\nB."
    doc = parse(text, raw_timezone="Europe/Berlin").document
    assert doc is not None
    assert (doc["published_at"], doc["modified_at"]) == (
        "2024-10-29T07:38:00+01:00",
        "2024-07-29T07:38:00+02:00",
    )
    assert (
        parse_clock_date("07:38 | 29 October 2024", resolve_timezone("Asia/Seoul"))
        == "2024-10-29T07:38:00+09:00"
    )


def test_a_clock_time_skipped_by_daylight_saving_is_an_error() -> None:
    result = parse("T\nS\n- Published Date: 02:30 | 31 March 2024\nB.", raw_timezone="Europe/Berlin")
    assert only_problem(result) == ("invalid-date", 3, "/published_at")
    assert "does not exist in Europe/Berlin" in result.problems[0].message


def test_an_unknown_time_zone_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="Mars/Olympus"):
        parse("T\nS\nB.", raw_timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("line", "is_heading"),
    [
        ("Tensions with North Korea", True),
        ("2024 in review", True),
        ("What happens next?", False),  # terminal punctuation: a (short) paragraph
        ("He declined to comment.", False),
        ('"We will respond"', False),  # a quote
        ("\u201cWe will respond\u201d", False),
        ("lower-case start is a sentence fragment", False),
        ("A very long line without punctuation " * 3, False),  # over 100 characters
        ("(Photo)", False),
    ],
)
def test_how_a_subheading_is_told_from_a_paragraph(line: str, is_heading: bool) -> None:
    doc = parse(f"Title\nStandfirst.\nFirst paragraph.\n{line.strip()}\nNext paragraph.").document
    assert doc is not None
    headings = [paragraph["heading"] for paragraph in doc["paragraphs"]]
    if is_heading:
        assert headings == [None, line.strip()]
    else:
        assert headings == [None, None, None]


def test_a_heading_like_line_not_followed_by_a_paragraph_is_a_paragraph() -> None:
    doc = parse(
        "Title\nStandfirst.\nFirst paragraph.\nShort line\nSubheading\nText of it.\nLast line"
    ).document
    assert doc is not None
    assert [(p["heading"], p["text"]) for p in doc["paragraphs"]] == [
        (None, "First paragraph."),
        (None, "Short line"),
        ("Subheading", "Text of it."),
        ("Subheading", "Last line"),
    ]


def test_trailers_credits_and_related_links() -> None:
    text = (
        "Title\nStandfirst.\nBody one.\nREAD MORE | Inline link | https://example.org/a\nBody two.\n"
        "(With inputs from agencies)\n( with AP inputs )\nALSO READ | Another story"
    )
    doc = parse(text).document
    assert doc is not None
    assert [p["text"] for p in doc["paragraphs"]] == ["Body one.", "Body two."]
    assert doc["credits"] == ["With inputs from agencies", "with AP inputs"]
    assert doc["related"] == [
        {"label": "READ MORE", "title": "Inline link", "url": "https://example.org/a"},
        {"label": "ALSO READ", "title": "Another story"},
    ]


def test_a_parenthesised_paragraph_before_the_body_ends_is_kept() -> None:
    doc = parse("Title\nStandfirst.\n(An aside in the middle.)\nThe end.").document
    assert doc is not None
    assert [p["text"] for p in doc["paragraphs"]] == ["(An aside in the middle.)", "The end."]
    assert doc["credits"] == []


def test_crlf_cr_blank_lines_and_surrounding_whitespace_are_normalized() -> None:
    lf = parse("Title\nStandfirst.\n- Asia\nBody one.\nBody two.").document
    crlf = parse("  Title \r\n\r\nStandfirst.\r\n- Asia\r\n\tBody one.\r\n\r\nBody two.   \r\n").document
    cr = parse("Title\rStandfirst.\r- Asia\rBody one.\rBody two.").document
    assert lf == crlf == cr


def test_line_numbers_count_every_line_ending_style() -> None:
    result = parse("Title\r\n\r\nStandfirst.\rBody.\n")
    assert (result.field_lines["/summary"], result.field_lines["/paragraphs/0/text"]) == (3, 4)


def test_unicode_is_kept_as_written_not_normalized() -> None:
    decomposed = "Cafe\u0301 owner Ng\u01b0\u1eddi speaks \u2014 \u201cquoted\u201d"
    doc = parse(f"{decomposed}\nStandfirst \u2018here\u2019.\nBody.").document
    assert doc is not None
    assert doc["title"] == decomposed  # NFD stays NFD: no silent NFC rewrite
    assert doc["summary"] == "Standfirst \u2018here\u2019."


@pytest.mark.parametrize(
    ("text", "pointer", "line", "column", "name"),
    [
        ("Ti\u202etle\nS.\nB.", "/title", 1, 3, "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("  Ti\u200btle\nS.\nB.", "/title", 1, 5, "U+200B ZERO WIDTH SPACE"),
        ("Ti\x07tle\nS.\nB.", "/title", 1, 3, "U+0007"),
        ("Title\nS.\n- As\u2066ia\nB.", "/section", 3, 5, "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("Title\nS.\nBody\twith a tab.", "/paragraphs/0/text", 3, 5, "U+0009 CHARACTER TABULATION"),
        # A subheading shared by two paragraphs is reported once.
        ("Title\nS.\nFirst.\nSub\u200bhead\nA.\nB.", "/paragraphs/1/heading", 4, 4, "U+200B"),
    ],
)
def test_forbidden_characters_are_named_and_located(
    text: str, pointer: str, line: int, column: int, name: str
) -> None:
    result = parse(text)
    assert only_problem(result) == ("forbidden-character", line, pointer)
    assert result.problems[0].column == column
    assert name in result.problems[0].message


def test_zero_width_joiner_is_allowed_in_body_text() -> None:
    doc = parse("Title\nS.\nFamily emoji \U0001f468\u200d\U0001f469\u200d\U0001f467 stays.").document
    assert doc is not None


def test_empty_and_whitespace_only_text() -> None:
    assert only_problem(parse(""))[0] == "empty-file"
    assert only_problem(parse(" \n\t\r\n  "))[0] == "empty-file"


def test_language_and_raw_path_come_from_the_caller() -> None:
    doc = parse_raw_text("T\nS\nB.", doc_id="x", language="de", raw_path="raw/x.txt").document
    assert doc is not None
    assert (doc["id"], doc["language"], doc["raw_path"]) == ("x", "de", "raw/x.txt")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"summary": None, "section": None, "source": None, "published_at": None, "modified_at": None},
            "summary",
        ),
        ({"summary": "- starts like a bullet"}, "summary"),
        ({"published_at": "2024-10-29T07:38:15"}, "published_at"),
        ({"paragraphs": [{"heading": None, "text": "two\nlines"}]}, "paragraphs.0.text"),
        (
            {"paragraphs": [{"heading": "H", "text": "A."}, {"heading": None, "text": "B."}]},
            "paragraphs.1.heading",
        ),
        (
            {
                "paragraphs": [
                    {"heading": None, "text": "Looks Like A Heading"},
                    {"heading": None, "text": "x."},
                ]
            },
            "paragraphs",
        ),
        ({"paragraphs": [{"heading": None, "text": "(ends like a credit)"}]}, "paragraphs"),
        ({"paragraphs": [{"heading": None, "text": "SEE ALSO | a related link"}]}, "paragraphs"),
        ({"paragraphs": [{"heading": "not a heading.", "text": "x."}]}, "paragraphs"),
    ],
)
def test_render_refuses_what_the_format_cannot_express(change: dict[str, Any], field: str) -> None:
    doc = parse_file(f"{SEED_000}.txt").document
    assert doc is not None
    with pytest.raises(RenderError, match=f"^{field}"):
        render_raw_text(doc | change)


def test_render_labels_bullets_when_the_guess_would_be_wrong() -> None:
    doc = parse_file(f"{SEED_000}.txt").document
    assert doc is not None
    only_source = doc | {"section": None, "source": "Local desk"}
    only_section = doc | {"section": "Reuters", "source": None}
    assert "- Source: Local desk\n" in render_raw_text(only_source)
    assert "- Section: Reuters\n" in render_raw_text(only_section)
    for variant in (only_source, only_section):
        assert parse(render_raw_text(variant), raw_path=variant["raw_path"]).document == variant | {
            "id": "doc",
            "content_sha256": content_sha256(variant),
        }


# Round trip: any document either renders to text that parses back to it, or is refused.
_WORDS = st.sampled_from(
    [
        "Seoul",
        "talks",
        "said",
        "the",
        "Kim\u2019s",
        "\u201cquote\u201d",
        "\u2014",
        "AFP",
        "2024",
        "and",
        "Caf\u00e9",
    ]
)


def _line(end: str = "") -> st.SearchStrategy[str]:
    return st.lists(_WORDS, min_size=1, max_size=8).map(lambda words: " ".join(words) + end)


_ANY_LINE = st.one_of(
    _line(), _line("."), _line("?"), st.sampled_from(["(with AP inputs)", "ALSO READ | x", "- x"])
)
_DATE = st.one_of(
    st.none(),
    st.datetimes().map(lambda moment: moment.replace(second=0, microsecond=0).isoformat()),
    st.sampled_from(["2024-10-29T07:38:00+09:00", "2024-10-29T07:38:15"]),
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    headings = draw(st.lists(st.one_of(st.none(), _line()), min_size=1, max_size=3))
    paragraphs = [
        {"heading": heading, "text": text}
        for heading in headings
        for text in draw(st.lists(_ANY_LINE, min_size=1, max_size=3))
    ]
    doc: dict[str, Any] = {
        "id": "doc",
        "title": draw(_ANY_LINE),
        "summary": draw(st.one_of(st.none(), _ANY_LINE)),
        "section": draw(st.one_of(st.none(), st.sampled_from(["Asia", "AFP", "Section: x"]))),
        "source": draw(st.one_of(st.none(), st.sampled_from(["AFP", "Reuters", "Desk"]))),
        "published_at": draw(_DATE),
        "modified_at": draw(_DATE),
        "language": "en",
        "paragraphs": paragraphs,
        "credits": draw(st.lists(_line(), max_size=2)),
        "related": draw(
            st.lists(
                st.fixed_dictionaries(
                    {"label": st.sampled_from(["ALSO READ", "WATCH"]), "title": _line()},
                    optional={"url": st.just("https://example.org/x")},
                ),
                max_size=2,
            )
        ),
        "content_sha256": "",
        "raw_path": "raw/doc.txt",
    }
    doc["content_sha256"] = content_sha256(doc)
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_render_then_parse_gives_the_document_back_or_render_refuses(doc: dict[str, Any]) -> None:
    try:
        text = render_raw_text(doc)
    except RenderError:
        return
    parsed = parse_raw_text(text, doc_id="doc", raw_path="raw/doc.txt")
    assert parsed.problems == ()
    expected = dict(doc)
    for field in ("published_at", "modified_at"):
        if expected[field] is not None:
            expected[field] = expected[field][:19]  # offsets come from raw_timezone, not the text
    expected["content_sha256"] = content_sha256(expected)
    assert parsed.document == expected
