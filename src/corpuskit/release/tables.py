"""The tables of a release: their `datasets.Features` and how a row of each is made.

Labels are stored as `ClassLabel`s in taxonomy order, so `load_dataset(...).features` names them.
Missing labels (an unresolved gold label, a stance an annotator left empty) are -1, which is what
`ClassLabel` uses for "no label". Next to every ClassLabel column `x` sits `x_text`, the class name
(null for -1), so Parquet-only readers (polars, DuckDB, pandas) see names without corpuskit.
Annotation times are instants (`timestamp[us, tz=UTC]`); a document's own dates stay strings, since
their time zone is often unknown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from corpuskit.documents.model import FIELDS, OPTIONAL_FIELDS, body_text
from corpuskit.snapshot import pseudonym
from corpuskit.taxonomy.features import DECIDED_BY, features
from corpuskit.taxonomy.model import Taxonomy

if TYPE_CHECKING:
    import datasets

# The flat views come first: `stance` is the default config a researcher trains on.
CONFIGS: tuple[str, ...] = ("stance", "stance_annotations", "gold", "annotations", "documents")
TIMESTAMP = "timestamp[us, tz=UTC]"
TEXT_SUFFIX = "_text"


def document_features() -> datasets.Features:
    from datasets import Features, List, Value

    string = Value("string")
    return Features(
        {
            "id": string,
            "title": string,
            "summary": string,
            "section": string,
            "source": string,
            "published_at": string,
            "modified_at": string,
            "language": string,
            "paragraphs": List({"heading": string, "text": string}),
            "credits": List(string),
            "related": List({"label": string, "title": string, "url": string}),
            "content_sha256": string,
            "raw_path": string,
            "removed_lines": List({"line": Value("int64"), "text": string, "rule": string}),
            "text": string,
        }
    )


def with_label_text(feature: Any) -> Any:
    """`feature` with a `<name>_text` string column after every ClassLabel column `<name>`.

    A struct of ClassLabels (`stance`: one per target) gets a struct of strings, a list of
    ClassLabels (`topics`) a list of strings; inside structs and lists the same rule applies."""
    from datasets import ClassLabel, Features, List, Value

    def text_of(f: Any) -> Any:
        if isinstance(f, ClassLabel):
            return Value("string")
        if isinstance(f, List):
            inner = text_of(f.feature)
            return None if inner is None else List(inner)
        if isinstance(f, dict) and f and all(isinstance(v, ClassLabel) for v in f.values()):
            return {k: Value("string") for k in f}
        return None

    if isinstance(feature, List):
        return List(with_label_text(feature.feature))
    if not isinstance(feature, dict):
        return feature
    out: dict[str, Any] = {}
    for name, sub in feature.items():
        text = text_of(sub)
        # A struct of ClassLabels keeps its shape; its names go into the `_text` struct beside it.
        out[name] = sub if isinstance(text, dict) else with_label_text(sub)
        if text is not None:
            out[name + TEXT_SUFFIX] = text
    return Features(out) if isinstance(feature, Features) else out


def annotation_features(taxonomy: Taxonomy) -> datasets.Features:
    from datasets import Features, Value

    base = dict(features(taxonomy, "annotations"))
    base["created_at"] = Value(TIMESTAMP)
    base["updated_at"] = Value(TIMESTAMP)
    return with_label_text(Features(base))


def gold_features(taxonomy: Taxonomy) -> datasets.Features:
    return with_label_text(features(taxonomy, "gold"))


def features_of(config: str, taxonomy: Taxonomy) -> datasets.Features:
    from corpuskit.release.views import stance_annotation_features, stance_features

    if config == "documents":
        return document_features()
    if config == "annotations":
        return annotation_features(taxonomy)
    if config == "stance":
        return stance_features(taxonomy)
    if config == "stance_annotations":
        return stance_annotation_features(taxonomy)
    return gold_features(taxonomy)


def fill_label_text(row: dict[str, Any], feature: Any) -> dict[str, Any]:
    """Fill every `<name>_text` column of `row` from its ClassLabel integers (in place)."""
    from datasets import ClassLabel, List

    def name_of(f: Any, value: Any) -> Any:
        if isinstance(f, ClassLabel):
            return f.names[value] if isinstance(value, int) and 0 <= value < len(f.names) else None
        if isinstance(f, List):
            return None if value is None else [name_of(f.feature, v) for v in value]
        if isinstance(f, dict):
            return None if value is None else {k: name_of(sub, value.get(k)) for k, sub in f.items()}
        return None

    for name, sub in feature.items():
        if name + TEXT_SUFFIX in feature:
            row[name + TEXT_SUFFIX] = name_of(sub, row.get(name))
        elif isinstance(sub, dict) and isinstance(row.get(name), dict):
            fill_label_text(row[name], sub)
        elif isinstance(sub, List) and isinstance(sub.feature, dict) and row.get(name):
            for item in row[name]:
                fill_label_text(item, sub.feature)
    return row


def instant(value: Any) -> datetime | None:
    """An ISO 8601 time from Label Studio as an aware UTC datetime (a time without offset is UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# ---- rows -------------------------------------------------------------------------------------


# The columns of the documents table: every schema field, then the body as annotators saw it.
DOCUMENT_COLUMNS: tuple[str, ...] = (*FIELDS, *OPTIONAL_FIELDS, "text")


def document_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    row = {name: doc.get(name) for name in DOCUMENT_COLUMNS}
    row["related"] = [
        {"label": r.get("label"), "title": r.get("title"), "url": r.get("url")}
        for r in doc.get("related") or []
    ]
    row["removed_lines"] = [
        {"line": r.get("line"), "text": r.get("text"), "rule": r.get("rule")}
        for r in doc.get("removed_lines") or []
    ]
    row["text"] = body_text(dict(doc))
    return row


def annotator_key(annotator: Mapping[str, Any] | None) -> tuple[str, int | None]:
    """The annotator's pseudonym and user id (`corpuskit.snapshot.pseudonym`): no e-mail enters a release."""
    return pseudonym(annotator)


@dataclass(frozen=True)
class LabelIndex:
    """Label id -> class index, for every ClassLabel of the taxonomy."""

    stance: dict[str, int]
    topics: dict[str, int]
    targets: dict[str, int]

    @classmethod
    def of(cls, taxonomy: Taxonomy) -> LabelIndex:
        return cls(
            stance={value: i for i, value in enumerate(taxonomy.stance_value_ids)},
            topics={topic: i for i, topic in enumerate(taxonomy.topic_ids)},
            targets={target: i for i, target in enumerate(taxonomy.target_ids)},
        )

    def stance_of(self, value: Any) -> int:
        return -1 if value is None else self.stance[value]

    def topics_of(self, values: Any) -> list[int]:
        return sorted(self.topics[t] for t in values or [])


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def annotation_row(ann: Mapping[str, Any], taxonomy: Taxonomy, index: LabelIndex) -> dict[str, Any]:
    annotator, annotator_id = annotator_key(ann.get("annotator"))
    stance = ann.get("stance") or {}
    return {
        "document_id": ann["document_id"],
        "annotation_id": ann.get("annotation_id"),
        "task_id": ann.get("task_id"),
        "content_sha256": ann.get("content_sha256"),
        "annotator": annotator,
        "annotator_id": annotator_id,
        "taxonomy_version": ann.get("taxonomy_version") or taxonomy.version,
        "stance": {target: index.stance_of(stance.get(target)) for target in taxonomy.target_ids},
        "topics": index.topics_of(ann.get("topics")),
        "spans": [
            {
                "start": s.get("start"),
                "end": s.get("end"),
                "text": s.get("text"),
                "target": index.targets.get(s.get("target"), -1),
                "speaker": s.get("speaker"),
            }
            for s in ann.get("spans") or []
        ],
        "note": ann.get("note"),
        "lead_time": ann.get("lead_time"),
        "created_at": instant(ann.get("created_at")),
        "updated_at": instant(ann.get("updated_at")),
        "ground_truth": bool(ann.get("ground_truth")),
        "pilot": ann.get("pilot") is True,
        "original": _json_or_none(ann.get("original")),
        "result": _json_or_none(ann.get("result")),
    }


def _decided(value: Any) -> int:
    return DECIDED_BY.index(value) if value in DECIDED_BY else DECIDED_BY.index("unresolved")


def gold_row(gold: Mapping[str, Any], taxonomy: Taxonomy, index: LabelIndex) -> dict[str, Any]:
    """One gold row: labels as class indices, provenance per target and per topic.

    `title` and `text` are filled in later from the documents table (a merge on the sorted id)."""
    stance_in = gold.get("stance") or {}
    topics_in = gold.get("topics") or {}
    stance: dict[str, int] = {}
    stance_provenance: dict[str, Any] = {}
    for target in taxonomy.target_ids:
        item = stance_in.get(target) or {}
        decided = item.get("decided_by", "unresolved")
        label = item.get("label") if decided != "unresolved" else None
        stance[target] = index.stance_of(label)
        votes = item.get("votes") or {}
        stance_provenance[target] = {
            "decided_by": _decided(decided),
            "n_annotators": item.get("n_annotators", 0),
            "votes": {value: int(votes.get(value, 0)) for value in taxonomy.stance_value_ids},
            "agreement": item.get("agreement"),
            "flags": list(item.get("flags") or []),
        }
    topics: list[int] = []
    topic_provenance: dict[str, Any] = {}
    for topic in taxonomy.topic_ids:
        item = topics_in.get(topic) or {}
        decided = item.get("decided_by", "unresolved")
        if decided != "unresolved" and item.get("label") in (True, 1, "yes", "present"):
            topics.append(index.topics[topic])
        votes = item.get("votes")
        yes = votes.get("present", votes.get("yes", 0)) if isinstance(votes, Mapping) else votes
        topic_provenance[topic] = {
            "decided_by": _decided(decided),
            "n_annotators": item.get("n_annotators", 0),
            "votes": int(yes or 0),
            "agreement": item.get("agreement"),
            "flags": list(item.get("flags") or []),
        }
    return {
        "id": gold["document_id"],
        "title": None,
        "text": None,
        "content_sha256": gold.get("content_sha256"),
        "taxonomy_version": gold.get("taxonomy_version") or taxonomy.version,
        "stance": stance,
        "topics": sorted(topics),
        "stance_provenance": stance_provenance,
        "topic_provenance": topic_provenance,
        "pilot": gold.get("pilot") is True,
    }
