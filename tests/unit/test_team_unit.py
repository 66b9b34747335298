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
