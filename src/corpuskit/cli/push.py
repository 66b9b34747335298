"""`corpuskit push`: put the valid documents into the Label Studio project, idempotently."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from corpuskit.cli.options import (
    ExitCodes,
    add_command,
    add_dry_run,
    add_format,
    add_project,
    add_quiet,
    add_strip,
)

DESCRIPTION = """\
Create or update the Label Studio project from the taxonomy (title, labelling config, guidelines as
instructions) and import the documents that pass validation. Pushing is idempotent: each task
carries the document id, its content hash and the taxonomy version, so a second push creates
nothing. A changed document updates its task in place if nobody has annotated it; an annotated
task is never overwritten but marked stale (meta.corpuskit_stale) and reported. Documents removed
from the corpus are reported and marked (meta.corpuskit_removed), deleted only with
--delete-removed (and only when unannotated). Documents the dedupe record (dedupe.jsonl, written by
`corpuskit validate --dedupe`) leaves out are not pushed; their tasks from earlier pushes stay as they
are, annotations included. An interrupted push is finished by running it again.

The team design comes from [tool.corpuskit]: each document in the overlap share
(overlap_share, default 1.0; chosen by a seeded hash of its id, so stable across pushes) reaches
annotators_per_document (default 2) annotators through Label Studio's queue, the rest one. The
project is set blind (no other member's answers, no predictions on the labelling page) and its
queue order to queue_sampling, or to the order and pre-label visibility `corpuskit suggest` last set
(docs/model-loop.md); a push repairs any of these changed on the server. --pilot N pushes
a seeded sample of N documents (stratified by outlet and language) that every member labels.
"""

EXAMPLES = (
    "corpuskit push --dry-run",
    "corpuskit push --pilot 20             # the pilot round: 20 documents every member labels",
    "corpuskit push",
    "corpuskit push --predictions model-v2.jsonl",
    "LABEL_STUDIO_URL=https://ls.example.org LABEL_STUDIO_API_KEY=... corpuskit push --project 7",
)

NOTES = """\
--predictions FILE: JSON Lines of {"document_id", "model_version", "stance": {target: value},
"topics": [...], "spans": [...], "score"}; a model version a task already has is not imported twice.

The summary goes to stdout, progress to stderr; with --format json a summary object:
  {"project": {"id", "title", "server", "created", "config_updated", "design_repaired": [fields]},
   "design": {"annotators_per_document", "overlap_share", "seed", "sampling", "blind",
              "overlapped", "single", "pilot"}, "dry_run", "documents",
   "invalid_skipped", "plan": {"new", "changed", "stale", "unchanged", "removed", "duplicates", "copies",
   "left_out"}, "stale": [doc ids], "removed": [doc ids], "duplicates": [doc ids],
   "left_out": [doc ids], "left_out_in_project": [doc ids],
   "applied": {"created", "updated", "marked", "deleted", "deduplicated", "predictions", "overlap_set"},
   "predictions_skipped": [doc ids], "plan_source": "local"|"server", "corpus_unchanged": bool}
"""
EXIT_CODES = ExitCodes(
    ok="pushed (or planned)",
    data="a predictions file is malformed",
    usage="server unreachable, token refused, unknown project, another push is running, or a bad option",
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "push",
        help="push valid documents to Label Studio (idempotent)",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    parser.add_argument("paths", nargs="*", help="files or folders (default: the corpus's raw folder)")
    add_project(parser)
    add_dry_run(parser, help="print the plan, change nothing")
    parser.add_argument(
        "--delete-removed",
        action="store_true",
        help="delete unannotated tasks whose document left the corpus",
    )
    parser.add_argument("--predictions", metavar="FILE", help="import model predictions (JSON Lines)")
    parser.add_argument(
        "--pilot",
        type=int,
        metavar="N",
        help="push only a seeded, stratified sample of N documents that every member labels",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1000,
        metavar="N",
        help="at most N tasks per import request, fewer when their text passes about 8 million characters "
        "(default: 1000)",
    )
    add_strip(parser)
    add_format(parser)
    add_quiet(parser)
    parser.set_defaults(func=run)


def _ids(items: list[str], limit: int = 20) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def render_text(summary: dict[str, Any]) -> str:
    """The push summary for people."""
    project = summary["project"]
    plan = summary["plan"]
    lines = []
    where = f"project {project['id']}" if project["id"] is not None else "a new project"
    state = []
    if project["created"]:
        state.append("would be created" if summary["dry_run"] else "created")
    if project["config_updated"]:
        state.append("config would be updated" if summary["dry_run"] else "config updated")
    lines.append(
        f"{where} {project['title']!r} at {project['server']}" + (f": {', '.join(state)}" if state else "")
    )
    design = summary["design"]
    k = design["annotators_per_document"]
    lines.append(
        f"design: {design['overlapped']} documents to {k} annotators, {design['single']} to 1"
        + (f", {design['pilot']} pilot documents to every member" if design["pilot"] else "")
        + f" (overlap share {design['overlap_share']:g}, seed {design['seed']!r}); "
        f"queue {design['sampling']}, blind"
    )
    if project["design_repaired"]:
        verb = "would be repaired" if summary["dry_run"] else "repaired"
        lines.append(f"team settings changed on the server, {verb}: {', '.join(project['design_repaired'])}")
    lines.append(
        f"{summary['documents']} valid documents"
        + (f" ({summary['invalid_skipped']} invalid, not pushed)" if summary["invalid_skipped"] else "")
    )
    lines.append(
        "plan: "
        + ", ".join(f"{plan[key]} {key}" for key in ("new", "changed", "stale", "unchanged", "removed"))
        + (f", {plan['duplicates']} duplicated" if plan["duplicates"] else "")
        + (f", {plan['copies']} exact copies to delete" if plan["copies"] else "")
    )
    if summary["stale"]:
        lines.append(
            f"stale (annotated, text changed; annotations kept, task marked): {_ids(summary['stale'])}"
        )
    if summary["removed"]:
        lines.append(f"removed from the corpus (kept unless --delete-removed): {_ids(summary['removed'])}")
    if summary["left_out"]:
        in_project = summary["left_out_in_project"]
        lines.append(
            f"left out by the dedupe record, not pushed: {_ids(summary['left_out'])}"
            + (f" ({len(in_project)} already in the project, left as they are)" if in_project else "")
        )
    if summary["duplicates"]:
        lines.append(f"documents with several tasks (the oldest is used): {_ids(summary['duplicates'])}")
    if summary["predictions_skipped"]:
        lines.append(f"predictions for unknown documents, skipped: {_ids(summary['predictions_skipped'])}")
    if summary["dry_run"]:
        lines.append("dry run: nothing was changed")
    else:
        applied = summary["applied"]
        lines.append(
            f"pushed: {applied['created']} created, {applied['updated']} updated, "
            f"{applied['marked']} marked, {applied['deleted']} deleted, {applied['predictions']} predictions"
            + (f", overlap set on {applied['overlap_set']} tasks" if applied["overlap_set"] else "")
            + (f", {applied['deduplicated']} copies deleted" if applied["deduplicated"] else "")
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from corpuskit.studio.push import push

    result = push(
        args.paths or None,
        project=args.project,
        dry_run=args.dry_run,
        delete_removed=args.delete_removed,
        predictions=args.predictions,
        batch_size=args.batch_size,
        progress=False if args.quiet else None,
        pilot=args.pilot,
        strip=True if args.strip else None,
    )
    summary = result.summary()
    if args.format == "json":
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(render_text(summary))
    sys.stdout.flush()
    return 0
