"""The three tables of a release: their `datasets.Features` and how a row of each is made.

Labels are stored as `ClassLabel`s in taxonomy order, so `load_dataset(...).features` names them.
Missing labels (an unresolved gold label, a stance an annotator left empty) are -1, which is what
`ClassLabel` uses for "no label".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from corpuskit.documents.model import FIELDS, body_text
from corpuskit.taxonomy.features import DECIDED_BY, features
from corpuskit.taxonomy.model import Taxonomy

if TYPE_CHECKING:
    import datasets

CONFIGS: tuple[str, ...] = ("documents", "annotations", "gold")


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
            "text": string,
        }
    )


def annotation_features(taxonomy: Taxonomy) -> datasets.Features:
    return features(taxonomy, "annotations")


def gold_features(taxonomy: Taxonomy) -> datasets.Features:
    return features(taxonomy, "gold")


def features_of(config: str, taxonomy: Taxonomy) -> datasets.Features:
    if config == "documents":
        return document_features()
    if config == "annotations":
        return annotation_features(taxonomy)
    return gold_features(taxonomy)


# ---- rows -------------------------------------------------------------------------------------


# The columns of the documents table: every schema field, then the body as annotators saw it.
DOCUMENT_COLUMNS: tuple[str, ...] = (*FIELDS, "text")


def document_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    row = {name: doc.get(name) for name in DOCUMENT_COLUMNS}
    row["related"] = [
        {"label": r.get("label"), "title": r.get("title"), "url": r.get("url")}
        for r in doc.get("related") or []
    ]
    row["text"] = body_text(dict(doc))
    return row


def annotator_key(annotator: Mapping[str, Any] | None) -> tuple[str, int | None]:
    """A pseudonym for the annotator: the Label Studio user id when known, else a hash of the email.

    Emails are personal data and never enter a release."""
    annotator = annotator or {}
    user_id = annotator.get("id")
    if isinstance(user_id, int):
        return f"annotator-{user_id}", user_id
    email = annotator.get("email")
    if email:
        return "annotator-" + hashlib.sha256(str(email).lower().encode()).hexdigest()[:12], None
    return "annotator-unknown", None


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
        "created_at": ann.get("created_at"),
        "updated_at": ann.get("updated_at"),
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
