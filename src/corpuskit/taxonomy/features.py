"""Hugging Face `datasets.Features` of the annotation and gold tables, generated from the taxonomy.

Class names are the taxonomy ids in taxonomy order, so ClassLabel integers mean the same thing
in every table and every release made under one taxonomy version. `original` and `result` are
kept as JSON text: their shape is Label Studio's, not ours, and must survive byte for byte.
"""

from __future__ import annotations

from typing import Any

from corpuskit.taxonomy.model import Taxonomy

# How a gold label was decided (docs/data-model.md, "Gold").
# `single` (one annotator's answer, flagged) comes last so the older class indices keep their meaning.
DECIDED_BY: tuple[str, ...] = ("ground_truth", "adjudicated", "majority", "unresolved", "single")

TABLES: tuple[str, ...] = ("annotations", "gold")


def label_features(taxonomy: Taxonomy) -> dict[str, Any]:
    """The label columns shared by every table: `stance`, `topics`, `spans`."""
    from datasets import ClassLabel, List, Value

    stance = {t: ClassLabel(names=list(taxonomy.stance_value_ids)) for t in taxonomy.target_ids}
    span = {
        "start": Value("int32"),
        "end": Value("int32"),
        "text": Value("string"),
        "target": ClassLabel(names=list(taxonomy.target_ids)),
        "speaker": Value("string"),
    }
    return {
        "stance": stance,
        "topics": List(ClassLabel(names=list(taxonomy.topic_ids))),
        "spans": List(span),
    }


def features(taxonomy: Taxonomy, table: str = "annotations") -> Any:
    """`datasets.Features` of one released table ("annotations": one row per submitted annotation;
    "gold": one row per document). The release writes exactly these; label columns come from
    `label_features`, so a taxonomy change shows in the config, the schema and here together.

    Annotators appear as pseudonyms (`annotator-<id>`): e-mails never enter a release."""
    from datasets import ClassLabel, Features, List, Value

    labels = label_features(taxonomy)
    string = Value("string")
    if table == "annotations":
        return Features(
            {
                "document_id": string,
                "annotation_id": Value("int64"),
                "task_id": Value("int64"),
                "content_sha256": string,
                "annotator": string,
                "annotator_id": Value("int64"),
                "taxonomy_version": string,
                **labels,
                "note": string,
                "lead_time": Value("float64"),
                "created_at": string,
                "updated_at": string,
                "ground_truth": Value("bool"),
                # Labelled in the pilot round, by every member (docs/team.md).
                "pilot": Value("bool"),
                "original": string,
                "result": string,
            }
        )
    if table == "gold":
        decided_by = ClassLabel(names=list(DECIDED_BY))
        stance_provenance = {
            "decided_by": decided_by,
            "n_annotators": Value("int32"),
            "votes": {value: Value("int32") for value in taxonomy.stance_value_ids},
            "agreement": Value("float64"),
            "flags": List(string),
        }
        topic_provenance = {
            "decided_by": decided_by,
            "n_annotators": Value("int32"),
            "votes": Value("int32"),
            "agreement": Value("float64"),
            "flags": List(string),
        }
        return Features(
            {
                "id": string,
                "title": string,
                "text": string,
                "content_sha256": string,
                "taxonomy_version": string,
                "stance": labels["stance"],
                "topics": labels["topics"],
                "stance_provenance": {target: stance_provenance for target in taxonomy.target_ids},
                "topic_provenance": {topic: topic_provenance for topic in taxonomy.topic_ids},
                "pilot": Value("bool"),
            }
        )
    raise ValueError(f"unknown table {table!r} (one of {', '.join(TABLES)})")
