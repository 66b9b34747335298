"""JSON Schema of one normalized annotation row, and the checks a schema cannot express.

Generated from the taxonomy so that labels are defined once. It also closes the gaps of
`label_studio_sdk`'s LabelInterface (docs/taxonomy.md): unknown controls, two choices in a
single-choice block, a missing required block, spans with start > end and an empty result are
rejected, and whole-number span offsets are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from corpuskit.taxonomy.labelconfig import EVIDENCE, NOTE, SPEAKER, STANCE_PREFIX, TEXT, TOPICS
from corpuskit.taxonomy.model import Taxonomy, per_taxonomy

_DOC_ID = "^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9._-]*$"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    # A type list rather than anyOf: a bad value then gets the precise message (format, pattern).
    return {**schema, "type": [schema["type"], "null"]}


def _labels_part(taxonomy: Taxonomy) -> dict[str, Any]:
    """`stance`, `topics`, `spans` and `note` as one taxonomy version defines them."""
    values = list(taxonomy.stance_value_ids)
    return {
        "stance": {
            "description": "Target id -> stance value id; null when not answered or to be re-annotated.",
            "type": "object",
            "properties": {t.id: {"enum": [*values, None]} for t in taxonomy.targets},
            "required": list(taxonomy.target_ids),
            "additionalProperties": False,
        },
        "topics": {
            "type": "array",
            "items": {"enum": list(taxonomy.topic_ids)},
            "uniqueItems": True,
        },
        "spans": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "start": {"type": "integer", "minimum": 0},
                    "end": {"type": "integer", "minimum": 1},
                    "text": {"type": "string", "minLength": 1},
                    "target": {"enum": list(taxonomy.target_ids)},
                    "speaker": _nullable({"type": "string", "minLength": 1}),
                },
                "required": ["start", "end", "text", "target", "speaker"],
                "additionalProperties": False,
            },
        },
        "note": _nullable({"type": "string"}),
    }


def _result_item_schema(taxonomy: Taxonomy) -> dict[str, Any]:
    """One item of Label Studio's result list: only the controls this taxonomy generates."""
    values = list(taxonomy.stance_value_ids)
    offsets = {"start": {"type": "integer", "minimum": 0}, "end": {"type": "integer", "minimum": 1}}
    branches: list[dict[str, Any]] = []

    def branch(names: list[str], type_: str, value: dict[str, Any]) -> None:
        branches.append(
            {
                "if": {"properties": {"from_name": {"enum": list(names)}}, "required": ["from_name"]},
                "then": {"properties": {"type": {"const": type_}, "value": value}},
            }
        )

    controls = [f"{STANCE_PREFIX}{t.id}" for t in taxonomy.targets]
    branch(
        controls,
        "choices",
        {
            "type": "object",
            "required": ["choices"],
            "properties": {
                "choices": {"type": "array", "items": {"enum": values}, "minItems": 1, "maxItems": 1}
            },
        },
    )
    controls.append(TOPICS)
    branch(
        [TOPICS],
        "choices",
        {
            "type": "object",
            "required": ["choices"],
            "properties": {"choices": {"type": "array", "items": {"enum": list(taxonomy.topic_ids)}}},
        },
    )
    if taxonomy.evidence.enabled:
        controls.append(EVIDENCE)
        branch(
            [EVIDENCE],
            "labels",
            {
                "type": "object",
                "required": ["start", "end", "text", "labels"],
                "properties": {
                    **offsets,
                    "text": {"type": "string"},
                    "labels": {"type": "array", "items": {"enum": list(taxonomy.target_ids)}, "minItems": 1},
                },
            },
        )
        if taxonomy.evidence.speaker:
            controls.append(SPEAKER)
            branch(
                [SPEAKER],
                "textarea",
                {
                    "type": "object",
                    "required": ["text"],
                    "properties": {**offsets, "text": {"type": "array", "items": {"type": "string"}}},
                },
            )
    if taxonomy.note.enabled:
        controls.append(NOTE)
        branch(
            [NOTE],
            "textarea",
            {
                "type": "object",
                "required": ["text"],
                "properties": {"text": {"type": "array", "items": {"type": "string"}}},
            },
        )
    return {
        "type": "object",
        "required": ["from_name", "to_name", "type", "value"],
        "properties": {
            "id": {"type": ["string", "integer"]},
            "from_name": {"enum": controls},
            "to_name": {"const": TEXT},
            "type": {"type": "string"},
            "value": {"type": "object"},
        },
        "allOf": branches,
    }


_GENERIC_RESULT_ITEM: dict[str, Any] = {
    "type": "object",
    "required": ["from_name", "to_name", "type", "value"],
    "properties": {
        "from_name": {"type": "string"},
        "to_name": {"type": "string"},
        "value": {"type": "object"},
    },
}


# An annotation row's `prelabels`: whether model pre-labels were on the annotator's page.
HIDDEN = "hidden"
SHOWN = "shown"
UNKNOWN = "unknown"
PRELABELS = (HIDDEN, SHOWN, UNKNOWN)


def annotation_schema(taxonomy: Taxonomy) -> dict[str, Any]:
    """JSON Schema (Draft 2020-12) of one annotation row made under `taxonomy` (docs/data-model.md)."""
    labels = _labels_part(taxonomy)
    original = {
        "description": "Set by a taxonomy migration: the values as first annotated, with their version.",
        "type": "object",
        "required": ["taxonomy_version", "stance", "topics", "spans"],
        "properties": {
            "taxonomy_version": {"type": "string"},
            "stance": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
            "topics": {"type": "array", "items": {"type": "string"}},
            "spans": {"type": "array", "items": {"type": "object"}},
            "note": _nullable({"type": "string"}),
            "migrations": {"type": "array", "items": {"type": "string"}},
            "needs_reannotation": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://corpuskit.dev/schema/annotation-{taxonomy.version}.schema.json",
        "title": f"corpuskit annotation row (taxonomy {taxonomy.version})",
        "type": "object",
        "required": [
            "document_id",
            "content_sha256",
            "task_id",
            "annotation_id",
            "annotator",
            "taxonomy_version",
            "stance",
            "topics",
            "spans",
            "note",
            "lead_time",
            "created_at",
            "updated_at",
            "was_cancelled",
            "ground_truth",
            "original",
            "result",
        ],
        "additionalProperties": False,
        "properties": {
            "document_id": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": _DOC_ID},
            "content_sha256": _nullable({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
            "task_id": _nullable({"type": "integer"}),
            "annotation_id": _nullable({"type": "integer"}),
            "annotator": {
                "type": "object",
                "required": ["id", "email"],
                "properties": {"id": _nullable({"type": "integer"}), "email": _nullable({"type": "string"})},
                "additionalProperties": False,
            },
            "taxonomy_version": {"const": taxonomy.version},
            **labels,
            "lead_time": _nullable({"type": "number", "minimum": 0}),
            "pilot": {"description": "Labelled in the pilot round (by every member).", "const": True},
            "prelabels": {
                "description": "Whether the annotator's page showed model pre-labels while this "
                "annotation was made (from the project's recorded history; unknown when it does not say).",
                "enum": list(PRELABELS),
            },
            "created_at": _nullable({"type": "string", "format": "date-time"}),
            "updated_at": _nullable({"type": "string", "format": "date-time"}),
            "was_cancelled": {"type": "boolean"},
            "ground_truth": {"type": "boolean"},
            "original": {"anyOf": [{"type": "null"}, original]},
            "result": {"type": "array", "items": _GENERIC_RESULT_ITEM},
        },
        # A migrated row keeps the result it was submitted with, under the controls of its original
        # version; only a row made under this version must use this version's controls.
        "if": {"properties": {"original": {"type": "null"}}, "required": ["original"]},
        "then": {"properties": {"result": {"items": _result_item_schema(taxonomy)}}},
    }


def schema_problems(taxonomy: Taxonomy, row: Any) -> list[str]:
    """Messages (`field.path: message`) for everything in `row` that breaks the annotation schema."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(
        annotation_schema(taxonomy), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    out = []
    for error in sorted(validator.iter_errors(row), key=lambda e: [str(p) for p in e.absolute_path]):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        out.append(f"{path or '(row)'}: {error.message}")
    return out


def check_annotation(
    row: Mapping[str, Any], text: str, taxonomy: Taxonomy | None = None, *, fields_from_result: bool = False
) -> list[str]:
    """What the schema cannot say: span offsets inside `text` (the body) with start < end and the right
    text, one stance value per required target and a non-empty result unless cancelled, and (given the
    taxonomy, for rows not rewritten by a migration) normalized fields that match the verbatim result.

    `fields_from_result`: the row's fields were just made from its result by `result_to_row_fields`
    (pull), so parsing the result again to compare them would only repeat that work."""
    if fields_from_result and taxonomy is not None and type(row) is dict:
        pulled = _pulled_row_problems(row, text, taxonomy)
        if pulled is not None:
            return pulled
    problems: list[str] = []
    for index, span in enumerate(row.get("spans") or []):
        problems.extend(_span_problems(f"spans[{index}]", span, text))
    result = row.get("result")
    result = result if isinstance(result, list) else []
    for index, item in enumerate(result):
        if (
            isinstance(item, Mapping)
            and item.get("from_name") == EVIDENCE
            and isinstance(item.get("value"), Mapping)
        ):
            problems.extend(_span_problems(f"result[{index}].value", item["value"], text))

    if not row.get("was_cancelled"):
        if not result:
            problems.append("result: empty for a submitted annotation")
        stance = row.get("stance") or {}
        required = [t.id for t in taxonomy.targets if t.required] if taxonomy is not None else list(stance)
        answers: dict[str, int] = {}
        for item in result:
            if isinstance(item, Mapping) and str(item.get("from_name", "")).startswith(STANCE_PREFIX):
                choices = (item.get("value") or {}).get("choices") or []
                answers[item["from_name"]] = answers.get(item["from_name"], 0) + len(choices)
        # A migration may null a value on purpose (split, retired value): it waits for re-annotation.
        waiting = set((row.get("original") or {}).get("needs_reannotation") or [])
        for target in required:
            count = answers.get(f"{STANCE_PREFIX}{target}", 0)
            if stance.get(target) is None and target not in waiting:
                problems.append(f"stance.{target}: no stance value for a required target")
            if result and row.get("original") is None and count != 1:
                problems.append(
                    f"result: {count} stance values for required target {target!r} (exactly one needed)"
                )

    if taxonomy is not None and row.get("original") is None and result and not fields_from_result:
        from corpuskit.taxonomy.results import result_to_row_fields

        fields, _ = result_to_row_fields(taxonomy, result)
        for name in ("stance", "topics", "spans", "note"):
            if name in row and _comparable(row[name]) != _comparable(fields[name]):
                problems.append(f"{name}: does not match the Label Studio result ({fields[name]!r})")
    return problems


@per_taxonomy
def _required_controls(taxonomy: Taxonomy) -> tuple[tuple[str, str], ...]:
    """(target id, its stance control) for every required target."""
    return tuple((t.id, f"{STANCE_PREFIX}{t.id}") for t in taxonomy.targets if t.required)


def _pulled_row_problems(row: dict[str, Any], text: str, taxonomy: Taxonomy) -> list[str] | None:
    """`check_annotation` for a row pull has just made (a plain dict whose result items are plain
    dicts with string `from_name`s): the same messages in the same order, with the result read once.
    None for anything else, which the general path then checks."""
    result = row.get("result")
    result = result if isinstance(result, list) else []
    problems: list[str] = []
    for index, span in enumerate(row.get("spans") or []):
        problems.extend(_span_problems(f"spans[{index}]", span, text))
    counting = not row.get("was_cancelled")
    answers: dict[str, int] = {}
    for index, item in enumerate(result):
        if type(item) is not dict:
            return None
        name = item.get("from_name")
        if type(name) is not str:
            return None
        if name == EVIDENCE:
            value = item.get("value")
            if isinstance(value, Mapping):
                problems.extend(_span_problems(f"result[{index}].value", value, text))
        elif counting and name.startswith(STANCE_PREFIX):
            value = item.get("value")
            if type(value) is dict:
                choices = value.get("choices")
            elif value:
                return None  # counted by the general path, which fails on it as it always did
            else:
                choices = None
            if choices is not None and type(choices) is not list:
                return None
            answers[name] = answers.get(name, 0) + (len(choices) if choices else 0)
    if counting:
        if not result:
            problems.append("result: empty for a submitted annotation")
        stance = row.get("stance") or {}
        original = row.get("original")
        waiting = set(original.get("needs_reannotation") or []) if original else ()
        for target, control in _required_controls(taxonomy):
            count = answers.get(control, 0)
            if stance.get(target) is None and target not in waiting:
                problems.append(f"stance.{target}: no stance value for a required target")
            if result and original is None and count != 1:
                problems.append(
                    f"result: {count} stance values for required target {target!r} (exactly one needed)"
                )
    return problems


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return sorted((_comparable(v) for v in value), key=repr)
    if isinstance(value, Mapping):
        return {k: _comparable(v) for k, v in value.items()}
    return value


def _span_problems(where: str, span: Mapping[str, Any], text: str) -> list[str]:
    start, end = span.get("start"), span.get("end")
    if not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer()
        for v in (start, end)
    ):
        return [f"{where}: start and end must be whole numbers"]
    assert isinstance(start, (int, float)) and isinstance(end, (int, float))
    start, end = int(start), int(end)
    if start >= end:
        return [f"{where}: start {start} is not before end {end}"]
    if start < 0 or end > len(text):
        return [f"{where}: offsets {start}..{end} fall outside the text (length {len(text)})"]
    expected = text[start:end]
    if span.get("text") != expected:
        return [f"{where}: text {span.get('text')!r} is not the text at {start}..{end} ({expected!r})"]
    return []


def annotation_problems(taxonomy: Taxonomy, row: Mapping[str, Any], text: str) -> list[str]:
    """Everything wrong with one row: the annotation schema, then `check_annotation`."""
    return schema_problems(taxonomy, row) + check_annotation(row, text, taxonomy)
