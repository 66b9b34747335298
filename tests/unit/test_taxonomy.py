"""The taxonomy: loading and its errors, what is generated from it, the result <-> row mapping,
the annotation checks (and the gaps of label_studio_sdk they close), the guidelines and the CLI."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from corpuskit.cli.main import main
from corpuskit.taxonomy import (
    TaxonomyError,
    annotation_problems,
    annotation_schema,
    check_annotation,
    check_taxonomy,
    features,
    guidelines_html,
    label_config,
    load_taxonomy,
    result_to_row_fields,
    row_to_result,
    schema_problems,
    taxonomy_from_dict,
)
from corpuskit.taxonomy.check import config_problems
from corpuskit.taxonomy.loader import display_path

ROOT = Path(__file__).resolve().parents[2]
TAXONOMY = ROOT / "schema" / "taxonomy.yaml"
GUIDELINES = ROOT / "docs" / "annotation-guidelines.md"
DATA = ROOT / "tests" / "data" / "taxonomy"
INVALID = sorted((DATA / "invalid").glob("*.yaml"))
VALID = sorted((DATA / "valid").glob("*.yaml"))

TEXT = (
    'Seoul warned on Tuesday.\n\n"This illegal military cooperation is a threat," Yoon said.\n\n'
    "Kyiv received aid."
)
QUOTE = "This illegal military cooperation is a threat,"


@pytest.fixture(scope="module")
def taxonomy() -> Any:
    return load_taxonomy(TAXONOMY)


def good_row(taxonomy: Any) -> dict[str, Any]:
    """A complete, valid annotation row for TEXT."""
    start = TEXT.index(QUOTE)
    fields = {
        "stance": {"rnk_military_cooperation": "against", "ukraine_military_aid": "neutral"},
        "topics": ["military_cooperation", "international_law"],
        "spans": [
            {
                "start": start,
                "end": start + len(QUOTE),
                "text": QUOTE,
                "target": "rnk_military_cooperation",
                "speaker": "Yoon Suk Yeol",
            }
        ],
        "note": "hard call on aid",
    }
    return {
        "document_id": "000_94744c74cf2a33e7",
        "content_sha256": "a" * 64,
        "task_id": 12,
        "annotation_id": 40,
        "annotator": {"id": 3, "email": "ann@example.org"},
        "taxonomy_version": taxonomy.version,
        **fields,
        "lead_time": 12.5,
        "created_at": "2024-11-02T10:00:00Z",
        "updated_at": "2024-11-02T10:00:00Z",
        "was_cancelled": False,
        "ground_truth": False,
        "original": None,
        "result": row_to_result(taxonomy, fields, TEXT),
    }


# --- loading -------------------------------------------------------------------------------------


def test_the_corpus_taxonomy_and_everything_generated_from_it_pass_the_check() -> None:
    report = check_taxonomy(TAXONOMY, GUIDELINES)
    assert report.ok, report.to_json()
    assert [c.name for c in report.checks] == [
        "taxonomy file",
        "Label Studio config",
        "dataset features",
        "annotation schema",
        "result round trip",
        "annotation guidelines",
    ]


def test_the_first_version_has_the_targets_values_and_topics_the_issue_names(taxonomy: Any) -> None:
    assert [t.name for t in taxonomy.targets] == [
        "Russia–North Korea military cooperation",
        "Military aid to Ukraine",
    ]
    assert taxonomy.stance_value_ids == ("favor", "against", "neutral", "unrelated")
    names = {t.name.lower() for t in taxonomy.topics}
    for wanted in (
        "military cooperation",
        "arms transfers",
        "troop deployment",
        "sanctions and un resolutions",
        "nuclear programme",
        "war in ukraine",
        "diplomacy and summits",
        "alliances and military exercises",
        "economic aid",
    ):
        assert wanted in names
    assert taxonomy.evidence.enabled and taxonomy.evidence.speaker and taxonomy.note.enabled


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_taxonomies_load_and_pass_every_check(path: Path) -> None:
    assert check_taxonomy(path).ok


def expected_problems(path: Path) -> list[str]:
    prefix = display_path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    return [f"{prefix}:{line.removeprefix('# expect: ')}" for line in lines if line.startswith("# expect: ")]


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_taxonomies_name_file_line_and_field(path: Path) -> None:
    expected = expected_problems(path)
    assert expected, f"{path} declares no '# expect:' line"
    with pytest.raises(TaxonomyError) as caught:
        load_taxonomy(path)
    assert caught.value.problems == expected
    assert str(caught.value).startswith(expected[0])
    assert "\n" not in str(caught.value)


def test_the_invalid_cases_cover_what_the_issue_asks_for() -> None:
    messages = "\n".join(line for path in INVALID for line in expected_problems(path))
    assert "duplicate id" in messages
    assert "is already used by" in messages  # a hotkey used twice
    assert "every label needs a definition" in messages
    assert "unknown target 'topic_b'" in messages  # in a migration


def test_a_missing_taxonomy_file_is_a_usage_error(tmp_path: Path) -> None:
    from corpuskit.errors import UsageError

    with pytest.raises(UsageError, match="taxonomy file not found"):
        load_taxonomy(tmp_path / "nope.yaml")


# --- generated artefacts agree, and change together ----------------------------------------------


def generated_labels(taxonomy: Any) -> dict[str, dict[str, list[str]]]:
    """The labels as each generated artefact states them, by control name."""
    from label_studio_sdk.label_interface.interface import LabelInterface

    xml = label_config(taxonomy)
    interface = LabelInterface(xml)
    feats = features(taxonomy)
    schema = annotation_schema(taxonomy)
    xml_labels = {c.name: list(c.labels) for c in interface.controls if c.labels}
    feature_labels = {f"stance_{t}": f.names for t, f in feats["stance"].items()}
    feature_labels["topics"] = feats["topics"].feature.names
    feature_labels["evidence"] = feats["spans"].feature["target"].names
    stance_enums = schema["properties"]["stance"]["properties"]
    schema_labels = {f"stance_{t}": [v for v in s["enum"] if v is not None] for t, s in stance_enums.items()}
    schema_labels["topics"] = schema["properties"]["topics"]["items"]["enum"]
    schema_labels["evidence"] = schema["properties"]["spans"]["items"]["properties"]["target"]["enum"]
    return {"xml": xml_labels, "features": feature_labels, "schema": schema_labels}


def test_xml_features_and_annotation_schema_name_the_same_labels_in_the_same_order(taxonomy: Any) -> None:
    labels = generated_labels(taxonomy)
    assert labels["xml"] == labels["features"] == labels["schema"]
    assert list(labels["xml"]) == [
        "evidence",
        "stance_rnk_military_cooperation",
        "stance_ukraine_military_aid",
        "topics",
    ]


def test_a_taxonomy_change_changes_the_xml_the_features_and_the_schema_together() -> None:
    data = yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))
    before = generated_labels(taxonomy_from_dict(copy.deepcopy(data)))
    data["version"] = "1.1.0"
    data["topics"] = [t for t in data["topics"] if t["id"] != "economic_aid"]
    data["topics"].insert(
        0, {"id": "cyber", "name": "Cyber operations", "definition": "Hacking, cyber attacks and defence."}
    )
    data["targets"].append(
        {
            "id": "un_sanctions",
            "name": "UN sanctions on North Korea",
            "definition": "The UN sanctions regime.",
        }
    )
    data["stance_values"] = [v for v in data["stance_values"] if v["id"] != "unrelated"]
    for target in data["targets"]:
        target.get("hotkeys", {}).pop("unrelated", None)
    data["migrations"] = [
        {
            "from": "1.0.0",
            "to": "1.1.0",
            "changes": [
                {"op": "add", "kind": "topic", "to": "cyber"},
                {"op": "retire", "kind": "topic", "from": "economic_aid"},
                {"op": "add", "kind": "target", "to": "un_sanctions"},
                {"op": "retire", "kind": "stance_value", "from": "unrelated"},
            ],
        }
    ]
    changed = taxonomy_from_dict(data)
    after = generated_labels(changed)
    assert after["xml"] == after["features"] == after["schema"]
    assert after != before
    for artefact in after.values():
        assert artefact["topics"][0] == "cyber" and "economic_aid" not in artefact["topics"]
        assert artefact["stance_un_sanctions"] == ["favor", "against", "neutral"]
        assert artefact["evidence"][-1] == "un_sanctions"
    xml = label_config(changed)
    assert 'alias="cyber"' in xml and 'alias="economic_aid"' not in xml
    assert annotation_schema(changed)["properties"]["taxonomy_version"] == {"const": "1.1.0"}


def test_label_config_follows_the_naming_conventions(taxonomy: Any) -> None:
    root = ET.fromstring(label_config(taxonomy))
    texts = list(root.iter("Text"))
    assert [(t.get("name"), t.get("value")) for t in texts] == [("text", "$text")]
    assert not list(root.iter("HyperText"))
    headers = [h.get("value") for h in root.iter("Header")]
    assert "$source" not in headers  # Label Studio's editor replaces it with the whole task as JSON
    for key in ("$title", "$source_name", "$section", "$published_at"):
        assert key in headers
        # shown above the body: every data header comes before the Text tag in document order
    order = [e for e in root.iter() if e.tag in ("Header", "Text")]
    text_at = order.index(texts[0])
    assert all(order.index(h) < text_at for h in root.iter("Header") if h.get("value") == "$title")
    for target in taxonomy.targets:
        (block,) = [c for c in root.iter("Choices") if c.get("name") == f"stance_{target.id}"]
        assert {"toName": "text", "choice": "single", "required": "true"}.items() <= block.attrib.items()
        assert [(c.get("value"), c.get("alias")) for c in block] == [
            (v.name, v.id) for v in taxonomy.stance_values
        ]
    (topics,) = [c for c in root.iter("Choices") if c.get("name") == "topics"]
    assert topics.get("choice") == "multiple"
    (evidence,) = root.iter("Labels")
    assert [label.get("alias") for label in evidence] == list(taxonomy.target_ids)
    areas = {a.get("name"): a.attrib for a in root.iter("TextArea")}
    assert areas["speaker"]["perRegion"] == "true" and "note" in areas
    hotkeys = [e.get("hotkey") for e in root.iter() if e.get("hotkey")]
    assert len(hotkeys) == len(set(hotkeys)) == 8 + len(taxonomy.topics) + 2


def test_label_config_is_deterministic_and_escapes_text(taxonomy: Any) -> None:
    data = yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))
    data["topics"][0]["definition"] = 'Quotes " and <script>alert(1)</script> & ampersands stay text.'
    tricky = taxonomy_from_dict(data)
    xml = label_config(tricky)
    assert xml == label_config(tricky)
    assert "<script>" not in xml
    hint = [
        c.get("hint") for c in ET.fromstring(xml).iter("Choice") if c.get("alias") == "military_cooperation"
    ]
    assert hint == ['Quotes " and <script>alert(1)</script> & ampersands stay text.']


def test_config_check_reports_unknown_tags_that_label_studio_accepts(taxonomy: Any) -> None:
    from label_studio_sdk.label_interface.interface import LabelInterface

    head, tail = label_config(taxonomy).rsplit("</View>", 1)
    xml = head + '<Bogus name="x"/></View>' + tail
    LabelInterface(xml).validate()  # Label Studio's own check lets it through
    assert "unknown tag <Bogus> in the config" in config_problems(taxonomy, xml)
    assert config_problems(taxonomy, label_config(taxonomy)) == []


def test_features_encode_labels_as_class_labels(taxonomy: Any) -> None:
    from datasets import Dataset

    row = good_row(taxonomy)
    table = {name: row[name] for name in ("stance", "topics", "spans")}
    from datasets import Features

    from corpuskit.taxonomy import label_features

    ds = Dataset.from_list([table], features=Features(label_features(taxonomy)))
    assert ds[0]["stance"] == {"rnk_military_cooperation": 1, "ukraine_military_aid": 2}
    assert ds[0]["topics"] == [0, 10]
    assert ds[0]["spans"][0]["target"] == 0
    gold = features(taxonomy, "gold")
    assert gold["stance"]["rnk_military_cooperation"].names == list(taxonomy.stance_value_ids)
    assert gold["stance_provenance"]["rnk_military_cooperation"]["decided_by"].names[0] == "ground_truth"
    with pytest.raises(ValueError, match="unknown table"):
        features(taxonomy, "drafts")


# --- Label Studio result <-> normalized row ------------------------------------------------------


def test_row_to_result_and_back_is_lossless_and_accepted_by_label_studio(taxonomy: Any) -> None:
    from label_studio_sdk.label_interface.interface import LabelInterface

    row = good_row(taxonomy)
    result = row["result"]
    assert (
        LabelInterface(label_config(taxonomy)).validate_prediction({"result": result}, return_errors=True)
        == []
    )
    fields, problems = result_to_row_fields(taxonomy, result)
    assert problems == []
    assert fields == {name: row[name] for name in ("stance", "topics", "spans", "note")}
    assert annotation_problems(taxonomy, row, TEXT) == []


def result_item(name: str, value: dict[str, Any], type_: str = "choices", id_: str = "r1") -> dict[str, Any]:
    return {"id": id_, "from_name": name, "to_name": "text", "type": type_, "value": value}


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (
            result_item("sentiment", {"choices": ["x"]}),
            "result[0] ('sentiment'): unknown control 'sentiment' (not in taxonomy 1.0.0)",
        ),
        (
            result_item("stance_rnk_military_cooperation", {"choices": ["supportive"]}),
            "result[0] ('stance_rnk_military_cooperation'): unknown stance value 'supportive' "
            "(known: against, favor, neutral, unrelated)",
        ),
        (
            result_item("stance_rnk_military_cooperation", {"choices": ["favor", "against"]}),
            "result[0] ('stance_rnk_military_cooperation'): 2 choices in the single-choice block "
            "'stance_rnk_military_cooperation': ['favor', 'against']",
        ),
        (result_item("topics", {"choices": ["cyber"]}), "result[0] ('topics'): unknown topic 'cyber'"),
        (
            result_item("evidence", {"start": 0, "end": 5, "text": "Seoul", "labels": ["other"]}, "labels"),
            "result[0] ('evidence'): unknown evidence target 'other'",
        ),
        (
            result_item("speaker", {"start": 0, "end": 5, "text": ["Yoon"]}, "textarea", "nowhere"),
            "result[0] ('speaker'): speaker for region 'nowhere', which is not an evidence span",
        ),
    ],
)
def test_results_that_do_not_fit_become_problems_never_silent_drops(
    taxonomy: Any, item: dict[str, Any], problem: str
) -> None:
    fields, problems = result_to_row_fields(taxonomy, [item])
    assert problems == [problem]
    assert fields["topics"] == [] and fields["spans"] == []
    assert set(fields["stance"].values()) == {None}


def test_whole_number_float_offsets_are_read_as_offsets(taxonomy: Any) -> None:
    item = result_item(
        "evidence", {"start": 0.0, "end": 5.0, "text": "Seoul", "labels": ["rnk_military_cooperation"]}
    )
    fields, problems = result_to_row_fields(taxonomy, [item])
    assert problems == []
    assert fields["spans"][0]["start"] == 0 and isinstance(fields["spans"][0]["start"], int)


# --- the gaps of LabelInterface, closed by the annotation schema and check_annotation ------------


def with_result(taxonomy: Any, result: list[dict[str, Any]]) -> dict[str, Any]:
    row = good_row(taxonomy)
    row["result"] = result
    return row


def lsi(taxonomy: Any) -> Any:
    from label_studio_sdk.label_interface.interface import LabelInterface

    return LabelInterface(label_config(taxonomy))


def test_gap_two_choices_in_a_single_choice_block(taxonomy: Any) -> None:
    result = copy.deepcopy(good_row(taxonomy)["result"])
    result[0]["value"]["choices"] = ["against", "favor"]
    assert lsi(taxonomy).validate_prediction({"result": result}, return_errors=True) == []
    row = with_result(taxonomy, result)
    assert "result[0].value.choices: ['against', 'favor'] is too long" in schema_problems(taxonomy, row)
    assert (
        "result: 2 stance values for required target 'rnk_military_cooperation' (exactly one needed)"
        in check_annotation(row, TEXT, taxonomy)
    )


def test_gap_a_missing_required_block(taxonomy: Any) -> None:
    result = [r for r in good_row(taxonomy)["result"] if r["from_name"] != "stance_ukraine_military_aid"]
    assert lsi(taxonomy).validate_prediction({"result": result}, return_errors=True) == []
    assert lsi(taxonomy).validate_annotation({"result": result})
    row = with_result(taxonomy, result)
    row["stance"]["ukraine_military_aid"] = None
    problems = check_annotation(row, TEXT, taxonomy)
    assert "stance.ukraine_military_aid: no stance value for a required target" in problems
    assert (
        "result: 0 stance values for required target 'ukraine_military_aid' (exactly one needed)" in problems
    )


def test_gap_spans_with_start_after_end(taxonomy: Any) -> None:
    row = good_row(taxonomy)
    region = next(r for r in row["result"] if r["from_name"] == "evidence")
    start, end = region["value"]["start"], region["value"]["end"]
    region["value"].update(start=end, end=start)
    assert lsi(taxonomy).validate_prediction({"result": row["result"]}, return_errors=True) == []
    row["spans"][0].update(start=end, end=start)
    problems = check_annotation(row, TEXT, taxonomy)
    assert f"spans[0]: start {end} is not before end {start}" in problems
    assert f"result[3].value: start {end} is not before end {start}" in problems


def test_gap_an_empty_result(taxonomy: Any) -> None:
    assert lsi(taxonomy).validate_annotation({"result": []})
    row = with_result(taxonomy, [])
    assert "result: empty for a submitted annotation" in check_annotation(row, TEXT, taxonomy)
    row["was_cancelled"] = True
    row["stance"] = dict.fromkeys(taxonomy.target_ids)
    row.update(topics=[], spans=[], note=None)
    assert check_annotation(row, TEXT, taxonomy) == []
    assert schema_problems(taxonomy, row) == []


def test_gap_unknown_controls(taxonomy: Any) -> None:
    row = good_row(taxonomy)
    row["result"].append(result_item("sentiment", {"choices": ["x"]}, id_="s1"))
    problems = schema_problems(taxonomy, row)
    assert any(p.startswith("result[6].from_name: 'sentiment' is not one of") for p in problems)


def test_gap_whole_number_offsets_fail_label_studios_schema_but_pass_ours(taxonomy: Any) -> None:
    import jsonschema

    start = TEXT.index(QUOTE)
    ls_row = {
        "stance_rnk_military_cooperation": "against",
        "stance_ukraine_military_aid": "neutral",
        "evidence": [{"start": start, "end": start + 5, "labels": ["rnk_military_cooperation"]}],
    }
    with pytest.raises(jsonschema.ValidationError, match="is valid under each of"):
        jsonschema.validate(ls_row, lsi(taxonomy).to_json_schema())
    row = good_row(taxonomy)
    for offsets in ((start, start + len(QUOTE)), (float(start), float(start + len(QUOTE)))):
        row["spans"][0].update(start=offsets[0], end=offsets[1])
        row["result"][3]["value"].update(start=offsets[0], end=offsets[1])
        assert annotation_problems(taxonomy, row, TEXT) == []


@pytest.mark.parametrize(
    ("span", "problem"),
    [
        ({"start": 0, "end": 999}, "spans[0]: offsets 0..999 fall outside the text (length 105)"),
        ({"start": -2, "end": 3}, "spans[0]: offsets -2..3 fall outside the text (length 105)"),
        ({"start": 4, "end": 4}, "spans[0]: start 4 is not before end 4"),
        ({"start": 0, "end": 5, "text": "Soul"}, "spans[0]: text 'Soul' is not the text at 0..5 ('Seoul')"),
        ({"start": 0.5, "end": 5}, "spans[0]: start and end must be whole numbers"),
    ],
)
def test_span_offsets_must_point_into_the_text(taxonomy: Any, span: dict[str, Any], problem: str) -> None:
    assert len(TEXT) == 105
    row = good_row(taxonomy)
    row["spans"][0] = {**row["spans"][0], "text": TEXT[max(0, int(span["start"])) : int(span["end"])], **span}
    assert problem in check_annotation(row, TEXT)


def test_normalized_fields_must_match_the_verbatim_result(taxonomy: Any) -> None:
    row = good_row(taxonomy)
    row["topics"] = ["economic_aid"]
    assert (
        "topics: does not match the Label Studio result (['military_cooperation', 'international_law'])"
        in (check_annotation(row, TEXT, taxonomy))
    )


def test_the_annotation_schema_checks_the_row_shape(taxonomy: Any) -> None:
    row = good_row(taxonomy)
    row["stance"]["rnk_military_cooperation"] = "supportive"
    row["taxonomy_version"] = "0.9.0"
    del row["note"]
    row["created_at"] = "yesterday"
    problems = schema_problems(taxonomy, row)
    assert "(row): 'note' is a required property" in problems
    assert "created_at: 'yesterday' is not a 'date-time'" in problems
    assert "taxonomy_version: '1.0.0' was expected" in problems
    assert any(p.startswith("stance.rnk_military_cooperation: 'supportive' is not one of") for p in problems)


# --- guidelines --------------------------------------------------------------------------------


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'")).strip()


def test_every_example_in_the_guidelines_is_quoted_word_for_word_from_a_seed() -> None:
    seeds = [normalise(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "raw").glob("*.txt"))]
    quotes = [
        line.strip()[2:]
        for line in GUIDELINES.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("> ")
    ]
    assert len(quotes) >= 20
    for quote in quotes:
        assert any(normalise(quote) in seed for seed in seeds), quote


def test_guidelines_html_carries_the_definitions_and_escapes_html(taxonomy: Any, tmp_path: Path) -> None:
    html = guidelines_html(taxonomy, GUIDELINES)
    for label in (*taxonomy.targets, *taxonomy.stance_values, *taxonomy.topics):
        assert label.definition.replace("'", "&#x27;") in html
    assert "<h1>Annotation guidelines</h1>" in html
    hostile = tmp_path / "g.md"
    hostile.write_text(
        "# Title\n\n<script>alert(1)</script> <img src=x onerror=alert(2)>\n", encoding="utf-8"
    )
    out = guidelines_html(taxonomy, hostile)
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_check_passes_on_the_corpus_taxonomy(
    capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["taxonomy", "check"]) == 0
    err = capsys.readouterr().err
    assert "ok   Label Studio config" in err
    assert err.strip().endswith("taxonomy 1.0.0 (schema/taxonomy.yaml) passes 6 checks")


def test_cli_check_fails_with_the_located_problem(
    capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.chdir(ROOT)
    path = DATA / "invalid" / "duplicate-hotkey.yaml"
    assert main(["taxonomy", "check", "--taxonomy", str(path), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["checks"] == [{"name": "taxonomy file", "ok": False, "problems": expected_problems(path)}]


def test_cli_show_config_schema(capsys: pytest.CaptureFixture[str], monkeypatch: Any, taxonomy: Any) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["taxonomy", "show", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"kind": "topic", "id": "economic_aid", "name": "Economic aid", "hotkey": "o"}.items() <= next(
        r for r in rows if r["id"] == "economic_aid"
    ).items()
    assert main(["taxonomy", "show"]) == 0
    table = capsys.readouterr().out
    assert re.search(
        r"^target +rnk_military_cooperation +Russia–North Korea military cooperation +1 2 3 4 ", table, re.M
    )
    assert main(["taxonomy", "config"]) == 0
    assert capsys.readouterr().out == label_config(taxonomy)
    assert main(["taxonomy", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == annotation_schema(taxonomy)


def test_cli_invalid_taxonomy_is_exit_1_with_a_one_line_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.chdir(ROOT)
    path = DATA / "invalid" / "duplicate-target-id.yaml"
    assert main(["taxonomy", "config", "--taxonomy", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"corpuskit: error: {expected_problems(path)[0]}\n"
