"""The team design without a server: the pilot sample, ports for several corpora on one machine."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import pytest

from corpuskit.errors import UsageError
from corpuskit.studio import server
from corpuskit.studio.team import pilot_sample


def _docs() -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    for outlet, language, n in (("AFP", "en", 60), ("AP", "en", 30), ("Al Jazeera", "ar", 10)):
        docs += [{"id": f"{outlet}-{i}", "source": {"name": outlet}, "language": language} for i in range(n)]
    return docs


def test_the_pilot_sample_is_seeded_and_stratified() -> None:
    docs = _docs()
    sample = pilot_sample(docs, 10, "s1")
    assert len(sample) == 10 and sample == sorted(sample)
    assert pilot_sample(list(reversed(docs)), 10, "s1") == sample  # order of the corpus does not matter
    by_outlet = Counter(i.split("-")[0] for i in sample)
    assert by_outlet == {"AFP": 6, "AP": 3, "Al Jazeera": 1}  # proportional to the strata
    assert pilot_sample(docs, 10, "s2") != sample
    assert pilot_sample(docs, 500, "s1") == sorted(str(d["id"]) for d in docs)
    with pytest.raises(UsageError, match="at least 1"):
        pilot_sample(docs, 0, "s1")


def test_a_taken_port_moves_the_next_corpus_to_a_free_one(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((server.HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / server.PORT_FILE).write_text(f"{port}\n", encoding="utf-8")
        chosen = server.choose_port(tmp_path)
        assert chosen != port and port < chosen < port + server.PORT_SEARCH
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((server.HOST, chosen))  # it really is free
    # Once free, the recorded port is the corpus's own again.
    assert server.choose_port(tmp_path) == port


def test_status_counts_annotated_and_complete_documents_per_language() -> None:
    from corpuskit.cli.status import render_text
    from corpuskit.settings import Settings
    from corpuskit.studio.progress import measure
    from corpuskit.taxonomy import load_taxonomy
    from support.synthetic import generate_rows

    rows = generate_rows(4, (0.95, 0.8), coverage=1.0, cancel_rate=0.0, seed=3).rows
    task_of = {row["document_id"]: row["task_id"] for row in rows}
    assert len(task_of) == 4
    # Four worked-on tasks of overlap 2 (two Arabic, one English, one pushed without a language)
    # and one nobody opened; the first Arabic task had only one annotator so far.
    first = min(task_of.values())
    rows = [r for r in rows if r["task_id"] != first or r["annotator"]["id"] == 1]
    ids = sorted(task_of.values())
    tasks = {task_id: (2, {}) for task_id in [*ids, 99]}
    # The untouched task counts too: its language is in the export of every task.
    languages = {ids[0]: "ar", ids[1]: "ar", ids[2]: "en", 99: "en"}
    root = Path(__file__).parents[2]
    figures = measure(
        tasks, rows, load_taxonomy(root / "schema" / "taxonomy.yaml"), Settings(root=root), languages
    )
    assert figures["languages"] == {
        "ar": {"documents": 2, "annotated": 2, "complete": 1},
        "en": {"documents": 2, "annotated": 1, "complete": 1},
        "unknown": {"documents": 1, "annotated": 1, "complete": 1},
    }
    data = {
        "project": {"id": 1, "title": "t", "server": "http://127.0.0.1", "server_kind": "embedded server"},
        "design": {"annotators_per_document": 2, "overlap_share": 1.0, "sampling": "uniform"},
        "documents": 5,
        "pilot_documents": 0,
        "complete": 3,
        "documents_by_annotators": {},
        "remaining_annotations": 3,
        "estimated_annotator_hours": None,
        "median_lead_time": None,
        "annotators": [],
        "agreement": {"questions": {}},
        "stale": [],
        "languages": figures["languages"],
        "loop": {"order": "sequential", "prelabels": "hidden", "model_version": "", "last_change": None},
    }
    assert (
        "documents by language: ar 2 (2 annotated, 1 complete), en 2 (1 annotated, 1 complete), "
        "unknown 1 (1 annotated, 1 complete)" in (render_text(data).splitlines())
    )
    assert (
        "queue order in force: sequential; model pre-labels hidden; model version: none "
        "(never set by corpuskit)" in render_text(data).splitlines()
    )
    data["loop"] = {
        "order": "uncertainty",
        "prelabels": "shown",
        "model_version": "1.0.0-0123456789ab",
        "last_change": {"at": "2026-01-01T12:00:00Z", "by": "suggest"},
    }
    assert (
        "queue order in force: uncertainty; model pre-labels shown; model version: 1.0.0-0123456789ab "
        "(last set by corpuskit suggest at 2026-01-01T12:00:00Z)" in render_text(data).splitlines()
    )
