"""`corpuskit suggest`: train on the current gold, pre-label what still needs annotators."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from corpuskit.cli.options import ExitCodes, add_command, add_dry_run, add_format, add_project, add_quiet

ORDERS = ("sequential", "uniform", "uncertainty")  # checked against corpuskit.studio.loop.ORDERS by a test

DESCRIPTION = """\
Train a model on the project's current gold (a fresh pull, or --snapshot DIR): one stance classifier
per target and one per topic, evaluated by cross-validation next to the majority and chance
baselines. The figures are printed and written to a Markdown report with a learning curve. When the
model does not beat the baseline or has too few labelled documents per class, nothing is pushed
(exit 1) unless --force. Otherwise every document that still needs annotations (fewer submitted
than its overlap) gets the model's prediction, with the model version (taxonomy version + a hash of
the training data and settings) and a score (the model's confidence: Label Studio's uncertainty
order serves the lowest first), and the project follows that model version. The same model pushes
nothing twice; predictions of older versions stay unless --prune.

Pre-labels are hidden from annotators unless --show: the predictions then carry only their score
(which orders the queue) and no labels, so no labelling page can pre-fill an answer;
--order uncertainty serves the documents the model is least sure of first, sequential or uniform
switch back. Every change of visibility, order and model version is recorded with its time (in the
project description and .corpuskit/loop/), and pull writes into each annotation which visibility was
in force when it was made; the dataset card states it.
"""

EXAMPLES = (
    "corpuskit suggest --dry-run",
    "corpuskit suggest --order uncertainty",
    "corpuskit suggest --snapshot annotations/ --report reports/model/",
    "corpuskit suggest --prune --show      # visible pre-labels: annotators may anchor on them",
)

NOTES = """\
The figures and the plan go to stdout, progress to stderr; with --format json one object:
  {"project": {"id", "title", "server"}, "snapshot", "model_version", "ready", "reasons": [...],
   "forced", "refused", "dry_run", "evaluation": {...}, "report", "pending", "have_version",
   "to_push", "pushed", "to_label", "labelled", "to_unlabel", "unlabelled", "to_prune", "pruned",
   "training_documents", "before": {"order", "prelabels", "model_version"},
   "after": {...}, "recorded": {"at", "by", "order", "prelabels", "model_version"}|null, "skipped"}
Needs the suggest extra (scikit-learn): pip install 'corpuskit-news[suggest]'.
"""
EXIT_CODES = ExitCodes(
    ok="pushed (or planned, or nothing new)",
    data="the model is not ready (does not beat the baseline, too few labelled documents) and no --force",
    usage="server unreachable, token refused, unknown project, missing suggest extra, or a bad option",
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "suggest",
        help="train on the gold, pre-label the documents still to annotate, order the queue",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    add_project(parser)
    parser.add_argument(
        "--snapshot", metavar="DIR", help="train on this snapshot folder instead of a fresh pull"
    )
    parser.add_argument("--order", choices=ORDERS, help="set the queue order (default: keep it)")
    parser.add_argument("--show", action="store_true", help="show pre-labels to annotators (default: hidden)")
    parser.add_argument("--prune", action="store_true", help="delete predictions of other model versions")
    parser.add_argument("--force", action="store_true", help="push even when the model is not ready")
    parser.add_argument(
        "--report", metavar="DIR", help="report folder (default: .corpuskit/suggest/<model version>)"
    )
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of folds and model (default: 0)")
    add_dry_run(parser, "train, evaluate and show the plan; change nothing (no report either)")
    add_quiet(parser)
    add_format(parser)
    parser.set_defaults(func=run)


def figure_lines(evaluation: dict[str, Any]) -> list[str]:
    """The cross-validated figures, each next to its baseline (the better of majority and chance)."""
    figures = evaluation["figures"]
    width = max((len(f["question"]) for f in figures), default=0)
    lines = [f"cross-validated ({evaluation['folds']} folds, {evaluation['documents']} labelled documents):"]
    for f in figures:
        verdict = "beats the baseline" if f["beats_baseline"] else "does not beat the baseline"
        if f["question"].endswith(".macro"):
            verdict = "(shown, not judged)"
        lines.append(
            f"  {f['question']:<{width}}  {f['metric']} {f['model']:.3f}  baseline {f['baseline']:.3f} "
            f"(majority {f['majority']:.3f}, chance {f['chance']:.3f})  {verdict}"
        )
    return lines


def render_text(summary: dict[str, Any]) -> str:
    lines = [
        f"project {summary['project']['id']} {summary['project']['title']!r}; "
        f"model {summary['model_version']} trained on {summary['snapshot']}",
        *figure_lines(summary["evaluation"]),
    ]
    if summary["report"]:
        lines.append(f"report: {summary['report']}")
    if summary["refused"]:
        reason = summary["reasons"][0] if summary["reasons"] else "the model is not ready"
        lines.append(f"not pushed: {reason} (--force pushes anyway)")
        return "\n".join(lines)
    if not summary["ready"]:
        lines.append(f"not ready, pushed because of --force: {'; '.join(summary['reasons'])}")
    before, after = summary["before"], summary["after"]
    lines.append(
        f"documents that still need annotations: {summary['pending']}; "
        f"already pre-labelled by this model: {summary['have_version']}"
    )
    labels = "with labels" if after["prelabels"] == "shown" else "score only, no labels (hidden)"
    if summary["dry_run"]:
        lines.append(
            f"plan: push {summary['to_push']} predictions ({labels}), add labels to "
            f"{summary['to_label']}, take labels off {summary['to_unlabel']}, prune {summary['to_prune']}"
        )
        lines.append(
            f"plan: queue order {before['order']} -> {after['order']}, "
            f"pre-labels {before['prelabels']} -> {after['prelabels']}, "
            f"model version {before['model_version'] or 'none'} -> {after['model_version']}"
        )
        lines.append("dry run: nothing was changed")
        return "\n".join(lines)
    changed = [summary[k] for k in ("pushed", "labelled", "unlabelled", "pruned")]
    if not any(changed) and summary["recorded"] is None:
        lines.append(f"nothing new: model {summary['model_version']} is already in the project as asked")
    else:
        lines.append(
            f"pushed {summary['pushed']} predictions ({labels}); labels added to {summary['labelled']}, "
            f"taken off {summary['unlabelled']}; pruned {summary['pruned']}"
        )
    lines.append(
        f"queue order {after['order']}, pre-labels {after['prelabels']}, "
        f"model version {after['model_version']}"
        + (f" (changed at {summary['recorded']['at']}, on record)" if summary["recorded"] else "")
    )
    if summary["skipped"]:
        lines.append(f"no prediction from the model for: {', '.join(summary['skipped'][:20])}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from corpuskit.errors import UsageError

    if args.folds < 2:
        raise UsageError("--folds must be at least 2")
    from corpuskit.studio.suggest import SuggestOptions, suggest

    result = suggest(
        SuggestOptions(
            project=args.project,
            snapshot=Path(args.snapshot) if args.snapshot else None,
            force=args.force,
            order=args.order,
            show=args.show,
            prune=args.prune,
            dry_run=args.dry_run,
            report=Path(args.report) if args.report else None,
            folds=args.folds,
            seed=args.seed,
            progress=not args.quiet,
        )
    )
    summary = result.summary()
    if args.format == "json":
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(render_text(summary))
    sys.stdout.flush()
    return 1 if result.refused else 0
