"""Hugging Face `datasets.Features` of the annotation and gold tables, generated from the taxonomy.

Class names are the taxonomy ids in taxonomy order, so ClassLabel integers mean the same thing
in every table and every release made under one taxonomy version. `original` and `result` are
kept as JSON text: their shape is Label Studio's, not ours, and must survive byte for byte.
"""

from __future__ import annotations

from typing import Any

from corpuskit.taxonomy.model import Taxonomy

# How a gold label was decided (docs/data-model.md, "Gold").
DECIDED_BY: tuple[str, ...] = ("ground_truth", "adjudicated", "majority", "unresolved")

TABLES: tuple[str, ...] = ("annotations", "gold")


def label_features(taxonomy: Taxonomy) -> dict[str, Any]:
    """The label columns shared by every table: `stance`, `topics`, `spans`."""
    from datasets import ClassLabel, List, Value

    stance = {t.id: ClassLabel(names=list(taxonomy.stance_value_ids)) for t in taxonomy.targets}
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
    """`datasets.Features` of one table ("annotations": one row per annotation; "gold": one per document)."""
    from datasets import ClassLabel, Features, Value

    labels = label_features(taxonomy)
    if table == "annotations":
        return Features(
            {
                "document_id": Value("string"),
                "content_sha256": Value("string"),
                "task_id": Value("int64"),
                "annotation_id": Value("int64"),
                "annotator": {"id": Value("int64"), "email": Value("string")},
                "taxonomy_version": Value("string"),
                **labels,
                "note": Value("string"),
                "lead_time": Value("float64"),
                "created_at": Value("string"),
                "updated_at": Value("string"),
                "was_cancelled": Value("bool"),
                "ground_truth": Value("bool"),
                "original": Value("string"),
                "result": Value("string"),
            }
        )
    if table == "gold":
        decided_by = ClassLabel(names=list(DECIDED_BY))
        votes = {value: Value("int32") for value in taxonomy.stance_value_ids}
        stance = {
            t.id: {
                "label": ClassLabel(names=list(taxonomy.stance_value_ids)),
                "decided_by": decided_by,
                "n_annotators": Value("int32"),
                "votes": votes,
                "agreement": Value("float64"),
            }
            for t in taxonomy.targets
        }
        topic_detail = {
            topic: {
                "selected": Value("bool"),
                "decided_by": decided_by,
                "n_annotators": Value("int32"),
                "votes": Value("int32"),
                "agreement": Value("float64"),
            }
            for topic in taxonomy.topic_ids
        }
        return Features(
            {
                "document_id": Value("string"),
                "content_sha256": Value("string"),
                "taxonomy_version": Value("string"),
                "stance": stance,
                "topics": labels["topics"],
                "topic_votes": topic_detail,
                "spans": labels["spans"],
                "n_annotations": Value("int32"),
            }
        )
    raise ValueError(f"unknown table {table!r} (one of {', '.join(TABLES)})")
