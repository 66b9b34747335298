"""The project's settings as a push wants them: title, labelling config, guidelines, team design."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corpuskit.studio import loop
from corpuskit.studio.team import project_settings

if TYPE_CHECKING:
    from pathlib import Path

    from corpuskit.quality.design import OverlapDesign
    from corpuskit.settings import Settings
    from corpuskit.studio.gateway import Gateway
    from corpuskit.taxonomy.model import Taxonomy

# What push reads of a project: its settings, and the one count it needs (all counts cost more).
PROJECT_FIELDS = (
    "id,title,label_config,expert_instruction,show_instruction,created_at,task_number,"
    "maximum_annotations,overlap_cohort_percentage,show_overlap_first,sampling,show_annotation_history,"
    "show_collab_predictions,show_ground_truth_first,evaluate_predictions_automatically,"
    "reveal_preannotations_interactively,model_version,description"
)
# The project fields that hold the labelling config (the rest are the team design, see team.py).
CONFIG_FIELDS = ("title", "label_config", "expert_instruction", "show_instruction")


def _guidelines(settings: Settings, taxonomy: Taxonomy) -> str:
    from corpuskit.taxonomy import guidelines_html
    from corpuskit.taxonomy.guidelines import DEFAULT_GUIDELINES

    path = settings.path(settings.guidelines)
    if settings.guidelines == DEFAULT_GUIDELINES and not path.is_file():
        return guidelines_html(taxonomy, None)  # the default file is optional; a named one is not
    return guidelines_html(taxonomy, path)


def wanted_settings(
    settings: Settings,
    taxonomy: Taxonomy,
    title: str,
    design: OverlapDesign,
    recorded: loop.LoopState | None = None,
) -> dict[str, Any]:
    """What the project should read. Queue order, pre-label visibility and model version are the
    ones `corpuskit suggest` last set (`recorded`), else the design's order, hidden, none."""
    from corpuskit.taxonomy import label_config

    return {
        "title": title,
        "label_config": label_config(taxonomy),
        "expert_instruction": _guidelines(settings, taxonomy),
        "show_instruction": True,
        **project_settings(design),
        **(recorded.fields() if recorded is not None else {}),
    }


def update(studio: Gateway, root: Path, info: dict[str, Any], changes: dict[str, Any]) -> None:
    """Apply the changed settings; a change of the queue order, the pre-label visibility or the
    model version goes through `corpuskit.studio.loop`, which records it."""
    if not changes.keys() & loop.STATE_FIELDS:
        studio.projects.update(int(info["id"]), changes)
        return
    wanted = loop.LoopState.of_project({**info, **changes})
    others = {key: value for key, value in changes.items() if key not in loop.STATE_FIELDS}
    loop.change(studio, root, info, wanted, by="push", extra=others)


def create(studio: Gateway, root: Path, wanted: dict[str, Any]) -> dict[str, Any]:
    """Create the project in one request, the first entry of its history (the order and
    visibility push creates it with) in its description, then the local copy of that history;
    the project as made (its `id` and `created_at`)."""
    fields, event = loop.creation(wanted, by="push")
    made = studio.projects.make(fields)
    loop.keep(root, studio.url, int(made["id"]), [event])
    return made


def differs(project: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The settings that differ; Label Studio strips surrounding whitespace from what it stores."""

    def norm(value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    return {key: value for key, value in wanted.items() if norm(project.get(key)) != norm(value)}
