"""`corpuskit status`: how far the annotation team is (read-only)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from corpuskit.cli.options import ExitCodes, add_command, add_format, add_project

DESCRIPTION = """\
Show the progress of the corpus's Label Studio project under its overlap design: per annotator the
submitted and skipped documents and the median time per document; how many documents have 0, 1,
... annotators; how many are complete (as many annotators as the design asks for; a pilot document
when every active member has labelled it); the annotations still to make and the annotator-hours
they take at the median time; agreement (Krippendorff's alpha) on the complete documents so far;
and the tasks marked stale by push. Read-only: one export of the project (the GET export, which
creates nothing on the server), one light read of every task's overlap and the user list.
"""

EXAMPLES = (
    "corpuskit status",
    "corpuskit status --format json | jq .remaining_annotations",
    "corpuskit status --project 7",
)

NOTES = """\
With --format json one object goes to stdout:
  {"format": "corpuskit.status/1", "project": {"id", "title", "server", "server_kind"}, "design": {...},
   "documents", "pilot_documents", "documents_by_annotators": {"0": n, "1": n, ...}, "complete",
   "remaining_annotations", "median_lead_time", "estimated_annotator_hours",
   "annotators": [{"annotator", "submitted", "skipped", "median_lead_time"}],
   "agreement": {"documents", "questions": {"stance.<target>"|"topics": {"alpha", "items"}}},
   "stale": [doc ids], "languages": {"<tag>": {"documents", "annotated", "complete"}},
   "loop": {"order", "prelabels": "hidden"|"shown", "model_version", "last_change": {"at", "by", ...}|null}}
"loop" is what is in force on the server: the queue order (sequential, uniform, uncertainty), whether
annotators see model pre-labels, the model version the queue follows (corpuskit suggest sets them).
"languages" counts every document, those someone submitted for and those complete, by the
language in their task data ("unknown" for a task pushed before push recorded it).
"""
EXIT_CODES = ExitCodes(ok="shown", usage="server unreachable, token refused, no such project or a bad option")


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "status",
        help="annotation progress: per annotator, per document, what is left (read-only)",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    add_project(parser)
    add_format(parser)
    parser.set_defaults(func=run)


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_text(data: dict[str, Any]) -> str:
    project, design = data["project"], data["design"]
    k = design["annotators_per_document"]
    lines = [
        f"project {project['id']} {project['title']!r} at {project['server']} ({project['server_kind']})",
        f"design: {k} annotators per document on a share of {design['overlap_share']:g}, "
        f"the rest 1; queue {design['sampling']}, blind",
        f"documents: {data['documents']}"
        + (f" ({data['pilot_documents']} in the pilot round)" if data["pilot_documents"] else "")
        + f"; complete: {data['complete']}",
        "documents by annotators so far: "
        + (", ".join(f"{n}: {c}" for n, c in data["documents_by_annotators"].items()) or "none"),
        f"remaining annotations: {data['remaining_annotations']} "
        f"(about {_num(data['estimated_annotator_hours'])} annotator-hours at the median "
        f"{_num(data['median_lead_time'])} s per document)",
    ]
    if data["annotators"]:
        lines.append("annotators:")
        width = max(len(a["annotator"]) for a in data["annotators"])
        for a in data["annotators"]:
            lines.append(
                f"  {a['annotator']:<{width}}  {a['submitted']:>5} submitted  {a['skipped']:>4} skipped  "
                f"median {_num(a['median_lead_time'])} s"
            )
    else:
        lines.append("annotators: nobody has submitted yet")
    agreement = data["agreement"]
    if agreement["questions"]:
        shown = ", ".join(
            f"{name} {_num(q['alpha'], 3)} ({q['items']} docs)" for name, q in agreement["questions"].items()
        )
        lines.append(f"agreement on {agreement['documents']} complete overlapped documents: alpha {shown}")
    else:
        lines.append("agreement: no complete document with two or more annotators yet")
    if data["languages"]:
        by_language = data["languages"].items()
        shown = ", ".join(
            f"{tag} {n['documents']} ({n['annotated']} annotated, {n['complete']} complete)"
            for tag, n in by_language
        )
        lines.append(f"documents by language: {shown}")
    in_force = data["loop"]
    last = in_force["last_change"]
    lines.append(
        f"queue order in force: {in_force['order']}; model pre-labels {in_force['prelabels']}"
        + f"; model version: {in_force['model_version'] or 'none'}"
        + (f" (last set by corpuskit {last['by']} at {last['at']})" if last else " (never set by corpuskit)")
    )
    if data["stale"]:
        lines.append(f"stale (text changed after annotation): {', '.join(data['stale'][:20])}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from corpuskit.studio.progress import status

    data = status(project=args.project).to_json()
    if args.format == "json":
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(render_text(data))
    return 0
