"""A release leaves out what the dedupe record leaves out, and its card counts the clusters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from corpuskit.settings import load_settings
from corpuskit.validation.api import validate
from support.release_corpus import make_corpus, write_snapshot


def _rewrite(source: Path, target: Path) -> None:
    """A near-duplicate: the same article with a sentence added to its last paragraph."""
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[-1] += " A spokesman confirmed the figures on Friday."
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def deduped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from corpuskit.release.api import release

    root = make_corpus(tmp_path_factory.mktemp("corpus"), extra=10)
    raw = root / "raw"
    shutil.copy(raw / "gen_0001.txt", raw / "gen_0001_copy.txt")
    _rewrite(raw / "gen_0002.txt", raw / "gen_0002_rewrite.txt")
    _rewrite(raw / "gen_0003.txt", raw / "gen_0003_rewrite.txt")
    # Every valid document was pushed and annotated before anyone deduplicated the corpus: the
    # rewrite was, the identical copy was not (an error until the record decides).
    write_snapshot(root)
    settings = load_settings(root)
    assert validate(settings=settings, cache=False, dedupe=True).ok
    # The maintainer keeps both versions of gen_0003 (a rewrite worth annotating on its own).
    record = root / "dedupe.jsonl"
    lines = [line for line in record.read_text().splitlines() if '"gen_0003' not in line]
    record.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root, release("1.0.0", settings=settings).folder


def test_left_out_documents_and_their_annotations_are_not_released(deduped: tuple[Path, Path]) -> None:
    import pyarrow.parquet as pq

    _, folder = deduped
    manifest = json.loads((folder / "manifest.json").read_text())
    ids = {
        row["id"]
        for path in (folder / "data" / "documents").glob("*.parquet")
        for row in pq.read_table(path, columns=["id"]).to_pylist()
    }
    assert len(ids) == sum(manifest["rows"]["documents"].values()) == 13
    assert {"gen_0001", "gen_0002", "gen_0003", "gen_0003_rewrite"} <= ids
    assert not ids & {"gen_0001_copy", "gen_0002_rewrite"}
    annotated = {
        row["document_id"]
        for path in (folder / "data" / "annotations").glob("*.parquet")
        for row in pq.read_table(path, columns=["document_id"]).to_pylist()
    }
    assert annotated == ids


def test_the_card_counts_clusters_and_left_out_documents(deduped: tuple[Path, Path]) -> None:
    _, folder = deduped
    card = (folder / "README.md").read_text(encoding="utf-8")
    section = card[card.index("## Duplicates") :]
    section = section[: section.index("\n## ", 1)]
    assert "- Near-duplicate clusters among the released documents: 1 (2 documents)" in section
    assert "- Identical-content clusters among the released documents: 0" in section
    assert (
        "- Documents left out by `dedupe.jsonl`: 2 (one member of each cluster is kept; the others "
        "and their 3 annotations are not in this release, nor in its gold labels and agreement)"
    ) in section
    assert "Splits keep each near-duplicate cluster whole" in section
    # Agreement is computed on the released documents only (13 of the snapshot's 14).
    assert "| stance.rnk_military_cooperation | 1.000 | [1.000, 1.000] | 13 |" in card
    # Annotations of left-out documents are not counted as those of documents gone from the corpus.
    assert "documents no longer in the corpus are excluded" not in card


def test_the_kept_rewrite_shares_a_split_with_its_original(deduped: tuple[Path, Path]) -> None:
    import pyarrow.parquet as pq

    _, folder = deduped
    split_of = {
        row["id"]: path.name.split("-")[0]
        for path in (folder / "data" / "documents").glob("*.parquet")
        for row in pq.read_table(path, columns=["id"]).to_pylist()
    }
    assert split_of["gen_0003"] == split_of["gen_0003_rewrite"]
