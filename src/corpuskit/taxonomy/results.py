"""Label Studio result lists <-> corpuskit's normalized annotation fields (stance, topics, spans, note).

`result_to_row_fields` reads what Label Studio exports; anything it cannot place (an unknown
control, an unknown choice, two choices in a single-choice block, a speaker without its region)
is returned as a problem, never dropped silently. `row_to_result` writes the fields back as a
result list that Label Studio accepts as an annotation or a prediction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from corpuskit.taxonomy.labelconfig import EVIDENCE, NOTE, SPEAKER, STANCE_PREFIX, TEXT, TOPICS
from corpuskit.taxonomy.model import Taxonomy, per_taxonomy

Fields = dict[str, Any]

ROW_FIELDS: tuple[str, ...] = ("stance", "topics", "spans", "note")


def empty_fields(taxonomy: Taxonomy) -> Fields:
    return {"stance": dict.fromkeys(taxonomy.target_ids), "topics": [], "spans": [], "note": None}


class _Where:
    """Where a result item is, written out only when a problem names it (most items have none)."""

    __slots__ = ("index", "item")

    def __init__(self, index: int, item: Mapping[str, Any]) -> None:
        self.index = index
        self.item = item

    def __format__(self, spec: str) -> str:
        return f"result[{self.index}] ({self.item.get('from_name')!r})"


def _where(index: int, item: Mapping[str, Any]) -> _Where:
    return _Where(index, item)


def _strings(value: Any) -> list[str] | None:
    """A list of strings, or None when the value has another shape."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _offset(value: Any) -> int | None:
    # Whole-number floats (5.0) are offsets too: some clients serialise every number as a float.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class _Plan:
    """What parsing a result needs from one taxonomy, worked out once (pull parses every annotation)."""

    __slots__ = (
        "evidence",
        "no_stance",
        "note",
        "speaker",
        "stance_controls",
        "target_ids",
        "topic_ids",
        "topic_order",
        "values",
    )

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.stance_controls = {f"{STANCE_PREFIX}{target}": target for target in taxonomy.target_ids}
        self.target_ids, self.values, self.topic_ids = taxonomy.id_sets
        self.evidence = taxonomy.evidence.enabled
        self.speaker = taxonomy.evidence.enabled and taxonomy.evidence.speaker
        self.note = taxonomy.note.enabled
        self.no_stance: dict[str, Any] = dict.fromkeys(taxonomy.target_ids)
        self.topic_order = taxonomy.topic_ids


_plan = per_taxonomy(_Plan)


def _clean_fields(taxonomy: Taxonomy, result: Any) -> Fields | None:
    """The fields of a result in which every item is plain JSON (dicts, lists, strings, ints) and
    nothing is wrong; None as soon as an item is anything else, so that `_fields_and_problems`, which
    words every problem, handles it. Same fields as `_fields_and_problems` for every result it takes."""
    if type(result) is not list:
        return None
    plan = _plan(taxonomy)
    stance_controls, target_ids, values, topic_ids = (
        plan.stance_controls,
        plan.target_ids,
        plan.values,
        plan.topic_ids,
    )
    stance: dict[str, Any] = plan.no_stance.copy()
    topics: set[str] = set()
    spans: list[dict[str, Any]] = []
    regions: dict[str, dict[str, Any]] = {}
    speakers: list[dict[str, Any]] = []
    notes: list[str] = []
    for index, item in enumerate(result):
        if type(item) is not dict:
            return None
        value = item.get("value")
        name = item.get("from_name")
        if type(value) is not dict or type(name) is not str or item.get("to_name", TEXT) != TEXT:
            return None
        target = stance_controls.get(name)
        if target is not None:
            choices = value.get("choices")
            if type(choices) is not list or len(choices) != 1 or stance[target] is not None:
                return None  # a second block for a target leaves its value None, so None means unseen
            choice = choices[0]
            if type(choice) is not str or choice not in values:
                return None
            stance[target] = choice
        elif name == TOPICS:
            choices = value.get("choices")
            if type(choices) is not list:
                return None
            for choice in choices:
                if type(choice) is not str or choice not in topic_ids:
                    return None
                topics.add(choice)
        elif name == EVIDENCE and plan.evidence:
            start, end, labels, text = (
                value.get("start"),
                value.get("end"),
                value.get("labels"),
                value.get("text"),
            )
            if type(start) is not int or type(end) is not int or type(text) is not str:
                return None
            if type(labels) is not list or not labels:
                return None
            region = str(item.get("id", f"#{index}"))
            for label in labels:
                if type(label) is not str or label not in target_ids:
                    return None
                span = {"start": start, "end": end, "text": text, "target": label, "speaker": None}
                spans.append(span)
                regions.setdefault(region, span)
        elif name == SPEAKER and plan.speaker:
            speakers.append(item)
        elif name == NOTE and plan.note:
            texts = value.get("text")
            if type(texts) is not list:
                return None
            for line in texts:
                if type(line) is not str:
                    return None
            notes.extend(texts)
        else:
            return None
    for item in speakers:
        texts = item["value"].get("text")
        if type(texts) is not list:
            return None
        for line in texts:
            if type(line) is not str:
                return None
        found = regions.get(str(item.get("id")))
        if found is None:
            return None
        speaker = " ".join(t.strip() for t in texts if t.strip())
        for other in spans:
            if (other["start"], other["end"]) == (found["start"], found["end"]):
                other["speaker"] = speaker or None
    if len(spans) > 1:
        spans.sort(key=lambda s: (s["start"], s["end"], s["target"]))
    note = "\n".join(n for n in notes if n.strip()) if notes else None
    return {
        "stance": stance,
        "topics": [topic for topic in plan.topic_order if topic in topics] if topics else [],
        "spans": spans,
        "note": note or None,
    }


def result_to_row_fields(taxonomy: Taxonomy, result: Sequence[Mapping[str, Any]]) -> tuple[Fields, list[str]]:
    """Map Label Studio's `result` list to `{stance, topics, spans, note}`; return (fields, problems)."""
    fields = _clean_fields(taxonomy, result)
    if fields is not None:
        return fields, []
    return _fields_and_problems(taxonomy, result)


def _fields_and_problems(taxonomy: Taxonomy, result: Sequence[Mapping[str, Any]]) -> tuple[Fields, list[str]]:
    # Any result, whatever its items hold: every problem is worded.
    fields = empty_fields(taxonomy)
    problems: list[str] = []
    if not isinstance(result, list):
        return fields, [f"result: expected a list, got {type(result).__name__}"]
    target_ids, values, topic_ids = taxonomy.id_sets
    seen_stance: set[str] = set()
    topics: set[str] = set()
    regions: dict[str, dict[str, Any]] = {}
    speakers: list[tuple[int, Mapping[str, Any]]] = []
    notes: list[str] = []

    for index, item in enumerate(result):
        if not isinstance(item, Mapping):
            problems.append(f"result[{index}]: expected an object, got {type(item).__name__}")
            continue
        where = _where(index, item)
        name = item.get("from_name")
        value = item.get("value")
        if not isinstance(value, Mapping):
            problems.append(f"{where}: 'value' is missing or not an object")
            continue
        if item.get("to_name", TEXT) != TEXT:
            problems.append(f"{where}: to_name {item.get('to_name')!r} is not {TEXT!r}")
        if (
            isinstance(name, str)
            and name.startswith(STANCE_PREFIX)
            and name[len(STANCE_PREFIX) :] in target_ids
        ):
            target = name[len(STANCE_PREFIX) :]
            choices = _strings(value.get("choices"))
            if choices is None:
                problems.append(f"{where}: 'choices' is missing or not a list of strings")
                continue
            if target in seen_stance:
                problems.append(f"{where}: a second answer for the single-choice block {name!r}")
                fields["stance"][target] = None
                continue
            seen_stance.add(target)
            unknown = [c for c in choices if c not in values]
            if unknown:
                problems.append(
                    f"{where}: unknown stance value {unknown[0]!r} (known: {', '.join(sorted(values))})"
                )
            elif len(choices) != 1:
                problems.append(
                    f"{where}: {len(choices)} choices in the single-choice block {name!r}: {choices}"
                )
            else:
                fields["stance"][target] = choices[0]
        elif name == TOPICS:
            choices = _strings(value.get("choices"))
            if choices is None:
                problems.append(f"{where}: 'choices' is missing or not a list of strings")
                continue
            for choice in choices:
                if choice in topic_ids:
                    topics.add(choice)
                else:
                    problems.append(f"{where}: unknown topic {choice!r}")
        elif name == EVIDENCE and taxonomy.evidence.enabled:
            start, end = _offset(value.get("start")), _offset(value.get("end"))
            labels = _strings(value.get("labels"))
            text = value.get("text")
            if start is None or end is None or labels is None or not isinstance(text, str):
                problems.append(f"{where}: an evidence span needs whole-number start/end, text and labels")
                continue
            region_id = str(item.get("id", f"#{index}"))
            for label in labels:
                if label not in target_ids:
                    problems.append(f"{where}: unknown evidence target {label!r}")
                    continue
                span = {"start": start, "end": end, "text": text, "target": label, "speaker": None}
                fields["spans"].append(span)
                regions.setdefault(region_id, span)
            if not labels:
                problems.append(f"{where}: an evidence span without a target")
        elif name == SPEAKER and taxonomy.evidence.enabled and taxonomy.evidence.speaker:
            speakers.append((index, item))
        elif name == NOTE and taxonomy.note.enabled:
            texts = _strings(value.get("text"))
            if texts is None:
                problems.append(f"{where}: 'text' is missing or not a list of strings")
                continue
            notes.extend(texts)
        else:
            problems.append(f"{where}: unknown control {name!r} (not in taxonomy {taxonomy.version})")

    for index, item in speakers:
        where = _where(index, item)
        texts = _strings(item["value"].get("text"))
        region = regions.get(str(item.get("id")))
        if texts is None:
            problems.append(f"{where}: 'text' is missing or not a list of strings")
        elif region is None:
            problems.append(f"{where}: speaker for region {item.get('id')!r}, which is not an evidence span")
        else:
            speaker = " ".join(t.strip() for t in texts if t.strip())
            # Every span of a region shares its speaker (a region labelled with two targets).
            for other in fields["spans"]:
                if (other["start"], other["end"]) == (region["start"], region["end"]):
                    other["speaker"] = speaker or None

    fields["topics"] = [topic for topic in taxonomy.topic_ids if topic in topics]
    fields["spans"].sort(key=lambda s: (s["start"], s["end"], s["target"]))
    note = "\n".join(n for n in notes if n.strip())
    fields["note"] = note or None
    return fields, problems


def region_id(start: int, end: int) -> str:
    """A stable region id for an evidence span (same offsets, same id, across pushes)."""
    return "ev" + hashlib.sha1(f"{start}:{end}".encode()).hexdigest()[:8]


def row_to_result(taxonomy: Taxonomy, row: Mapping[str, Any], text: str) -> list[dict[str, Any]]:
    """Label Studio result list for a normalized row; span text is taken from `text` (the body)."""
    result: list[dict[str, Any]] = []
    for target in taxonomy.targets:
        value = (row.get("stance") or {}).get(target.id)
        if value is not None:
            result.append(
                {
                    "id": f"stance_{target.id}"[:40],
                    "from_name": f"{STANCE_PREFIX}{target.id}",
                    "to_name": TEXT,
                    "type": "choices",
                    "value": {"choices": [value]},
                }
            )
    topics = list(row.get("topics") or [])
    if topics:
        result.append(
            {
                "id": "topics",
                "from_name": TOPICS,
                "to_name": TEXT,
                "type": "choices",
                "value": {"choices": topics},
            }
        )
    by_region: dict[tuple[int, int], list[Mapping[str, Any]]] = {}
    for span in row.get("spans") or []:
        by_region.setdefault((int(span["start"]), int(span["end"])), []).append(span)
    for (start, end), spans in sorted(by_region.items()):
        rid = region_id(start, end)
        result.append(
            {
                "id": rid,
                "from_name": EVIDENCE,
                "to_name": TEXT,
                "type": "labels",
                "value": {
                    "start": start,
                    "end": end,
                    "text": text[start:end],
                    "labels": [s["target"] for s in spans],
                },
            }
        )
        speaker = next((s.get("speaker") for s in spans if s.get("speaker")), None)
        if speaker and taxonomy.evidence.speaker:
            result.append(
                {
                    "id": rid,
                    "from_name": SPEAKER,
                    "to_name": TEXT,
                    "type": "textarea",
                    "value": {"start": start, "end": end, "text": [speaker]},
                }
            )
    if row.get("note"):
        result.append(
            {
                "id": "note",
                "from_name": NOTE,
                "to_name": TEXT,
                "type": "textarea",
                "value": {"text": [row["note"]]},
            }
        )
    return result
