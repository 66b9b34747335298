"""Model-vs-gold agreement: how a model's predictions in a snapshot compare with gold, per model version.

Kept apart from inter-annotator agreement on purpose: a prediction is not an annotation. It never
enters the ratings (`build_ratings` reads the `annotations` table only), never votes for gold, and
its agreement with gold is reported in a section of its own, one row per `model_version`. For each
version the latest prediction of a document counts (highest prediction id), compared with the
document's gold label wherever gold decided one: per stance target the share of equal labels,
Cohen's kappa and macro-F1 (over the classes gold or the model used); for topics the micro-F1 of the
predicted sets against the gold sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpuskit.quality.gold import Gold
from corpuskit.quality.stats import cohen_kappa


@dataclass(frozen=True)
class TargetVsGold:
    target: str
    documents: int
    agreement: float | None
    kappa: float | None
    macro_f1: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "documents": self.documents,
            "agreement": _r(self.agreement),
            "kappa": _r(self.kappa),
            "macro_f1": _r(self.macro_f1),
        }


@dataclass(frozen=True)
class ModelVsGold:
    model_version: str
    predictions: int  # documents with a prediction of this version
    stance: tuple[TargetVsGold, ...]
    topic_documents: int
    topics_micro_f1: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "predictions": self.predictions,
            "stance": [t.to_json() for t in self.stance],
            "topic_documents": self.topic_documents,
            "topics_micro_f1": _r(self.topics_micro_f1),
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def _f1(tp: int, fp: int, fn: int) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def _macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float | None:
    classes = sorted(set(truth) | set(predicted))
    if not classes:
        return None
    scores = []
    for c in classes:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == c and p != c)
        scores.append(_f1(tp, fp, fn))
    return sum(scores) / len(scores)


def _latest(predictions: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """model_version -> document -> its latest prediction."""
    latest: dict[str, dict[str, Mapping[str, Any]]] = {}
    for row in predictions:
        doc, version = row.get("document_id"), row.get("model_version")
        if not isinstance(doc, str):
            continue
        by_doc = latest.setdefault(str(version) if version else "(none)", {})
        previous = by_doc.get(doc)
        if previous is None or (row.get("prediction_id") or 0) >= (previous.get("prediction_id") or 0):
            by_doc[doc] = row
    return latest


def model_vs_gold(predictions: Iterable[Mapping[str, Any]], gold: Gold) -> list[ModelVsGold]:
    """One comparison per model version, sorted by version."""
    gold_by_doc = {row.document_id: row for row in gold.rows}
    results: list[ModelVsGold] = []
    for version, by_doc in sorted(_latest(predictions).items()):
        stance: list[TargetVsGold] = []
        targets = sorted({t for row in gold.rows for t in row.stance})
        for target in targets:
            pairs = []
            for doc, prediction in by_doc.items():
                g = gold_by_doc.get(doc)
                predicted = (prediction.get("stance") or {}).get(target)
                if g is None or predicted is None or target not in g.stance:
                    continue
                label = g.stance[target].label
                if isinstance(label, str):
                    pairs.append((label, str(predicted)))
            truth = [t for t, _ in pairs]
            said = [p for _, p in pairs]
            stance.append(
                TargetVsGold(
                    target,
                    len(pairs),
                    sum(1 for t, p in pairs if t == p) / len(pairs) if pairs else None,
                    cohen_kappa(truth, said) if pairs else None,
                    _macro_f1(truth, said) if pairs else None,
                )
            )
        tp = fp = fn = 0
        topic_documents = 0
        for doc, prediction in by_doc.items():
            g = gold_by_doc.get(doc)
            predicted_topics = prediction.get("topics")
            if g is None or predicted_topics is None or all(d.label is None for d in g.topics.values()):
                continue
            topic_documents += 1
            truth_set = set(g.topic_labels)
            said_set = {str(t) for t in predicted_topics}
            tp += len(truth_set & said_set)
            fp += len(said_set - truth_set)
            fn += len(truth_set - said_set)
        results.append(
            ModelVsGold(
                version,
                len(by_doc),
                tuple(stance),
                topic_documents,
                _f1(tp, fp, fn) if topic_documents else None,
            )
        )
    return results


def predicted_documents(snapshot: Path | None) -> frozenset[str]:
    """The documents a snapshot folder's `predictions` table has a prediction for (none without one)."""
    from corpuskit.snapshot import is_snapshot, iter_table, table_file

    if snapshot is None or not snapshot.is_dir() or not is_snapshot(snapshot):
        return frozenset()
    if not (snapshot / table_file("predictions")).is_file():
        return frozenset()
    return frozenset(str(row["document_id"]) for row in iter_table(snapshot, "predictions"))


def snapshot_model_vs_gold(snapshot: Path | None, gold: Gold) -> list[ModelVsGold]:
    """`model_vs_gold` of a snapshot folder's `predictions` table (none without a snapshot or table)."""
    from corpuskit.snapshot import is_snapshot, iter_table, table_file

    if snapshot is None or not snapshot.is_dir() or not is_snapshot(snapshot):
        return []
    if not (snapshot / table_file("predictions")).is_file():
        return []
    return model_vs_gold(iter_table(snapshot, "predictions"), gold)
