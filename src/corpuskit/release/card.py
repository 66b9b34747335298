"""The dataset card (`README.md`): the YAML header the Hub and `datasets` read, and prose from numbers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.release.splits import SPLITS
from corpuskit.release.tables import CONFIGS, features_of

if TYPE_CHECKING:
    from corpuskit.release.build import ReleaseInputs, Stats

DEFAULT_CONFIG = "stance"
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


def size_category(n: int) -> str:
    for limit, name in _SIZES:
        if n < limit:
            return name
    return "1M<n<10M" if n < 10_000_000 else "n>10M"


def split_bytes(folder: Path, files: list[str]) -> int:
    return sum((folder / f).stat().st_size for f in files)


def card_header(folder: Path, inputs: ReleaseInputs, stats: Stats) -> dict[str, Any]:
    n_documents = sum(stats.rows["documents"].values())
    configs = []
    infos = []
    for config in CONFIGS:
        present = [s for s in SPLITS if stats.files[config][s]]
        if not present:
            continue
        entry: dict[str, Any] = {
            "config_name": config,
            "data_files": [{"split": s, "path": f"data/{config}/{s}-*.parquet"} for s in present],
        }
        if config == DEFAULT_CONFIG:
            entry["default"] = True
        configs.append(entry)
        sizes = {s: split_bytes(folder, stats.files[config][s]) for s in present}
        splits = [{"name": s, "num_bytes": sizes[s], "num_examples": stats.rows[config][s]} for s in present]
        size = sum(sizes.values())
        infos.append(
            {
                "config_name": config,
                "features": features_of(config, inputs.taxonomy)._to_yaml_list(),
                "splits": splits,
                "download_size": size,
                "dataset_size": size,
            }
        )
    return {
        "pretty_name": inputs.pretty_name,
        "license": inputs.license,
        "language": [inputs.language.split("-")[0]],
        "task_categories": ["text-classification"],
        "task_ids": ["multi-class-classification", "multi-label-classification"],
        "size_categories": [size_category(n_documents)],
        "tags": ["stance-detection", "news", "corpuskit"],
        "configs": configs,
        "dataset_info": infos,
    }


def _count(counts: dict[str, dict[str, Any]], split: str, target: str, value: str) -> int:
    by_target = counts.get(split, {}).get(target)
    return int(by_target[value]) if by_target is not None else 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# Characters that start HTML, entities, links, emphasis, code, math or a table column in the Markdown
# the Hub renders; backslash-escaped (CommonMark allows it for any ASCII punctuation) each stands for itself.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|&!~$])")


def literal(value: object) -> str:
    """`value` as Markdown that shows exactly this text on one line: values from documents and from the
    server (a source such as `<img src=x onerror=...>`, a project title) never become HTML, a link,
    emphasis or a table column."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def gold_rule() -> str:
    try:
        from corpuskit.quality.gold import GOLD_RULE
    except ImportError:  # pragma: no cover - the quality module ships with corpuskit
        return "See docs/quality.md."
    return GOLD_RULE


def _design(design: Any, stats: Stats) -> list[str]:
    """The overlap design the annotations were collected under, and what it gave."""
    lines = []
    if isinstance(design, dict):
        k = design.get("annotators_per_document")
        share = design.get("overlap_share")
        if isinstance(share, int | float) and share >= 1:
            planned = f"Every document was to be labelled independently by {k} annotators"
        else:
            planned = (
                f"Each document in a seeded overlap share of {_fmt(share)} was to be labelled "
                f"independently by {k} annotators, each document outside it by one"
            )
        lines.append(
            f"{planned}. Annotators took documents from Label Studio's queue "
            f"({literal(design.get('sampling', 'n/a'))} order), which shows none of the other "
            "annotators' answers and no model predictions."
        )
    else:
        lines.append("The snapshot does not record the overlap design it was collected under.")
    by_n = ", ".join(
        f"{n} with {a} annotator{'s' if a != 1 else ''}"
        for a, n in sorted(stats.documents_by_annotators.items())
    )
    lines.append("")
    lines.append(
        f"{len(stats.annotators)} annotators took part. Documents in `gold`: {by_n or 'none'}. Agreement is "
        "measured on the documents with two or more annotators only; a document with one annotator has "
        "gold `decided_by` = `single` (flagged `single_annotator`)."
    )
    if stats.pilot_documents:
        lines.append("")
        lines.append(
            f"{stats.pilot_documents} document{'s were' if stats.pilot_documents != 1 else ' was'} "
            "labelled in a pilot round by every member before the main round (column `pilot` in "
            "`annotations` and `gold`)."
        )
    return lines


def card_body(inputs: ReleaseInputs, stats: Stats, version: str) -> list[str]:
    tax = inputs.taxonomy
    snapshot = inputs.snapshot
    n_docs = sum(stats.rows["documents"].values())
    n_ann = sum(stats.rows["annotations"].values())
    n_gold = sum(stats.rows["gold"].values())
    out = [f"# {inputs.pretty_name} — v{version}", ""]
    if stats.demo_annotators:
        out += [
            "> **Demo data.** The annotations in this release were made by demo accounts "
            f"({len(stats.demo_annotators)} of {len(stats.annotators)} annotators), not by trained "
            "annotators. Do not use the labels for research.",
            "",
        ]
    if inputs.shortfalls:
        out += [
            "> **Below the quality thresholds.** This release was built with `--allow-below-threshold`:",
            "",
        ]
        out += [f"> - {item}" for item in inputs.shortfalls] + [""]
    out += [
        f"{n_docs} news documents with human stance and topic annotations ({n_ann} annotations by "
        f"{len(stats.annotators)} annotators) and gold labels for {n_gold} documents. Built by corpuskit "
        "from a validated raw corpus and a lossless snapshot of a Label Studio project.",
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        'gold = load_dataset("path/to/this/folder", "gold")          # or "documents", "annotations"',
        "```",
        "",
        "```python",
        "import corpuskit",
        f'gold = corpuskit.load("{version}", config="gold")  # verifies every checksum first',
        "```",
        "",
        "DuckDB: `SELECT * FROM 'data/gold/*.parquet'`; Polars: `pl.read_parquet('data/gold/*.parquet')`; "
        "pandas: `pd.read_parquet('data/gold')`.",
        "",
        "## Configurations and splits",
        "",
        "- `gold` (default): one row per annotated document: `id`, `title`, `text`, `stance` (a ClassLabel "
        "per target), `topics` (a list of ClassLabels), and `stance_provenance`/`topic_provenance` saying "
        "how each "
        "label was decided, by how many annotators, with the votes and the agreement on that item.",
        "- `annotations`: one row per submitted annotation, every annotator kept (long format), with the "
        "taxonomy version it was made under and Label Studio's original result as JSON.",
        "- `documents`: every field of the normalized document, plus `text` (the body as annotators saw it).",
        "",
    ]
    out += _table(
        ["config", *SPLITS, "total"],
        [[c, *(stats.rows[c][s] for s in SPLITS), sum(stats.rows[c].values())] for c in CONFIGS],
    )
    empty = [f"{c}/{s}" for c in CONFIGS for s in SPLITS if not stats.rows[c][s]]
    if empty:
        out += ["", f"Empty splits (no file, not listed in the header): {', '.join(empty)}."]
    ratios = ", ".join(f"{s} {r:g}" for s, r in zip(SPLITS, inputs.split_ratios, strict=True))
    out += [
        "",
        f"Splits are stable ({ratios}): a document's split is a hash of its id, or of the smallest id of its "
        f"group of near-duplicates ({stats.near_duplicate_groups} groups), so a document keeps its split in "
        "later releases and near-duplicate stories never straddle train and test.",
        "",
        "## Sources",
        "",
        f"Published between {stats.first_date or 'n/a'} and {stats.last_date or 'n/a'}.",
        "",
    ]
    sources = [[literal(s), n] for s, n in sorted(stats.sources.items())]
    out += _table(["source", "documents"], sources or [["n/a", 0]])
    out += ["", "## Labels", ""]
    for target in tax.target_ids:
        values = [*tax.stance_value_ids, "(unresolved)"]
        out += [f"Stance toward `{target}` (gold):", ""]
        out += _table(
            ["split", *values],
            [[s, *(_count(stats.stance_counts, s, target, v) for v in values)] for s in SPLITS],
        )
        out += [""]
    out += ["Topics (gold, documents per topic):", ""]
    topic_ids = tax.topic_ids
    out += _table(
        ["split", *tax.topic_ids],
        [
            [s, *(stats.topic_counts[s][t] if s in stats.topic_counts else 0 for t in topic_ids)]
            for s in SPLITS
        ],
    )
    out += ["", "## Agreement", ""]
    if inputs.agreement:
        rows = [
            [
                name,
                _fmt(a.get("alpha")),
                f"[{_fmt(a.get('low'))}, {_fmt(a.get('high'))}]",
                a.get("n_items", "n/a"),
            ]
            for name, a in sorted(inputs.agreement.items())
        ]
        out += ["Krippendorff's alpha (nominal) with 95% bootstrap intervals:", ""]
        out += _table(["target", "alpha", "95% interval", "items"], rows)
    else:
        out += ["No agreement figures were available for this release."]
    if inputs.write_report is not None:
        out += ["", "The full agreement report is in `report/`."]
    out += ["", "## Annotation design", ""]
    out += _design(snapshot.get("design"), stats)
    out += ["", "## How gold was decided", "", gold_rule(), ""]
    out += _table(["decided_by", "stance decisions"], [[k, v] for k, v in sorted(stats.decided_by.items())])
    out += [
        "",
        "## Annotation scheme",
        "",
        f"Taxonomy version {tax.version}; guidelines `docs/annotation-guidelines.md`"
        + (f" (version {inputs.guidelines_version})" if inputs.guidelines_version else "")
        + f". Stance values: {', '.join(tax.stance_value_ids)}. Topics: {', '.join(tax.topic_ids)}.",
        "",
        "## Provenance",
        "",
        f"- Label Studio project: {literal(snapshot.get('project_title', 'n/a'))} "
        f"(id {literal(snapshot.get('project_id', 'n/a'))}), "
        f"exported {literal(snapshot.get('exported_at', 'n/a'))}",
        f"- Corpus commit: {inputs.git.get('commit') or 'n/a'}"
        + (" (with uncommitted changes)" if inputs.git.get("dirty") else ""),
        "- Checksums of every file: `manifest.json`; ML Croissant metadata: `croissant.json`; "
        "changes since the previous release: `CHANGELOG.md`.",
        "",
        "## Known limitations",
        "",
    ]
    limits = []
    unresolved = stats.decided_by.get("unresolved", 0)
    if unresolved:
        limits.append(f"{unresolved} gold stance decisions are unresolved (label -1): ties or no majority.")
    single = stats.decided_by.get("single", 0)
    if single:
        limits.append(
            f"{single} gold stance decisions rest on a single annotator (`decided_by` = `single`): no second "
            "opinion checked them."
        )
    if stats.cancelled:
        limits.append(f"{stats.cancelled} cancelled annotations are excluded.")
    if stats.orphan_annotations or stats.orphan_gold:
        limits.append(
            f"{stats.orphan_annotations} annotations and {stats.orphan_gold} gold rows of documents no "
            "longer in the corpus are excluded."
        )
    if n_gold < n_docs:
        limits.append(f"{n_docs - n_gold} documents have no annotations yet and are not in `gold`.")
    limits.append(
        "Times without an offset (`published_at`, `modified_at`) are local times of the outlet, time zone "
        "unknown."
    )
    limits.append("Annotators are pseudonymous (`annotator-<id>`); emails never enter a release.")
    limits += [f"Below threshold: {s}" for s in inputs.shortfalls]
    out += [f"- {item}" for item in limits]
    out += [
        "",
        "## Citation",
        "",
        "```bibtex",
        "@misc{corpuskit_release_v" + version.replace(".", "_") + ",",
        f"  title = {{{inputs.pretty_name}}},",
        f"  version = {{{version}}},",
        f"  note = {{corpus commit {inputs.git.get('commit') or 'n/a'}}},",
        "}",
        "```",
        "",
    ]
    return out


def write_card(folder: Path, inputs: ReleaseInputs, stats: Stats, version: str) -> Path:
    import yaml

    header = yaml.safe_dump(
        card_header(folder, inputs, stats), sort_keys=False, allow_unicode=True, width=1000
    )
    text = "---\n" + header + "---\n\n" + "\n".join(card_body(inputs, stats, version))
    path = folder / "README.md"
    path.write_text(text, encoding="utf-8")
    return path
