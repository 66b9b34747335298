"""Reading an export's tasks while it downloads: the fast path (one orjson parse per task) gives the
same tasks, and the same snapshot, as the incremental parser, whatever the layout and chunking."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corpuskit.errors import DataError
from corpuskit.snapshot import write_snapshot
from corpuskit.studio import export_items
from corpuskit.studio.export_items import iter_tasks
from corpuskit.studio.export_rows import Mapper, convert_tasks
from corpuskit.studio.pull import convert_stream, taxonomy_mapper
from corpuskit.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = sorted(
    [
        *(ROOT / "tests" / "data" / "label-studio-exports").rglob("*.json"),
        ROOT / "tests/data/pull/synthetic_export.json",
    ]
)
RECORDED = ROOT / "tests" / "data" / "label-studio-exports" / "recorded"
LISTS = [path for path in EXPORTS if isinstance(json.loads(path.read_bytes()), list)]
SIZES = (1, 7, 100, 4096, 1 << 20)


def label_studio_bytes(value: Any) -> bytes:
    """The bytes Label Studio writes for an export: one line, default separators, UTF-8."""
    return "".join(json.JSONEncoder(ensure_ascii=False).iterencode(value)).encode("utf-8")


def chunked(data: bytes, size: int) -> tuple[bytes, Iterator[bytes]]:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return pieces[0], iter(pieces[1:])


def incremental(data: bytes) -> list[Any]:
    """The tasks as ijson alone reads them (the reference)."""
    import ijson

    return list(ijson.items(data, "item", use_float=True))


def fast(data: bytes, size: int) -> list[Any]:
    head, rest = chunked(data, size)
    return list(iter_tasks(head, rest))


@pytest.fixture(scope="module")
def mapper() -> Mapper:
    return taxonomy_mapper(load_taxonomy(ROOT / "schema" / "taxonomy.yaml"))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("path", LISTS, ids=lambda p: p.name)
def test_every_fixture_reads_the_same_in_label_studios_layout(path: Path, size: int) -> None:
    data = label_studio_bytes(json.loads(path.read_bytes()))
    assert fast(data, size) == json.loads(data) == incremental(data)


def test_recorded_exports_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(head: bytes, chunks: Iterator[bytes]) -> Iterator[Any]:
        raise AssertionError("read by the incremental parser")

    monkeypatch.setattr(export_items, "_incremental", refuse)
    for name in ("export.json", "export-snapshot.json"):
        tasks = json.loads((RECORDED / name).read_bytes())
        assert fast(label_studio_bytes(tasks), 4096) == tasks


@pytest.mark.parametrize("path", LISTS, ids=lambda p: p.name)
def test_every_fixture_reads_the_same_as_stored(path: Path) -> None:
    data = path.read_bytes()  # indented: not the one-line layout, read by ijson
    assert fast(data, 100) == json.loads(data)


@pytest.mark.parametrize("path", LISTS, ids=lambda p: p.name)
def test_snapshot_is_byte_identical_to_the_incremental_reading(
    path: Path, mapper: Mapper, tmp_path: Path
) -> None:
    data = label_studio_bytes(json.loads(path.read_bytes()))
    folders = []
    for name, tables in (
        ("incremental", convert_tasks(incremental(data), mapper)),
        ("fast", convert_stream(iter([data[i : i + 4096] for i in range(0, len(data), 4096)]), mapper)),
    ):
        folder = tmp_path / name
        write_snapshot(folder, tables.by_table(), {"source": "same"})
        folders.append(folder)
    files = sorted(p.name for p in folders[0].iterdir())
    assert files == sorted(p.name for p in folders[1].iterdir())
    for file in files:
        assert (folders[0] / file).read_bytes() == (folders[1] / file).read_bytes(), file


def _task(task_id: int, data: Any) -> dict[str, Any]:
    return {"id": task_id, "annotations": [{"id": task_id * 10, "result": []}], "data": data}


# Task data that looks like tasks where the fast path cuts, strings holding the boundary's text,
# and numbers orjson does not hold: each task must come out whole and unchanged.
TRICKY = [
    _task(1, {"doc_id": "a", "items": [{"id": 5, "annotations": []}, {"id": 6, "annotations": [1]}]}),
    _task(2, {"doc_id": "b", "text": '}, {"id": 3, "annotations": [] and more'}),
    _task(3, {"doc_id": "c", "nested": [[{"id": 1, "annotations": {"x": [{"id": 2, "annotations": 0}]}}]]}),
    _task(4, {"doc_id": "d", "big": 2**63 - 1, "small": -(2**63) + 1, "float": 1.5e300, "t": "é ✓ \u2028"}),
    _task(5, {"doc_id": "e"}),
]


@pytest.mark.parametrize("size", SIZES)
def test_false_boundaries_and_odd_values_read_the_same(size: int) -> None:
    data = label_studio_bytes(TRICKY)
    assert fast(data, size) == TRICKY == incremental(data)


def test_many_false_boundaries_in_one_task_fall_back_to_the_incremental_parser() -> None:
    crowd = [{"id": i, "annotations": []} for i in range(200)]
    tasks = [_task(1, {"doc_id": "a"}), _task(2, {"doc_id": "b", "crowd": crowd}), _task(3, {"doc_id": "c"})]
    data = label_studio_bytes(tasks)
    assert fast(data, 1 << 20) == tasks
    assert fast(data, 50) == tasks


@pytest.mark.parametrize("body", [b"[]", b"  [ ]  ", b'[{"id": 1, "annotations": []}]\n'])
def test_empty_and_single_exports(body: bytes) -> None:
    assert fast(body, 3) == json.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        b'[{"id": 1, "annotations": []}, {"id": 2, "annotations": [',  # truncated inside a task
        b'[{"id": 1, "annotations": []}, {"id": 2, "annotations": []}',  # no closing bracket
        b'[{"id": 1, "annotations": []}, {"id": 2, "annotations": []}]]',  # one bracket too many
        b'[{"id": 1, "annotations": []}] trailing',
        b'[{"id": 1, "annotations": [}, {"id": 2, "annotations": []}]',
    ],
)
def test_a_damaged_body_is_an_error(body: bytes) -> None:
    for size in (5, 1 << 20):
        with pytest.raises(DataError, match="not a valid JSON export"):
            fast(body, size)


def test_a_number_beyond_64_bits_is_an_error_as_before() -> None:
    # Neither parser holds it: the incremental one words the error, as pulls always did.
    data = label_studio_bytes(
        [_task(1, {"doc_id": "a"}), _task(2, {"doc_id": "b", "n": 2**70}), _task(3, {})]
    )
    with pytest.raises(DataError, match="integer overflow"):
        fast(data, 1 << 20)


def test_values_orjson_reads_otherwise_are_read_as_before() -> None:
    # An escaped lone surrogate (orjson refuses it) and a 64-bit unsigned integer (orjson holds
    # it, ijson does not): each task is read exactly as the incremental parser reads it, or fails
    # as it did.
    lone = b'[{"id": 1, "annotations": [], "data": {"t": "\\ud800"}}, {"id": 2, "annotations": []}]'
    assert fast(lone, 1 << 20) == incremental(lone)
    wide = label_studio_bytes([_task(1, {"n": 2**64 - 1}), _task(2, {})])
    with pytest.raises(DataError, match="integer overflow"):
        fast(wide, 1 << 20)
    digits_in_text = [_task(1, {"t": "ref: 12345678901234567890, done"}), _task(2, {})]
    assert fast(label_studio_bytes(digits_in_text), 1 << 20) == digits_in_text


@pytest.mark.parametrize(
    ("piece", "long"),
    [
        (b'{"n": 1234567890123456789}', True),
        (b'{"n": -1234567890123456789}', True),
        (b"[1234567890123456789]", True),
        (b'{"a":1,"n":12345678901234567890}', True),
        (b'{"n": 123456789012345678}', False),  # 18 digits
        (b'{"t": "id 1234567890123456789"}', False),  # digits inside a string, after a space
        (b'{"t": "x,1234567890123456789"}', True),  # looks like one: only sent the slower way
        (b'{"t": "ab1234567890123456789"}', False),
    ],
)
def test_long_integers_are_found_where_a_number_can_start(piece: bytes, long: bool) -> None:
    from corpuskit.studio.export_items import _long_integer

    assert _long_integer(piece) is long


def test_the_long_integer_search_agrees_with_its_pattern() -> None:
    """Runs of digits anywhere, of every length, after every kind of character: the search says
    what the pattern it stands for says."""
    import random
    import re

    from corpuskit.studio.export_items import _long_integer

    pattern = re.compile(rb"[\[:,] ?-?[0-9]{19}")
    rng = random.Random(17)
    pieces = [b"0" * 40 + b":" + b"9" * 19, b", " + b"1" * 60, b'"' + b"0" * 64 + b'", -' + b"5" * 19]
    for _ in range(3000):
        parts = []
        for _ in range(rng.randrange(0, 6)):
            parts.append(bytes(rng.choice(b'[]:, -"ab{}') for _ in range(rng.randrange(0, 4))))
            parts.append(bytes(rng.choice(b"0123456789") for _ in range(rng.randrange(0, 26))))
        pieces.append(b"".join(parts))
    found = 0
    for piece in pieces:
        want = pattern.search(piece) is not None
        assert _long_integer(piece) is want, piece
        found += want
    assert 50 < found < len(pieces) - 50  # both answers were asked for
