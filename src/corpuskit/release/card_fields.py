"""The card's Data Fields tables, generated from each config's `datasets` features, and its example."""

from __future__ import annotations

import json
from typing import Any

# What a column means; a column not named here is described by its type alone.
COLUMN_DOCS: dict[str, str] = {
    "id": "document id (the raw file's stem unless the record gives one)",
    "document_id": "the document this row is about",
    "title": "headline",
    "text": "the body as annotators saw it",
    "summary": "standfirst / lead, when the source gives one",
    "section": "the outlet's section",
    "source": "the outlet (null when unknown)",
    "published_at": "publication time as printed by the outlet; no time zone when it gave none",
    "modified_at": "last modification time as printed by the outlet",
    "language": "BCP 47 language tag",
    "paragraphs": "the body, paragraph by paragraph, with headings",
    "credits": "bylines and photo credits",
    "related": "links the outlet printed with the article",
    "removed_lines": "page furniture dropped from the raw text (line, text, pattern matched); not in `text`",
    "content_sha256": "SHA-256 of the normalized text the labels were given on",
    "raw_path": "the raw file, relative to the corpus",
    "target": "the stance target (ClassLabel of target ids)",
    "target_name": "the target's name",
    "label": "the stance toward the target (ClassLabel; -1 = unresolved)",
    "resolved": "false when gold could not decide (label -1): drop these rows to train",
    "decided_by": "how the label was decided (ground_truth, adjudicated, majority, unresolved, single)",
    "n_annotators": "annotators who answered this question",
    "votes": "answers per stance value",
    "agreement": "share of answers agreeing with the label",
    "flags": "why a decision needs a look (`tie`, `single_annotator`, ...)",
    "pilot": "labelled in the pilot round, by every annotator",
    "taxonomy_version": "the taxonomy the labels were made under",
    "stance": "the stance toward each target (a ClassLabel per target; -1 = none)",
    "topics": "topics the document spends at least a paragraph on (ClassLabels)",
    "stance_provenance": "per target: how the gold label was decided, votes and agreement",
    "topic_provenance": "per topic: how the gold decision was made, votes and agreement",
    "annotator": "annotator pseudonym (`annotator-<Label Studio user id>`)",
    "annotator_id": "the Label Studio user id behind the pseudonym",
    "annotation_id": "Label Studio's annotation id",
    "task_id": "Label Studio's task id",
    "spans": "evidence spans (character offsets into `text`) with the target they support",
    "note": "the annotator's free-text note",
    "lead_time": "seconds the annotator spent on the task (Label Studio's lead time)",
    "created_at": "when the annotation was submitted (UTC)",
    "updated_at": "when the annotation was last changed (UTC)",
    "ground_truth": "marked as ground truth in Label Studio",
    "original": "the annotation as made under an older taxonomy, before migration (JSON)",
    "result": "Label Studio's result, byte for byte (JSON)",
}


def type_name(feature: Any) -> str:
    """A feature's type as a reader of the card needs it: `ClassLabel(favor, against, ...)`."""
    from datasets import ClassLabel, List, Value

    if isinstance(feature, ClassLabel):
        return f"ClassLabel({', '.join(feature.names)})"
    if isinstance(feature, List):
        return f"list of {type_name(feature.feature)}"
    if isinstance(feature, Value):
        return str(feature.dtype)
    if isinstance(feature, dict):
        inner = {type_name(sub) for sub in feature.values()}
        if len(inner) == 1:
            return f"struct of {', '.join(feature)}: each {inner.pop()}"
        return f"struct of {', '.join(feature)}"
    return type(feature).__name__


def describe(name: str) -> str:
    if name.endswith("_text") and name[: -len("_text")] in COLUMN_DOCS:
        return f"the class name(s) of `{name[: -len('_text')]}` (null where it is -1)"
    return COLUMN_DOCS.get(name, "")


def fields_table(features: Any) -> list[list[str]]:
    """Rows `[column, type, meaning]` of one config, in column order."""
    return [[f"`{name}`", type_name(feature), describe(name)] for name, feature in features.items()]


def example_json(row: dict[str, Any] | None, width: int = 240) -> str:
    """One row as indented JSON, long texts shortened (the card shows the shape, not the article)."""
    if row is None:
        return ""
    shown = {k: (v[:width] + " …" if isinstance(v, str) and len(v) > width else v) for k, v in row.items()}
    return json.dumps(shown, indent=2, ensure_ascii=False, default=str)
