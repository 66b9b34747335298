"""Releases built from the seed corpus plus generated articles and a generated annotation snapshot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from corpuskit.cli.main import main
from corpuskit.errors import ReleaseError
from corpuskit.settings import load_settings
from support.release_corpus import TARGETS, VALUES, documents, make_corpus, truth_of, write_snapshot

CONFIGS = ("stance", "stance_annotations", "gold", "annotations", "documents")
SPLITS = ("train", "validation", "test")


def git_commit(root: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "corpus"], cwd=root, check=True, env=env)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()


def build(root: Path, version: str, **kwargs: Any) -> Path:
    from corpuskit.release.api import release

    return release(version, settings=load_settings(root), **kwargs).folder


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = make_corpus(tmp_path_factory.mktemp("corpus"))
    write_snapshot(root)
    commit = git_commit(root)
    return root, build(root, "1.0.0"), commit


def file_hashes(folder: Path) -> dict[str, str]:
    from corpuskit.release.inputs import file_sha256

    return {
        p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_every_config_loads_with_datasets_and_class_labels(released: tuple[Path, Path, str]) -> None:
    import datasets

    root, folder, _ = released
    manifest = json.loads((folder / "manifest.json").read_text())
    docs = {d["id"]: d for d in documents(root)}
    for config in CONFIGS:
        loaded = datasets.load_dataset(str(folder), config)
        assert set(loaded) == set(SPLITS)
        for split in SPLITS:
            assert loaded[split].num_rows == manifest["rows"][config][split]
    assert sum(manifest["rows"]["documents"].values()) == len(docs) == 12
    assert sum(manifest["rows"]["annotations"].values()) == 3 * len(docs)
    gold = datasets.load_dataset(str(folder), "gold")
    stance = gold["train"].features["stance"][TARGETS[0]]
    assert isinstance(stance, datasets.ClassLabel)
    assert stance.names == ["favor", "against", "neutral", "unrelated"]
    topic_feature = gold["train"].features["topics"].feature
    assert isinstance(topic_feature, datasets.ClassLabel)
    for split in SPLITS:
        for row in gold[split]:
            truth = truth_of(row["id"])
            assert {t: stance.int2str(v) for t, v in row["stance"].items()} == truth["stance"]
            assert sorted(topic_feature.int2str(t) for t in row["topics"]) == truth["topics"]
            assert row["text"] and row["title"] == docs[row["id"]]["title"]
            assert row["stance_provenance"][TARGETS[0]]["n_annotators"] == 3
    annotations = datasets.load_dataset(str(folder), "annotations")["train"]
    assert isinstance(annotations.features["stance"][TARGETS[1]], datasets.ClassLabel)
    assert all(row["annotator"].startswith("annotator-") for row in annotations)
    documents_ds = datasets.load_dataset(str(folder), "documents")
    row = next(iter(documents_ds["train"]))
    assert set(row) >= {"id", "title", "paragraphs", "content_sha256", "raw_path", "text"}


def test_no_annotator_email_enters_the_release(released: tuple[Path, Path, str]) -> None:
    _, folder, _ = released
    for path in folder.rglob("*"):
        if path.is_file():
            assert b"@lab.org" not in path.read_bytes(), path


def test_parquet_is_sorted_zstd_with_statistics_and_embedded_features(
    released: tuple[Path, Path, str],
) -> None:
    import pyarrow.parquet as pq

    _, folder, _ = released
    for config in CONFIGS:
        for split in SPLITS:
            files = sorted((folder / "data" / config).glob(f"{split}-*.parquet"))
            assert [f.name for f in files] == [f"{split}-00000-of-00001.parquet"]
            parquet = pq.ParquetFile(files[0])
            assert b"huggingface" in parquet.schema_arrow.metadata
            key = "document_id" if config in ("annotations", "stance_annotations") else "id"
            ids = parquet.read(columns=[key]).column(key).to_pylist()
            assert ids == sorted(ids)
            if parquet.metadata.num_row_groups:
                column = parquet.metadata.row_group(0).column(0)
                assert column.compression == "ZSTD"
                assert column.statistics is not None and column.statistics.has_min_max


def test_card_header_is_what_the_hub_reads(released: tuple[Path, Path, str]) -> None:
    from huggingface_hub import DatasetCard

    _, folder, _ = released
    text = (folder / "README.md").read_text()
    header = yaml.safe_load(text.split("---\n")[1])
    assert [c["config_name"] for c in header["configs"]] == list(CONFIGS)
    assert [c.get("default", False) for c in header["configs"]] == [True, False, False, False, False]
    assert header["license"] and header["language"] == ["en"] and header["size_categories"] == ["n<1K"]
    info = {i["config_name"]: i for i in header["dataset_info"]}
    gold_features = {f["name"]: f for f in info["gold"]["features"]}
    names = gold_features["stance"]["struct"][0]["dtype"]["class_label"]["names"]
    assert list(names.values()) == ["favor", "against", "neutral", "unrelated"]
    for split in info["gold"]["splits"]:
        assert split["num_bytes"] > 0 and "num_examples" in split
    card = DatasetCard.load(folder / "README.md")
    assert card.data.to_dict()["configs"] == header["configs"]
    assert "alpha" in text and "How gold was decided" in text and "Demo data" not in text


def test_manifest_names_inputs_and_every_file(released: tuple[Path, Path, str]) -> None:
    _, folder, commit = released
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["corpus"] == {"git_commit": commit, "git_dirty": False}
    assert manifest["annotation_snapshot"]["project_id"] == 7
    assert manifest["annotation_snapshot"]["exported_at"] == "2024-11-03T12:00:00Z"
    assert manifest["hashes"]["taxonomy_sha256"] and manifest["hashes"]["document_schema_sha256"]
    listed = manifest["files"]
    actual = file_hashes(folder)
    actual.pop("manifest.json")
    assert {k: v["sha256"] for k, v in listed.items()} == actual
    assert "report/agreement.md" in listed


def test_rebuild_is_byte_identical(released: tuple[Path, Path, str], tmp_path: Path) -> None:
    root, folder, _ = released
    again = build(root, "1.0.0", out=tmp_path / "again")
    assert file_hashes(again) == file_hashes(folder)


def test_croissant_validates_and_loads_offline(released: tuple[Path, Path, str]) -> None:
    _, folder, _ = released
    cli = Path(sys.executable).with_name("mlcroissant")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    check = subprocess.run(
        [str(cli), "validate", "--jsonld", "croissant.json"],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
    )
    assert check.returncode == 0, check.stderr
    assert "error" not in check.stderr.lower().replace("0 error", "")
    # mlcroissant's own `load` command reads the records, then can abort in a native thread's
    # teardown on a loaded machine ("terminate called without an active exception"); reading the
    # record set through its API and leaving with os._exit checks the same thing: our metadata
    # (file hashes included) lets it read real records.
    reader = (
        "import json, os, sys, mlcroissant as mlc\n"
        "dataset = mlc.Dataset(jsonld='croissant.json')\n"
        "def text(v): return v.decode() if isinstance(v, bytes) else v\n"
        "out = {}\n"
        "for name in ('stance', 'gold'):\n"
        "    records = dataset.records(record_set=name)\n"
        "    out[name] = [{k: (text(v) if not isinstance(v, (dict, list)) else "
        "{kk: text(vv) for kk, vv in v.items()} if isinstance(v, dict) else [text(x) for x in v]) "
        "for k, v in r.items()} for r in records]\n"
        "print(json.dumps(out)); sys.stdout.flush(); os._exit(0)\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", reader], cwd=folder, capture_output=True, text=True, env=env
    )
    assert loaded.returncode == 0, loaded.stderr
    records = json.loads(loaded.stdout.strip().splitlines()[-1])
    manifest = json.loads((folder / "manifest.json").read_text())
    # Every record of the flat view carries its label names and split, and they are the data's.
    assert len(records["stance"]) == sum(manifest["rows"]["stance"].values()) == 12 * len(TARGETS)
    for row in records["stance"]:
        truth = truth_of(row["stance/id"])
        assert row["stance/label_text"] == truth["stance"][row["stance/target_text"]]
        assert row["stance/split"] in SPLITS
    for row in records["gold"]:
        truth = truth_of(row["gold/id"])
        stance = {k.rsplit("/", 1)[1]: v for k, v in row["gold/stance_text"].items()}
        assert stance == truth["stance"] and sorted(row["gold/topics_text"]) == truth["topics"]
    described = json.loads((folder / "croissant.json").read_text())
    sets = {s["@id"]: s for s in described["recordSet"]}
    for config in CONFIGS:
        import datasets

        features = datasets.load_dataset_builder(str(folder), config).info.features
        assert [f["name"] for f in sets[config]["field"]] == [*features, "split"]
    label = next(f for f in sets["stance"]["field"] if f["name"] == "label")
    classes = sets[label["references"]["field"]["@id"].split("/")[0]]
    assert [d[f"{classes['@id']}/name"] for d in classes["data"]] == list(VALUES)


def test_tampered_or_missing_file_is_caught(released: tuple[Path, Path, str], tmp_path: Path) -> None:
    import corpuskit

    _, folder, _ = released
    copy = tmp_path / "releases" / folder.name
    shutil.copytree(folder, copy)
    assert corpuskit.verify("1.0.0", releases=copy.parent).ok
    shard = copy / "data" / "gold" / "train-00000-of-00001.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ReleaseError, match=r"gold/train-00000-of-00001\.parquet: SHA-256 differs"):
        corpuskit.load("1.0.0", config="gold", releases=copy.parent)
    assert main(["verify", "v1.0.0", "--releases", str(copy.parent)]) == 1
    shard.unlink()
    with pytest.raises(ReleaseError, match=r"train-00000-of-00001\.parquet: missing"):
        corpuskit.load("1.0.0", config="gold", releases=copy.parent)


def test_verify_cli_json(released: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, folder, _ = released
    assert main(["verify", str(folder), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["files_checked"] == len(file_hashes(folder)) - 1


def test_load_verifies_then_returns_dataset_dict(released: tuple[Path, Path, str]) -> None:
    import corpuskit

    _, folder, _ = released
    loaded = corpuskit.load("v1.0.0", config="documents", releases=folder.parent)
    assert sum(loaded[s].num_rows for s in loaded) == 12


def test_publish_dry_run_lists_exact_operations(
    released: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder, _ = released
    args = ["publish", "v1.0.0", "--releases", str(folder.parent), "--repo-id", "lab/news", "--dry-run"]
    assert main([*args, "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    manifest = json.loads((folder / "manifest.json").read_text())
    operations = {op["path_in_repo"]: op for op in plan["operations"]}
    assert set(operations) == set(manifest["files"]) | {"manifest.json"}
    for path, entry in manifest["files"].items():
        assert operations[path]["sha256"] == entry["sha256"] and operations[path]["size"] == entry["size"]
    assert plan["revision_tag"] == "v1.0.0" and plan["commit_url"] is None
    assert plan["card"]["configs"] == list(CONFIGS)


def test_publish_refuses_a_bad_repo_id(released: tuple[Path, Path, str]) -> None:
    # A bad option, not a failed release: exit 2, as `publish --help` says.
    _, folder, _ = released
    args = ["publish", "v1.0.0", "--releases", str(folder.parent), "--repo-id", "no-slash", "--dry-run"]
    assert main(args) == 2


def test_existing_version_is_never_overwritten(released: tuple[Path, Path, str]) -> None:
    root, folder, _ = released
    before = file_hashes(folder)
    with pytest.raises(ReleaseError, match="already exists"):
        build(root, "1.0.0")
    assert file_hashes(folder) == before


@pytest.mark.parametrize("command", [["verify", "9.9.9"], ["diff", "9.9.8", "9.9.9"]])
def test_no_such_release_exits_2_as_the_help_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.corpuskit]\n", encoding="utf-8")
    (tmp_path / "releases").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(command) == 2
    assert "no such release" in capsys.readouterr().err
