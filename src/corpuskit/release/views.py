"""The flat views a researcher trains on: `stance` (one row per document x target, from gold) and
`stance_annotations` (one row per annotator answer x target, from the annotations).

Both are made while the gold and annotation tables are written (from the same joined batches), so
they hold exactly the rows of those tables, in the same splits, and cost one more pass over nothing.
Like every table, each ClassLabel has its `_text` column beside it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from corpuskit.taxonomy.features import DECIDED_BY

if TYPE_CHECKING:
    import datasets

    from corpuskit.taxonomy.model import Taxonomy

Row = dict[str, Any]


def target_names(taxonomy: Taxonomy) -> dict[str, str]:
    """Target id -> its human name (the id itself when the taxonomy gives none)."""
    named = {t.id: t.name for t in getattr(taxonomy, "targets", ())}
    return {target: named.get(target, target) for target in taxonomy.target_ids}


def stance_features(taxonomy: Taxonomy) -> datasets.Features:
    from datasets import ClassLabel, Features, Value

    from corpuskit.release.tables import with_label_text

    string = Value("string")
    return with_label_text(
        Features(
            {
                "id": string,
                "title": string,
                "text": string,
                "target": ClassLabel(names=list(taxonomy.target_ids)),
                "target_name": string,
                "label": ClassLabel(names=list(taxonomy.stance_value_ids)),
                "resolved": Value("bool"),
                "decided_by": ClassLabel(names=list(DECIDED_BY)),
                "n_annotators": Value("int32"),
                "votes": {value: Value("int32") for value in taxonomy.stance_value_ids},
                "agreement": Value("float64"),
                "pilot": Value("bool"),
                "taxonomy_version": string,
            }
        )
    )


def stance_annotation_features(taxonomy: Taxonomy) -> datasets.Features:
    from datasets import ClassLabel, Features, Value

    from corpuskit.release.tables import TIMESTAMP, with_label_text

    string = Value("string")
    return with_label_text(
        Features(
            {
                "document_id": string,
                "annotator": string,
                "annotation_id": Value("int64"),
                "target": ClassLabel(names=list(taxonomy.target_ids)),
                "target_name": string,
                "label": ClassLabel(names=list(taxonomy.stance_value_ids)),
                "lead_time": Value("float64"),
                "created_at": Value(TIMESTAMP),
                "pilot": Value("bool"),
                "taxonomy_version": string,
            }
        )
    )


def stance_rows(gold: Mapping[str, Any], taxonomy: Taxonomy, names: Mapping[str, str]) -> Iterator[Row]:
    """The `stance` rows of one joined gold row (title and text already filled in)."""
    unresolved = DECIDED_BY.index("unresolved")
    for index, target in enumerate(taxonomy.target_ids):
        provenance = gold["stance_provenance"][target]
        label = gold["stance"][target]
        yield {
            "id": gold["id"],
            "title": gold["title"],
            "text": gold["text"],
            "target": index,
            "target_name": names[target],
            "label": label,
            "resolved": label is not None and label >= 0 and provenance["decided_by"] != unresolved,
            "decided_by": provenance["decided_by"],
            "n_annotators": provenance["n_annotators"],
            "votes": provenance["votes"],
            "agreement": provenance["agreement"],
            "pilot": gold["pilot"],
            "taxonomy_version": gold["taxonomy_version"],
        }


def stance_annotation_rows(
    annotation: Mapping[str, Any], taxonomy: Taxonomy, names: Mapping[str, str]
) -> Iterator[Row]:
    """The `stance_annotations` rows of one annotation row."""
    for index, target in enumerate(taxonomy.target_ids):
        yield {
            "document_id": annotation["document_id"],
            "annotator": annotation["annotator"],
            "annotation_id": annotation["annotation_id"],
            "target": index,
            "target_name": names[target],
            "label": annotation["stance"][target],
            "lead_time": annotation["lead_time"],
            "created_at": annotation["created_at"],
            "pilot": annotation["pilot"],
            "taxonomy_version": annotation["taxonomy_version"],
        }


def stance_key(row: Row) -> tuple[str, int]:
    return row["id"], row["target"]


def stance_annotation_key(row: Row) -> tuple[Any, ...]:
    ann = row["annotation_id"]
    created = row["created_at"].isoformat() if row["created_at"] is not None else ""
    return (row["document_id"], row["annotator"], -1 if ann is None else ann, created, row["target"])
