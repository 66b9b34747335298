"""Inter-annotator agreement of a snapshot: coefficients, intervals, per-annotator figures, confusions.

`agreement()` returns an `AgreementResult`; `AgreementResult.to_json()` is the stable shape that
`corpuskit agreement --format json` prints (documented in docs/quality.md).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from corpuskit.quality.gold import Adjudication, Gold, compute_gold
from corpuskit.quality.modelgold import ModelVsGold, snapshot_model_vs_gold
from corpuskit.quality.ratings import Ratings, TaxonomyLike, build_ratings
from corpuskit.quality.stats import (
    FloatArray,
    Interval,
    Resampler,
    alpha_from_counts,
    cohen_kappa,
    count_matrix,
    delta_matrix,
    first,
    fleiss_kappa_from_counts,
    masi_distance,
    nominal_delta,
    percentile_interval,
)

FORMAT = "corpuskit.agreement/1"
DEFAULT_DRAWS = 1000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class PairKappa:
    a: str
    b: str
    items: int
    agreement: float | None
    kappa: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "items": self.items,
            "agreement": _r(self.agreement),
            "kappa": _r(self.kappa),
        }


@dataclass(frozen=True)
class Confusion:
    """Rows: the first side's label, columns: the second side's label."""

    labels: list[str]
    matrix: list[list[int]]

    def to_json(self) -> dict[str, Any]:
        return {"labels": self.labels, "matrix": self.matrix}


@dataclass(frozen=True)
class Coefficients:
    """Agreement on one question: a stance target, one topic (present/absent), or the topic sets."""

    name: str
    items: int  # documents with at least one answer
    pairable_items: int  # documents with at least two answers (the only ones alpha and kappa use)
    ratings: int
    values: list[str]
    alpha: Interval
    fleiss_kappa: Interval | None
    percent_agreement: float | None
    pairwise: list[PairKappa] = field(default_factory=list)
    confusion: Confusion | None = None
    prevalence: float | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "items": self.items,
            "pairable_items": self.pairable_items,
            "ratings": self.ratings,
            "values": self.values,
            "alpha": self.alpha.to_json(),
            "fleiss_kappa": self.fleiss_kappa.to_json() if self.fleiss_kappa else None,
            "percent_agreement": _r(self.percent_agreement),
            "pairwise_cohen_kappa": [p.to_json() for p in self.pairwise],
            "confusion": self.confusion.to_json() if self.confusion else None,
        }
        if self.prevalence is not None:
            data["prevalence"] = _r(self.prevalence)
        return data


@dataclass(frozen=True)
class AnnotatorFigures:
    annotator: str
    annotations: int
    cancelled: int
    median_lead_time: float | None
    comparisons: int  # (item, target, other annotator) triples compared
    agreement_with_others: float | None
    mean_kappa_with_others: float | None
    gold_comparisons: int
    agreement_with_gold: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "annotator": self.annotator,
            "annotations": self.annotations,
            "cancelled": self.cancelled,
            "median_lead_time": _r(self.median_lead_time),
            "comparisons": self.comparisons,
            "agreement_with_others": _r(self.agreement_with_others),
            "mean_kappa_with_others": _r(self.mean_kappa_with_others),
            "gold_comparisons": self.gold_comparisons,
            "agreement_with_gold": _r(self.agreement_with_gold),
        }


@dataclass(frozen=True)
class AgreementResult:
    counts: dict[str, Any]
    bootstrap: dict[str, Any]
    stance: list[Coefficients]
    topic_set: Coefficients
    topics: list[Coefficients]
    annotators: list[AnnotatorFigures]
    gold_confusion: dict[str, dict[str, Confusion]]
    taxonomy_version: str | None
    source: str
    # Predictions compared with gold, apart from the annotators' figures (quality/modelgold.py).
    model_gold: list[ModelVsGold] = field(default_factory=list)

    def target(self, name: str) -> Coefficients:
        for c in self.stance:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "source": self.source,
            "taxonomy_version": self.taxonomy_version,
            "counts": self.counts,
            "bootstrap": self.bootstrap,
            "stance": [c.to_json() for c in self.stance],
            "topics": {"set": self.topic_set.to_json(), "per_topic": [c.to_json() for c in self.topics]},
            "annotators": [a.to_json() for a in self.annotators],
            "gold_confusion": {
                t: {a: c.to_json() for a, c in by.items()} for t, by in self.gold_confusion.items()
            },
            "model_vs_gold": [m.to_json() for m in self.model_gold],
        }


def _r(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


# --- building blocks --------------------------------------------------------------------------


def _krippendorff_nominal(
    by_doc: Mapping[str, Mapping[str, Hashable]], annotators: Sequence[str]
) -> float | None:
    """Point estimate from the `krippendorff` package (coders x units, NaN for missing)."""
    import krippendorff

    values = sorted({v for answers in by_doc.values() for v in answers.values()}, key=repr)
    pairable = [d for d, answers in by_doc.items() if len(answers) >= 2]
    if len({v for d in pairable for v in by_doc[d].values()}) < 2:
        return None  # no variation among pairable items: alpha is 0/0
    index = {v: float(i) for i, v in enumerate(values)}
    data = np.full((len(annotators), len(pairable)), np.nan)
    row = {a: i for i, a in enumerate(annotators)}
    for j, d in enumerate(pairable):
        for a, v in by_doc[d].items():
            data[row[a], j] = index[v]
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def _pairwise(by_doc: Mapping[str, Mapping[str, Hashable]], annotators: Sequence[str]) -> list[PairKappa]:
    result = []
    for a, b in itertools.combinations(annotators, 2):
        shared = [d for d, answers in by_doc.items() if a in answers and b in answers]
        if not shared:
            continue
        xs = [by_doc[d][a] for d in shared]
        ys = [by_doc[d][b] for d in shared]
        agree = sum(x == y for x, y in zip(xs, ys, strict=True)) / len(shared)
        result.append(PairKappa(a, b, len(shared), agree, cohen_kappa(xs, ys)))
    return result


def _pooled_confusion(counts: FloatArray, labels: list[str]) -> Confusion:
    """Every ordered pair of different annotators on an item adds one count (symmetric, total m(m-1)):
    per item that is n n^T minus the diagonal n, summed over items."""
    matrix = counts.T @ counts - np.diag(counts.sum(axis=0))
    return Confusion(labels, _int_rows(np.rint(matrix)))


def _coefficients(
    name: str,
    by_doc: Mapping[str, Mapping[str, Any]],
    documents: Sequence[str],
    annotators: Sequence[str],
    values: Sequence[Any],
    distance: Callable[[Any, Any], float] | None,
    resampler: Resampler,
    confidence: float,
    *,
    with_fleiss: bool = True,
    with_pairwise: bool = True,
    value_names: list[str] | None = None,
) -> Coefficients:
    units = [list(by_doc.get(d, {}).values()) for d in documents]
    counts, _ = count_matrix(units, list(values))
    delta = nominal_delta(len(values)) if distance is None else delta_matrix(list(values), distance)
    m = counts.sum(axis=1)
    point = first(alpha_from_counts(counts, delta))
    if distance is None:
        package = _krippendorff_nominal(by_doc, annotators)
        # The package is the reference implementation; the count form gives the same number and
        # makes the bootstrap cheap (one matrix product for all draws).
        point = package if package is not None else point
    alpha = percentile_interval(
        point, resampler.apply(lambda w: alpha_from_counts(counts, delta, w)), confidence
    )
    fleiss = None
    if with_fleiss:
        fleiss = percentile_interval(
            first(fleiss_kappa_from_counts(counts)),
            resampler.apply(lambda w: fleiss_kappa_from_counts(counts, w)),
            confidence,
        )
    pairs = _pairwise(by_doc, annotators) if with_pairwise else []
    pairable = m >= 2
    agreeing = float(((counts * (counts - 1)).sum(axis=1))[pairable].sum())
    possible = float((m * (m - 1))[pairable].sum())
    labels = value_names if value_names is not None else [str(v) for v in values]
    confusion = _pooled_confusion(counts, labels) if distance is None and value_names is None else None
    return Coefficients(
        name=name,
        items=int((m >= 1).sum()),
        pairable_items=int(pairable.sum()),
        ratings=int(m.sum()),
        values=labels,
        alpha=alpha,
        fleiss_kappa=fleiss,
        percent_agreement=agreeing / possible if possible else None,
        pairwise=pairs,
        confusion=confusion,
    )


def _set_name(s: frozenset[str]) -> str:
    return "{" + ", ".join(sorted(s)) + "}"


def _annotator_figures(ratings: Ratings, stance: list[Coefficients], gold: Gold) -> list[AnnotatorFigures]:
    gold_by_doc = {row.document_id: row for row in gold.rows}
    figures = []
    for who in ratings.annotators:
        compared = agreed = 0
        gold_compared = gold_agreed = 0
        for target in ratings.targets:
            for doc, answers in ratings.stance[target].items():
                if who not in answers:
                    continue
                for other, value in answers.items():
                    if other != who:
                        compared += 1
                        agreed += value == answers[who]
                decision = gold_by_doc[doc].stance[target]
                # A `single` label is this annotator's own answer: comparing with it proves nothing.
                if decision.decided_by not in ("unresolved", "single"):
                    gold_compared += 1
                    gold_agreed += decision.label == answers[who]
        kappas = [p.kappa for c in stance for p in c.pairwise if who in (p.a, p.b) and p.kappa is not None]
        figures.append(
            AnnotatorFigures(
                annotator=who,
                annotations=ratings.annotation_count(who),
                cancelled=ratings.cancelled_by.get(who, 0),
                median_lead_time=ratings.lead_time_median(who),
                comparisons=compared,
                agreement_with_others=agreed / compared if compared else None,
                mean_kappa_with_others=statistics.fmean(kappas) if kappas else None,
                gold_comparisons=gold_compared,
                agreement_with_gold=gold_agreed / gold_compared if gold_compared else None,
            )
        )
    return figures


def _int_rows(matrix: Any) -> list[list[int]]:
    return [[int(x) for x in row] for row in matrix]


def _gold_confusion(ratings: Ratings, gold: Gold) -> dict[str, dict[str, Confusion]]:
    gold_by_doc = {row.document_id: row for row in gold.rows}
    labels = ratings.stance_values
    index = {v: i for i, v in enumerate(labels)}
    result: dict[str, dict[str, Confusion]] = {}
    for target in ratings.targets:
        per: dict[str, np.ndarray[Any, np.dtype[np.int64]]] = {}
        for doc, answers in ratings.stance[target].items():
            decision = gold_by_doc[doc].stance[target]
            if decision.decided_by in ("unresolved", "single") or not isinstance(decision.label, str):
                continue
            for who, value in answers.items():
                matrix = per.setdefault(who, np.zeros((len(labels), len(labels)), dtype=np.int64))
                matrix[index[value], index[decision.label]] += 1
        result[target] = {who: Confusion(labels, _int_rows(m)) for who, m in sorted(per.items())}
    return result


def _by_language(ratings: Ratings, languages: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Per language (most documents first): annotated documents and those with 2+ annotators;
    documents whose task data names no language count under "unknown"."""
    found: dict[str, dict[str, int]] = {}
    for document, n in ratings.per_document().items():
        if n < 1:
            continue
        entry = found.setdefault(languages.get(document, "unknown"), {"documents": 0, "overlapped": 0})
        entry["documents"] += 1
        entry["overlapped"] += n >= 2
    return dict(sorted(found.items(), key=lambda item: (-item[1]["documents"], item[0])))


def _counts(ratings: Ratings, languages: Mapping[str, str] | None = None) -> dict[str, Any]:
    per_doc = list(ratings.per_document().values())
    histogram: dict[str, int] = {}
    for n in sorted(per_doc):
        histogram[str(n)] = histogram.get(str(n), 0) + 1
    return {
        "rows": ratings.rows,
        "submitted": len(ratings.annotations),
        "cancelled": ratings.cancelled,
        "superseded": ratings.superseded,
        "documents": len(ratings.documents),
        "annotated_documents": sum(1 for n in per_doc if n >= 1),
        # Agreement is measured on these alone; single-annotated documents carry no comparison.
        "overlapped_documents": sum(1 for n in per_doc if n >= 2),
        "single_documents": sum(1 for n in per_doc if n == 1),
        "annotators": len({a.annotator for a in ratings.annotations}),
        "annotations_per_item": {
            "min": min(per_doc, default=0),
            "median": float(statistics.median(per_doc)) if per_doc else None,
            "mean": round(statistics.fmean(per_doc), 6) if per_doc else None,
            "max": max(per_doc, default=0),
            "histogram": histogram,
        },
        # Only when the task data tells languages (a snapshot pulled after push recorded them).
        **({"languages": _by_language(ratings, languages)} if languages else {}),
    }


def compute_agreement(
    ratings: Ratings,
    gold: Gold | None = None,
    *,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    source: str = "<rows>",
    languages: Mapping[str, str] | None = None,
) -> AgreementResult:
    """Every agreement figure of `ratings`; bootstrap resamples documents with replacement.
    `languages` (document id -> language) adds `counts["languages"]`.

    Only documents with two or more annotators enter the coefficients and the resampling: in an
    overlap design the single-annotated documents compare nothing."""
    gold = gold if gold is not None else compute_gold(ratings)
    per_doc = ratings.per_document()
    docs = [d for d in ratings.documents if per_doc[d] >= 2]
    annotators = [a for a in ratings.annotators if any(x.annotator == a for x in ratings.annotations)]
    resampler = Resampler(len(docs), draws, seed)
    stance = [
        _coefficients(
            t, ratings.stance[t], docs, annotators, ratings.stance_values, None, resampler, confidence
        )
        for t in ratings.targets
    ]
    sets = ratings.topic_sets
    distinct = sorted({s for answers in sets.values() for s in answers.values()}, key=lambda s: sorted(s))
    topic_set = _coefficients(
        "topics",
        sets,
        docs,
        annotators,
        distinct,
        masi_distance,
        resampler,
        confidence,
        with_fleiss=False,
        with_pairwise=False,
        value_names=[_set_name(s) for s in distinct],
    )
    topics = []
    for topic in ratings.topics:
        binary = {
            d: {a: ("present" if topic in s else "absent") for a, s in ans.items()} for d, ans in sets.items()
        }
        c = _coefficients(
            topic,
            binary,
            docs,
            annotators,
            ["present", "absent"],
            None,
            resampler,
            confidence,
            with_pairwise=False,
        )
        present = sum(1 for ans in binary.values() for v in ans.values() if v == "present")
        topics.append(
            Coefficients(**{**c.__dict__, "prevalence": present / c.ratings if c.ratings else None})
        )
    return AgreementResult(
        counts=_counts(ratings, languages),
        bootstrap={"draws": draws, "seed": seed, "confidence": confidence, "unit": "document"},
        stance=stance,
        topic_set=topic_set,
        topics=topics,
        annotators=_annotator_figures(ratings, stance, gold),
        gold_confusion=_gold_confusion(ratings, gold),
        taxonomy_version=ratings.taxonomy_version,
        source=source,
    )


def agreement(
    snapshot: str | Path | None = None,
    *,
    rows: Iterable[Mapping[str, Any]] | None = None,
    adjudications: str | Path | Mapping[str, Adjudication] | None = None,
    taxonomy: TaxonomyLike | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> AgreementResult:
    """Agreement statistics of a pulled snapshot folder (default: the corpus `annotations/`) or of rows."""
    from corpuskit.quality.context import document_languages, resolve_inputs

    inputs = resolve_inputs(snapshot, rows=rows, adjudications=adjudications, taxonomy=taxonomy)
    ratings = build_ratings(inputs.rows, inputs.taxonomy, source=inputs.source)
    gold = compute_gold(ratings, inputs.adjudications, inputs.settings.min_annotators)
    result = compute_agreement(
        ratings,
        gold,
        draws=draws,
        seed=seed,
        confidence=confidence,
        source=inputs.source,
        languages=document_languages(inputs.snapshot),
    )
    return replace(result, model_gold=snapshot_model_vs_gold(inputs.snapshot, gold))
