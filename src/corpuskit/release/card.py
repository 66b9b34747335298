"""The dataset card (`README.md`): the YAML header the Hub and `datasets` read, and prose from numbers."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.release.splits import SPLITS
from corpuskit.release.tables import CONFIGS, features_of

if TYPE_CHECKING:
    from corpuskit.release.build import ReleaseInputs, Stats

DEFAULT_CONFIG = "stance"
# Fewer pairable items than this and a bootstrap interval says nothing: the card withholds it.
MIN_INTERVAL_ITEMS = 10
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
        "language": _languages(inputs, stats),
        # Demo accounts answer by script; everyone else is a trained annotator.
        "annotations_creators": ["machine-generated" if stats.demo_annotators else "expert-generated"],
        "language_creators": ["found"],
        "multilinguality": ["multilingual" if len(_languages(inputs, stats)) > 1 else "monolingual"],
        "source_datasets": ["original"],
        "task_categories": ["text-classification"],
        "task_ids": ["multi-class-classification", "multi-label-classification"],
        "size_categories": [size_category(n_documents)],
        "tags": ["stance-detection", "news", "corpuskit"],
        "configs": configs,
        "dataset_info": infos,
    }


# Characters that start HTML, entities, links, emphasis, code, math or a table column in the Markdown
# the Hub renders; backslash-escaped (CommonMark allows it for any ASCII punctuation) each stands for itself.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|&!~$])")


def literal(value: object) -> str:
    """`value` as Markdown that shows exactly this text on one line: values from documents and from the
    server (a source such as `<img src=x onerror=...>`, a project title) never become HTML, a link,
    emphasis or a table column."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _languages(inputs: ReleaseInputs, stats: Stats) -> list[str]:
    """The Hub's `language` key: the primary subtags of the released documents, most frequent first
    (the setting's language for a release without documents)."""
    counts: Counter[str] = Counter()
    for tag, n in stats.languages.items():
        counts[tag.split("-")[0].lower()] += n
    found = sorted(counts, key=lambda tag: (-counts[tag], tag))
    return found or [inputs.language.split("-")[0]]


def card_body(inputs: ReleaseInputs, stats: Stats, version: str) -> list[str]:
    """The card's Markdown, section by section (the Hub's dataset card template, in its order)."""
    from corpuskit.release import card_sections as sections

    out = [f"# {literal(inputs.pretty_name)} — v{version}", ""]
    out += sections.warnings(inputs, stats)
    out += sections.summary(inputs, stats)
    out += sections.loading(version)
    out += sections.configurations(inputs, stats)
    out += sections.data_fields(inputs, stats)
    out += sections.labels(inputs, stats)
    out += sections.sources(stats)
    out += sections.languages(stats)
    out += sections.duplicates(inputs, stats)
    out += sections.annotation_process(inputs, stats)
    out += sections.agreement(inputs)
    out += sections.personal_information()
    out += sections.limitations(inputs, stats)
    out += sections.licensing(inputs)
    out += sections.provenance(inputs)
    out += sections.citation(inputs, version)
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
