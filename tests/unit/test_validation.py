"""Library tests of `corpuskit.validate` and its parts: schema check, semantic checks,
cross-record checks, the signature cache, and inputs too big or too binary to commit."""

from __future__ import annotations

import copy
import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from corpuskit.documents.model import content_sha256
from corpuskit.settings import Settings
from corpuskit.validation.api import iter_valid_documents, validate
from corpuskit.validation.crossrecord import candidate_pairs
from corpuskit.validation.schema_check import SchemaChecker, load_checker
from corpuskit.validation.semantic import check_document
from corpuskit.validation.signatures import SIGNATURE_BYTES, bands_for, estimate_jaccard, signatures

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schema" / "document.schema.json"
DATA = Path(__file__).parents[1] / "data"

PARAGRAPHS = [
    "Officials in Seoul said on Tuesday that the talks would resume next month after a long pause.",
    "The delegations are expected to discuss trade, fisheries and the reopening of two border crossings.",
    "Analysts said the timing reflected pressure on both governments ahead of regional elections.",
]


def make_document(doc_id: str = "doc-1", **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": doc_id,
        "title": "Talks to resume next month",
        "summary": None,
        "section": "Asia",
        "source": "AFP",
        "published_at": "2024-10-29T07:38:00",
        "modified_at": None,
        "language": "en",
        "paragraphs": [{"heading": None, "text": text} for text in PARAGRAPHS],
        "credits": [],
        "related": [],
        "content_sha256": "",
        "raw_path": None,
    }
    doc.update(fields)
    doc["content_sha256"] = content_sha256(doc)
    return doc


@pytest.fixture(scope="module")
def checker() -> SchemaChecker:
    return load_checker(SCHEMA)


def corpus_settings(root: Path) -> Settings:
    return Settings(root=root, schema=str(SCHEMA))


def write_jsonl(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs), encoding="utf-8")


# -- schema check --------------------------------------------------------------------------


def test_impossible_date_is_rejected(checker: SchemaChecker) -> None:
    doc = make_document(published_at="2024-02-31T07:38:00")
    assert not checker.is_valid(doc)
    [problem] = checker.problems(doc)
    assert (problem.pointer, problem.code) == ("/published_at", "invalid-date")
    assert problem.message == "'2024-02-31T07:38:00' is not a real date"


def test_plain_jsonschema_would_let_the_impossible_date_through() -> None:
    """Why the schema names its own format: a `date-time` format check is skipped silently
    unless jsonschema's optional format extras are installed, and the pattern alone accepts
    February 31st. corpuskit's checker must not depend on that."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    without_formats = jsonschema.Draft202012Validator(schema)
    assert without_formats.is_valid(make_document(published_at="2024-02-31T07:38:00"))


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-30T00:00",
        "2023-02-29T12:00:00Z",
        "2024-13-01T00:00",
        "2024-10-29T24:00:00",
        "2024-10-29T07:60",
    ],
)
def test_every_nonexistent_date_time_is_rejected(checker: SchemaChecker, value: str) -> None:
    doc = make_document(modified_at=value)
    assert [p.code for p in checker.problems(doc)] == ["invalid-date"]
    assert not checker.is_valid(doc)


@pytest.mark.parametrize(
    "value",
    ["2024-02-29T07:38:00", "2024-10-29T07:38", "2024-10-29T07:38:00.5+05:30", "2024-10-29T07:38:00Z"],
)
def test_real_date_times_pass(checker: SchemaChecker, value: str) -> None:
    assert checker.is_valid(make_document(published_at=value, modified_at=None))


def test_null_or_string_field_reports_the_string_branch(checker: SchemaChecker) -> None:
    [problem] = checker.problems(make_document(summary=" padded "))
    assert (problem.pointer, problem.code) == ("/summary", "surrounding-whitespace")


def test_fast_and_slow_validators_agree_on_every_test_document(checker: SchemaChecker) -> None:
    """jsonschema-rs accepts, jsonschema explains: they must never disagree on validity."""
    variants = [
        make_document(),
        make_document(title="x" * 1001),
        make_document(title="A\u202eB"),
        make_document(section=""),
        make_document(paragraphs=[]),
        make_document(language="EN"),
        make_document(related=[{"label": "ALSO READ", "title": "T", "url": "ftp://example.org"}]),
        make_document(related=[{"label": "ALSO READ", "title": "T", "url": "https://example.org/a"}]),
        make_document(doc_id="a..b"),
        make_document(doc_id="ok.id_1-2"),
        make_document(credits=["with AP inputs"]),
        make_document(published_at="2024-02-31T00:00"),
        {**make_document(), "extra": 1},
    ]
    for path in sorted((DATA / "valid").glob("*.json")) + sorted((DATA / "invalid").glob("*.json")):
        try:
            variants.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            continue
    for doc in variants:
        assert checker.is_valid(doc) == (not checker.problems(doc)), doc.get("id")


def test_schema_diagnostic_names_line_of_the_field(checker: SchemaChecker) -> None:
    [diagnostic] = checker.check(
        make_document(section=42),
        file="raw/a.json",
        line=1,
        field_lines={"": 1, "/section": 5},
        document_id="doc-1",
    )
    assert str(diagnostic) == "raw/a.json:5: error: section: 42 is not of type string [wrong-type]"


# -- semantic checks -----------------------------------------------------------------------

NOW = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)


def semantic(doc: dict[str, Any], given: str | None = None, tolerance: float = 36) -> list[str]:
    found = check_document(
        doc,
        file="a.json",
        line=1,
        field_lines={},
        given_sha256=given,
        future_tolerance_hours=tolerance,
        now=NOW,
    )
    return [d.code for d in found]


def test_future_tolerance_with_and_without_offset() -> None:
    # 30 h ahead with an offset: inside the 36 h tolerance.
    assert semantic(make_document(published_at="2024-11-02T18:00:00Z")) == []
    assert semantic(make_document(published_at="2024-11-03T01:00:00Z")) == ["future-date"]
    # Without an offset the time may be read in UTC-12..UTC+14: 14 more hours of tolerance.
    assert semantic(make_document(published_at="2024-11-03T12:00:00")) == []
    assert semantic(make_document(published_at="2024-11-03T16:00:00")) == ["future-date"]


def test_modified_before_published() -> None:
    assert semantic(make_document(published_at="2024-10-29T07:38", modified_at="2024-10-29T07:37")) == [
        "modified-before-published"
    ]
    assert semantic(make_document(published_at="2024-10-29T07:38", modified_at="2024-10-29T07:38")) == []
    # One side without an offset: only an error when it is earlier in every time zone.
    mixed = make_document(published_at="2024-10-29T07:38:00+09:00", modified_at="2024-10-28T20:00:00")
    assert semantic(mixed) == []
    mixed = make_document(published_at="2024-10-29T07:38:00+09:00", modified_at="2024-10-27T20:00:00")
    assert semantic(mixed) == ["modified-before-published"]


def test_given_hash_must_match() -> None:
    doc = make_document()
    assert semantic(doc, given=doc["content_sha256"]) == []
    assert semantic(doc, given="f" * 64) == ["content-hash-mismatch"]


# -- signatures and LSH --------------------------------------------------------------------


def test_signature_similarity_tracks_text_similarity() -> None:
    base = " ".join(PARAGRAPHS * 6)
    edited = base.replace("long pause", "pause of almost a year", 1)
    other = "A completely different article about football results and the weather in Lisbon. " * 8
    sigs = signatures([base, edited, other, base])
    assert len(sigs) == 4 * SIGNATURE_BYTES
    first, second, third, fourth = (sigs[i * 256 : (i + 1) * 256] for i in range(4))
    assert estimate_jaccard(first, fourth) == 1.0
    assert 0.7 < estimate_jaccard(first, second) < 1.0
    assert estimate_jaccard(first, third) < 0.1


def test_signatures_do_not_depend_on_batch_neighbours() -> None:
    texts = [" ".join(PARAGRAPHS), "Short text.", "Another one with more words in it."]
    together = signatures(texts)
    alone = b"".join(signatures([text]) for text in texts)
    assert together == alone


def test_bands_make_the_threshold_likely_and_strangers_unlikely() -> None:
    bands, rows = bands_for(0.8)
    assert bands * rows == 128
    at_threshold = 1 - (1 - 0.8**rows) ** bands
    strangers = 1 - (1 - 0.3**rows) ** bands
    assert at_threshold > 0.9
    assert strangers < 0.01


def test_candidate_pairs_come_from_shared_bands() -> None:
    rng = random.Random(3)
    rows = [bytearray(rng.randbytes(SIGNATURE_BYTES)) for _ in range(1000)]
    rows[700] = bytearray(rows[12])
    rows[701] = bytearray(rows[12])
    for value in range(10):
        rows[701][2 * value] ^= 1
    pairs = candidate_pairs(b"".join(rows), 0.8)
    assert pairs == [(12, 700), (12, 701), (700, 701)]


# -- the whole pipeline --------------------------------------------------------------------


def test_cross_record_checks_across_files(tmp_path: Path) -> None:
    first = make_document("a")
    same_id = make_document("a", title="Another headline", paragraphs=[{"heading": None, "text": "Other."}])
    copy_of_first = make_document("b")
    wire = " ".join(PARAGRAPHS * 5)
    near_one = make_document("c", title="Wire story", paragraphs=[{"heading": None, "text": wire}])
    near_two = make_document(
        "d", title="Same wire story, new headline", paragraphs=[{"heading": None, "text": wire + " Updated."}]
    )
    write_jsonl(tmp_path / "one.jsonl", [first, near_one])
    write_jsonl(tmp_path / "two.jsonl", [same_id, copy_of_first, near_two])
    result = validate([tmp_path], settings=corpus_settings(tmp_path), cache=False)
    lines = [str(d).replace(str(tmp_path) + os.sep, "") for d in result.diagnostics]
    assert lines[:2] == [
        "two.jsonl:1: error: id: id 'a' is also used by one.jsonl:1 [duplicate-id]",
        "two.jsonl:2: error: same content as 'a' (one.jsonl:1) [duplicate-content]",
    ]
    prefix = "two.jsonl:3: warning: near-duplicate of 'c' (one.jsonl:2): estimated similarity "
    assert lines[2].startswith(prefix)
    assert lines[2].endswith(" (MinHash Jaccard, threshold 0.8) [near-duplicate]")
    assert 0.8 <= float(lines[2][len(prefix) :].split()[0]) < 1.0
    assert result.near_duplicates == (("c", "d"),)
    assert (result.documents, result.invalid, result.errors, result.warnings) == (5, 2, 2, 1)
    assert not result.ok
    kept = [
        doc["id"]
        for doc in iter_valid_documents([tmp_path], settings=corpus_settings(tmp_path), result=result)
    ]
    assert kept == ["a", "c", "d"]


def test_documents_are_handed_over_as_soon_as_they_pass(tmp_path: Path) -> None:
    """`on_valid` gets each document once every check it can fail is decided: a later copy of an
    earlier id or content never, an earlier document that fails its own checks still claims its
    id, and everything is handed over before the corpus's cross-record pass ends."""
    future = make_document(  # fails its own checks
        "x", published_at="2031-01-01T00:00:00Z", paragraphs=[{"heading": None, "text": "Tomorrow."}]
    )
    late_x = make_document(
        "x", title="A later story under a taken id", paragraphs=[{"heading": None, "text": "B."}]
    )
    first = make_document("a")
    copy_of_first = make_document("b")
    fine = make_document("c", title="Another", paragraphs=[{"heading": None, "text": "Something else."}])
    write_jsonl(tmp_path / "one.jsonl", [future, first])
    write_jsonl(tmp_path / "two.jsonl", [late_x, copy_of_first, fine])
    settings = corpus_settings(tmp_path)
    handed: list[str] = []
    result = validate(
        [tmp_path], settings=settings, cache=False, now=NOW, on_valid=lambda d: handed.append(d["id"])
    )
    assert handed == ["a", "c"]
    assert [d["id"] for d in iter_valid_documents([tmp_path], settings=settings, result=result)] == handed
    assert {d.code for d in result.diagnostics if d.severity.value == "error"} == {
        "future-date",
        "duplicate-id",
        "duplicate-content",
    }


def test_one_bad_line_among_thousands_is_named(tmp_path: Path) -> None:
    docs = [
        make_document(
            f"doc-{n}", paragraphs=[{"heading": None, "text": f"Story {n}: {PARAGRAPHS[n % 3]} {n * 7919}"}]
        )
        for n in range(3000)
    ]
    lines = [json.dumps(doc) for doc in docs]
    lines[1733] = lines[1733][:-7]  # cut short: a JSON syntax error on line 1734
    (tmp_path / "batch.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = validate([tmp_path / "batch.jsonl"], settings=corpus_settings(tmp_path), cache=False)
    errors = [d for d in result.diagnostics if d.severity.value == "error"]
    assert [(d.line, d.code) for d in errors] == [(1734, "invalid-json")]
    assert (result.documents, result.invalid) == (3000, 1)


def test_binary_and_oversized_inputs_are_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "binary.txt").write_bytes(b"GIF89a\x00\x01\x02\x03" + bytes(range(256)) * 4)
    (tmp_path / "huge.txt").write_text("x" * (50 * 1024 * 1024) + "\n", encoding="ascii")
    with open(tmp_path / "huge-line.jsonl", "w", encoding="utf-8") as out:
        out.write(json.dumps(make_document("small")) + "\n")
        out.write('{"id": "huge", "title": "' + "y" * (50 * 1024 * 1024) + '"}\n')
    result = validate([tmp_path], settings=corpus_settings(tmp_path), cache=False, workers=1)
    found = {(Path(d.file).name, d.line, d.code) for d in result.diagnostics}
    assert ("binary.txt", 1, "binary-data") in {(name, line, code) for name, line, code in found}
    assert any(name == "huge.txt" and code == "record-too-large" for name, _, code in found)
    assert ("huge-line.jsonl", 2, "record-too-large") in found
    assert (result.files, result.documents, result.invalid) == (3, 4, 3)


def test_signature_cache_gives_the_same_findings(tmp_path: Path) -> None:
    wire = " ".join(PARAGRAPHS * 5)
    docs = [
        make_document("c", paragraphs=[{"heading": None, "text": wire}]),
        make_document("d", title="New headline", paragraphs=[{"heading": None, "text": wire + " Updated."}]),
    ]
    write_jsonl(tmp_path / "docs.jsonl", docs)
    settings = corpus_settings(tmp_path)
    cold = validate([tmp_path / "docs.jsonl"], settings=settings)
    cache_files = list((tmp_path / ".corpuskit" / "cache").iterdir())
    assert len(cache_files) == 1
    warm = validate([tmp_path / "docs.jsonl"], settings=settings)
    assert warm.diagnostics == cold.diagnostics
    assert [d.code for d in warm.diagnostics] == ["near-duplicate"]


POOL_SCRIPT = """
import json, os, sys
from pathlib import Path
from corpuskit.settings import Settings
from corpuskit.validation import api

REAL = api._check_chunk


def spy(paths, options, *rest):
    with open(sys.argv[4], "a") as out:
        out.write(f"{os.getpid()}\\n")
    return REAL(paths, options, *rest)


if __name__ == "__main__":
    folder, schema, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    api._CHUNK_FILES = 1
    api._check_chunk = spy
    settings = Settings(root=Path(folder), schema=schema)
    handed = []
    result = api.validate(
        [folder], settings=settings, cache=False, workers=workers, on_valid=lambda d: handed.append(d["id"])
    )
    summary = {"pid": os.getpid(), "diagnostics": [str(d) for d in result.diagnostics], "handed": handed}
    valid = [d["id"] for d in api.iter_valid_documents([folder], settings=settings, result=result)]
    print(json.dumps(summary | {"summary": result.summary(), "valid": valid}))
"""


def test_worker_pool_gives_the_same_result_as_one_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for part in range(3):
        docs = [
            make_document(
                f"p{part}-{n}", paragraphs=[{"heading": None, "text": f"{PARAGRAPHS[n % 3]} {part} {n}"}]
            )
            for n in range(50)
        ]
        write_jsonl(corpus / f"part-{part}.jsonl", docs)
    write_jsonl(corpus / "dup.jsonl", [make_document("p0-1", title="Clash")])
    script = tmp_path / "run.py"
    script.write_text(POOL_SCRIPT, encoding="utf-8")
    outcomes = {}
    for workers in (1, 2):
        log = tmp_path / f"pids-{workers}.log"
        done = subprocess.run(
            [sys.executable, str(script), str(corpus), str(SCHEMA), str(workers), str(log)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        outcome = json.loads(done.stdout)
        pids = set(log.read_text().split())
        outcomes[workers] = (outcome["diagnostics"], outcome["summary"])
        # Documents handed over as they pass (push imports them meanwhile) are exactly the valid ones.
        assert outcome["handed"] == outcome["valid"]
        assert len(outcome["valid"]) == 150 and "p0-1" in outcome["valid"]
        if workers == 1:
            assert pids == {str(outcome["pid"])}
        else:
            assert str(outcome["pid"]) not in pids and len(pids) >= 1
    assert outcomes[1] == outcomes[2]
    assert any("[duplicate-id]" in line for line in outcomes[2][0])


def test_validate_reports_the_settings_clock(tmp_path: Path) -> None:
    doc = make_document("late", published_at="2024-11-05T00:00:00Z")
    write_jsonl(tmp_path / "late.jsonl", [copy.deepcopy(doc)])
    early = validate([tmp_path], settings=corpus_settings(tmp_path), cache=False, now=NOW)
    later = validate(
        [tmp_path], settings=corpus_settings(tmp_path), cache=False, now=datetime(2024, 11, 4, tzinfo=UTC)
    )
    assert [d.code for d in early.diagnostics] == ["future-date"]
    assert later.ok


def test_entries_read_signatures_across_blocks() -> None:
    from corpuskit.validation.crossrecord import Entries

    rng = random.Random(5)
    blocks = [rng.randbytes(size * SIGNATURE_BYTES) for size in (3, 1, 4)]
    entries = Entries(signature_blocks=list(blocks))
    whole = b"".join(blocks)
    signature = entries.signature_reader()
    for pick in (7, 0, 3, 4, 2, 3):
        assert signature(pick) == whole[pick * SIGNATURE_BYTES : (pick + 1) * SIGNATURE_BYTES]
    for start, stop in ((8, 16), (0, 1), (2, 4), (64, 128)):
        band = [
            int.from_bytes(whole[n * SIGNATURE_BYTES + 2 * start : n * SIGNATURE_BYTES + 2 * stop], "little")
            for n in range(8)
        ]
        assert entries.band_keys(start, stop) == band
