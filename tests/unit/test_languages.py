"""Real-shaped multilingual, scraped corpora: detected languages, stated-vs-detected warnings, the
`languages` setting, headlines, page furniture and near-duplicate clusters."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpuskit.cli.main import main
from corpuskit.documents import language as langid
from corpuskit.documents.language import confirm, detect, direction, sample_text
from corpuskit.documents.reader import SourceRecord, read_file
from corpuskit.settings import load_settings
from corpuskit.validation.api import validate
from corpuskit.validation.reporters import summary_line

DATA = Path(__file__).parents[1] / "data" / "languages"
SAMPLES = json.loads((Path(__file__).parents[2] / "scripts" / "langid_samples.json").read_text("utf-8"))


def _corpus(tmp_path: Path, toml: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text(f'[tool.corpuskit]\nraw = "raw"\n{toml}', encoding="utf-8")
    shutil.copytree(DATA, tmp_path / "raw")
    return tmp_path


def _records(path: Path) -> list[SourceRecord]:
    return [item for item in read_file(path, root=DATA) if isinstance(item, SourceRecord)]


def test_unstated_languages_are_detected() -> None:
    found = {path.stem: _records(path)[0].document["language"] for path in sorted(DATA.glob("*.txt"))}
    assert found == {
        "arabic-budget": "ar",
        "furniture": "en",
        "korean-housing": "ko",
        "russian-budget": "ru",
        "spanish-pensions": "es",
    }
    arabic = _records(DATA / "arabic-budget.txt")[0]
    assert arabic.detected is not None and arabic.detected.confidence >= 0.9
    assert direction("ar") == direction("he-IL") == direction("fa") == direction("ur") == "rtl"
    assert direction("en") == "ltr"


def test_stated_language_is_kept_and_a_contradiction_warns(tmp_path: Path) -> None:
    items = list(read_file(DATA / "stated.jsonl", root=DATA))
    warnings = [str(item) for item in items if not isinstance(item, SourceRecord)]
    assert warnings == [
        f"{DATA / 'stated.jsonl'}:1: warning: language: stated as English (en) but the text reads as "
        "Arabic (ar) (confidence 0.92) [language-mismatch]"
    ]
    languages = [item.document["language"] for item in items if isinstance(item, SourceRecord)]
    assert languages == ["en", "uk", "zh"]


def test_validate_counts_languages_and_the_setting_bounds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _corpus(tmp_path, 'languages = ["en", "ar", "es"]\n')
    monkeypatch.chdir(root)
    result = validate(settings=load_settings(root), cache=False)
    assert result.languages == {"en": 2, "ar": 1, "es": 1, "ko": 1, "ru": 1, "uk": 1, "zh": 1}
    refused = sorted(
        f"{d.file}:{d.line}: {d.message}" for d in result.diagnostics if d.code == "language-not-allowed"
    )
    allowed = "which is not among the corpus' languages (ar, en, es; the `languages` setting)"
    assert refused == [
        f"raw/korean-housing.txt:1: detected as Korean (ko), {allowed}",
        f"raw/russian-budget.txt:1: detected as Russian (ru), {allowed}",
        f"raw/stated.jsonl:2: stated as Ukrainian (uk), {allowed}",
        f"raw/stated.jsonl:3: detected as Chinese (zh), {allowed}",
    ]
    assert summary_line(result) == (
        "6 files, 8 documents: 4 valid, 4 invalid; 4 errors, 4 warnings; "
        "languages: en 2, ar 1, es 1, ko 1, ru 1, uk 1, zh 1"
    )
    assert main(["validate", "--quiet", "--format", "json", "--no-cache"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["languages"] == result.languages


def test_a_language_setting_outside_the_list_is_refused(tmp_path: Path) -> None:
    root = _corpus(tmp_path, 'language = "de"\nlanguages = ["en", "ar"]\n')
    with pytest.raises(Exception, match=r"language = 'de' is not among languages = \['en', 'ar'\]"):
        load_settings(root)


def test_boilerplate_lines_warn_and_never_become_subheadings() -> None:
    items = list(read_file(DATA / "furniture.txt", root=DATA))
    warnings = [(item.line, item.code) for item in items if not isinstance(item, SourceRecord)]
    assert warnings == [(6, "boilerplate"), (7, "boilerplate"), (9, "boilerplate")]
    document = next(item for item in items if isinstance(item, SourceRecord)).document
    assert [p["heading"] for p in document["paragraphs"]] == [None] * 5
    assert [p["text"] for p in document["paragraphs"]][1:3] == ["Advertisement", "Scroll down for video"]


def test_custom_boilerplate_pattern(tmp_path: Path) -> None:
    root = _corpus(tmp_path, 'boilerplate = ["rivers burst .*"]\n')
    result = validate(settings=load_settings(root), cache=False, paths=[root / "raw" / "furniture.txt"])
    assert [d.line for d in result.diagnostics if d.code == "boilerplate"] == [5, 6, 7, 9]


@pytest.mark.parametrize(
    ("first", "why"),
    [
        ("- World", "'- World' is a metadata bullet, not a headline"),
        ("07:38 | 29 October 2024", "'07:38 | 29 October 2024' is a date, not a headline"),
        ("Advertisement", "'Advertisement' is page furniture, not a headline"),
    ],
)
def test_a_first_line_that_is_no_headline_is_refused(tmp_path: Path, first: str, why: str) -> None:
    path = tmp_path / "story.txt"
    path.write_text(f"{first}\nFloods close schools across the region\nRivers burst their banks.\n", "utf-8")
    (problem,) = list(read_file(path, root=tmp_path))
    assert not isinstance(problem, SourceRecord)
    assert (problem.line, problem.column, problem.code, problem.severity.value) == (
        1,
        1,
        "missing-title",
        "error",
    )
    assert why in problem.message


def test_a_section_word_as_headline_warns(tmp_path: Path) -> None:
    path = tmp_path / "story.txt"
    path.write_text("Features\nRivers burst their banks overnight after heavy rain.\n", "utf-8")
    warning, record = list(read_file(path, root=tmp_path))
    assert isinstance(record, SourceRecord)
    assert not isinstance(warning, SourceRecord)
    assert (warning.line, warning.code, warning.severity.value) == (1, "section-title", "warning")


WIRE_STORY = (
    "the ministry said on tuesday that rescue teams had reached the flooded villages in the north "
    "after rivers burst their banks and thousands of people left their homes for shelters in "
    "schools while officials warned that more rain was expected through the week and roads stayed "
    "closed across the region as power lines came down"
)


def _wire_copies(count: int) -> str:
    rng = random.Random(3)
    words = WIRE_STORY.split()
    lines = []
    for index in range(count):
        body = list(words)
        body[rng.randrange(len(body))] = f"outlet{index}"
        record = {
            "id": f"wire-{index:04d}",
            "title": "Rescue teams reach flooded villages in the north",
            "language": "en",
            "paragraphs": [{"heading": None, "text": " ".join(body) + "."}],
        }
        lines.append(json.dumps(record))
    return "\n".join(lines) + "\n"


def test_a_thousand_copies_of_one_story_are_one_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.corpuskit]\n", encoding="utf-8")
    (tmp_path / "wire.jsonl").write_text(_wire_copies(1000), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--no-cache", "wire.jsonl"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith(
        "wire.jsonl:1: warning: near-duplicate cluster of 1000 documents around 'wire-0000': "
        "'wire-0001' (wire.jsonl:2), 'wire-0002' (wire.jsonl:3), "
    )
    assert "and 994 more (--format json lists them all); estimated similarity 0." in err[0]
    assert err[1] == (
        "1 file, 1000 documents: 1000 valid, 0 invalid; 0 errors, 1 warning; "
        "1 near-duplicate cluster of 1000 documents"
    )
    assert main(["validate", "--no-cache", "--format", "json", "wire.jsonl"]) == 0
    report = json.loads(capsys.readouterr().out)
    (cluster,) = report["clusters"]
    assert cluster["size"] == 1000 and cluster["representative"] == "wire-0000"
    assert [m["id"] for m in cluster["members"]] == [f"wire-{i:04d}" for i in range(1000)]
    assert cluster["members"][999] == {"id": "wire-0999", "file": "wire.jsonl", "line": 1000}
    assert report["summary"]["clusters"] == 1


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_detection_never_raises(text: str) -> None:
    found = detect(text)
    assert found.language is None or isinstance(found.language, str)
    assert 0.0 <= found.confidence <= 1.0


PRINTABLE = st.characters(exclude_categories=("Cc", "Cs", "Cf", "Co", "Cn", "Zl", "Zp"))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["en", "ar", "pt-BR", "zh-Hant", "uk"]), st.text(PRINTABLE, max_size=200))
def test_stated_languages_are_kept(tmp_path_factory: pytest.TempPathFactory, tag: str, text: str) -> None:
    folder = tmp_path_factory.mktemp("stated")
    record = {
        "id": "a",
        "title": "headline",
        "language": tag,
        "paragraphs": [{"heading": None, "text": text}],
    }
    (folder / "a.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    records = [item for item in read_file(folder / "a.jsonl", root=folder) if isinstance(item, SourceRecord)]
    assert [r.document["language"] for r in records] == [tag]


def test_samples_of_the_comparison_are_identified() -> None:
    for tag, texts in SAMPLES.items():
        if tag.startswith("_"):
            continue
        for text in texts["long"]:
            assert detect(text).language == tag, (tag, text[:40])
    assert sample_text({"title": "a" * 500}) == "a" * 240


def test_function_words_confirm_only_the_true_language() -> None:
    # The cheap path may only ever agree with the text: no sample confirms another stated language.
    confirmed = set()
    for tag, texts in SAMPLES.items():
        if tag.startswith("_"):
            continue
        for text in texts["short"] + texts["long"]:
            for stated in ("en", "es", "fr", "de", "it", "pt", "nl", "tr", "ru", "uk", "pt-BR"):
                found = confirm(stated, text)
                if found is not None:
                    assert found == langid.Detection(tag, 1.0, "words"), (stated, tag, text[:40])
                    confirmed.add(tag)
    assert confirmed == {"en", "es", "fr", "de", "it", "pt", "ru", "uk"}
    # Arabic text stated as English is never confirmed, whatever English words it quotes.
    arabic = SAMPLES["ar"]["long"][0]
    assert confirm("en", arabic + " the of and that was the of and") is None


# Letters, digits, marks and spaces of Latin-1 and around it: accented letters, the ordinals and
# superscripts that count as letters or word characters, the typographic marks set aside, Cyrillic.
_MIXED = "aeiou AEIOU tsn_09 ²¹¼ªºµ ßàéïñøÿÀÉÑ\u00a0\u0085 .,;'\"-«» " + "".join(
    mark for mark, _ in langid.TYPOGRAPHY
)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=_MIXED + "théthe of and la les der und ди ё\u0131\u0130", max_size=300),
    st.sampled_from(["en", "fr", "de", "ru", "tr"]),
)
def test_the_latin1_counts_are_the_counts_of_the_regular_expressions(text: str, language: str) -> None:
    fast = langid._count_latin1(language, text)
    if fast is None:  # a letter outside Latin-1: only the regular expressions count it
        assert any(ord(char) > 255 for char in text)
        return
    letters, foreign, hits = langid._count(language, text)
    assert fast[:2] == (letters, foreign)
    assert {k: v for k, v in fast[2].items() if k} == {k: v for k, v in hits.items() if k}


def test_the_latin1_counts_agree_on_every_sample_and_confirm_the_same() -> None:
    for texts in SAMPLES.values():
        if not isinstance(texts, dict):
            continue
        for text in texts["short"] + texts["long"]:
            for language in ("en", "es", "de", "tr", "uk"):
                fast = langid._count_latin1(language, text[: langid.CONFIRM_CHARS])
                if fast is not None:
                    slow = langid._count(language, text[: langid.CONFIRM_CHARS])
                    assert fast[:2] == slow[:2]
                    assert {k: v for k, v in fast[2].items() if k} == {k: v for k, v in slow[2].items() if k}
    # The marks set aside are neither letters nor parts of words, so swapping them changes nothing.
    assert not any(
        char.isalnum() or char == "_" for mark, plain in langid.TYPOGRAPHY for char in mark + plain
    )
    quoted = (
        "\u201cThe minister said that the plan was \u2018final\u2019 \u2014 and that it would stand.\u201d"
    )
    assert langid._count_latin1("en", quoted) is not None
    assert confirm("en", quoted) == langid.Detection("en", 1.0, "words")


def _english(number: int, language: str | None) -> dict[str, object]:
    text = SAMPLES["en"]["long"][0]
    record: dict[str, object] = {"id": f"en-{number}", "title": f"Council vote number {number}"}
    record["paragraphs"] = [{"heading": None, "text": f"{text} Vote {number}."}]
    if language is not None:
        record["language"] = language
    return record


def test_stated_languages_that_the_words_confirm_never_load_the_model(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.corpuskit]\nraw = "raw"\n', encoding="utf-8")
    (tmp_path / "raw").mkdir()
    lines = [json.dumps(_english(n, "en")) for n in range(20)]
    (tmp_path / "raw" / "en.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    langid._identifier.cache_clear()
    result = validate(settings=load_settings(tmp_path), cache=False, workers=1)
    assert (result.valid, result.languages) == (20, {"en": 20})
    assert langid._identifier.cache_info().currsize == 0
    # An Arabic document stated as English still meets the model, and warns.
    shutil.copy(DATA / "stated.jsonl", tmp_path / "raw" / "stated.jsonl")
    result = validate(settings=load_settings(tmp_path), cache=False, workers=1)
    assert [d.code for d in result.diagnostics if d.code.startswith("language")] == ["language-mismatch"]
    assert langid._identifier.cache_info().currsize == 1


def test_detections_are_cached_by_content_hash(tmp_path: Path) -> None:
    _corpus(tmp_path)
    cold = validate(settings=load_settings(tmp_path), workers=1)
    cached = sorted(path.name for path in (tmp_path / ".corpuskit" / "cache").glob("languages-*.bin"))
    assert cached == [f"languages-v{langid.DETECTION_VERSION}-{langid.SAMPLE_CHARS}.bin"]
    langid._identifier.cache_clear()
    warm = validate(settings=load_settings(tmp_path), workers=1)
    # The unchanged corpus is told its languages (and the stated-English Arabic document its
    # mismatch) from the cache, without the model.
    assert langid._identifier.cache_info().currsize == 0
    assert warm.languages == cold.languages == {"en": 2, "ar": 1, "es": 1, "ko": 1, "ru": 1, "uk": 1, "zh": 1}
    assert [d for d in warm.diagnostics if d.code == "language-mismatch"] == [
        d for d in cold.diagnostics if d.code == "language-mismatch"
    ]
    # A changed document is detected again.
    spanish = tmp_path / "raw" / "spanish-pensions.txt"
    spanish.write_text(spanish.read_text("utf-8").replace("pensiones", "jubilaciones"), "utf-8")
    changed = validate(settings=load_settings(tmp_path), workers=1)
    assert changed.languages == cold.languages
    assert langid._identifier.cache_info().currsize == 1


def test_an_arabic_task_reads_right_to_left_and_the_config_lays_out_paragraphs_by_script() -> None:
    import xml.etree.ElementTree as ET

    from corpuskit.studio.push.plan import task_data
    from corpuskit.taxonomy import load_taxonomy
    from corpuskit.taxonomy.labelconfig import DOCUMENT_CLASS, label_config

    arabic = _records(DATA / "arabic-budget.txt")[0].document
    data = task_data(arabic, "1.0.0")
    assert (data["language"], data["direction"]) == ("ar", "rtl")
    # The body is sent as it is: offsets in the labelling page are offsets in the document.
    assert data["text"].startswith("أعلنت الحكومة يوم الثلاثاء")
    spanish = _records(DATA / "spanish-pensions.txt")[0].document
    assert task_data(spanish, "1.0.0")["direction"] == "ltr"

    root = ET.fromstring(label_config(load_taxonomy(Path(__file__).parents[2] / "schema" / "taxonomy.yaml")))
    (style,) = root.iter("Style")
    assert f".{DOCUMENT_CLASS} div" in (style.text or "")
    assert "unicode-bidi: plaintext; text-align: start;" in (style.text or "")
    assert f".{DOCUMENT_CLASS} .lsf-richtext__line {{ unicode-bidi: plaintext;" in (style.text or "")
    documents = [view for view in root.iter("View") if view.get("className") == DOCUMENT_CLASS]
    shown = [child.get("value") for view in documents for child in view.iter() if child.get("value")]
    assert shown[0] == "$title" and shown[-2:] == ["$summary", "$text"]
