"""`corpuskit taxonomy check`: the taxonomy and everything generated from it, checked together.

The labelling config goes through label_studio_sdk's LabelInterface (Label Studio's own rules);
the features, the annotation schema and the config must name the same labels in the same order;
a sample annotation must survive row -> Label Studio result -> row unchanged; and the guidelines
must describe every label annotators can choose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpuskit.errors import CorpuskitError
from corpuskit.taxonomy.model import Taxonomy

KNOWN_TAGS = frozenset(
    {"View", "Style", "Header", "Text", "Choices", "Choice", "Labels", "Label", "TextArea"}
)


@dataclass(frozen=True)
class Check:
    name: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class CheckReport:
    source: str
    version: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "taxonomy": self.source,
            "version": self.version,
            "ok": self.ok,
            "checks": [{"name": c.name, "ok": c.ok, "problems": list(c.problems)} for c in self.checks],
        }


def sample_row(taxonomy: Taxonomy, text: str) -> dict[str, Any]:
    """A row that uses every label once (stance values cycle over the targets), for round trips."""
    values = taxonomy.stance_value_ids
    words = [m.span() for m in re.finditer(r"\S+", text)]
    spans = []
    if taxonomy.evidence.enabled:
        for index, target in enumerate(taxonomy.targets):
            start, end = words[index % len(words)]
            speaker = "A. Speaker" if taxonomy.evidence.speaker else None
            spans.append(
                {"start": start, "end": end, "text": text[start:end], "target": target.id, "speaker": speaker}
            )
    return {
        "document_id": "sample",
        "content_sha256": None,
        "task_id": 1,
        "annotation_id": 1,
        "annotator": {"id": 1, "email": None},
        "taxonomy_version": taxonomy.version,
        "stance": {t.id: values[i % len(values)] for i, t in enumerate(taxonomy.targets)},
        "topics": list(taxonomy.topic_ids),
        "spans": sorted(spans, key=lambda s: (s["start"], s["end"], s["target"])),
        "note": "sample note" if taxonomy.note.enabled else None,
        "lead_time": 1.0,
        "created_at": "2024-11-02T10:00:00Z",
        "updated_at": "2024-11-02T10:00:00Z",
        "was_cancelled": False,
        "ground_truth": False,
        "original": None,
        "result": [],
    }


_SAMPLE_TEXT = "The first sentence of a sample body. A second sentence, with a quote in it."


def config_problems(taxonomy: Taxonomy, xml: str) -> list[str]:
    """What is wrong with a labelling config `xml` for `taxonomy` (Label Studio's rules and ours)."""
    return _config_problems(taxonomy, xml)


def _config_problems(taxonomy: Taxonomy, xml: str) -> list[str]:
    import xml.etree.ElementTree as ET

    from label_studio_sdk.label_interface.interface import LabelInterface

    from corpuskit.taxonomy.labelconfig import EVIDENCE, TEXT, TOPICS, stance_control

    problems: list[str] = []
    try:
        interface: Any = LabelInterface(xml)
        interface.validate()
    except Exception as exc:  # the SDK raises many exception types for a bad config
        return [f"Label Studio rejects the config: {exc}"]
    expected: dict[str, list[str]] = {
        stance_control(t.id): list(taxonomy.stance_value_ids) for t in taxonomy.targets
    }
    expected[TOPICS] = list(taxonomy.topic_ids)
    if taxonomy.evidence.enabled:
        expected[EVIDENCE] = list(taxonomy.target_ids)
    for name, labels in expected.items():
        try:
            control = interface.get_control(name)
        except Exception:
            problems.append(f"control {name!r} is missing")
            continue
        if list(control.labels) != labels:
            problems.append(f"control {name!r} offers {list(control.labels)}, expected {labels}")
    root = ET.fromstring(xml)
    keys: dict[str, str] = {}
    for element in root.iter():
        # LabelInterface accepts tags Label Studio does not know; only the ones we generate are allowed.
        if element.tag not in KNOWN_TAGS:
            problems.append(f"unknown tag <{element.tag}> in the config")
        if element.tag == "HyperText":
            problems.append("the config uses HyperText; the body must be plain Text")
        key = element.get("hotkey")
        if key is not None:
            where = f"{element.tag} {element.get('alias') or element.get('value')!r}"
            if key in keys:
                problems.append(f"hotkey {key!r} is used by {keys[key]} and {where}")
            keys[key] = where
    texts = [e for e in root.iter("Text") if e.get("name") == TEXT]
    if len(texts) != 1 or texts[0].get("value") != "$text":
        problems.append('the config needs exactly one <Text name="text" value="$text"/>')
    return problems


def _features_problems(taxonomy: Taxonomy) -> list[str]:
    from corpuskit.taxonomy.features import features

    problems: list[str] = []
    for table in ("annotations", "gold"):
        feats = features(taxonomy, table)
        stance = feats["stance"]
        if list(stance) != list(taxonomy.target_ids):
            problems.append(f"{table}: stance columns {list(stance)} != targets {list(taxonomy.target_ids)}")
        topics = feats["topics"].feature.names
        if topics != list(taxonomy.topic_ids):
            problems.append(f"{table}: topic classes {topics} != topics {list(taxonomy.topic_ids)}")
        if "spans" in feats:  # gold has no spans: evidence stays with each annotation
            span_targets = feats["spans"].feature["target"].names
            if span_targets != list(taxonomy.target_ids):
                problems.append(f"{table}: span target classes {span_targets} != targets")
        feats.arrow_schema  # noqa: B018 - building the Arrow schema is the check
    labels = features(taxonomy)["stance"]
    for target, feature in labels.items():
        if feature.names != list(taxonomy.stance_value_ids):
            problems.append(f"annotations: stance.{target} classes {feature.names} != stance values")
    return problems


def _schema_problems(taxonomy: Taxonomy) -> list[str]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    from corpuskit.taxonomy.annotation_schema import annotation_schema

    schema = annotation_schema(taxonomy)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [f"the annotation schema is not a valid JSON Schema: {exc.message}"]
    problems = []
    if list(schema["properties"]["stance"]["properties"]) != list(taxonomy.target_ids):
        problems.append("annotation schema: stance targets differ from the taxonomy")
    if schema["properties"]["topics"]["items"]["enum"] != list(taxonomy.topic_ids):
        problems.append("annotation schema: topics differ from the taxonomy")
    return problems


def _round_trip_problems(taxonomy: Taxonomy, xml: str) -> list[str]:
    from label_studio_sdk.label_interface.interface import LabelInterface

    from corpuskit.taxonomy.annotation_schema import annotation_problems
    from corpuskit.taxonomy.results import result_to_row_fields, row_to_result

    interface: Any = LabelInterface(xml)
    row = sample_row(taxonomy, _SAMPLE_TEXT)
    result = row_to_result(taxonomy, row, _SAMPLE_TEXT)
    row["result"] = result
    problems = [
        f"Label Studio: {e}"
        for e in interface.validate_prediction({"result": result}, return_errors=True) or []
    ]
    fields, parse_problems = result_to_row_fields(taxonomy, result)
    problems += [f"reading the result back: {p}" for p in parse_problems]
    for name, value in fields.items():
        if value != row[name]:
            problems.append(f"{name} changed in the round trip: {row[name]!r} -> {value!r}")
    problems += [f"sample annotation: {p}" for p in annotation_problems(taxonomy, row, _SAMPLE_TEXT)]
    return problems


def _guidelines_problems(taxonomy: Taxonomy, guidelines: Path) -> list[str]:
    from corpuskit.taxonomy.guidelines import guidelines_html

    try:
        text = guidelines.read_text(encoding="utf-8")
        guidelines_html(taxonomy, guidelines)
    except (OSError, CorpuskitError) as exc:
        return [f"{guidelines}: cannot be read: {exc}"]
    problems = []
    for kind, labels in (("stance value", taxonomy.stance_values), ("topic", taxonomy.topics)):
        for label in labels:
            if label.name.casefold() not in text.casefold():
                problems.append(f"{guidelines}: {kind} {label.name!r} ({label.id}) is not described")
    for target in taxonomy.targets:
        if target.name.casefold() not in text.casefold():
            problems.append(f"{guidelines}: target {target.name!r} ({target.id}) is not described")
    return problems


def check_taxonomy(path: str | Path, guidelines: str | Path | None = None) -> CheckReport:
    """Check the taxonomy at `path` and everything generated from it; never raises for bad data."""
    from corpuskit.taxonomy.labelconfig import label_config
    from corpuskit.taxonomy.loader import TaxonomyError, display_path, load_taxonomy

    report = CheckReport(source=display_path(Path(path)))
    try:
        taxonomy = load_taxonomy(path)
    except TaxonomyError as exc:
        report.checks.append(Check("taxonomy file", tuple(exc.problems)))
        return report
    report.version = taxonomy.version
    report.checks.append(Check("taxonomy file", ()))
    xml = label_config(taxonomy)
    report.checks.append(Check("Label Studio config", tuple(_config_problems(taxonomy, xml))))
    report.checks.append(Check("dataset features", tuple(_features_problems(taxonomy))))
    report.checks.append(Check("annotation schema", tuple(_schema_problems(taxonomy))))
    report.checks.append(Check("result round trip", tuple(_round_trip_problems(taxonomy, xml))))
    if guidelines is not None:
        report.checks.append(
            Check("annotation guidelines", tuple(_guidelines_problems(taxonomy, Path(guidelines))))
        )
    return report
