"""The model-in-the-loop record without a server: the history kept in a project description, which
visibility an annotation was made under, and what the card says of it."""

from __future__ import annotations

from pathlib import Path

from corpuskit.cli.suggest import ORDERS
from corpuskit.release.card_sections import prelabels
from corpuskit.studio import loop
from corpuskit.studio.team import SAMPLING

HIDDEN = loop.LoopState("sequential", "hidden", "")
SHOWN = loop.LoopState("uncertainty", "shown", "1.0.0-abc")
EVENTS = [
    loop.Event("2026-01-01T10:00:00Z", "push", HIDDEN),
    loop.Event("2026-01-01T12:00:00Z", "suggest", SHOWN),
]


def test_the_history_lives_after_the_projects_own_description() -> None:
    text = loop.join_description("Stance toward the EU in news.\n", EVENTS)
    own, events = loop.split_description(text)
    assert own == "Stance toward the EU in news."
    assert events == EVENTS
    assert loop.split_description("just a description") == ("just a description", [])
    # A line broken by hand is skipped; the others (and the local copy) still count.
    damaged = text.replace('"by":"push"', '"by":"push",broken')
    assert loop.split_description(damaged)[1] == EVENTS[1:]


def test_the_local_copy_and_the_server_block_merge_without_repeats() -> None:
    assert loop.merged(EVENTS[1:], EVENTS, EVENTS[:1]) == EVENTS


def test_an_annotation_gets_the_visibility_in_force_from_opening_to_submitting() -> None:
    current = SHOWN

    def at(created: str | None, lead: float | None = 30.0, events: list[loop.Event] = EVENTS) -> str:
        return loop.visibility(events, current, created, lead)

    assert at("2026-01-01T11:00:00.123456Z") == "hidden"
    assert at("2026-01-01T13:00:00Z") == "shown"
    assert at("2026-01-01T12:00:20Z") == "unknown"  # opened before the switch, submitted after it
    assert at("2026-01-01T12:00:20Z", lead=None) == "shown"  # no lead time: the submission alone
    assert at("2026-01-01T09:00:00Z") == "unknown"  # before anything was recorded
    assert at(None) == "unknown"
    assert at("not a time") == "unknown"


def test_a_visibility_changed_by_hand_makes_its_interval_unknown() -> None:
    # Someone showed pre-labels in Label Studio at a time nobody knows; suggest found it so.
    events = [EVENTS[0], loop.Event("2026-01-01T12:00:00Z", "suggest", HIDDEN, found="shown")]
    assert loop.visibility(events, HIDDEN, "2026-01-01T11:00:00Z", 10) == "unknown"
    assert loop.visibility(events, HIDDEN, "2026-01-01T13:00:00Z", 10) == "hidden"
    # The server now shows them, and nothing recorded that: since the last entry it is unknown.
    assert loop.visibility(EVENTS[:1], SHOWN, "2026-01-01T11:00:00Z", 10) == "unknown"


def test_the_state_sends_model_version_with_the_visibility() -> None:
    # Label Studio empties model_version when a PATCH turns show_collab_predictions off.
    assert HIDDEN.fields() == {
        "sampling": "Sequential sampling",
        "show_collab_predictions": False,
        "reveal_preannotations_interactively": False,
        "model_version": "",
    }
    info = {"sampling": "Uncertainty sampling", "show_collab_predictions": True, "model_version": "1.0.0-abc"}
    assert loop.LoopState.of_project(info) == SHOWN
    assert tuple(SAMPLING) == loop.ORDERS == ORDERS  # the CLI's choices, kept without importing


def test_the_card_states_the_visibility_of_the_annotations() -> None:
    record = {"order": "uncertainty", "model_version": "1.0.0-abc", "annotations": {"hidden": 12}}
    assert prelabels(record) == (
        "Model pre-labels were hidden from annotators for all 12 annotations. At the last pull the "
        "queue order was uncertainty, following model version 1.0.0-abc."
    )
    mixed = {"order": "sequential", "annotations": {"hidden": 3, "shown": 2, "unknown": 1}}
    assert "hidden for 3, shown for 2, unknown for 1 of 6 annotations" in prelabels(mixed)
    assert prelabels(None) == "The snapshot does not record whether annotators saw model pre-labels."


def test_a_change_of_order_alone_leaves_the_visibility_known() -> None:
    events = [
        EVENTS[0],
        loop.Event("2026-01-01T12:00:00Z", "suggest", loop.LoopState("uncertainty", "hidden", "m")),
    ]
    current = events[-1].state
    assert loop.visibility(events, current, "2026-01-01T12:00:10Z", 30.0) == "hidden"


def test_a_labelled_prediction_suggest_did_not_push_makes_later_annotations_unknown() -> None:
    from corpuskit.studio.export_rows import Tables
    from corpuskit.studio.pull import mark_prelabels

    def annotation(task_id: int, created_at: str) -> dict[str, object]:
        return {"task_id": task_id, "created_at": created_at, "lead_time": 5.0}

    tables = Tables(
        annotations=[annotation(1, "2026-01-01T11:00:00Z"), annotation(2, "2026-01-01T11:00:00Z")],
        predictions=[
            # `push --predictions` put a labelled prediction on task 1 before its annotation.
            {
                "task_id": 1,
                "model_version": "other",
                "result": [{"value": 1}],
                "created_at": "2026-01-01T10:30:00Z",
            },
            # suggest's own hidden prediction on task 2 carries no labels.
            {"task_id": 2, "model_version": "1.0.0-abc", "result": [], "created_at": "2026-01-01T10:30:00Z"},
        ],
    )
    events = [
        EVENTS[0],
        loop.Event("2026-01-01T10:00:00Z", "suggest", loop.LoopState("uncertainty", "hidden", "1.0.0-abc")),
    ]
    info = {
        "sampling": "Uncertainty sampling",
        "show_collab_predictions": False,
        "model_version": "1.0.0-abc",
    }
    record = mark_prelabels(tables, info, sorted(events, key=lambda e: e.at))
    assert [row["prelabels"] for row in tables.annotations] == ["unknown", "hidden"]
    assert record["annotations"] == {"hidden": 1, "shown": 0, "unknown": 1}


def test_push_follows_the_settings_until_suggest_has_set_the_queue() -> None:
    assert loop.suggested_state(EVENTS[:1]) is None  # only push's own record: the settings decide
    assert loop.suggested_state(EVENTS) == SHOWN
    repaired = [*EVENTS, loop.Event("2026-01-01T13:00:00Z", "push", SHOWN, found="hidden")]
    assert loop.suggested_state(repaired) == SHOWN


def test_a_project_is_created_with_its_first_history_entry(tmp_path: Path) -> None:
    wanted = {"title": "Stance", "description": "Stance toward the EU in news.", **SHOWN.fields()}
    fields, event = loop.creation(wanted, by="push")
    assert (event.by, event.state) == ("push", SHOWN)
    own, events = loop.split_description(fields["description"])
    assert (own, events) == ("Stance toward the EU in news.", [event])
    # The local copy is written once the server has given the project its id, merged with any
    # entry already kept there.
    server = "http://127.0.0.1:8080"
    loop.keep(tmp_path, server, 7, EVENTS[:1])
    loop.keep(tmp_path, server, 7, [event])
    assert loop.history(tmp_path, server, {"id": 7, "description": fields["description"]}) == loop.merged(
        EVENTS[:1], [event]
    )
