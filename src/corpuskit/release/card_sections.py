"""The sections of the dataset card, each written from the release's numbers and settings.

Every figure here comes from `Stats` (gathered while the tables were written) or from the release
inputs, never typed in, so a test can hold each one against the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corpuskit.documents.language import LANGUAGE_NAMES, primary
from corpuskit.release.card import MIN_INTERVAL_ITEMS, fmt, literal, table
from corpuskit.release.card_fields import example_json, fields_table
from corpuskit.release.inputs import GUIDELINES_FILE, TAXONOMY_FILE
from corpuskit.release.splits import SPLITS
from corpuskit.release.tables import CONFIGS, features_of
from corpuskit.taxonomy.annotation_schema import HIDDEN, PRELABELS, SHOWN

if TYPE_CHECKING:
    from corpuskit.release.build import ReleaseInputs, Stats

Lines = list[str]

CONFIG_DOCS = {
    "stance": "one row per (document, target) with gold labels: `text`, `target`/`target_name`, "
    "`label`/`label_text`, how it was decided (`decided_by`, `n_annotators`, `votes`, `resolved`)",
    "stance_annotations": "one row per (annotation, target): every annotator's own answer, for "
    "annotator modelling and disagreement research",
    "gold": "one row per annotated document: stance per target (a struct), topics, and provenance",
    "annotations": "one row per submitted annotation (long format), with spans, notes and Label "
    "Studio's original result as JSON",
    "documents": "every field of the normalized document, plus `text` (the body as annotators saw it)",
}


def warnings(inputs: ReleaseInputs, stats: Stats) -> Lines:
    out: Lines = []
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
    return out


def summary(inputs: ReleaseInputs, stats: Stats) -> Lines:
    n_docs = sum(stats.rows["documents"].values())
    n_ann = sum(stats.rows["annotations"].values())
    n_gold = sum(stats.rows["gold"].values())
    out = [
        f"{n_docs} news documents with human stance and topic annotations ({n_ann} annotations by "
        f"{len(stats.annotators)} annotators) and gold labels for {n_gold} documents. Built by corpuskit "
        "from a validated raw corpus and a lossless snapshot of a Label Studio project.",
        "",
    ]
    if inputs.homepage:
        out += [f"Homepage: <{inputs.homepage}>", ""]
    return out


def loading(version: str) -> Lines:
    return [
        "## Loading",
        "",
        "One line each, from this folder (or the Hub repository); labels come with their names:",
        "",
        "```python",
        'ds = datasets.load_dataset("path/to/release", "stance")                 # datasets',
        'df = pandas.read_parquet("path/to/release/data/stance")                 # pandas',
        'df = polars.read_parquet("path/to/release/data/stance/*.parquet")       # polars',
        'df = duckdb.sql("SELECT text, target_name, label_text "\n'
        "                \"FROM 'path/to/release/data/stance/*.parquet'\")        # duckdb",
        f'dd = corpuskit.load("{version}", config="stance")  # verifies every checksum first',
        "```",
        "",
        "Unresolved gold labels are -1 (`label_text` null, `resolved` false); drop them before training: "
        '`ds.filter(lambda row: row["resolved"])`, or `WHERE resolved` in SQL.',
        "",
    ]


def configurations(inputs: ReleaseInputs, stats: Stats) -> Lines:
    out = ["## Configurations and splits", ""]
    out += [f"- `{c}`{' (default)' if c == 'stance' else ''}: {CONFIG_DOCS[c]}." for c in CONFIGS]
    out += [""]
    out += table(
        ["config", *SPLITS, "total"],
        [[c, *(stats.rows[c][s] for s in SPLITS), sum(stats.rows[c].values())] for c in CONFIGS],
    )
    ratios = ", ".join(f"{s} {r:g}" for s, r in zip(SPLITS, inputs.split_ratios, strict=True))
    if inputs.sources is not None:
        how = (
            "Held-out sources: a document's split is a hash of its source (outlet), so every outlet lies in "
            "one split; outlets linked by a near-duplicate story form one group that shares a split"
        )
    else:
        how = (
            "A document's split is a hash of its id, or of the smallest id of its group of near-duplicates "
            f"({stats.near_duplicate_groups} groups), so near-duplicate stories never straddle train and test"
        )
    out += [
        "",
        f"Splits are stable ({ratios}). {how}; a document keeps its split in later releases. Every config "
        "puts a document's rows in the document's split.",
    ]
    if inputs.held_out_targets:
        out += [
            "",
            f"Held-out targets: every `stance` and `stance_annotations` row about "
            f"{', '.join(f'`{t}`' for t in inputs.held_out_targets)} is in `test` (none in train or "
            "validation), whatever the document's split.",
        ]
    if stats.only_split:
        out += [
            "",
            f"> **Small corpus.** No document fell into train by its hash, so every document is in "
            f"`{stats.only_split}`. Once the corpus is large enough to fill train, documents go to their "
            "hashed splits (and some move out of train).",
        ]
    empty = [f"{c}/{s}" for c in CONFIGS for s in SPLITS if not stats.rows[c][s]]
    if empty:
        out += [
            "",
            f"> **Empty splits** (no file and not in the header, since `datasets` cannot load a split "
            f"without rows): {', '.join(empty)}.",
        ]
    return [*out, ""]


def data_fields(inputs: ReleaseInputs, stats: Stats) -> Lines:
    out = ["## Data Fields", ""]
    for config in CONFIGS:
        out += [f"### `{config}`", ""]
        out += table(["column", "type", "meaning"], fields_table(features_of(config, inputs.taxonomy)))
        out += [""]
    out += ["## Example instance", ""]
    if stats.example is not None:
        out += [
            "The first row of `stance` (texts shortened):",
            "",
            "```json",
            example_json(stats.example),
            "```",
        ]
    else:
        out += ["No gold row yet."]
    return [*out, ""]


def _definitions(items: Any, fallback: tuple[str, ...]) -> list[list[str]]:
    rows = [[f"`{x.id}`", literal(x.name), literal(" ".join(x.definition.split()))] for x in items or ()]
    return rows or [[f"`{x}`", literal(x), ""] for x in fallback]


def _count(counts: dict[str, dict[str, Any]], split: str, target: str, value: str) -> int:
    by_target = counts.get(split, {}).get(target)
    return int(by_target[value]) if by_target is not None else 0


def labels(inputs: ReleaseInputs, stats: Stats) -> Lines:
    tax = inputs.taxonomy
    out = ["## Labels", "", f"Taxonomy version {tax.version} (`{TAXONOMY_FILE}` in this release).", ""]
    out += ["Stance targets:", ""]
    out += table(["id", "name", "definition"], _definitions(getattr(tax, "targets", ()), tax.target_ids))
    out += ["", "Stance values (the same for every target):", ""]
    out += table(
        ["id", "name", "definition"], _definitions(getattr(tax, "stance_values", ()), tax.stance_value_ids)
    )
    out += ["", "Topics (multi-label):", ""]
    out += table(["id", "name", "definition"], _definitions(getattr(tax, "topics", ()), tax.topic_ids))
    out += [""]
    for target in tax.target_ids:
        values = [*tax.stance_value_ids, "(unresolved)"]
        out += [f"Gold stance toward `{target}`:", ""]
        out += table(
            ["split", *values],
            [[s, *(_count(stats.stance_counts, s, target, v) for v in values)] for s in SPLITS],
        )
        out += [""]
    out += ["Gold topics (documents per topic):", ""]
    out += table(
        ["split", *tax.topic_ids],
        [
            [s, *((stats.topic_counts[s][t] if s in stats.topic_counts else 0) for t in tax.topic_ids)]
            for s in SPLITS
        ],
    )
    return [*out, ""]


def sources(stats: Stats) -> Lines:
    out = [
        "## Sources",
        "",
        f"Published between {stats.first_date or 'n/a'} and {stats.last_date or 'n/a'}; "
        f"{stats.undated} document{'s' if stats.undated != 1 else ''} without a date. "
        f"{stats.unknown_source} document{'s' if stats.unknown_source != 1 else ''} without a known source.",
        "",
    ]
    rows: list[list[Any]] = [[literal(s), n] for s, n in sorted(stats.sources.items())]
    if stats.unknown_source:
        rows.append(["(unknown)", stats.unknown_source])
    out += table(["source", "documents"], rows or [["n/a", 0]])
    return [*out, ""]


def languages(stats: Stats) -> Lines:
    """Documents per language: what each record states, else what corpuskit detected, else the
    `language` setting (docs/languages.md)."""
    out = [
        "## Languages",
        "",
        "Each document's language is the one its record states, else the one detected from its text "
        "(py3langid, offline), else the corpus default.",
        "",
    ]
    rows: list[list[Any]] = [
        [literal(tag), LANGUAGE_NAMES.get(primary(tag), ""), n]
        for tag, n in sorted(stats.languages.items(), key=lambda item: (-item[1], item[0]))
    ]
    out += table(["language", "name", "documents"], rows or [["n/a", "", 0]])
    return [*out, ""]


def gold_rule() -> str:
    try:
        from corpuskit.quality.gold import GOLD_RULE
    except ImportError:  # pragma: no cover - the quality module ships with corpuskit
        return "See docs/quality.md."
    return GOLD_RULE


def prelabels(loop: Any) -> str:
    """Whether annotators saw model pre-labels (anchoring): the counts the snapshot recorded per
    annotation from the project's history (`corpuskit suggest --show` makes them visible)."""
    if not isinstance(loop, dict) or not isinstance(loop.get("annotations"), dict):
        return "The snapshot does not record whether annotators saw model pre-labels."
    counts = {str(k): int(v) for k, v in loop["annotations"].items() if isinstance(v, int)}
    total = sum(counts.values())
    version = loop.get("model_version")
    order = f" At the last pull the queue order was {literal(loop.get('order', 'n/a'))}" + (
        f", following model version {literal(version)}." if version else "."
    )
    for state, verb in ((HIDDEN, "hidden from"), (SHOWN, "shown to")):
        if total and counts.get(state, 0) == total:
            return f"Model pre-labels were {verb} annotators for all {total} annotations." + order
    parts = ", ".join(f"{state} for {counts.get(state, 0)}" for state in PRELABELS)
    return (
        f"Model pre-labels (per annotation, column `prelabels` of the snapshot): {parts} of {total} "
        "annotations; unknown where the project's recorded history does not cover the time an "
        "annotation was made." + order
    )


def annotation_process(inputs: ReleaseInputs, stats: Stats) -> Lines:
    guidelines = (
        f"`{GUIDELINES_FILE}` in this release"
        + (f" (SHA-256 {inputs.guidelines_version}…)" if inputs.guidelines_version else "")
        if GUIDELINES_FILE in inputs.shipped
        else "none recorded"
    )
    out = [
        "## Annotation process",
        "",
        f"Annotators labelled each document in Label Studio, following the guidelines ({guidelines}) "
        f"and the taxonomy (`{TAXONOMY_FILE}`): a stance toward every target, every topic the document "
        "spends at least a paragraph on, and optionally evidence spans and a note.",
        "",
    ]
    design = inputs.snapshot.get("design")
    if isinstance(design, dict):
        k = design.get("annotators_per_document")
        share = design.get("overlap_share")
        if isinstance(share, int | float) and share >= 1:
            planned = f"Every document was to be labelled independently by {k} annotators"
        else:
            planned = (
                f"Each document in a seeded overlap share of {fmt(share)} was to be labelled "
                f"independently by {k} annotators, each document outside it by one"
            )
        out.append(
            f"{planned}. Annotators took documents from Label Studio's queue "
            f"({literal(design.get('sampling', 'n/a'))} order), which shows none of the other "
            "annotators' answers."
        )
    else:
        out.append("The snapshot does not record the overlap design it was collected under.")
    out += ["", prelabels(inputs.snapshot.get("loop"))]
    by_n = ", ".join(
        f"{n} with {a} annotator{'s' if a != 1 else ''}"
        for a, n in sorted(stats.documents_by_annotators.items())
    )
    out += [
        "",
        f"{len(stats.annotators)} annotators took part, named in the data by pseudonyms "
        f"(`annotator-<Label Studio user id>`): {', '.join(sorted(stats.annotators)) or 'none'}. "
        f"Documents in `gold`: {by_n or 'none'}. A document with one annotator has gold `decided_by` = "
        "`single` (flagged `single_annotator`).",
    ]
    if stats.demo_annotators:
        out += [
            "",
            f"Demo accounts (scripted answers, not people): {', '.join(sorted(stats.demo_annotators))}.",
        ]
    if stats.pilot_documents:
        out += [
            "",
            f"{stats.pilot_documents} document{'s were' if stats.pilot_documents != 1 else ' was'} "
            "labelled in a pilot round by every member before the main round (column `pilot`).",
        ]
    out += ["", "### How gold was decided", "", gold_rule(), ""]
    out += table(["decided_by", "stance decisions"], [[k, v] for k, v in sorted(stats.decided_by.items())])
    return [*out, ""]


def agreement(inputs: ReleaseInputs) -> Lines:
    out = ["## Agreement", ""]
    if not inputs.agreement:
        return [*out, "No agreement figures were available for this release.", ""]
    rows = []
    withheld = []
    for name, a in sorted(inputs.agreement.items()):
        items = a.get("n_items")
        few = not isinstance(items, int) or items < MIN_INTERVAL_ITEMS
        if few:
            withheld.append(name)
            interval = "withheld"
        else:
            interval = f"[{fmt(a.get('low'))}, {fmt(a.get('high'))}]"
        rows.append([name, fmt(a.get("alpha")), interval, items if items is not None else "n/a"])
    out += ["Krippendorff's alpha (nominal; MASI for topic sets) with 95% bootstrap intervals:", ""]
    out += table(["question", "alpha", "95% interval", "items"], rows)
    if withheld:
        out += [
            "",
            f"Intervals withheld for {', '.join(withheld)}: fewer than {MIN_INTERVAL_ITEMS} items with "
            "two or more answers, too few for a bootstrap to mean anything; the alpha itself is a rough "
            "indication.",
        ]
    if inputs.write_report is not None:
        out += ["", "The full agreement report is in `report/`."]
    return [*out, ""]


def personal_information() -> Lines:
    return [
        "## Personal and Sensitive Information",
        "",
        "The texts are published news articles: they name public figures and quote people as the outlets "
        "printed them; nothing was removed or pseudonymized in them. Annotators appear only as pseudonyms "
        "(`annotator-<id>`); their e-mail addresses never enter a release.",
        "",
    ]


def _plural(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"


def duplicates(inputs: ReleaseInputs, stats: Stats) -> Lines:
    """Clusters of identical and near-duplicate documents among those released, and what the dedupe
    record left out."""
    identical, near = stats.clusters["identical"], stats.clusters["near-duplicate"]
    record = f"`{literal(inputs.dedupe_record)}`" if inputs.dedupe_record else "the dedupe record"
    out = [
        "## Duplicates",
        "",
        "Validation compares every document with every other: identical content (the same normalized "
        "text) and near-duplicates (estimated MinHash Jaccard similarity of the bodies at least "
        f"{inputs.near_duplicate_threshold:g}, e.g. one wire story under two headlines).",
        "",
        f"- Near-duplicate clusters among the released documents: {near}"
        + (f" ({stats.clustered['near-duplicate']} documents)" if near else ""),
        f"- Identical-content clusters among the released documents: {identical}"
        + (f" ({stats.clustered['identical']} documents)" if identical else ""),
        f"- Documents left out by {record}: {len(inputs.left_out)}",
    ]
    if inputs.left_out:
        annotations = _plural(stats.left_out_annotations, "annotation")
        out[-1] += (
            f" (one member of each cluster is kept; the others and their {annotations} are not in "
            "this release, nor in its gold labels and agreement)"
        )
    out += [
        "",
        "Splits keep each near-duplicate cluster whole: all of its released documents are in one split.",
        "",
    ]
    return out


def limitations(inputs: ReleaseInputs, stats: Stats) -> Lines:
    n_docs = sum(stats.rows["documents"].values())
    n_gold = sum(stats.rows["gold"].values())
    out = [
        "## Bias, Risks and Limitations",
        "",
        "The corpus covers the outlets listed under Sources and one topic area; stance is what the text "
        "conveys as read by the annotators, whose number is small, so labels carry their reading. The "
        "label distribution is skewed (see Labels): report per-class figures, not accuracy alone.",
        "",
        "Known limitations:",
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
        "`published_at` and `modified_at` are strings: the outlets print local times whose time zone is "
        "often unknown. Annotation times (`created_at`, `updated_at`) are instants in UTC."
    )
    limits += [f"Below threshold: {s}" for s in inputs.shortfalls]
    return out + [f"- {item}" for item in limits] + [""]


def licensing(inputs: ReleaseInputs) -> Lines:
    return [
        "## Licensing",
        "",
        f"Annotations, gold labels and metadata: `{literal(inputs.license)}`.",
        "",
        literal(inputs.source_copyright) if inputs.source_copyright else "",
        "",
    ]


def provenance(inputs: ReleaseInputs) -> Lines:
    snapshot = inputs.snapshot
    return [
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
    ]


def citation(inputs: ReleaseInputs, version: str) -> Lines:
    author = " and ".join(inputs.authors)
    return [
        "## Citation",
        "",
        "```bibtex",
        "@misc{corpuskit_release_v" + version.replace(".", "_") + ",",
        *([f"  author = {{{author}}},"] if author else []),
        f"  title = {{{inputs.pretty_name}}},",
        f"  version = {{{version}}},",
        *([f"  url = {{{inputs.homepage}}},"] if inputs.homepage else []),
        f"  note = {{corpus commit {inputs.git.get('commit') or 'n/a'}}},",
        "}",
        "```",
        "",
    ]
