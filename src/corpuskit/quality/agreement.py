"""Inter-annotator agreement of a snapshot: coefficients, intervals, per-annotator figures, confusions.

`agreement()` returns an `AgreementResult`; `AgreementResult.to_json()` is the stable shape that
`corpuskit agreement --format json` prints (documented in docs/quality.md).
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from corpuskit.errors import DataError
from corpuskit.quality.gold import Adjudication, Decision, Gold, GoldRow, compute_gold, decide_document
from corpuskit.quality.modelgold import ModelVsGold, predicted_documents, snapshot_model_vs_gold
from corpuskit.quality.ratings import (
    DocumentAnswers,
    Ratings,
    TaxonomyLike,
    Vocabulary,
    document_answers,
    iter_groups_of,
    scan_vocabulary,
)
from corpuskit.quality.stats import (
    FloatArray,
    Interval,
    Patterns,
    StreamedMedian,
    alpha_from_counts,
    cohen_kappa_from_table,
    delta_matrix,
    first,
    fleiss_kappa_from_counts,
    iter_resampled,
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


def _pooled_confusion(table: FloatArray, frequencies: FloatArray, labels: list[str]) -> Confusion:
    """Every ordered pair of different annotators on an item adds one count (symmetric, total m(m-1)):
    per item that is n n^T minus the diagonal n, summed over items (here over distinct count rows,
    each weighted by how many items have it)."""
    weighted = table * frequencies[0][:, None]
    matrix = weighted.T @ table - np.diag(weighted.sum(axis=0))
    return Confusion(labels, _int_rows(np.rint(matrix)))


@dataclass(frozen=True)
class _Question:
    """One question ready to compute: its distinct count rows (`table`, patterns x values), how many
    documents with two or more annotators have each (`frequencies`, 1 x patterns), its distances,
    and which of the resampled pattern sets its draws are counted in (`drawn`)."""

    name: str
    table: FloatArray
    frequencies: FloatArray
    delta: FloatArray
    drawn: int
    with_fleiss: bool = True


def _bootstrap(
    questions: Sequence[_Question], patterns: Sequence[Patterns], draws: int, seed: int
) -> list[tuple[FloatArray, FloatArray | None]]:
    """Every question's alpha (and Fleiss' kappa) on every draw, a block of draws at a time."""
    alphas: list[list[FloatArray]] = [[] for _ in questions]
    kappas: list[list[FloatArray]] = [[] for _ in questions]
    for block in iter_resampled(patterns, draws, seed):
        weights = [b.astype(np.float64) for b in block]
        for i, q in enumerate(questions):
            alphas[i].append(alpha_from_counts(q.table, q.delta, weights[q.drawn]))
            if q.with_fleiss:
                kappas[i].append(fleiss_kappa_from_counts(q.table, weights[q.drawn]))
    return [
        (
            np.concatenate(alphas[i]) if alphas[i] else np.zeros(0),
            (np.concatenate(kappas[i]) if kappas[i] else np.zeros(0)) if q.with_fleiss else None,
        )
        for i, q in enumerate(questions)
    ]


def _coefficients(
    q: _Question,
    samples: tuple[FloatArray, FloatArray | None],
    values: Sequence[Any],
    confidence: float,
    *,
    confusion: bool = True,
    pairs: list[PairKappa] | None = None,
    value_names: list[str] | None = None,
) -> Coefficients:
    """The coefficients of one question, with the bootstrap samples of its alpha and kappa."""
    table, frequencies = q.table, q.frequencies
    alpha = percentile_interval(first(alpha_from_counts(table, q.delta, frequencies)), samples[0], confidence)
    fleiss = None
    if samples[1] is not None:
        fleiss = percentile_interval(
            first(fleiss_kappa_from_counts(table, frequencies)), samples[1], confidence
        )
    m = table.sum(axis=1)
    f = frequencies[0]
    pairable = m >= 2
    agreeing = float((f * (table * (table - 1)).sum(axis=1))[pairable].sum())
    possible = float((f * m * (m - 1))[pairable].sum())
    labels = value_names if value_names is not None else [str(v) for v in values]
    return Coefficients(
        name=q.name,
        items=int(f[m >= 1].sum()),
        pairable_items=int(f[pairable].sum()),
        ratings=int(f @ m),
        values=labels,
        alpha=alpha,
        fleiss_kappa=fleiss,
        percent_agreement=agreeing / possible if possible else None,
        pairwise=pairs or [],
        confusion=_pooled_confusion(table, frequencies, labels) if confusion else None,
    )


def _set_name(s: frozenset[str]) -> str:
    return "{" + ", ".join(sorted(s)) + "}"


def _int_rows(matrix: Any) -> list[list[int]]:
    return [[int(x) for x in row] for row in matrix]


def _table(patterns: Patterns, width: int) -> FloatArray:
    """The distinct count rows of a question whose keys are the count tuples themselves."""
    keys = patterns.keys()
    return np.array(keys, dtype=np.float64).reshape(len(keys), width)


def _topic_table(patterns: Patterns, topic: str, sets_of: Mapping[int, frozenset[str]]) -> FloatArray:
    """One topic's (present, absent) counts for each topic-set pattern (rows may repeat: patterns
    that differ elsewhere give the same counts, and add up the same)."""
    table = np.zeros((len(patterns.ids), 2), dtype=np.float64)
    for row, key in enumerate(patterns.keys()):
        for number, n in key:  # type: ignore[attr-defined]
            table[row, 0 if topic in sets_of[number] else 1] += n
    return table


def _set_table(
    patterns: Patterns, order: Sequence[frozenset[str]], ids: Mapping[frozenset[str], int]
) -> FloatArray:
    """The distinct rows of the topic-set counts, whose keys are (set number, count) pairs, with the
    columns in `order`."""
    position = {ids[s]: i for i, s in enumerate(order)}
    keys = patterns.keys()
    table = np.zeros((len(keys), len(order)), dtype=np.float64)
    for row, key in enumerate(keys):
        for column, n in key:  # type: ignore[attr-defined]
            table[row, position[column]] = n
    return table


@dataclass
class _Annotator:
    annotations: int = 0
    lead_times: StreamedMedian = field(default_factory=StreamedMedian)
    compared: int = 0
    agreed: int = 0
    gold_compared: int = 0
    gold_agreed: int = 0


class AgreementAccumulator:
    """Every agreement figure, gathered one document at a time (`add`) and computed at the end
    (`result`): the snapshot is never held. What it keeps grows with the corpus only where the
    statistic needs it (docs/quality.md, "Memory"): 2 bytes per value per question of each document
    with two or more annotators (the bootstrap resamples those documents), 8 bytes per lead time
    (the median), and counts per annotator, per pair of annotators and per distinct topic set."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.value_index = {v: i for i, v in enumerate(vocabulary.stance_values)}
        self.rows = self.superseded = self.documents = self.items = self.present_topic_total = 0
        self.histogram: Counter[int] = Counter()
        self.cancelled_by: Counter[str] = Counter()
        self.people: dict[str, _Annotator] = {}
        self.languages: dict[str, dict[str, int]] = {}
        self.stance = {t: Patterns() for t in vocabulary.targets}
        self.pairs: dict[str, dict[tuple[str, str], Counter[tuple[str, str]]]] = {
            t: {} for t in vocabulary.targets
        }
        # Every distinct topic set answered (on any document: each is a value of the set question),
        # and per document with two or more annotators, which sets how many times.
        self.set_ids: dict[frozenset[str], int] = {}
        # Each topic's present/absent counts follow from a document's topic sets, so the topics
        # are computed from these patterns too and cost nothing more per document.
        self.topic_sets = Patterns()
        self.topic_present: Counter[str] = Counter()
        self._labels = len(vocabulary.stance_values)
        self.gold: dict[str, dict[str, np.ndarray[Any, np.dtype[np.int64]]]] = {
            t: {} for t in vocabulary.targets
        }

    def _person(self, who: str) -> _Annotator:
        person = self.people.get(who)
        if person is None:
            counted = self.vocabulary.lead_times.get(who)
            person = self.people[who] = _Annotator()
            if counted is not None:
                person.lead_times = counted.second_pass()
        return person

    def add(self, answers: DocumentAnswers, gold: GoldRow, language: str | None = None) -> None:
        """One document: its answers and its gold row (`language`: from its task data, if any)."""
        self.rows += answers.rows
        self.superseded += answers.superseded
        self.documents += 1
        self.cancelled_by.update(answers.cancelled_by)
        for who in answers.cancelled_by:
            self._person(who)
        n = len(answers.kept)
        self.histogram[n] += 1
        if n >= 1:
            entry = self.languages.setdefault(language or "unknown", {"documents": 0, "overlapped": 0})
            entry["documents"] += 1
            entry["overlapped"] += n >= 2
        for a in answers.kept:
            person = self._person(a.annotator)
            person.annotations += 1
            if a.lead_time is not None:
                person.lead_times.keep(a.lead_time)
        pairable = n >= 2
        for target in self.vocabulary.targets:
            given = answers.stance(target)
            if pairable:
                row = [0] * len(self.vocabulary.stance_values)
                for value in given.values():
                    row[self.value_index[value]] += 1
                self.stance[target].add(tuple(row))
            self._compare(target, given, gold.stance[target])
        sets = answers.topic_sets()
        counted: Counter[int] = Counter(self.set_ids.setdefault(s, len(self.set_ids)) for s in sets.values())
        if pairable:
            self.topic_sets.add(tuple(sorted(counted.items())))
        for topic in self.vocabulary.topics:
            self.topic_present[topic] += sum(1 for s in sets.values() if topic in s)
        self.items += pairable

    def _compare(self, target: str, given: Mapping[str, str], decision: Decision) -> None:
        """Each annotator against the others and against gold; pairs of annotators; gold confusion."""
        decided = decision.decided_by not in ("unresolved", "single")
        for who, value in given.items():
            person = self.people[who]
            person.compared += len(given) - 1
            person.agreed += sum(1 for other, v in given.items() if other != who and v == value)
            # A `single` label is this annotator's own answer: comparing with it proves nothing.
            if decided:
                person.gold_compared += 1
                person.gold_agreed += decision.label == value
        if decided and isinstance(decision.label, str):
            confusion = self.gold[target]
            label = self.value_index[decision.label]
            for who, value in given.items():
                matrix = confusion.get(who)
                if matrix is None:
                    matrix = confusion[who] = np.zeros((self._labels, self._labels), dtype=np.int64)
                matrix[self.value_index[value], label] += 1
        pairs = self.pairs[target]
        for a, b in itertools.combinations(sorted(given), 2):
            table = pairs.get((a, b))
            if table is None:
                table = pairs[(a, b)] = Counter()
            table[(given[a], given[b])] += 1

    def _pairwise(self, target: str) -> list[PairKappa]:
        result = []
        annotators = sorted(w for w, p in self.people.items() if p.annotations)
        for a, b in itertools.combinations(annotators, 2):
            table = self.pairs[target].get((a, b))
            if not table:
                continue
            shared = sum(table.values())
            agree = sum(n for (x, y), n in table.items() if x == y) / shared
            values = sorted({x for x, _ in table} | {y for _, y in table}, key=repr)
            index = {v: i for i, v in enumerate(values)}
            matrix = np.zeros((len(values), len(values)))
            for (x, y), n in table.items():
                matrix[index[x], index[y]] = n
            result.append(PairKappa(a, b, shared, agree, cohen_kappa_from_table(matrix)))
        return result

    def _counts(self) -> dict[str, Any]:
        histogram = {str(n): self.histogram[n] for n in sorted(self.histogram)}
        total = sum(n * c for n, c in self.histogram.items())
        annotators = sum(1 for p in self.people.values() if p.annotations)
        return {
            "rows": self.rows,
            "submitted": total,
            "cancelled": sum(self.cancelled_by.values()),
            "superseded": self.superseded,
            "documents": self.documents,
            "annotated_documents": self.documents - self.histogram.get(0, 0),
            # Agreement is measured on these alone; single-annotated documents carry no comparison.
            "overlapped_documents": sum(c for n, c in self.histogram.items() if n >= 2),
            "single_documents": self.histogram.get(1, 0),
            "annotators": annotators,
            "annotations_per_item": {
                "min": min(self.histogram, default=0),
                "median": _median(self.histogram) if self.documents else None,
                "mean": round(total / self.documents, 6) if self.documents else None,
                "max": max(self.histogram, default=0),
                "histogram": histogram,
            },
        }

    def result(
        self,
        *,
        draws: int = DEFAULT_DRAWS,
        seed: int = DEFAULT_SEED,
        confidence: float = DEFAULT_CONFIDENCE,
        source: str = "<rows>",
        with_languages: bool = False,
    ) -> AgreementResult:
        """The figures of every document added; bootstrap resamples documents with replacement.

        Only documents with two or more annotators enter the coefficients and the resampling: in an
        overlap design the single-annotated documents compare nothing."""
        vocabulary = self.vocabulary
        targets, topics_of = vocabulary.targets, vocabulary.topics
        values = vocabulary.stance_values
        distinct = sorted(self.set_ids, key=lambda s: sorted(s))
        sets_of = {number: s for s, number in self.set_ids.items()}
        # Each stance target is resampled by its own patterns; the topic sets and every topic by
        # the topic-set patterns. One pass over the draws serves every question.
        patterns = [self.stance[t] for t in targets] + [self.topic_sets]
        by_sets = len(targets)
        set_frequencies = self.topic_sets.frequencies()
        questions = [
            _Question(t, _table(p, len(values)), p.frequencies(), nominal_delta(len(values)), i)
            for i, (t, p) in enumerate(zip(targets, patterns, strict=False))
        ]
        questions.append(
            _Question(
                "topics",
                _set_table(self.topic_sets, distinct, self.set_ids),
                set_frequencies,
                delta_matrix(distinct, masi_distance),
                by_sets,
                with_fleiss=False,
            )
        )
        binary = ["present", "absent"]
        questions += [
            _Question(
                t, _topic_table(self.topic_sets, t, sets_of), set_frequencies, nominal_delta(2), by_sets
            )
            for t in topics_of
        ]
        samples = _bootstrap(questions, patterns, draws, seed)
        stance = [
            _coefficients(q, samples[i], values, confidence, pairs=self._pairwise(q.name))
            for i, q in enumerate(questions[: len(targets)])
        ]
        topic_set = _coefficients(
            questions[by_sets],
            samples[by_sets],
            distinct,
            confidence,
            confusion=False,
            value_names=[_set_name(s) for s in distinct],
        )
        topics = []
        for i, q in enumerate(questions[by_sets + 1 :], start=by_sets + 1):
            c = _coefficients(q, samples[i], binary, confidence)
            present = self.topic_present[q.name]
            topics.append(
                Coefficients(**{**c.__dict__, "prevalence": present / c.ratings if c.ratings else None})
            )
        counts_json = self._counts()
        if with_languages:
            counts_json["languages"] = dict(
                sorted(self.languages.items(), key=lambda item: (-item[1]["documents"], item[0]))
            )
        return AgreementResult(
            counts=counts_json,
            bootstrap={"draws": draws, "seed": seed, "confidence": confidence, "unit": "document"},
            stance=stance,
            topic_set=topic_set,
            topics=topics,
            annotators=self._annotator_figures(stance, source),
            gold_confusion={
                t: {who: Confusion(values, _int_rows(m)) for who, m in sorted(by.items())}
                for t, by in self.gold.items()
            },
            taxonomy_version=vocabulary.taxonomy_version,
            source=source,
        )

    def _annotator_figures(self, stance: list[Coefficients], source: str) -> list[AnnotatorFigures]:
        figures = []
        for who in sorted(self.people):
            p = self.people[who]
            kappas = [
                pair.kappa
                for c in stance
                for pair in c.pairwise
                if who in (pair.a, pair.b) and pair.kappa is not None
            ]
            figures.append(
                AnnotatorFigures(
                    annotator=who,
                    annotations=p.annotations,
                    cancelled=self.cancelled_by.get(who, 0),
                    median_lead_time=_median_of(p.lead_times, source),
                    comparisons=p.compared,
                    agreement_with_others=p.agreed / p.compared if p.compared else None,
                    mean_kappa_with_others=statistics.fmean(kappas) if kappas else None,
                    gold_comparisons=p.gold_compared,
                    agreement_with_gold=p.gold_agreed / p.gold_compared if p.gold_compared else None,
                )
            )
        return figures


def _median_of(lead_times: StreamedMedian, source: str) -> float | None:
    try:
        return lead_times.median()
    except ValueError as exc:  # the first and second reads of the snapshot differ
        raise DataError(f"{source}: the lead times changed while it was read ({exc}); run again") from None


def _median(histogram: Mapping[int, int]) -> float:
    """`statistics.median` of the per-document counts, read off their histogram."""
    total = sum(histogram.values())
    ordered = sorted(histogram)

    def at(position: int) -> int:
        seen = 0
        for n in ordered:
            seen += histogram[n]
            if position < seen:
                return n
        raise IndexError(position)

    if total % 2:
        return float(at(total // 2))
    return (at(total // 2 - 1) + at(total // 2)) / 2


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
    """Every agreement figure of ratings held in memory (`AgreementAccumulator` over its documents).
    `languages` (document id -> language) adds `counts["languages"]`."""
    gold = gold if gold is not None else compute_gold(ratings)
    gold_by_doc = {row.document_id: row for row in gold.rows}
    accumulator = AgreementAccumulator(ratings.vocabulary)
    for answers in ratings.by_document:
        language = languages.get(answers.document_id) if languages else None
        accumulator.add(answers, gold_by_doc[answers.document_id], language)
    return accumulator.result(
        draws=draws, seed=seed, confidence=confidence, source=source, with_languages=bool(languages)
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
    """Agreement statistics of a pulled snapshot folder (default: the corpus `annotations/`) or of rows.

    A snapshot is read twice, one document at a time (its vocabulary, then its answers with the
    languages of its tasks beside them), and never held whole."""
    from corpuskit.quality.context import TaskLanguages, resolve_inputs

    inputs = resolve_inputs(snapshot, rows=rows, adjudications=adjudications, taxonomy=taxonomy)
    vocabulary = scan_vocabulary(iter_groups_of(inputs.rows, inputs.source), inputs.taxonomy, inputs.source)
    accumulator = AgreementAccumulator(vocabulary)
    languages = TaskLanguages(inputs.snapshot)
    min_annotators = inputs.settings.min_annotators
    # Model-vs-gold needs the gold of the documents a model predicted, and only theirs.
    predicted = predicted_documents(inputs.snapshot)
    predicted_gold: list[GoldRow] = []
    for document_id, numbered in iter_groups_of(inputs.rows, inputs.source):
        answers = document_answers(document_id, numbered, inputs.source)
        gold = decide_document(answers, vocabulary, inputs.adjudications.get(document_id), min_annotators)
        accumulator.add(answers, gold, languages.of(document_id))
        if document_id in predicted:
            predicted_gold.append(gold)
    languages.finish()
    result = accumulator.result(
        draws=draws, seed=seed, confidence=confidence, source=inputs.source, with_languages=languages.any
    )
    return replace(result, model_gold=snapshot_model_vs_gold(inputs.snapshot, Gold(predicted_gold)))
