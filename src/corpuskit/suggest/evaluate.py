"""Cross-validated figures of the suggestion model next to two baselines, and its learning curve.

- **Folds.** One seeded, stratified assignment of the labelled documents to `folds` folds, shared by
  every question: documents are shuffled with the seed, sorted by their joint stance labels and
  rarest topic, and dealt round-robin, so each fold holds every class in its share (a class with
  at least `folds` documents is in every fold). Predictions are pooled over the held-out folds and
  scored once (out-of-fold, like `cross_val_predict`).
- **Figures.** Macro-F1 for each stance target (over the classes its gold holds); micro- and
  macro-F1 for topics (macro over the topics that occur).
- **Baselines**, on the same folds: *majority* predicts each training fold's most common class
  (for topics: a topic present in more than half of the training documents); *chance* draws a class
  with the training fold's frequencies, scored by its expected counts (no random draws, so the figure
  is exact). A model beats the baseline when its figure exceeds the better of the two by at least
  `MIN_GAIN` (fold noise on a few hundred documents is of that size); the stance figures are
  judged per target, the topics by micro-F1.
- **Enough data.** Every class of a question needs at least `max(folds, MIN_PER_CLASS)` labelled
  documents (a topic: that many documents having it): fewer, and the class is not in every fold,
  its figure is noise, and the model is not ready.
- **Learning curve.** The same cross-validation with each training fold cut to 25 %, 50 %, 75 %
  and 100 % of its documents (nested, seeded samples).
- **Calibration.** Expected calibration error (10 equal-width bins) of each stance target's top
  probability out of fold: how far the score the queue is ordered by is from the accuracy it claims.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from corpuskit.suggest.data import TrainingData
from corpuskit.suggest.model import Array, Classifiers, ModelSettings, train

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

MIN_GAIN = 0.05
MIN_PER_CLASS = 5
CURVE_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
TOPICS = "topics"


@dataclass(frozen=True)
class Figure:
    """One question's cross-validated figure next to its baselines."""

    question: str  # "stance.<target>" or "topics"
    metric: str  # "macro-F1" or "micro-F1"
    model: float
    majority: float
    chance: float
    documents: int
    per_class: dict[str, float] = field(default_factory=dict)  # class -> F1 of the model

    @property
    def baseline(self) -> float:
        return max(self.majority, self.chance)

    @property
    def beats_baseline(self) -> bool:
        return self.model >= self.baseline + MIN_GAIN

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "metric": self.metric,
            "model": round(self.model, 4),
            "majority": round(self.majority, 4),
            "chance": round(self.chance, 4),
            "baseline": round(self.baseline, 4),
            "beats_baseline": self.beats_baseline,
            "documents": self.documents,
            "per_class": {k: round(v, 4) for k, v in self.per_class.items()},
        }


@dataclass(frozen=True)
class CurvePoint:
    """Cross-validated figures with training folds cut to a share of their documents."""

    fraction: float
    train_documents: int  # mean training-fold size
    stance_macro_f1: float | None  # mean over targets
    topics_micro_f1: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "train_documents": self.train_documents,
            "stance_macro_f1": None if self.stance_macro_f1 is None else round(self.stance_macro_f1, 4),
            "topics_micro_f1": None if self.topics_micro_f1 is None else round(self.topics_micro_f1, 4),
        }


@dataclass(frozen=True)
class Evaluation:
    folds: int
    seed: int
    documents: int
    figures: tuple[Figure, ...]
    counts: dict[str, dict[str, int]]  # question -> class (or topic) -> labelled documents
    curve: tuple[CurvePoint, ...]
    calibration: dict[str, float]  # stance target -> expected calibration error
    min_per_class: int = MIN_PER_CLASS
    min_gain: float = MIN_GAIN

    def figure(self, question: str) -> Figure:
        return next(f for f in self.figures if f.question == question)

    def to_json(self) -> dict[str, Any]:
        return {
            "folds": self.folds,
            "seed": self.seed,
            "documents": self.documents,
            "min_per_class": self.min_per_class,
            "min_gain": self.min_gain,
            "figures": [f.to_json() for f in self.figures],
            "counts": self.counts,
            "curve": [p.to_json() for p in self.curve],
            "calibration": {k: round(v, 4) for k, v in self.calibration.items()},
        }


# --- F1 from counts (no warnings for empty classes: a class nobody has and nobody predicted is left out)


def _f1(tp: float, fp: float, fn: float) -> float:
    return 0.0 if tp == 0 else float(2 * tp / (2 * tp + fp + fn))


def class_f1(truth: Sequence[Any], predicted: Sequence[Any], classes: Sequence[Any]) -> dict[Any, float]:
    t = np.asarray(truth, dtype=object)
    p = np.asarray(predicted, dtype=object)
    out: dict[Any, float] = {}
    for c in classes:
        tp = float(np.sum((t == c) & (p == c)))
        fp = float(np.sum((t != c) & (p == c)))
        fn = float(np.sum((t == c) & (p != c)))
        out[c] = _f1(tp, fp, fn)
    return out


def macro_f1(truth: Sequence[Any], predicted: Sequence[Any], classes: Sequence[Any]) -> float:
    scores = class_f1(truth, predicted, classes)
    return float(np.mean(list(scores.values()))) if scores else 0.0


def topic_f1(truth: Array, predicted: Array) -> tuple[float, float]:
    """(micro-F1, macro-F1 over the topics present in `truth`) of boolean n x topics matrices."""
    tp = (truth & predicted).sum(axis=0).astype(float)
    fp = (~truth & predicted).sum(axis=0).astype(float)
    fn = (truth & ~predicted).sum(axis=0).astype(float)
    micro = _f1(float(tp.sum()), float(fp.sum()), float(fn.sum()))
    present = truth.sum(axis=0) > 0
    macro = float(
        np.mean([_f1(a, b, c) for a, b, c, ok in zip(tp, fp, fn, present, strict=True) if ok] or [0.0])
    )
    return micro, macro


def calibration_error(correct: Array, confidence: Array, bins: int = 10) -> float:
    """Expected calibration error: the mean |accuracy - confidence| over equal-width bins, weighted."""
    if len(correct) == 0:
        return 0.0
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total / len(correct))


# --- folds ---------------------------------------------------------------------------------------


def assign_folds(data: TrainingData, folds: int, seed: int) -> Array:
    """Fold number of every row (see the module docstring)."""
    topic_counts = Counter(t for r in data.rows for t in (r.topics or ()))
    order = list(range(len(data.rows)))
    random.Random(seed).shuffle(order)

    def stratum(i: int) -> tuple[str, ...]:
        row = data.rows[i]
        rarest = min(row.topics or (), key=lambda t: (topic_counts[t], t), default="")
        return (*(str(row.stance.get(t)) for t in data.targets), rarest)

    order.sort(key=stratum)  # stable: the seeded shuffle orders each stratum
    assignment = np.zeros(len(order), dtype=int)
    for position, i in enumerate(order):
        assignment[i] = position % folds
    return assignment


# --- cross-validation ------------------------------------------------------------------------------


@dataclass
class _OutOfFold:
    stance: dict[str, list[Any]]  # target -> predicted class per labelled row (in stance_labels order)
    stance_confidence: dict[str, Array]
    majority: dict[str, list[Any]]
    chance_counts: dict[str, dict[str, list[float]]]  # target -> class -> [tp, fp, fn] expected
    topics: Array | None  # n_topic_rows x topics, predicted
    topics_majority: Array | None
    topics_chance: Array | None  # topics x [tp, fp, fn]
    train_sizes: list[int]


def _cross_validate(
    counts: csr_matrix,
    data: TrainingData,
    assignment: Array,
    folds: int,
    settings: ModelSettings,
    fraction: float,
    seed: int,
    progress: Callable[[str], None] | None,
) -> _OutOfFold:
    stance_index = {t: data.stance_labels(t) for t in data.targets}
    topic_index, topic_sets = data.topic_labels()
    topic_truth = np.array([[t in s for t in data.topics] for s in topic_sets], dtype=bool).reshape(
        len(topic_sets), len(data.topics)
    )
    position = {t: {row: k for k, row in enumerate(index)} for t, (index, _) in stance_index.items()}
    topic_position = {row: k for k, row in enumerate(topic_index)}
    out = _OutOfFold(
        stance={t: [None] * len(index) for t, (index, _) in stance_index.items()},
        stance_confidence={t: np.zeros(len(index)) for t, (index, _) in stance_index.items()},
        majority={t: [None] * len(index) for t, (index, _) in stance_index.items()},
        chance_counts={t: {} for t in data.targets},
        topics=np.zeros_like(topic_truth) if topic_index else None,
        topics_majority=np.zeros_like(topic_truth) if topic_index else None,
        topics_chance=np.zeros((len(data.topics), 3)) if topic_index else None,
        train_sizes=[],
    )
    rng = random.Random(f"{seed}-curve")
    keep_order = list(range(len(data.rows)))
    rng.shuffle(keep_order)
    rank = np.empty(len(keep_order), dtype=int)
    rank[keep_order] = np.arange(len(keep_order))
    for fold in range(folds):
        if progress:
            progress(
                f"fold {fold + 1} of {folds}"
                + ("" if fraction == 1.0 else f" ({fraction:.0%} of the training data)")
            )
        train_rows = np.flatnonzero(assignment != fold)
        if fraction < 1.0 and len(train_rows):
            # A nested sample: the documents kept at 50 % include those kept at 25 %.
            cut = np.sort(rank[train_rows])[max(1, round(len(train_rows) * fraction)) - 1]
            train_rows = train_rows[rank[train_rows] <= cut]
        test = assignment == fold
        if not test.any():  # fewer documents than folds: this fold holds none
            continue
        chosen = set(train_rows.tolist())
        out.train_sizes.append(len(chosen))
        stance_train = {}
        for t, (index, labels) in stance_index.items():
            pairs = [(i, y) for i, y in zip(index, labels, strict=True) if i in chosen]
            stance_train[t] = ([i for i, _ in pairs], [y for _, y in pairs])
        topic_pairs = [(i, s) for i, s in zip(topic_index, topic_sets, strict=True) if i in chosen]
        classifiers = _train_rows(counts, stance_train, topic_pairs, data.topics, settings)
        test_rows = np.flatnonzero(test)
        x = classifiers.weighting.transform(counts[test_rows])
        stance_proba = classifiers.stance_proba(x)
        for t, (_, labels) in stance_index.items():
            train_labels = stance_train[t][1]
            common = Counter(train_labels).most_common(1)[0][0] if train_labels else None
            prior = (
                {c: n / len(train_labels) for c, n in Counter(train_labels).items()} if train_labels else {}
            )
            classes, proba = stance_proba.get(t, ([], np.zeros((len(test_rows), 0))))
            test_labels: Counter[str] = Counter()
            for k, row in enumerate(test_rows):
                slot = position[t].get(int(row))
                if slot is None:
                    continue
                test_labels[labels[slot]] += 1
                if classes:
                    out.stance[t][slot] = classes[int(np.argmax(proba[k]))]
                    out.stance_confidence[t][slot] = float(np.max(proba[k]))
                out.majority[t][slot] = common
            n_test = sum(test_labels.values())
            for c in set(prior) | set(test_labels):
                q = prior.get(c, 0.0)
                counts_c = out.chance_counts[t].setdefault(c, [0.0, 0.0, 0.0])
                counts_c[0] += test_labels[c] * q
                counts_c[1] += (n_test - test_labels[c]) * q
                counts_c[2] += test_labels[c] * (1 - q)
        if (
            topic_index
            and out.topics is not None
            and out.topics_majority is not None
            and out.topics_chance is not None
        ):
            topic_proba = classifiers.topic_proba(x)
            n_train = len(topic_pairs)
            prevalence = np.array(
                [sum(1 for _, s in topic_pairs if t in s) / n_train if n_train else 0.0 for t in data.topics]
            )
            rows = [(k, topic_position[int(r)]) for k, r in enumerate(test_rows) if int(r) in topic_position]
            for k, slot in rows:
                for j, t in enumerate(data.topics):
                    p = topic_proba.get(t)
                    out.topics[slot, j] = bool(p is not None and p[k] >= settings.topic_threshold)
                out.topics_majority[slot] = prevalence > 0.5
            if rows:
                truth = topic_truth[[slot for _, slot in rows]]
                present = truth.sum(axis=0).astype(float)
                absent = len(rows) - present
                out.topics_chance[:, 0] += present * prevalence
                out.topics_chance[:, 1] += absent * prevalence
                out.topics_chance[:, 2] += present * (1 - prevalence)
    return out


def _train_rows(
    counts: csr_matrix,
    stance_train: dict[str, tuple[list[int], list[str]]],
    topic_pairs: list[tuple[int, tuple[str, ...]]],
    topic_ids: Sequence[str],
    settings: ModelSettings,
) -> Classifiers:
    """Train on a subset of rows: re-index them into a smaller matrix first."""
    rows = sorted({i for index, _ in stance_train.values() for i in index} | {i for i, _ in topic_pairs})
    local = {row: k for k, row in enumerate(rows)}
    stance = {t: ([local[i] for i in index], labels) for t, (index, labels) in stance_train.items()}
    topics = ([local[i] for i, _ in topic_pairs], [s for _, s in topic_pairs])
    return train(counts[rows], stance, topics, topic_ids, settings)


def evaluate(
    counts: csr_matrix,
    data: TrainingData,
    *,
    folds: int,
    seed: int,
    settings: ModelSettings,
    curve: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Cross-validated figures, baselines, counts, calibration and (with `curve`) the learning curve."""
    assignment = assign_folds(data, folds, seed)
    fractions = CURVE_FRACTIONS if curve else (1.0,)
    runs = {
        f: _cross_validate(counts, data, assignment, folds, settings, f, seed, progress) for f in fractions
    }
    full = runs[1.0]
    figures: list[Figure] = []
    counts_by_question: dict[str, dict[str, int]] = {}
    calibration: dict[str, float] = {}
    for t in data.targets:
        _, labels = data.stance_labels(t)
        tally = Counter(labels)
        classes = [v for v in data.stance_values if tally[v]] + sorted(set(tally) - set(data.stance_values))
        counts_by_question[f"stance.{t}"] = {c: tally[c] for c in classes}
        if not labels:
            continue
        per_class = class_f1(labels, full.stance[t], classes)
        chance = float(np.mean([_f1(*full.chance_counts[t].get(c, [0.0, 0.0, 0.0])) for c in classes]))
        figures.append(
            Figure(
                question=f"stance.{t}",
                metric="macro-F1",
                model=float(np.mean(list(per_class.values()))),
                majority=macro_f1(labels, full.majority[t], classes),
                chance=chance,
                documents=len(labels),
                per_class={str(c): v for c, v in per_class.items()},
            )
        )
        correct = np.array([p == y for p, y in zip(full.stance[t], labels, strict=True)], dtype=float)
        calibration[t] = calibration_error(correct, full.stance_confidence[t])
    topic_index, topic_sets = data.topic_labels()
    if (
        topic_index
        and full.topics is not None
        and full.topics_majority is not None
        and full.topics_chance is not None
    ):
        truth = np.array([[t in s for t in data.topics] for s in topic_sets], dtype=bool)
        counts_by_question[TOPICS] = {t: int(n) for t, n in zip(data.topics, truth.sum(axis=0), strict=True)}
        micro, macro = topic_f1(truth, full.topics)
        majority_micro, _ = topic_f1(truth, full.topics_majority)
        tp, fp, fn = full.topics_chance.sum(axis=0)
        per_topic = {
            t: _f1(
                float((truth[:, j] & full.topics[:, j]).sum()),
                float((~truth[:, j] & full.topics[:, j]).sum()),
                float((truth[:, j] & ~full.topics[:, j]).sum()),
            )
            for j, t in enumerate(data.topics)
        }
        figures.append(
            Figure(
                TOPICS,
                "micro-F1",
                micro,
                majority_micro,
                _f1(float(tp), float(fp), float(fn)),
                len(topic_index),
                per_topic,
            )
        )
        figures.append(Figure(f"{TOPICS}.macro", "macro-F1", macro, 0.0, 0.0, len(topic_index), {}))
    points = []
    for fraction, run in runs.items():
        stance_scores = [
            macro_f1(data.stance_labels(t)[1], run.stance[t], list(counts_by_question[f"stance.{t}"]))
            for t in data.targets
            if data.stance_labels(t)[1]
        ]
        topics_micro = None
        if topic_index and run.topics is not None:
            truth = np.array([[t in s for t in data.topics] for s in topic_sets], dtype=bool)
            topics_micro = topic_f1(truth, run.topics)[0]
        points.append(
            CurvePoint(
                fraction,
                round(float(np.mean(run.train_sizes))),
                float(np.mean(stance_scores)) if stance_scores else None,
                topics_micro,
            )
        )
    return Evaluation(
        folds=folds,
        seed=seed,
        documents=len(data.rows),
        figures=tuple(figures),
        counts=counts_by_question,
        curve=tuple(points),
        calibration=calibration,
    )


def not_ready_reasons(evaluation: Evaluation) -> tuple[str, ...]:
    """One line per reason the model should not be pushed (empty: ready)."""
    need = max(evaluation.folds, evaluation.min_per_class)
    reasons: list[str] = []
    if evaluation.documents < 2 * need:
        reasons.append(
            f"only {evaluation.documents} labelled document{'s' if evaluation.documents != 1 else ''}: "
            f"a model needs at least {need} per class of every question (at least {2 * need} in all)"
        )
    for question, tally in evaluation.counts.items():
        for label, n in tally.items():
            if n < need:
                what = "documents having it" if question == TOPICS else "labelled documents"
                reasons.append(
                    f"{question}: {label!r} has {n} {what}, fewer than {need} "
                    f"(the least for {evaluation.folds}-fold cross-validation)"
                )
    for f in evaluation.figures:
        if f.question == f"{TOPICS}.macro":
            continue
        if not f.beats_baseline:
            reasons.append(
                f"{f.question}: cross-validated {f.metric} {f.model:.3f} does not beat the baseline "
                f"{f.baseline:.3f} by {evaluation.min_gain} "
                f"(majority {f.majority:.3f}, chance {f.chance:.3f})"
            )
    return tuple(reasons)
