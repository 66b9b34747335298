"""What a researcher meets in a release: the flat stance views, label names for every reader, the card's
sections and numbers, the shipped taxonomy, splits for small corpora and held-out splits, the README's
one-line loads run on a built release."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from corpuskit.cli.main import main
from corpuskit.settings import load_settings
from support.release_corpus import (
    TARGETS,
    VALUES,
    add_articles,
    documents,
    make_corpus,
    truth_of,
    write_snapshot,
)

REPO = Path(__file__).resolve().parents[2]
SPLITS = ("train", "validation", "test")
SETTINGS = """\
license = "cc-by-nc-4.0"
pretty_name = "Test stance corpus"
authors = ["Ada Lovelace", "Alan Turing"]
homepage = "https://example.org/stance"
source_copyright = "Texts (c) their publishers; research use only."
"""


def build(root: Path, version: str, **kwargs: Any) -> Any:
    from corpuskit.release.api import release

    return release(version, settings=load_settings(root), **kwargs)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_corpus(tmp_path_factory.mktemp("views"))
    with (root / "pyproject.toml").open("a", encoding="utf-8") as handle:
        handle.write(SETTINGS)
    (root / "docs").mkdir()
    (root / "docs" / "annotation-guidelines.md").write_text(
        "# Guidelines\n\nRead it all.\n", encoding="utf-8"
    )
    write_snapshot(root)
    return root


@pytest.fixture(scope="module")
def released(corpus: Path) -> Path:
    folder: Path = build(corpus, "0.1.0").folder
    return folder


def card_of(folder: Path) -> tuple[dict[str, Any], str]:
    text = (folder / "README.md").read_text(encoding="utf-8")
    _, header, body = text.split("---\n", 2)
    return yaml.safe_load(header), body


def section(body: str, title: str) -> str:
    start = body.index(f"\n## {title}\n")
    end = body.find("\n## ", start + 1)
    return body[start : end if end >= 0 else None]


def test_stance_is_the_default_config_one_row_per_document_and_target(released: Path) -> None:
    import datasets

    loaded = datasets.load_dataset(str(released))  # no config name: the default
    assert set(loaded) == set(SPLITS)
    features = loaded["train"].features
    assert features["label"].names == list(VALUES) and features["target"].names == list(TARGETS)
    rows = [row for split in SPLITS for row in loaded[split]]
    assert len(rows) == 12 * len(TARGETS)
    assert {(r["id"], r["target"]) for r in rows} == {(d["id"], t) for d in rows for t in range(2)}
    for row in rows:
        target = TARGETS[row["target"]]
        assert row["target_text"] == target
        assert row["label_text"] == truth_of(row["id"])["stance"][target]
        assert features["label"].int2str(row["label"]) == row["label_text"]
        assert row["resolved"] and row["decided_by_text"] == "majority" and row["n_annotators"] == 3
        assert row["target_name"] in ("Russia–North Korea military cooperation", "Military aid to Ukraine")
        assert row["votes"][row["label_text"]] == 3 and row["text"]
    # A document's stance rows sit in its gold split.
    gold = datasets.load_dataset(str(released), "gold")
    for split in SPLITS:
        assert {r["id"] for r in loaded[split]} == {r["id"] for r in gold[split]}


def test_stance_annotations_keep_every_annotator_answer(released: Path) -> None:
    import datasets

    loaded = datasets.load_dataset(str(released), "stance_annotations")
    rows = [row for split in SPLITS for row in loaded[split]]
    assert len(rows) == 12 * 3 * len(TARGETS)
    assert Counter(r["annotator"] for r in rows) == {f"annotator-{i}": 24 for i in (11, 12, 13)}
    for row in rows:
        assert row["label_text"] == truth_of(row["document_id"])["stance"][row["target_text"]]
        assert row["lead_time"] in (10.0, 11.0, 12.0)
    assert str(loaded["train"].features["created_at"].dtype) == "timestamp[us, tz=UTC]"


def test_every_class_label_has_its_names_beside_it(released: Path) -> None:
    import datasets
    import pyarrow.parquet as pq

    from corpuskit.release.tables import CONFIGS

    def missing_names(container: Any, where: str) -> list[str]:
        """ClassLabel columns (or list-of-ClassLabel columns) without a `_text` column beside them."""
        out = []
        for name, feature in container.items():
            inner = feature.feature if isinstance(feature, datasets.List) else feature
            if isinstance(inner, datasets.ClassLabel) and name + "_text" not in container:
                out.append(f"{where}{name}")
            elif isinstance(inner, dict):
                if all(isinstance(v, datasets.ClassLabel) for v in inner.values()):
                    # A struct of ClassLabels (stance per target) has a struct of names beside it.
                    if list(container.get(name + "_text", {})) != list(inner):
                        out.append(f"{where}{name}")
                else:
                    out += missing_names(inner, f"{where}{name}.")
        return out

    for config in CONFIGS:
        features = datasets.load_dataset_builder(str(released), config).info.features
        assert missing_names(features, f"{config}: ") == []
    # Parquet readers see the names; annotation times are UTC instants, document dates stay text.
    shard = next((released / "data" / "annotations").glob("train-*.parquet"))
    schema = pq.read_schema(shard)
    assert str(schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    table = pq.read_table(shard)
    assert table.column("created_at")[0].as_py().isoformat() == "2024-11-02T10:00:00+00:00"
    documents_schema = pq.read_schema(next((released / "data" / "documents").glob("train-*.parquet")))
    assert str(documents_schema.field("published_at").type) == "string"


def test_readme_one_line_loads_work_on_a_built_release(released: Path) -> None:
    import datasets
    import duckdb
    import pandas
    import polars

    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n# the one-line loads[^\n]*\n(.*?)```", text, re.S)
    assert block is not None
    lines = block.group(1).strip().splitlines()
    assert [line.split(" = ")[1].split(".")[0] for line in lines] == [
        "datasets",
        "pandas",
        "polars",
        "duckdb",
    ]
    modules = {"datasets": datasets, "pandas": pandas, "polars": polars, "duckdb": duckdb}
    expected = {
        (r["id"], TARGETS[r["target"]], r["label_text"])
        for split in SPLITS
        for r in datasets.load_dataset(str(released), "stance")[split]
    }
    for line in lines:
        scope: dict[str, Any] = dict(modules)
        exec(line.replace("releases/v1.0.0", released.as_posix()), scope)
        if "ds" in scope:
            ds = scope["ds"]
            got = {(r["id"], r["target_text"], r["label_text"]) for s in SPLITS for r in ds[s]}
            assert got == expected
            continue
        frame = scope["df"]
        records = frame.to_dict("records") if hasattr(frame, "iloc") else frame.to_dicts()
        assert len(records) == len(expected)
        assert all(r["label_text"] in VALUES for r in records)
        if "target_text" in records[0]:
            assert {(r["id"], r["target_text"], r["label_text"]) for r in records} == expected


def test_card_has_every_section_and_its_numbers_are_the_data(released: Path, corpus: Path) -> None:
    import datasets

    header, body = card_of(released)
    assert header["license"] == "cc-by-nc-4.0" and header["pretty_name"] == "Test stance corpus"
    for key in ("annotations_creators", "language_creators", "multilinguality", "source_datasets"):
        assert header[key], key
    assert header["annotations_creators"] == ["expert-generated"]
    assert [c["config_name"] for c in header["configs"] if c.get("default")] == ["stance"]
    for title in (
        "Loading",
        "Configurations and splits",
        "Data Fields",
        "Example instance",
        "Labels",
        "Sources",
        "Languages",
        "Annotation process",
        "Agreement",
        "Personal and Sensitive Information",
        "Bias, Risks and Limitations",
        "Licensing",
        "Provenance",
        "Citation",
    ):
        assert f"\n## {title}\n" in body, title
    manifest = json.loads((released / "manifest.json").read_text())
    # The split table is the manifest's row counts, which are the Parquet's.
    splits = section(body, "Configurations and splits")
    for config, rows in manifest["rows"].items():
        line = f"| {config} | " + " | ".join(str(rows[s]) for s in SPLITS) + f" | {sum(rows.values())} |"
        assert line in splits
    # Every column of every config is in Data Fields.
    fields = section(body, "Data Fields")
    for config in manifest["rows"]:
        for name in datasets.load_dataset_builder(str(released), config).info.features:
            assert f"| `{name}` |" in fields
    # The example is a real row of `stance`.
    example = json.loads(section(body, "Example instance").split("```json\n")[1].split("```")[0])
    assert example["label_text"] == truth_of(example["id"])["stance"][example["target_text"]]
    # Label counts per split, from the data.
    stance = datasets.load_dataset(str(released), "stance")
    labels = section(body, "Labels")
    assert "| `favor` | Favor | The document supports the target" in labels
    for index, target in enumerate(TARGETS):
        block = labels.split(f"Gold stance toward `{target}`:")[1]
        for split in SPLITS:
            counts = Counter(r["label_text"] for r in stance[split] if r["target"] == index)
            line = f"| {split} | " + " | ".join(str(counts.get(v, 0)) for v in VALUES) + " | 0 |"
            assert line in block.split("\n\n")[1]
    # Sources and dates, the unknown ones counted.
    docs = documents(corpus)
    sources = section(body, "Sources")
    by_source = Counter(d.get("source") for d in docs)
    for source, n in by_source.items():
        assert f"| {source or '(unknown)'} | {n} |" in sources
    undated = sum(1 for d in docs if not d.get("published_at"))
    assert f"{undated} document{'s' if undated != 1 else ''} without a date" in sources
    # Documents per language, from the documents; the header lists them for the Hub.
    languages = section(body, "Languages")
    by_language = Counter(d["language"] for d in docs)
    for tag, n in by_language.items():
        assert f"| {tag} | " in languages and languages.split(f"| {tag} | ")[1].split("\n")[0].endswith(
            f"| {n} |"
        )
    assert header["language"] == [tag for tag, _ in by_language.most_common()]
    # Agreement intervals as intervals; annotators by the pseudonyms the data uses.
    agreement = section(body, "Agreement")
    for name, figures in manifest["agreement"].items():
        assert (
            f"| {name} | {figures['alpha']:.3f} | [{figures['low']:.3f}, {figures['high']:.3f}] | 12 |"
            in (agreement)
        )
    assert "annotator-11, annotator-12, annotator-13" in section(body, "Annotation process")
    assert "Texts (c) their publishers; research use only." in section(body, "Licensing")
    assert "author = {Ada Lovelace and Alan Turing}" in section(body, "Citation")


def test_taxonomy_and_guidelines_ship_and_are_listed(released: Path, corpus: Path) -> None:
    manifest = json.loads((released / "manifest.json").read_text())
    for name, source in (
        ("taxonomy.yaml", corpus / "schema" / "taxonomy.yaml"),
        ("annotation-guidelines.md", corpus / "docs" / "annotation-guidelines.md"),
    ):
        assert (released / name).read_bytes() == source.read_bytes()
        assert name in manifest["files"] and name in manifest["shipped"]


def test_changelog_of_a_rebuild_from_the_same_snapshot(released: Path, corpus: Path) -> None:
    from corpuskit.release.diff import agreement_change

    again = build(corpus, "0.1.1").folder
    log = (again / "CHANGELOG.md").read_text(encoding="utf-8")
    entry = log.split("## v0.1.0")[0]
    assert "- agreement: unchanged" in entry and "n/a" not in entry
    old = {"stance.a": {"alpha": 0.5}, "topics": {"alpha": 0.7}}
    new = {"stance.a": {"alpha": 0.625}, "topics": {"alpha": 0.7}}
    assert agreement_change(old, new) == {"stance.a": {"old": 0.5, "new": 0.625}}


def test_a_two_document_corpus_loads_its_train_split(tmp_path: Path) -> None:
    import datasets

    root = make_corpus(tmp_path / "small", extra=0)
    write_snapshot(root)
    result = build(root, "0.1.0", allow_below_threshold=True)
    assert result.rows["documents"] == {"train": 2, "validation": 0, "test": 0}
    assert any("all of them are in train" in w for w in result.split_warnings)
    gold = datasets.load_dataset(str(result.folder), "gold", split="train")
    assert gold.num_rows == 2
    _, body = card_of(result.folder)
    assert "**Small corpus.**" in body and "**Empty splits**" in body
    assert "Intervals withheld" in section(body, "Agreement")


def test_publish_dry_run_warns_about_demo_and_threshold(
    released: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from corpuskit.release.publish import publish_warnings

    assert publish_warnings(released, {"demo_annotators": [], "below_threshold": []}) == []
    copy = tmp_path / "releases" / released.name
    shutil.copytree(released, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["demo_annotators"] = ["annotator-2"]
    manifest["below_threshold"] = ["stance.x: alpha 0.1 < 0.667"]
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    args = ["publish", "v0.1.0", "--releases", str(copy.parent), "--repo-id", "lab/news", "--dry-run"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "demo accounts (annotator-2)" in err and "below the quality thresholds" in err


def test_held_out_sources_and_targets(tmp_path: Path) -> None:
    import datasets

    root = make_corpus(tmp_path / "held", extra=0)
    add_articles(root, range(12))
    for i, path in enumerate(sorted((root / "raw").glob("gen_*.txt"))):
        text = path.read_text(encoding="utf-8").replace(
            "- AFP\n", f"- {('AFP', 'AP', 'Reuters', 'DPA')[i % 4]}\n"
        )
        path.write_text(text, encoding="utf-8")
    with (root / "pyproject.toml").open("a", encoding="utf-8") as handle:
        handle.write(f'split_by = "source"\nheld_out_targets = ["{TARGETS[1]}"]\n')
    write_snapshot(root)
    folder = build(root, "1.0.0", allow_below_threshold=True).folder
    docs = {d["id"]: d.get("source") for d in documents(root)}
    placed: dict[str | None, set[str]] = {}
    loaded = datasets.load_dataset(str(folder), "documents")
    for split in loaded:
        for row in loaded[split]:
            placed.setdefault(docs[row["id"]], set()).add(split)
    assert len(placed) >= 4 and all(len(splits) == 1 for splits in placed.values())
    stance = datasets.load_dataset(str(folder), "stance")
    held = {split: [r for r in stance[split] if r["target_text"] == TARGETS[1]] for split in stance}
    assert len(held["test"]) == len(docs) and all(not rows for s, rows in held.items() if s != "test")
    assert "Held-out targets" in card_of(folder)[1] and "Held-out sources" in card_of(folder)[1]


def test_held_out_sources_keep_near_duplicate_outlets_together() -> None:
    from corpuskit.release.splits import SplitAssigner

    sources = {f"d{i}": f"outlet-{i % 7}" for i in range(70)} | {"x": None}
    pairs = [("d1", "d2"), ("d2", "d10"), ("x", "d5")]
    assign = SplitAssigner((0.34, 0.33, 0.33), pairs, sources)
    by_source: dict[str | None, set[str]] = {}
    for doc, source in sources.items():
        by_source.setdefault(source, set()).add(assign(doc))
    assert all(len(splits) == 1 for splits in by_source.values())
    # outlet-1, outlet-2 and outlet-3 are linked by near-duplicates; so are the unknown source and outlet-5.
    assert len({assign("d1"), assign("d2"), assign("d3")}) == 1
    assert assign("x") == assign("d5")
    again = SplitAssigner((0.34, 0.33, 0.33), pairs, sources)
    assert all(again(doc) == assign(doc) for doc in sources)


def test_croissant_takes_creator_license_and_url_from_settings(released: Path) -> None:
    from corpuskit.release.croissant import _file_base

    described = json.loads((released / "croissant.json").read_text())
    assert described["url"] == "https://example.org/stance"
    assert [c["name"] for c in described["creator"]] == ["Ada Lovelace", "Alan Turing"]
    assert described["license"] == "https://creativecommons.org/licenses/by-nc/4.0/"
    assert described["keywords"]
    # A Hub homepage makes every file URL absolute, at the version's tag.
    hub = "https://huggingface.co/datasets/lab/news"
    assert _file_base(hub, "1.2.0") == "https://huggingface.co/datasets/lab/news/resolve/v1.2.0/"
    assert _file_base("https://example.org/stance", "1.2.0") == ""
