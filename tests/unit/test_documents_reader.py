"""read_file / iter_files: every normalization case, JSON and JSONL locations, streaming limits."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpuskit.diagnostics import Diagnostic, Severity
from corpuskit.documents.model import FIELDS, content_sha256
from corpuskit.documents.reader import MAX_RECORD_BYTES, SourceRecord, iter_files, read_file
from corpuskit.errors import UsageError

DATA = Path(__file__).parents[1] / "data" / "documents"
GOOD_TEXT = "Title\nStandfirst.\n- Asia\nBody paragraph.\n"
GOOD_RECORD = {"id": "r1", "title": "Title", "paragraphs": [{"heading": None, "text": "Body."}]}


def read(path: Path, **options: str) -> list[SourceRecord | Diagnostic]:
    return list(read_file(path, root=path.parent, **options))


def records(items: list[SourceRecord | Diagnostic]) -> list[SourceRecord]:
    return [item for item in items if isinstance(item, SourceRecord)]


def diagnostics(items: list[SourceRecord | Diagnostic]) -> list[Diagnostic]:
    return [item for item in items if isinstance(item, Diagnostic)]


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def one_diagnostic(path: Path) -> Diagnostic:
    items = read(path)
    assert len(items) == 1, items
    item = items[0]
    assert isinstance(item, Diagnostic), item
    assert item.severity is Severity.ERROR
    assert item.file == str(path)
    return item


# Accepted after normalization: the document equals the one read from the plain UTF-8/LF text.
@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + GOOD_TEXT.encode(),  # UTF-8 byte order mark
        GOOD_TEXT.replace("\n", "\r\n").encode(),  # CRLF
        GOOD_TEXT.replace("\n", "\r").encode(),  # old Mac CR
        b"\n\n  " + GOOD_TEXT.replace("\n", "  \n\n").encode(),  # blank lines, surrounding spaces
    ],
    ids=["utf8-bom", "crlf", "cr", "blank-lines-and-spaces"],
)
def test_accepted_after_normalization(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "lf").mkdir()
    (tmp_path / "case").mkdir()
    expected = records(read(write(tmp_path / "lf", "plain.txt", GOOD_TEXT)))[0].document
    got = records(read(write(tmp_path / "case", "plain.txt", data)))
    assert len(got) == 1
    assert got[0].document == expected


# Errors: (file name, bytes, code, line, column, words the message must hold).
ERROR_CASES = [
    ("empty.txt", b"", "empty-file", 1, None, "empty"),
    ("spaces.txt", b"  \n\t \r\n", "empty-file", 1, None, "whitespace"),
    ("empty.json", b"\n", "empty-file", 1, None, "empty"),
    ("empty.jsonl", b"\n\n", "empty-file", 1, None, "no records"),
    (
        "utf16le.txt",
        "Title\nBody.\n".encode("utf-16"),
        "unsupported-encoding",
        1,
        1,
        "UTF-16 (little-endian)",
    ),
    (
        "utf16be.txt",
        b"\xfe\xff" + "Title\n".encode("utf-16-be"),
        "unsupported-encoding",
        1,
        1,
        "UTF-16 (big-endian)",
    ),
    ("utf32.json", "{}".encode("utf-32"), "unsupported-encoding", 1, 1, "UTF-32"),
    (
        "utf16-no-bom.txt",
        "Title\nBody.\n".encode("utf-16-le"),
        "unsupported-encoding",
        1,
        1,
        "without a byte order",
    ),
    ("latin1.txt", "Title\nCaf\u00e9 society.\n".encode("latin-1"), "invalid-utf8", 2, 4, "bytes e9"),
    ("binary.txt", b"Title\nBody\x00\x01\x02\n", "binary-data", 2, 5, "NUL byte"),
    ("binary.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary-data", 3, 1, "binary"),
    ("control.txt", "T\x07itle\nS.\nB.\n", "forbidden-character", 1, 2, "U+0007"),
    ("bidi.txt", "Title \u202eevil\nS.\nB.\n", "forbidden-character", 1, 7, "RIGHT-TO-LEFT OVERRIDE"),
    ("zero-width.txt", "Ti\u200btle\nS.\nB.\n", "forbidden-character", 1, 3, "ZERO WIDTH SPACE"),
    (
        "february.txt",
        "T\nS.\n- Published Date: 07:38 | 31 February 2024\nB.\n",
        "invalid-date",
        3,
        None,
        "not a date",
    ),
    ("syntax.json", '{\n  "title": "T",\n  "paragraphs": [\n}\n', "invalid-json", 4, 1, "syntax error"),
    ("trailing-comma.json", '{"title": "T",}', "invalid-json", 1, 15, "syntax error"),
    ("duplicate.json", '{\n  "title": "A",\n  "title": "B"\n}', "duplicate-key", 3, 3, "'title'"),
    (
        "nested-duplicate.json",
        '{"paragraphs": [{"text": "a", "heading": null, "text": "b"}]}',
        "duplicate-key",
        1,
        48,
        "'text'",
    ),
    ("nan.json", '{\n  "id": "x",\n  "score": NaN\n}', "non-finite-number", 3, 12, "NaN"),
    ("infinity.json", '{"score": -Infinity}', "non-finite-number", 1, 11, "-Infinity"),
    ("huge-number.json", '{"score": 1e999}', "non-finite-number", 1, None, "finite"),
    ("array.json", "[1, 2]", "not-an-object", 1, None, "not an array"),
    ("string.jsonl", '"just a string"\n', "not-an-object", 1, None, "not a str"),
    ("no-id.jsonl", '{"title": "T"}\n', "missing-id", 1, None, "needs an 'id'"),
    ("bidi.json", '{"title": "A\\u202eB", "paragraphs": []}', "forbidden-character", 1, None, "U+202E"),
    ("surrogate.json", '{"title": "\\ud800"}', "invalid-json", 1, None, "surrogate"),
    ("deep.json", "[" * 5000 + "]" * 5000, "invalid-json", 1, None, ""),
    ("notes.md", "# not a document", "unsupported-file-type", None, None, ".md"),
]


@pytest.mark.parametrize(
    ("name", "data", "code", "line", "column", "words"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES]
)
def test_error_cases_are_located(
    tmp_path: Path, name: str, data: bytes | str, code: str, line: int | None, column: int | None, words: str
) -> None:
    diagnostic = one_diagnostic(write(tmp_path, name, data))
    assert (diagnostic.code, diagnostic.line) == (code, line), diagnostic
    if column is not None:
        assert diagnostic.column == column, diagnostic
    assert words in diagnostic.message


def test_invalid_utf8_names_the_byte_offset(tmp_path: Path) -> None:
    diagnostic = one_diagnostic(write(tmp_path, "bad.txt", b"Title\nGood line\nBad \xff byte\n"))
    assert "byte offset 20" in diagnostic.message
    assert str(diagnostic) == (
        f"{tmp_path / 'bad.txt'}:3:5: error: invalid UTF-8 (bytes ff at byte offset 20: invalid start byte);"
        " save the file as UTF-8 [invalid-utf8]"
    )


def test_forbidden_characters_report_the_field_pointer(tmp_path: Path) -> None:
    diagnostic = one_diagnostic(write(tmp_path, "bidi.txt", "Title\u202e\nS.\nB.\n"))
    assert diagnostic.pointer == "/title"
    assert diagnostic.document_id == "bidi"


def test_every_problem_of_a_text_file_is_reported(tmp_path: Path) -> None:
    text = "Ti\u200btle\nS.\n- Published Date: 07:38 | 31 February 2024\nBody\twith tab.\n"
    found = read(write(tmp_path, "many.txt", text))
    assert [(d.code, d.line) for d in diagnostics(found)] == [
        ("forbidden-character", 1),
        ("invalid-date", 3),
        ("forbidden-character", 4),
    ]
    assert records(found) == []


def test_seeds_read_with_path_relative_to_root(tmp_path: Path) -> None:
    found = list(read_file(DATA / "004_3652e1919fe20c5e.txt", root=DATA.parent))
    assert len(found) == 1
    record = found[0]
    assert isinstance(record, SourceRecord)
    assert record.document["raw_path"] == "documents/004_3652e1919fe20c5e.txt"
    assert (record.line, record.given_sha256) == (1, None)
    assert record.line_of("/paragraphs/14/text") == 19
    assert record.line_of("/paragraphs/14/heading") == 14
    (outside,) = list(read_file(DATA / "lone-agency.txt", root=tmp_path))
    assert isinstance(outside, SourceRecord)
    assert outside.document["raw_path"] == (DATA / "lone-agency.txt").as_posix()


def test_json_record_defaults_hash_and_field_lines() -> None:
    (record,) = read(DATA / "record.json", language="de")
    assert isinstance(record, SourceRecord)
    doc = record.document
    assert list(doc) == list(FIELDS)
    assert doc["id"] == "pretty-record"
    assert (doc["modified_at"], doc["credits"]) == (None, [])
    # The record states no language: its English text is detected, and the setting's "de" is only
    # the fallback for text too short or too mixed to tell.
    assert doc["language"] == "en"
    assert doc["raw_path"] == "record.json"
    assert doc["content_sha256"] == content_sha256(doc)
    assert record.given_sha256 is None
    assert record.field_lines["/title"] == 3
    assert record.field_lines["/published_at"] == 7
    assert record.field_lines["/paragraphs/0"] == 9
    assert record.field_lines["/paragraphs/1/heading"] == 11
    assert record.field_lines["/paragraphs/1/text"] == 12
    assert record.field_lines["/related/0/url"] == 15
    assert record.line_of("/paragraphs/1/text/0") == 12


def test_json_file_stem_is_the_default_id(tmp_path: Path) -> None:
    (record,) = read(write(tmp_path, "from-stem.json", json.dumps({"title": "T", "paragraphs": []})))
    assert isinstance(record, SourceRecord)
    assert record.document["id"] == "from-stem"


def test_json_keeps_unknown_fields_and_wrong_types_for_the_schema(tmp_path: Path) -> None:
    data = {"title": 42, "paragraphs": "not a list", "colour": "red", "content_sha256": "abc"}
    (record,) = read(write(tmp_path, "odd.json", json.dumps(data)))
    assert isinstance(record, SourceRecord)
    doc = record.document
    assert (doc["title"], doc["paragraphs"], doc["colour"]) == (42, "not a list", "red")
    assert list(doc)[-1] == "colour"
    assert doc["content_sha256"] == "abc"  # cannot be computed; the claim is kept
    assert record.given_sha256 == "abc"


def test_json_without_title_leaves_it_missing(tmp_path: Path) -> None:
    (record,) = read(write(tmp_path, "untitled.json", '{"paragraphs": []}'))
    assert isinstance(record, SourceRecord)
    assert "title" not in record.document
    assert record.document["content_sha256"] is None


def test_jsonl_batch_records_lines_and_claimed_hash() -> None:
    found = read(DATA / "batch.jsonl")
    assert diagnostics(found) == []
    first, second = records(found)
    assert (first.document["id"], first.line, second.document["id"], second.line) == (
        "batch-1",
        1,
        "batch-2",
        3,
    )
    assert second.field_lines["/summary"] == 3
    assert second.line_of("/paragraphs/0/text") == 3
    assert second.given_sha256 == "0" * 64
    assert second.document["content_sha256"] == content_sha256(second.document) != "0" * 64
    assert first.document["raw_path"] == "batch.jsonl"


def test_jsonl_one_bad_line_among_thousands(tmp_path: Path) -> None:
    lines = [orjson.dumps(GOOD_RECORD | {"id": f"r{n}"}).decode() for n in range(1, 3001)]
    lines[1233] = '{"id": "r1234", "title": "T", "paragraphs": [}'  # line 1234
    lines[2499] = '{"id": "r2500", "title": "A\\u202eB", "paragraphs": []}'  # line 2500
    path = write(tmp_path, "big.jsonl", "\n".join(lines) + "\n")
    found = read(path)
    problems = diagnostics(found)
    assert [(d.line, d.code) for d in problems] == [(1234, "invalid-json"), (2500, "forbidden-character")]
    assert problems[0].column == 46
    assert len(records(found)) == 2998
    assert records(found)[-1].line == 3000


def test_jsonl_duplicate_keys_found_whatever_the_writer(tmp_path: Path) -> None:
    lines = [
        '{"id": "a", "title": "T", "title": "U"}',  # json.dumps style
        '{"id":"b","paragraphs":[{"heading":null,"text":"x","text":"y"}]}',  # compact
        '{"id" : "c", "x" : 1, "x" : 2}',  # space before colons
        '{"id": "d", "t\\u0022": 1, "t\\"": 2}',  # same key, escaped two ways
        '{"id": "e", "title": "said \\": not a key", "summary": "\\":"}',  # look-alikes, no duplicate
    ]
    found = read(write(tmp_path, "dups.jsonl", "\n".join(lines)))
    assert [(d.line, d.code, d.pointer) for d in diagnostics(found)] == [
        (1, "duplicate-key", "/title"),
        (2, "duplicate-key", "/paragraphs/0/text"),
        (3, "duplicate-key", "/x"),
        (4, "duplicate-key", '/t"'),
    ]
    assert [r.document["id"] for r in records(found)] == ["e"]


def test_a_50_mb_single_line_is_refused_without_stopping_the_file(tmp_path: Path) -> None:
    path = tmp_path / "runaway.jsonl"
    with path.open("wb") as handle:
        handle.write(orjson.dumps(GOOD_RECORD) + b"\n")
        handle.write(b'{"id": "huge", "title": "' + b"x" * (50 * 1024 * 1024) + b'"}\n')
        handle.write(orjson.dumps(GOOD_RECORD | {"id": "after"}) + b"\n")
    found = read(path)
    assert [(d.line, d.code) for d in diagnostics(found)] == [(2, "record-too-large")]
    assert [(r.line, r.document["id"]) for r in records(found)] == [(1, "r1"), (3, "after")]


def test_a_50_mb_text_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "runaway.txt", b"Title\n" + b"y" * (50 * 1024 * 1024))
    diagnostic = one_diagnostic(path)
    assert diagnostic.code == "record-too-large"
    assert f"{MAX_RECORD_BYTES // (1024 * 1024)} MiB" in diagnostic.message


def test_too_many_problems_stop_the_file(tmp_path: Path) -> None:
    found = read(write(tmp_path, "junk.jsonl", "not json\n" * 500))
    assert len(found) == 101
    last = found[-1]
    assert isinstance(last, Diagnostic)
    assert (last.code, last.line) == ("too-many-errors", 100)


def test_iter_files_walks_sorted_skips_hidden_and_unknown(tmp_path: Path) -> None:
    for name in [
        "b.txt",
        "a.json",
        "sub/c.jsonl",
        "sub/z/d.txt",
        ".hidden.txt",
        ".git/x.txt",
        "notes.md",
        "A.TXT",
    ]:
        write_path = tmp_path / name
        write_path.parent.mkdir(parents=True, exist_ok=True)
        write_path.write_text("x")
    explicit = tmp_path / "notes.md"
    found = list(iter_files([tmp_path, tmp_path / "b.txt", explicit]))
    relative = [path.relative_to(tmp_path).as_posix() for path in found]
    assert relative == ["A.TXT", "a.json", "b.txt", "sub/c.jsonl", "sub/z/d.txt", "notes.md"]


def test_iter_files_refuses_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no-such-folder"):
        iter_files([tmp_path / "no-such-folder"])


def test_unknown_time_zone_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="raw_timezone"):
        read(write(tmp_path, "a.txt", GOOD_TEXT), raw_timezone="Nowhere/City")


def test_time_zone_applies_to_raw_text(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "Talks resume\nS.\n- Published Date: 07:38 | 29 October 2024\nB.\n")
    (record,) = read(path, raw_timezone="Asia/Seoul")
    assert isinstance(record, SourceRecord)
    assert record.document["published_at"] == "2024-10-29T07:38:00+09:00"


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".txt", ".json", ".jsonl"]))
def test_reading_never_raises_on_any_bytes(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_bytes(data)
    for item in read(path):
        assert isinstance(item, SourceRecord | Diagnostic)
        if isinstance(item, Diagnostic):
            assert item.code and item.message


def test_read_documents_is_exported_and_reads_a_folder() -> None:
    import corpuskit

    found = list(corpuskit.read_documents([DATA], root=DATA))
    assert [d.code for d in diagnostics(found)] == ["unexpected-metadata"]  # too-many-bullets.txt
    assert sorted(r.document["id"] for r in records(found)) == sorted(
        [
            "000_94744c74cf2a33e7",
            "004_3652e1919fe20c5e",
            "batch-1",
            "batch-2",
            "html-in-body",
            "keyed-metadata",
            "lone-agency",
            "lone-section",
            "pretty-record",
        ]
    )
    assert corpuskit.render_raw_text(records(found)[0].document).startswith("Russia-N. Korea")
