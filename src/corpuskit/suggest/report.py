"""The suggestion model's report: Markdown with the cross-validated figures next to the baselines,
the per-class counts, the verdict, and a learning-curve plot (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corpuskit.suggest.suggester import Suggester

REPORT_FILE = "suggest-report.md"
CURVE_FILE = "suggest-learning-curve.png"


def _plot(suggester: Suggester, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = suggester.evaluation.curve
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    stance = [(p.train_documents, p.stance_macro_f1) for p in curve if p.stance_macro_f1 is not None]
    topics = [(p.train_documents, p.topics_micro_f1) for p in curve if p.topics_micro_f1 is not None]
    if stance:
        ax.plot(*zip(*stance, strict=True), marker="o", label="stance macro-F1 (mean over targets)")
    if topics:
        ax.plot(*zip(*topics, strict=True), marker="s", label="topics micro-F1")
    baselines = [f.baseline for f in suggester.evaluation.figures if f.question.startswith("stance.")]
    if baselines:
        ax.axhline(
            sum(baselines) / len(baselines), linestyle="--", color="grey", label="stance baseline (mean)"
        )
    ax.set_xlabel("training documents per fold")
    ax.set_ylabel("cross-validated F1")
    ax.set_ylim(0, 1)
    ax.set_title(f"Learning curve, model {suggester.model_version}")
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def markdown(suggester: Suggester, image: str | None = CURVE_FILE) -> str:
    e = suggester.evaluation
    lines = [
        f"# Suggestion model {suggester.model_version}",
        "",
        f"Trained on **{suggester.training_documents}** labelled documents (gold of the snapshot, "
        f"taxonomy {suggester.taxonomy_version}); word 1-2-gram and character 3-5-gram TF-IDF with "
        "logistic regression, one classifier per stance target and one per topic.",
        "",
        f"Verdict: **{'ready to push' if suggester.ready else 'not ready'}**.",
    ]
    lines += [f"- {reason}" for reason in suggester.reasons]
    lines += [
        "",
        f"## Cross-validated figures ({e.folds}-fold, seed {e.seed})",
        "",
        f"The baseline is the better of *majority* (the training fold's most common class) and *chance* "
        f"(classes drawn with the training fold's frequencies); the model must beat it by {e.min_gain}.",
        "",
    ]
    rows = [
        [
            f.question,
            f.metric,
            f"{f.model:.3f}",
            f"{f.majority:.3f}",
            f"{f.chance:.3f}",
            "yes" if f.beats_baseline else ("n/a" if f.question.endswith(".macro") else "no"),
            str(f.documents),
        ]
        for f in e.figures
    ]
    lines += _table(
        ["question", "metric", "model", "majority", "chance", "beats baseline", "documents"], rows
    )
    lines += ["", "## Labelled documents per class", ""]
    lines.append(f"Each class needs at least {max(e.folds, e.min_per_class)} documents.")
    lines.append("")
    count_rows: list[list[str]] = []
    for question, tally in e.counts.items():
        per_class = next((f.per_class for f in e.figures if f.question == question), {})
        for label, n in tally.items():
            f1 = per_class.get(label)
            count_rows.append([question, label, str(n), "" if f1 is None else f"{f1:.3f}"])
    lines += _table(["question", "class", "documents", "model F1"], count_rows)
    if e.calibration:
        lines += ["", "## Calibration", ""]
        lines.append(
            "Expected calibration error of each target's top probability out of fold (0 = the score "
            "equals the accuracy it claims):"
        )
        lines.append("")
        lines += [f"- {t}: {v:.3f}" for t, v in e.calibration.items()]
    lines += ["", "## Learning curve", ""]
    curve_rows = [
        [
            f"{p.fraction:.0%}",
            str(p.train_documents),
            "" if p.stance_macro_f1 is None else f"{p.stance_macro_f1:.3f}",
            "" if p.topics_micro_f1 is None else f"{p.topics_micro_f1:.3f}",
        ]
        for p in e.curve
    ]
    lines += _table(["share", "training documents", "stance macro-F1", "topics micro-F1"], curve_rows)
    if image:
        lines += ["", f"![learning curve]({image})"]
    return "\n".join(lines) + "\n"


def write_report(suggester: Suggester, folder: Path) -> Path:
    """Write `suggest-report.md` and `suggest-learning-curve.png` into `folder`; the Markdown's path."""
    from corpuskit.files import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _plot(suggester, folder / CURVE_FILE)
    path = folder / REPORT_FILE
    atomic_write(path, markdown(suggester).encode("utf-8"))
    return path


def summary(suggester: Suggester) -> dict[str, Any]:
    """The report as one JSON-ready object (for `--format json`)."""
    return {
        "model_version": suggester.model_version,
        "ready": suggester.ready,
        "reasons": list(suggester.reasons),
        "training_documents": suggester.training_documents,
        "taxonomy_version": suggester.taxonomy_version,
        "settings": suggester.settings.to_json(),
        "evaluation": suggester.evaluation.to_json(),
    }
