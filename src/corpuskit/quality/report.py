"""Agreement for people: a terminal table, and a Markdown report with PNG plots (for releases).

matplotlib is imported inside `write_report` only (Agg backend, no display needed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corpuskit.quality.agreement import AgreementResult, Coefficients, Confusion
from corpuskit.quality.stats import Interval

REPORT_NAME = "agreement.md"


def _num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _ci(i: Interval | None) -> str:
    if i is None or i.value is None:
        return "–"
    if i.low is None or i.high is None:
        return _num(i.value)
    return f"{i.value:.3f} [{i.low:.3f}, {i.high:.3f}]"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _columns(rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


def _questions(result: AgreementResult) -> list[tuple[str, Coefficients]]:
    named = [(f"stance.{c.name}", c) for c in result.stance]
    named.append(("topics (MASI sets)", result.topic_set))
    named += [(f"topics.{c.name}", c) for c in result.topics]
    return named


def counts_line(result: AgreementResult) -> str:
    c = result.counts
    per = c["annotations_per_item"]
    return (
        f"documents {c['documents']} ({c['overlapped_documents']} with 2+ annotators, measured; "
        f"{c['single_documents']} with one, not counted) · annotators {c['annotators']} · "
        f"submitted {c['submitted']} · "
        f"cancelled {c['cancelled']} (excluded) · superseded {c['superseded']} · annotations per document "
        f"min {per['min']} / median {_num(per['median'], 1)} / max {per['max']}" + _languages(c)
    )


def _languages(counts: dict[str, Any]) -> str:
    """' · languages ar 12 (10 with 2+), en 30 (25 with 2+)' when the snapshot tells languages."""
    languages = counts.get("languages")
    if not languages:
        return ""
    return " · languages " + ", ".join(
        f"{tag} {entry['documents']} ({entry['overlapped']} with 2+)" for tag, entry in languages.items()
    )


def format_table(result: AgreementResult) -> str:
    """The terminal view: counts, one line per question, one line per annotator."""
    lines = [
        f"Agreement of {result.source} (taxonomy {result.taxonomy_version or 'unknown'})",
        counts_line(result),
    ]
    b = result.bootstrap
    share = int(b["confidence"] * 100)
    lines.append(f"intervals: {share}% bootstrap, {b['draws']} draws over documents, seed {b['seed']}")
    lines.append("")
    rows = [["question", "items", "pairable", "alpha [CI]", "Fleiss kappa [CI]", "agree"]]
    for name, c in _questions(result):
        rows.append(
            [
                name,
                str(c.items),
                str(c.pairable_items),
                _ci(c.alpha),
                _ci(c.fleiss_kappa),
                _pct(c.percent_agreement),
            ]
        )
    lines += _columns(rows, {1, 2, 5})
    pairs = [["pair", "target", "items", "agree", "Cohen kappa"]]
    for c in result.stance:
        for p in c.pairwise:
            pairs.append([f"{p.a} ~ {p.b}", c.name, str(p.items), _pct(p.agreement), _num(p.kappa)])
    if len(pairs) > 1:
        lines.append("")
        lines += _columns(pairs, {2, 3, 4})
    people = [
        ["annotator", "annotations", "cancelled", "median lead s", "agree others", "mean kappa", "agree gold"]
    ]
    for a in result.annotators:
        people.append(
            [
                a.annotator,
                str(a.annotations),
                str(a.cancelled),
                _num(a.median_lead_time, 1),
                _pct(a.agreement_with_others),
                _num(a.mean_kappa_with_others),
                _pct(a.agreement_with_gold),
            ]
        )
    if len(people) > 1:
        lines.append("")
        lines += _columns(people, {1, 2, 3, 4, 5, 6})
    return "\n".join(lines) + "\n"


# --- report -----------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _plot_confusion(ax: Any, confusion: Confusion, title: str, xlabel: str, ylabel: str) -> None:
    import numpy as np

    matrix = np.array(confusion.matrix, dtype=float)
    ax.imshow(matrix, cmap="Blues")
    n = len(confusion.labels)
    ax.set_xticks(range(n), confusion.labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), confusion.labels, fontsize=8)
    peak = matrix.max() if matrix.size else 0
    for i in range(n):
        for j in range(n):
            value = int(matrix[i, j])
            color = "white" if peak and matrix[i, j] > peak / 2 else "black"
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8, color=color)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)


def _save(fig: Any, path: Path) -> Path:
    # No timestamp or version in the PNG: the same result gives the same bytes.
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    return path


def write_report(result: AgreementResult, folder: str | Path) -> list[Path]:
    """Write `agreement.md` and its PNG plots into `folder`; return the files written (report first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    images: list[Path] = []
    for c in result.stance:
        if c.confusion is None:
            continue
        fig, ax = plt.subplots(figsize=(4.2, 3.8))
        _plot_confusion(ax, c.confusion, f"{c.name}: pairs of annotators", "other annotator", "annotator")
        images.append(_save(fig, out / f"confusion_{_slug(c.name)}.png"))
        plt.close(fig)
        by_annotator = result.gold_confusion.get(c.name, {})
        if by_annotator:
            k = len(by_annotator)
            fig, axes = plt.subplots(1, k, figsize=(4.4 * k, 4.0), squeeze=False, layout="constrained")
            for ax, (who, confusion) in zip(axes[0], by_annotator.items(), strict=True):
                _plot_confusion(ax, confusion, f"{who} vs gold", "gold label", "annotator's label")
            fig.suptitle(c.name, fontsize=10)
            images.append(_save(fig, out / f"gold_confusion_{_slug(c.name)}.png"))
            plt.close(fig)
    if result.annotators:
        images.append(_annotator_plot(plt, result, out / "annotators.png"))
    report = out / REPORT_NAME
    report.write_text(_markdown(result, [p.name for p in images]), encoding="utf-8")
    return [report, *images]


def _annotator_plot(plt: Any, result: AgreementResult, path: Path) -> Path:
    import numpy as np

    names = [a.annotator for a in result.annotators]
    x = np.arange(len(names))
    others = [a.agreement_with_others or 0.0 for a in result.annotators]
    gold = [a.agreement_with_gold or 0.0 for a in result.annotators]
    counts = [a.annotations for a in result.annotators]
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(6.0, 1.2 * len(names) + 4), 3.6))
    left.bar(x - 0.2, others, 0.4, label="agreement with others")
    left.bar(x + 0.2, gold, 0.4, label="agreement with gold")
    left.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    left.set_ylim(0, 1.2)
    left.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    left.set_ylabel("share of stance labels", fontsize=8)
    left.legend(fontsize=7, loc="upper center", ncol=2, frameon=False)
    right.bar(x, counts, 0.6, color="tab:gray")
    right.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    right.set_ylabel("submitted annotations", fontsize=8)
    fig.suptitle("Annotators", fontsize=10)
    saved = _save(fig, path)
    plt.close(fig)
    return saved


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _markdown(result: AgreementResult, images: list[str]) -> str:
    b = result.bootstrap
    lines = [
        "# Inter-annotator agreement",
        "",
        f"Computed by corpuskit from `{result.source}` (taxonomy {result.taxonomy_version or 'unknown'}).",
        "",
        counts_line(result) + ".",
        "",
        f"Krippendorff's alpha (nominal; MASI distance for topic sets) and Fleiss' kappa, with "
        f"{int(b['confidence'] * 100)}% percentile bootstrap intervals ({b['draws']} draws resampling "
        f"documents, seed {b['seed']}). Cancelled annotations are excluded; documents with a single "
        "answer do not enter alpha or kappa. See docs/quality.md for the definitions.",
        "",
        "## Coefficients",
        "",
    ]
    rows = [
        [
            name,
            str(c.items),
            str(c.pairable_items),
            _ci(c.alpha),
            _ci(c.fleiss_kappa),
            _pct(c.percent_agreement),
        ]
        for name, c in _questions(result)
    ]
    lines += _md_table(
        ["question", "items", "pairable", "alpha [CI]", "Fleiss kappa [CI]", "agreement"], rows
    )
    pairs = [
        [f"{p.a} ~ {p.b}", c.name, str(p.items), _pct(p.agreement), _num(p.kappa)]
        for c in result.stance
        for p in c.pairwise
    ]
    if pairs:
        lines += ["", "## Pairwise Cohen's kappa", ""]
        lines += _md_table(["pair", "target", "items", "agreement", "kappa"], pairs)
    lines += ["", "## Annotators", ""]
    lines += _md_table(
        [
            "annotator",
            "annotations",
            "cancelled",
            "median lead time (s)",
            "agreement with others",
            "mean kappa",
            "agreement with gold",
        ],
        [
            [
                a.annotator,
                str(a.annotations),
                str(a.cancelled),
                _num(a.median_lead_time, 1),
                _pct(a.agreement_with_others),
                _num(a.mean_kappa_with_others),
                _pct(a.agreement_with_gold),
            ]
            for a in result.annotators
        ],
    )
    lines += _model_gold(result)
    if images:
        lines += ["", "## Plots", ""]
        for name in images:
            lines += [f"![{name}]({name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _model_gold(result: AgreementResult) -> list[str]:
    """Model predictions against gold: a section of its own, never mixed with the annotators'."""
    if not result.model_gold:
        return []
    lines = [
        "",
        "## Model vs gold",
        "",
        'Predictions of each model version against gold (docs/quality.md, "Model vs gold"). They are '
        "not annotations: they enter no coefficient above and never vote for gold.",
        "",
    ]
    rows = [
        [
            m.model_version,
            str(m.predictions),
            t.target,
            str(t.documents),
            _pct(t.agreement),
            _num(t.kappa),
            _num(t.macro_f1),
        ]
        for m in result.model_gold
        for t in m.stance
    ]
    rows += [
        [
            m.model_version,
            str(m.predictions),
            "topics (micro-F1)",
            str(m.topic_documents),
            "",
            "",
            _num(m.topics_micro_f1),
        ]
        for m in result.model_gold
    ]
    lines += _md_table(
        ["model version", "predictions", "question", "documents", "agreement", "kappa", "F1"], rows
    )
    return lines
