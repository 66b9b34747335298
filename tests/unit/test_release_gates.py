"""Release gates, stable splits, near-duplicates, sharding and interrupted builds."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from corpuskit.cli.main import main
from corpuskit.release.build import ReleaseInputs, build_release
from corpuskit.release.inputs import file_sha256
from corpuskit.release.splits import SPLITS, SplitAssigner, split_of_key
from support import synthetic
from support.release_corpus import add_articles, make_corpus, write_snapshot

RATIOS = (0.6, 0.2, 0.2)


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_corpus(tmp_path / "corpus")
    monkeypatch.chdir(root)
    return root


def splits_of(folder: Path, config: str = "documents") -> dict[str, str]:
    import pyarrow.parquet as pq

    key = "document_id" if config == "annotations" else "id"
    out = {}
    for path in sorted((folder / "data" / config).glob("*.parquet")):
        for doc_id in pq.read_table(path, columns=[key]).column(key).to_pylist():
            out[doc_id] = path.name.split("-")[0]
    return out


def hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


# ---- gates -------------------------------------------------------------------------------------


def test_validation_failure_refuses(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_snapshot(corpus)
    (corpus / "raw" / "broken.txt").write_text("   \n", encoding="utf-8")
    assert main(["release", "1.0.0"]) == 1
    assert "validation failed" in capsys.readouterr().err
    assert not (corpus / "releases" / "v1.0.0").exists()


def test_snapshot_older_than_corpus_refuses(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_snapshot(corpus)
    add_articles(corpus, [500])
    assert main(["release", "1.0.0"]) == 1
    err = capsys.readouterr().err
    assert "older than the corpus: 1 document(s) are new or changed since, e.g. gen_0500" in err
    assert not (corpus / "releases" / "v1.0.0").exists()
    assert not [p for p in (corpus / "releases").iterdir() if p.name.startswith(".building")]


def test_edited_document_refuses(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_snapshot(corpus)
    path = corpus / "raw" / "gen_0003.txt"
    path.write_text(path.read_text().replace("number 3", "number three"), encoding="utf-8")
    assert main(["release", "1.0.0"]) == 1
    assert "e.g. gen_0003" in capsys.readouterr().err


def test_annotations_on_an_older_text_refuse(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_snapshot(corpus, stale="gen_0002")
    assert main(["release", "1.0.0"]) == 1
    assert (
        "3 annotation(s) were made on an older text of their document, e.g. gen_0002"
        in capsys.readouterr().err
    )


def test_gold_below_threshold_refuses_unless_allowed(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_snapshot(corpus, disagree=True)
    assert main(["release", "1.0.0"]) == 1
    err = capsys.readouterr().err
    assert "below the quality thresholds" in err and "stance.rnk_military_cooperation" in err
    assert not (corpus / "releases" / "v1.0.0").exists()
    assert main(["release", "1.0.0", "--allow-below-threshold", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["below_threshold"]
    card = (corpus / "releases" / "v1.0.0" / "README.md").read_text()
    assert "Below the quality thresholds" in card and "min_alpha 0.667" in card
    manifest = json.loads((corpus / "releases" / "v1.0.0" / "manifest.json").read_text())
    assert manifest["below_threshold"] == out["below_threshold"]


# "<where>: alpha X < min_alpha Y, 95% CI L-H", as both the check and the gate word a target failure.
_ALPHA_FAILURE = re.compile(
    r"((?:stance\.\w+|topics): alpha -?[\d.]+ < min_alpha [\d.]+, 95% CI -?[\d.]+--?[\d.]+)"
)


def test_gold_check_and_the_release_gate_print_the_same_intervals(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_snapshot(corpus, disagree=True, partial=True)
    assert main(["gold", "--check"]) == 1
    checked = _ALPHA_FAILURE.findall(capsys.readouterr().err)
    assert main(["release", "1.0.0"]) == 1
    gated = _ALPHA_FAILURE.findall(capsys.readouterr().err)
    assert checked, "gold --check printed no alpha interval"
    assert gated == checked


def test_version_must_be_given_once(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["release"]) == 2
    assert main(["release", "1.0.0", "--bump", "minor"]) == 2
    assert main(["release", "one"]) == 2


# ---- stable splits -----------------------------------------------------------------------------


def test_splits_are_stable_across_releases_with_added_documents(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_snapshot(corpus)
    assert main(["release", "1.0.0"]) == 0
    before = splits_of(corpus / "releases" / "v1.0.0")
    added = add_articles(corpus, range(100, 130))
    write_snapshot(corpus, exported_at="2024-12-01T00:00:00Z")
    assert main(["release", "--bump", "minor"]) == 0
    after = splits_of(corpus / "releases" / "v1.1.0")
    assert set(after) == set(before) | set(added)
    assert {doc: after[doc] for doc in before} == before
    assert set(after.values()) == set(SPLITS)
    for config in ("annotations", "gold"):
        assert all(
            after[doc] == split for doc, split in splits_of(corpus / "releases" / "v1.1.0", config).items()
        )
    changelog = (corpus / "releases" / "v1.1.0" / "CHANGELOG.md").read_text()
    assert "## v1.1.0" in changelog and "documents added: 30" in changelog and "## v1.0.0" in changelog
    capsys.readouterr()
    assert main(["diff", "v1.0.0", "v1.1.0", "--format", "json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["documents"]["added"]["count"] == 30
    assert diff["documents"]["removed"]["count"] == 0 and diff["documents"]["changed"]["count"] == 0
    assert diff["labels"]["changed"]["count"] == 0


def test_diff_reports_removed_changed_and_relabelled(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_snapshot(corpus)
    assert main(["release", "1.0.0"]) == 0
    (corpus / "raw" / "gen_0001.txt").unlink()
    path = corpus / "raw" / "gen_0002.txt"
    path.write_text(path.read_text().replace("number 2", "number two"), encoding="utf-8")
    write_snapshot(corpus, disagree=False)
    assert main(["release", "1.0.1"]) == 0
    capsys.readouterr()
    assert main(["diff", "1.0.0", "1.0.1", "--format", "json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["documents"]["removed"] == {"count": 1, "examples": ["gen_0001"]}
    assert diff["documents"]["changed"] == {"count": 1, "examples": ["gen_0002"]}


def test_split_of_a_group_is_the_split_of_its_smallest_id() -> None:
    assign = SplitAssigner(RATIOS, [("c", "b"), ("d", "c"), ("x", "y")])
    assert assign.groups.key("d") == "b" and assign.groups.groups() == [["b", "c", "d"], ["x", "y"]]
    assert {assign(i) for i in "bcd"} == {split_of_key("b", RATIOS)}
    assert assign("lonely") == split_of_key("lonely", RATIOS)


def test_random_near_duplicate_pairs_never_straddle_splits() -> None:
    rng = random.Random(3)
    ids = [f"doc{i}" for i in range(400)]
    pairs = [(rng.choice(ids), rng.choice(ids)) for _ in range(300)]
    assign = SplitAssigner(RATIOS, pairs)
    assert all(assign(a) == assign(b) for a, b in pairs)
    counts = {s: sum(1 for i in ids if split_of_key(i, RATIOS) == s) for s in SPLITS}
    assert 200 < counts["train"] < 280 and counts["validation"] > 50 and counts["test"] > 50


def test_near_duplicate_lands_in_the_split_of_its_original(corpus: Path) -> None:
    seed = "000_94744c74cf2a33e7"
    home = split_of_key(seed, RATIOS)
    copy_id = next(f"zz_copy_{i}" for i in range(100) if split_of_key(f"zz_copy_{i}", RATIOS) != home)
    text = (corpus / "raw" / f"{seed}.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    lines[0] = lines[0] + " (updated)"
    lines[-1] = lines[-1] + " More to follow."
    (corpus / "raw" / f"{copy_id}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_snapshot(corpus)
    assert main(["release", "1.0.0"]) == 0
    folder = corpus / "releases" / "v1.0.0"
    placed = splits_of(folder)
    assert placed[copy_id] == placed[seed] == home
    assert "1 groups" in (folder / "README.md").read_text()


# ---- sharding and determinism ------------------------------------------------------------------


def synthetic_inputs(n: int, order: list[int] | None = None, **kwargs: Any) -> ReleaseInputs:
    docs = list(synthetic.document_rows(n))
    if order is not None:
        docs = [docs[i] for i in order]
    return ReleaseInputs(
        documents=docs,
        annotations=synthetic.annotation_rows(n),
        gold=synthetic.gold_rows(n),
        tasks=synthetic.task_keys(n),
        taxonomy=synthetic.SyntheticTaxonomy(),
        snapshot={"project_id": 1, "exported_at": "2024-11-03T00:00:00Z"},
        split_ratios=RATIOS,
        **kwargs,
    )


def test_shards_are_sorted_and_bytes_do_not_depend_on_arrival_order(tmp_path: Path) -> None:
    import datasets

    n = 3000
    options = {"shard_bytes": 150_000, "row_group_rows": 250}
    first = build_release(synthetic_inputs(n, **options), tmp_path / "a", "1.0.0")
    order = list(range(n))
    random.Random(5).shuffle(order)
    second = build_release(synthetic_inputs(n, order, **options), tmp_path / "b", "1.0.0")
    assert hashes(first) == hashes(second)
    train = sorted((first / "data" / "documents").glob("train-*.parquet"))
    assert len(train) > 2
    assert [p.name for p in train] == [
        f"train-{i:05d}-of-{len(train):05d}.parquet" for i in range(len(train))
    ]
    loaded = datasets.load_dataset(str(first), "documents")
    assert sum(loaded[s].num_rows for s in loaded) == n
    ids = loaded["train"]["id"]
    assert ids == sorted(ids)


# ---- atomic and interrupted builds -------------------------------------------------------------

SLOW_BUILD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from support import synthetic as s
from corpuskit.release.build import ReleaseInputs, build_release
n = 200_000
inputs = ReleaseInputs(documents=s.document_rows(n), annotations=s.annotation_rows(n),
    gold=s.gold_rows(n), tasks=s.task_keys(n), taxonomy=s.SyntheticTaxonomy(), snapshot={})
build_release(inputs, Path(sys.argv[1]), "2.0.0")
"""


def start_and_interrupt(releases: Path, sig: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_BUILD, str(releases), str(Path(__file__).parents[1])],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    # Wait until the build has written Parquet into its temporary folder: truly mid-build.
    while time.monotonic() < deadline:
        if list(releases.glob(".building-*/.runs/documents/*.arrow")):
            break
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("the build never started")
    process.send_signal(sig)
    process.communicate(timeout=60)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_interrupted_release_leaves_no_version_and_keeps_the_previous(tmp_path: Path, sig: int) -> None:
    releases = tmp_path / "releases"
    previous = build_release(synthetic_inputs(50), releases, "1.0.0")
    before = hashes(previous)
    start_and_interrupt(releases, sig)
    assert not (releases / "v2.0.0").exists()
    assert hashes(previous) == before
    if sig == signal.SIGTERM:
        # A catchable signal cleans up at once; after SIGKILL the next build removes the leftovers.
        assert not list(releases.glob(".building-*"))
    build_release(synthetic_inputs(60), releases, "1.1.0")
    assert sorted(p.name for p in releases.iterdir()) == [".release.lock", "v1.0.0", "v1.1.0"]


def test_a_second_concurrent_build_is_refused(tmp_path: Path) -> None:
    import fcntl

    from corpuskit.errors import ReleaseError

    releases = tmp_path / "releases"
    releases.mkdir()
    fd = os.open(releases / ".release.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(ReleaseError, match="another release is being built"):
            build_release(synthetic_inputs(10), releases, "1.0.0")
    finally:
        os.close(fd)
    assert not (releases / "v1.0.0").exists()


def test_demo_annotators_are_marked_in_the_card(tmp_path: Path) -> None:
    def demo_rows(n: int) -> Any:
        for row in synthetic.annotation_rows(n):
            row["annotator"] = {
                "id": row["annotator"]["id"],
                "email": f"demo-annotator-{row['annotator']['id']}@example.org",
            }
            yield row

    inputs = synthetic_inputs(20)
    inputs.annotations = demo_rows(20)
    card = (build_release(inputs, tmp_path / "demo", "1.0.0") / "README.md").read_text()
    assert "**Demo data.**" in card and "(3 of 3 annotators)" in card
    plain = (build_release(synthetic_inputs(20), tmp_path / "real", "1.0.0") / "README.md").read_text()
    assert "Demo data" not in plain
