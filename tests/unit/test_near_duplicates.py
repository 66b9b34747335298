"""Near-duplicate pairs and clusters found on a synthetic corpus whose near-duplicates are known.

The corpus is made from a seeded vocabulary: unrelated stories, a pair (a second headline and two
words changed), a cluster of three and one of five (each copy with its own small edit), an exact
copy, and a story that shares half its text with another (similarity about 0.3, below the
threshold). The expected findings are written out by hand, so a change of how signatures are
computed, stored or banded that loses or invents a pair fails here.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from corpuskit.settings import Settings
from corpuskit.validation.api import ValidationResult, validate

_VOCABULARY = (
    "government minister officials said talks would resume next month after pause security council "
    "resolution sanctions military cooperation agreement trade economy growth inflation interest rates "
    "central bank election campaign voters opposition party leader parliament vote bill reform budget "
    "deficit spending tax energy prices oil gas pipeline exports imports market shares investors analysts "
    "expected forecast quarter percent record high low drop rise announced statement spokesperson sources "
    "police arrested suspects investigation court ruling judge appeal protest thousands gathered capital "
    "streets climate summit emissions target storm flooding evacuated residents rescue teams hospital"
)
WORDS = tuple(_VOCABULARY.split())


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(14, 24))
    return " ".join(words).capitalize() + "."


def _story(rng: random.Random, sentences: int = 16) -> list[str]:
    return [_sentence(rng) for _ in range(sentences)]


def _record(doc_id: str, title: str, sentences: list[str]) -> dict[str, Any]:
    half = len(sentences) // 2
    return {
        "id": doc_id,
        "title": title,
        "language": "en",
        "paragraphs": [
            {"heading": None, "text": " ".join(sentences[:half])},
            {"heading": None, "text": " ".join(sentences[half:])},
        ],
    }


def _edited(rng: random.Random, sentences: list[str]) -> list[str]:
    """Two words changed: the same story as another outlet ran it (similarity about 0.95, well
    clear of the 0.8 threshold, so estimation noise cannot decide the outcome)."""
    copy = list(sentences)
    for _ in range(2):
        number = rng.randrange(len(copy))
        words = copy[number].split()
        words[rng.randrange(1, len(words))] = rng.choice(WORDS)
        copy[number] = " ".join(words)
    return copy


def synthetic_corpus() -> list[dict[str, Any]]:
    rng = random.Random(20241029)
    records: list[dict[str, Any]] = []
    stories = {name: _story(rng) for name in ("pair", "three", "five", "exact", "half")}
    for number in range(40):
        records.append(_record(f"other-{number:02d}", f"Unrelated story {number}", _story(rng)))
        if number == 3:
            records.append(_record("pair-a", "Talks resume", stories["pair"]))
        if number == 9:
            records.append(_record("three-a", "Storm hits the coast", stories["three"]))
        if number == 12:
            records.append(_record("exact-a", "Budget passed", stories["exact"]))
        if number == 15:
            records.append(_record("five-a", "Bank raises rates", stories["five"]))
            records.append(_record("half-a", "Court ruling", stories["half"]))
        if number == 20:
            records.append(_record("pair-b", "Talks to resume after pause", _edited(rng, stories["pair"])))
            records.append(_record("three-b", "Storm floods villages", _edited(rng, stories["three"])))
        if number == 25:
            for letter in "bcde":
                records.append(
                    _record(f"five-{letter}", f"Rates up ({letter})", _edited(rng, stories["five"]))
                )
            records.append(_record("exact-b", "Budget passed", stories["exact"]))
        if number == 30:
            records.append(_record("three-c", "Coast storm", _edited(rng, stories["three"])))
            mixed = stories["half"][:8] + _story(rng, 8)
            records.append(_record("half-b", "Court ruling appealed", mixed))
    return records


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.corpuskit]\n", encoding="utf-8")
    lines = [json.dumps(record) for record in synthetic_corpus()]
    (tmp_path / "news.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def _run(root: Path, cache: bool) -> ValidationResult:
    settings = Settings(root=root, schema=str(Path(__file__).parents[2] / "schema" / "document.schema.json"))
    return validate([Path("news.jsonl")], settings=settings, cache=cache, workers=1)


def _findings(result: ValidationResult) -> dict[str, Any]:
    return {
        "codes": sorted((d.code, d.document_id) for d in result.diagnostics),
        "pairs": sorted(result.near_duplicates),
        "clusters": [[m["id"] for m in c["members"]] for c in result.clusters],
    }


EXPECTED = {
    "codes": [
        ("duplicate-content", "exact-b"),
        ("near-duplicate", "five-a"),
        ("near-duplicate", "pair-b"),
        ("near-duplicate", "three-a"),
    ],
    "pairs": [
        ("five-a", "five-b"),
        ("five-a", "five-c"),
        ("five-a", "five-d"),
        ("five-a", "five-e"),
        ("pair-a", "pair-b"),
        ("three-a", "three-b"),
        ("three-a", "three-c"),
    ],
    "clusters": [["three-a", "three-b", "three-c"], ["five-a", "five-b", "five-c", "five-d", "five-e"]],
}


def test_known_near_duplicates_are_found_and_nothing_else(corpus: Path) -> None:
    result = _run(corpus, cache=False)
    assert result.documents == 54
    assert _findings(result) == EXPECTED
    pair = next(d for d in result.diagnostics if d.document_id == "pair-b")
    assert pair.message.startswith("near-duplicate of 'pair-a' (news.jsonl:5): estimated similarity 0.")
    for cluster in result.clusters:
        low, high = cluster["similarity"]
        assert 0.8 <= low <= high <= 1.0


def test_the_signature_cache_gives_the_same_findings(corpus: Path) -> None:
    cold = _run(corpus, cache=True)
    assert any((corpus / ".corpuskit" / "cache").iterdir())
    warm = _run(corpus, cache=True)
    assert _findings(warm) == _findings(cold) == EXPECTED
    assert [d.message for d in warm.diagnostics] == [d.message for d in cold.diagnostics]


_WITHOUT_NUMPY = """
import json, sys
from pathlib import Path
# What the light core (the pre-commit hook) has: neither numpy nor py3langid.
sys.modules["numpy"] = None
sys.modules["py3langid"] = None
from corpuskit.settings import Settings
from corpuskit.validation.api import validate

root = Path(sys.argv[1])
result = validate([root], settings=Settings(root=root, schema=sys.argv[2]), cache=True, workers=1)
print(json.dumps({
    "pairs": sorted(result.near_duplicates),
    "clusters": [[m["id"] for m in c["members"]] for c in result.clusters],
    "languages": result.languages,
    "numpy": "numpy" in sys.modules and sys.modules["numpy"] is not None,
}))
"""


def test_validation_needs_neither_numpy_nor_py3langid(corpus: Path) -> None:
    """The near-duplicates and the languages of raw files that state none, told with numpy and
    py3langid made unimportable: what the light core install does."""
    import subprocess
    import sys

    data = Path(__file__).parents[1] / "data" / "languages"
    for name in ("arabic-budget.txt", "russian-budget.txt", "spanish-pensions.txt"):
        (corpus / name).write_bytes((data / name).read_bytes())
    schema = Path(__file__).parents[2] / "schema" / "document.schema.json"
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_NUMPY, str(corpus), str(schema)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [tuple(pair) for pair in found["pairs"]] == EXPECTED["pairs"]
    assert found["clusters"] == EXPECTED["clusters"]
    assert found["languages"] == {"en": 54, "ar": 1, "es": 1, "ru": 1}
    assert found["numpy"] is False
