"""pull's shortcuts for plain exports give exactly what the general code gives, for every input.

`result_to_row_fields`, `check_annotation(..., fields_from_result=True)` and a row's `extra` read
plain JSON (dicts, lists, strings, ints) the quick way and hand anything else (a mapping that is not
a dict, a bool or a float where an offset goes, an unknown control, any problem at all) to the
general code, which words every problem. These tests hold the two side by side on hand-written odd
results, on every result of the export fixtures and on generated ones; an exception counts as an
outcome too (same type, same message)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpuskit.studio.export_rows import (
    _ANNOTATION_COLUMNS,
    _TASK_CHILDREN,
    _TASK_COLUMNS,
    _extra,
    _extra_of_mapping,
    convert_tasks,
)
from corpuskit.studio.pull import taxonomy_mapper
from corpuskit.taxonomy import check_annotation, load_taxonomy, result_to_row_fields
from corpuskit.taxonomy.results import _clean_fields, _fields_and_problems

ROOT = Path(__file__).resolve().parents[2]
TAXONOMY = load_taxonomy(ROOT / "schema" / "taxonomy.yaml")
FIRST, SECOND = TAXONOMY.target_ids[:2]
S1, S2 = f"stance_{FIRST}", f"stance_{SECOND}"
TOPIC, OTHER_TOPIC = TAXONOMY.topic_ids[:2]
TEXT = "Moscow and Pyongyang signed a pact. Kyiv asked for more shells."

# Derandomized: the same examples on every run and machine (as in test_properties.py).
PROFILE = settings(
    max_examples=int(os.environ.get("CORPUSKIT_PROPERTY_EXAMPLES", "300")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class Plain(Mapping[str, Any]):
    """A mapping that is not a dict (what a library caller may hand over)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Plain({self._data!r})"


class SubDict(dict[str, Any]):
    """A dict subclass: not the exact type the shortcuts take."""


def outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    try:
        return ("value", call(*args, **kwargs))
    except Exception as exc:  # the general code's failures are part of its behaviour
        return ("raises", type(exc).__name__, str(exc))


def choice(name: str, *values: Any, **item: Any) -> dict[str, Any]:
    return {
        "id": name,
        "from_name": name,
        "to_name": "text",
        "type": "choices",
        "value": {"choices": list(values)},
        **item,
    }


def evidence(start: Any, end: Any, *labels: Any, rid: Any = "r1", text: Any = None) -> dict[str, Any]:
    body = TEXT[start:end] if text is None and isinstance(start, int) and isinstance(end, int) else text
    value = {"start": start, "end": end, "text": body if body is not None else "x", "labels": list(labels)}
    return {"id": rid, "from_name": "evidence", "to_name": "text", "type": "labels", "value": value}


def speaker(rid: Any, *texts: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "from_name": "speaker",
        "to_name": "text",
        "type": "textarea",
        "value": {"text": list(texts)},
    }


def note(*texts: Any) -> dict[str, Any]:
    return {
        "id": "note",
        "from_name": "note",
        "to_name": "text",
        "type": "textarea",
        "value": {"text": list(texts)},
    }


CLEAN: dict[str, list[Any]] = {
    "stance and topics": [choice(S1, "favor"), choice(S2, "against"), choice("topics", OTHER_TOPIC, TOPIC)],
    "empty": [],
    "evidence, two targets, a speaker and a note": [
        choice(S1, "neutral"),
        evidence(36, 40, FIRST, SECOND, rid="r2"),
        evidence(0, 6, FIRST),
        speaker("r2", " Kyiv ", "", "officials"),
        note("first", "  ", "second"),
    ],
    "to_name left out": [{"from_name": S1, "value": {"choices": ["favor"]}}],
    "evidence without an id": [{**evidence(0, 6, SECOND), "id": None}, choice("topics")],
    "speaker before its region": [speaker("r1", "Putin"), evidence(0, 6, FIRST)],
}

ODD: dict[str, Any] = {
    "a mapping item": [Plain(choice(S1, "favor"))],
    "a dict subclass item": [SubDict(choice(S1, "favor"))],
    "a mapping value": [{**choice(S1, "favor"), "value": Plain({"choices": ["favor"]})}],
    "a choices tuple": [{**choice(S1), "value": {"choices": ("favor",)}}],
    "bools as offsets": [evidence(True, 6, FIRST, text="Moscow"[1:])],
    "whole floats as offsets": [evidence(0.0, 6.0, FIRST, text="Moscow"), speaker("r1", "Putin")],
    "half offsets": [evidence(0.5, 6, FIRST, text="Moscow")],
    "offsets missing": [{**evidence(0, 6, FIRST), "value": {"text": "Moscow", "labels": [FIRST]}}],
    "unknown control": [choice("sentiment", "favor")],
    "control of a disabled feature name in another case": [choice("Topics", TOPIC)],
    "duplicated stance blocks": [choice(S1, "favor"), choice(S1, "against")],
    "duplicated stance blocks, the second one broken": [choice(S1, "favor"), {**choice(S1), "value": {}}],
    "two choices in a single-choice block": [choice(S1, "favor", "against")],
    "no choice": [choice(S1)],
    "missing value": [{"id": "a", "from_name": S1, "to_name": "text"}],
    "value not an object": [{**choice(S1), "value": ["favor"]}],
    "another to_name": [choice(S1, "favor", to_name="title")],
    "to_name null": [choice(S1, "favor", to_name=None)],
    "unknown stance value": [choice(S1, "maybe")],
    "a bool as stance value": [choice(S1, True)],
    "unknown topic": [choice("topics", TOPIC, "weather")],
    "choices a string": [{**choice("topics"), "value": {"choices": TOPIC}}],
    "evidence without labels": [evidence(0, 6)],
    "unknown evidence target": [evidence(0, 6, FIRST, "weather")],
    "evidence text missing": [{**evidence(0, 6, FIRST), "value": {"start": 0, "end": 6, "labels": [FIRST]}}],
    "speaker without region": [speaker("r9", "Putin"), evidence(0, 6, FIRST)],
    "speaker text not a list": [evidence(0, 6, FIRST), {**speaker("r1"), "value": {"text": "Putin"}}],
    "speaker text with a number": [evidence(0, 6, FIRST), speaker("r1", "Putin", 7)],
    "note with a number": [note("fine", 3)],
    "note text missing": [{**note(), "value": {}}],
    "result a tuple": (choice(S1, "favor"),),
    "result an object": {"from_name": S1},
    "an item that is a number": [5, choice(S1, "favor")],
    "from_name a number": [{**choice(S1, "favor"), "from_name": 5}],
    "from_name missing": [{"to_name": "text", "value": {"choices": ["favor"]}}],
    "from_name a str subclass": [{**choice(S1, "favor"), "from_name": type("Name", (str,), {})(S1)}],
}


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_a_clean_result_takes_the_shortcut_and_reads_as_before(name: str) -> None:
    result = CLEAN[name]
    assert _clean_fields(TAXONOMY, result) is not None
    assert result_to_row_fields(TAXONOMY, result) == _fields_and_problems(TAXONOMY, result)


@pytest.mark.parametrize("name", sorted(ODD))
def test_an_odd_result_goes_to_the_general_parser(name: str) -> None:
    result = ODD[name]
    assert _clean_fields(TAXONOMY, result) is None
    assert outcome(result_to_row_fields, TAXONOMY, result) == outcome(_fields_and_problems, TAXONOMY, result)


def test_whole_float_offsets_are_read_as_ints_through_the_general_parser() -> None:
    fields, problems = result_to_row_fields(TAXONOMY, ODD["whole floats as offsets"])
    assert problems == []
    assert fields["spans"] == [{"start": 0, "end": 6, "text": "Moscow", "target": FIRST, "speaker": "Putin"}]
    assert [type(fields["spans"][0][k]) for k in ("start", "end")] == [int, int]


def _fixture_results() -> Iterator[Any]:
    for path in sorted((ROOT / "tests" / "data").glob("*/*.json")):
        if path.parent.name not in {"pull", "label-studio-exports"} or path.name == "expected.json":
            continue
        export = json.loads(path.read_text(encoding="utf-8"))
        for task in export if isinstance(export, list) else [export]:
            for name in ("annotations", "drafts", "predictions"):
                for item in task.get(name) or [] if isinstance(task, dict) else []:
                    if isinstance(item, dict) and "result" in item:
                        yield item["result"]


def test_every_fixture_result_reads_as_before() -> None:
    results = list(_fixture_results())
    shortcut = [r for r in results if _clean_fields(TAXONOMY, r) is not None]
    assert shortcut and len(shortcut) < len(results)  # both paths are exercised
    for result in results:
        assert outcome(result_to_row_fields, TAXONOMY, result) == outcome(
            _fields_and_problems, TAXONOMY, result
        )


# Generated results: items built from good and bad parts alike.
_NAMES = st.sampled_from([S1, S2, "stance_other", "topics", "evidence", "speaker", "note", "other", "Note"])
_OFFSETS = st.one_of(
    st.integers(min_value=-2, max_value=len(TEXT) + 2),
    st.sampled_from([True, False, None, 3.0, 2.5, -0.0, "4", 2**70]),
)
_WORDS = st.sampled_from(
    ["favor", "against", "neutral", "maybe", TOPIC, OTHER_TOPIC, "weather", FIRST, SECOND, "", " "]
)
_STRING_LISTS = st.one_of(
    st.lists(_WORDS, max_size=3),
    st.lists(st.one_of(_WORDS, st.integers(0, 3), st.booleans()), max_size=3),
    _WORDS,
    st.none(),
    st.tuples(_WORDS).map(tuple),
)
_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "choices": _STRING_LISTS,
        "labels": _STRING_LISTS,
        "text": st.one_of(_STRING_LISTS, _WORDS, st.just(TEXT[0:6]), st.integers(0, 2)),
        "start": _OFFSETS,
        "end": _OFFSETS,
    },
)
_ITEMS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["r1", "r2", 1, 1.0, None, True]),
        "from_name": st.one_of(_NAMES, st.sampled_from([5, None, True])),
        "to_name": st.sampled_from(["text", "title", None]),
        "type": st.sampled_from(["choices", "labels", "textarea"]),
        "value": st.one_of(
            _VALUES,
            _VALUES.map(Plain),
            _VALUES.map(SubDict),
            st.sampled_from([None, [], ["favor"], "favor", 0, 1]),
        ),
    },
)
# Mostly right items, as an export holds them, so that generated results take the shortcut too.
_GOOD_ITEMS = st.one_of(
    st.builds(
        choice, st.sampled_from([S1, S2]), st.sampled_from(["favor", "against", "neutral", "unrelated"])
    ),
    st.lists(st.sampled_from(TAXONOMY.topic_ids), max_size=3).map(lambda topics: choice("topics", *topics)),
    st.builds(
        lambda start, size, labels, rid: evidence(start, start + size, *labels, rid=rid),
        st.integers(0, 20),
        st.integers(1, 8),
        st.lists(st.sampled_from([FIRST, SECOND]), min_size=1, max_size=2),
        st.sampled_from(["r1", "r2", 3]),
    ),
    st.builds(speaker, st.sampled_from(["r1", "r2", 3, "r9"]), _WORDS),
    st.lists(_WORDS, max_size=2).map(lambda texts: note(*texts)),
)
_RESULTS = st.one_of(
    st.lists(_GOOD_ITEMS, max_size=6),
    st.lists(st.one_of(_GOOD_ITEMS, _ITEMS), max_size=6),
    st.lists(
        st.one_of(_ITEMS, _ITEMS.map(Plain), _ITEMS.map(SubDict), st.sampled_from([5, None, "x", []])),
        max_size=6,
    ),
    st.lists(_ITEMS, max_size=6).map(tuple),
    st.sampled_from([None, {}, "result"]),
)


@settings(PROFILE)
@given(_RESULTS)
def test_generated_results_read_as_before(result: Any) -> None:
    assert outcome(result_to_row_fields, TAXONOMY, result) == outcome(_fields_and_problems, TAXONOMY, result)


def _pulled_row(result: Any, **row: Any) -> dict[str, Any]:
    """A row as the converter builds it before its checks (the fields made from its result)."""
    fields, _ = result_to_row_fields(TAXONOMY, result if isinstance(result, list) else [])
    return {
        "annotator": {"id": 2, "email": None},
        **fields,
        "was_cancelled": False,
        "original": None,
        "result": result,
        **row,
    }


def _same_check(row: dict[str, Any]) -> tuple[Any, ...]:
    """check_annotation on the pulled row, after asserting that the general path (a row that is not a
    dict) says the same."""
    fast = outcome(check_annotation, row, TEXT, TAXONOMY, fields_from_result=True)
    general = outcome(check_annotation, MappingProxyType(row), TEXT, TAXONOMY, fields_from_result=True)
    assert fast == general
    return fast


CHECKED_ROWS: dict[str, dict[str, Any]] = {
    "clean": _pulled_row(CLEAN["evidence, two targets, a speaker and a note"] + [choice(S2, "favor")]),
    "no stance blocks": _pulled_row(CLEAN["empty"] + [choice("topics", TOPIC)]),
    "empty result": _pulled_row([]),
    "empty result, cancelled": _pulled_row([], was_cancelled=True),
    "duplicated stance blocks": _pulled_row(ODD["duplicated stance blocks"] + [choice(S2, "favor")]),
    "two choices in one block": _pulled_row(ODD["two choices in a single-choice block"]),
    "stance block without value": _pulled_row([{"from_name": S1, "to_name": "text"}, choice(S2, "favor")]),
    "stance value a list (the general path fails on it)": _pulled_row([{**choice(S1), "value": ["favor"]}]),
    "stance value a list, cancelled": _pulled_row([{**choice(S1), "value": ["favor"]}], was_cancelled=True),
    "choices a string": _pulled_row([{**choice(S1), "value": {"choices": "favor"}}]),
    "choices a number": _pulled_row([{**choice(S1), "value": {"choices": 1}}]),
    "evidence outside the text": _pulled_row(
        [choice(S1, "favor"), choice(S2, "favor"), evidence(40, 400, FIRST, text="x")]
    ),
    "evidence outside the text, cancelled": _pulled_row(
        [evidence(40, 400, FIRST, text="x")], was_cancelled=True
    ),
    "evidence with the wrong text": _pulled_row(
        [choice(S1, "favor"), choice(S2, "favor"), evidence(0, 6, FIRST, text="Kyiv")]
    ),
    "evidence start after end": _pulled_row(
        [choice(S1, "favor"), choice(S2, "favor"), evidence(6, 0, FIRST, text="x")]
    ),
    "evidence with bool offsets": _pulled_row([choice(S1, "favor"), evidence(True, 6, FIRST, text="oscow")]),
    "row spans that are wrong": _pulled_row(
        [choice(S1, "favor"), choice(S2, "favor")],
        spans=[{"start": 0, "end": 6, "text": "Kyiv"}, {"start": 1.5, "end": 3}, {"start": 9, "end": 2}],
    ),
    "migrated row waiting for re-annotation": _pulled_row(
        [choice(S2, "favor")],
        original={"needs_reannotation": [FIRST], "taxonomy_version": "0.9"},
        stance={FIRST: None, SECOND: "favor"},
    ),
    "original not an object": _pulled_row([choice(S1, "favor")], original=["x"]),
    "stance not an object": _pulled_row([choice(S1, "favor")], stance=["favor"]),
    "a mapping item": _pulled_row(ODD["a mapping item"]),
    "from_name a number": _pulled_row(ODD["from_name a number"]),
    "result not a list": _pulled_row(("x",)),
}


@pytest.mark.parametrize("name", sorted(CHECKED_ROWS))
def test_a_pulled_row_is_checked_as_before(name: str) -> None:
    _same_check(CHECKED_ROWS[name])


def test_pulled_row_checks_still_word_their_problems() -> None:
    assert _same_check(CHECKED_ROWS["duplicated stance blocks"]) == (
        "value",
        [
            f"stance.{FIRST}: no stance value for a required target",
            f"result: 2 stance values for required target {FIRST!r} (exactly one needed)",
        ],
    )
    assert _same_check(CHECKED_ROWS["stance value a list (the general path fails on it)"])[:2] == (
        "raises",
        "AttributeError",
    )
    assert _same_check(CHECKED_ROWS["clean"]) == ("value", [])


@settings(PROFILE)
@given(_RESULTS, st.booleans(), st.sampled_from([None, {"needs_reannotation": [FIRST]}, {}]))
def test_generated_pulled_rows_are_checked_as_before(result: Any, cancelled: bool, original: Any) -> None:
    _same_check(_pulled_row(result, was_cancelled=cancelled, original=original))


def _extras(
    source: dict[str, Any], row: dict[str, Any], columns: Mapping[str, str], skip: Any = ()
) -> list[Any]:
    fast = list(_extra(source, row, columns, skip).items())
    assert fast == list(_extra_of_mapping(source, row, columns, skip).items())
    return fast


def test_extra_keeps_what_the_columns_do_not_reproduce_exactly() -> None:
    item = {
        "id": 7,
        "result": [],
        "was_cancelled": 1,  # an int where the column holds a bool
        "ground_truth": False,
        "lead_time": -0.0,  # equal to 0.0, but not the same JSON
        "created_at": "2026-01-01T00:00:00Z",
        "unique_id": "u",
        "updated_at": None,
        "task": 3,
    }
    row = {
        "annotation_id": 7,
        "result": [],
        "was_cancelled": False,
        "ground_truth": False,
        "lead_time": 0.0,
        "created_at": "2026-01-01T00:00:00Z",
    }
    assert _extras(item, row, _ANNOTATION_COLUMNS) == [
        ("was_cancelled", 1),
        ("lead_time", -0.0),
        ("unique_id", "u"),
        ("updated_at", None),
        ("task", 3),
    ]
    assert _extras(SubDict(item), row, _ANNOTATION_COLUMNS) == _extras(item, row, _ANNOTATION_COLUMNS)
    task = {"id": 3, "annotations": [], "data": {"a": 1}, "meta": None, "drafts": [], "flag": True}
    trow = {"task_id": 3, "data": {"a": 1}, "meta": None}
    assert _extras(task, trow, _TASK_COLUMNS, skip=_TASK_CHILDREN) == [("flag", True)]
    assert _extras(task, trow, _TASK_COLUMNS, skip=("id", "unknown")) == [
        ("annotations", []),
        ("drafts", []),
        ("flag", True),
    ]


@pytest.mark.parametrize(
    ("completed_by", "kept"),
    [
        (2, False),
        (2**63, False),  # beyond a signed 64-bit id, but orjson still writes it
        (-1, False),
        ({"id": 2, "email": None}, False),
        ({"id": 2}, True),
        (True, True),
        (2.0, True),
        ("a@example.org", True),
        (None, False),  # an annotator column of nulls reproduces it too
    ],
)
def test_a_bare_user_id_is_reproduced_by_the_annotator_column(completed_by: Any, kept: bool) -> None:
    annotation = {"id": 1, "completed_by": completed_by, "result": [choice(S1, "favor"), choice(S2, "favor")]}
    tables = convert_tasks(
        [{"id": 1, "data": {"doc_id": "d1", "text": TEXT}, "annotations": [annotation]}],
        taxonomy_mapper(TAXONOMY),
    )
    # Kept whole in problems if the row fails its checks (a very large id may).
    [row] = tables.annotations + [p["value"] for p in tables.problems if p["code"] == "invalid-annotation"]
    assert ("completed_by" in row["extra"]) is kept
    if kept:
        assert row["extra"]["completed_by"] == completed_by


def test_a_user_id_beyond_what_orjson_writes_still_fails_the_conversion() -> None:
    # Not a behaviour to keep for its own sake: the shortcut for bare ids must not be what changes it.
    annotation = {"id": 1, "completed_by": 2**64, "result": [choice(S1, "favor"), choice(S2, "favor")]}
    task = {"id": 1, "data": {"doc_id": "d1", "text": TEXT}, "annotations": [annotation]}
    with pytest.raises(TypeError, match="Integer exceeds 64-bit range"):
        convert_tasks([task], taxonomy_mapper(TAXONOMY))
