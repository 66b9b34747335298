"""What `corpuskit suggest` plans for the project's predictions, without a server."""

from __future__ import annotations

from corpuskit.studio.loop import LoopState
from corpuskit.studio.suggest import Pending, plan_predictions

PENDING = [Pending(1, "a", "text a"), Pending(2, "b", "text b"), Pending(3, "c", "text c")]
HIDDEN = LoopState("uncertainty", "hidden", "v2")
SHOWN = LoopState("uncertainty", "shown", "v2")
# (prediction id, task id, model version, carries labels)
EXISTING = [(10, 1, "v1", True), (11, 1, "v2", False), (12, 4, "v2", True), (13, 2, "v1", True)]


def test_only_tasks_without_this_version_get_a_new_prediction() -> None:
    plan = plan_predictions(EXISTING, PENDING, HIDDEN, prune=False)
    assert [task.document_id for task in plan.new] == ["b", "c"]
    assert plan.label == [] and plan.prune == []
    # Hidden: a labelled prediction of this version (task 4, annotated since) loses its labels.
    assert plan.unlabel == [12]


def test_show_labels_the_hidden_predictions_of_this_version() -> None:
    plan = plan_predictions(EXISTING, PENDING, SHOWN, prune=True)
    assert [task.document_id for task in plan.new] == ["b", "c"]
    assert [(pid, task.document_id) for pid, task in plan.label] == [(11, "a")]
    assert plan.unlabel == [] and plan.prune == [10, 13]


def test_the_same_model_plans_nothing_the_second_time() -> None:
    done = [(20 + t.task_id, t.task_id, "v2", False) for t in PENDING]
    plan = plan_predictions(done, PENDING, HIDDEN, prune=False)
    assert (plan.new, plan.label, plan.unlabel, plan.prune) == ([], [], [], [])
