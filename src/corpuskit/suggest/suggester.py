"""Train the suggestion model on a snapshot's gold (`fit`) and predict rows for `corpuskit push
--predictions` (`Suggester.predict`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from corpuskit.settings import Settings
from corpuskit.suggest.data import TrainingData, training_data
from corpuskit.suggest.evaluate import Evaluation, evaluate, not_ready_reasons
from corpuskit.suggest.model import Classifiers, ModelSettings, confidence, hashed_counts, train
from corpuskit.suggest.version import model_version
from corpuskit.taxonomy.model import Taxonomy

# Documents featurised at once when predicting: bounded memory whatever the corpus size.
BATCH = 2000


@dataclass(frozen=True)
class Suggester:
    """A trained model with its cross-validated evaluation and the verdict on pushing it."""

    model_version: str
    evaluation: Evaluation
    ready: bool
    reasons: tuple[str, ...]
    taxonomy_version: str
    training_documents: int
    settings: ModelSettings
    classifiers: Classifiers = field(repr=False, compare=False)

    def predict(self, documents: Iterable[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        """(document_id, text) -> one prediction row per document, in the JSONL shape `corpuskit push
        --predictions` reads: document_id, model_version, stance (target -> value), topics, score
        (the model's confidence in [0, 1]; lower = more uncertain). `text` is `task_text` of the task
        data, as in training."""
        iterator = iter(documents)
        while batch := list(islice(iterator, BATCH)):
            counts = hashed_counts([text for _, text in batch], self.settings)
            x = self.classifiers.weighting.transform(counts)
            stance = self.classifiers.stance_proba(x)
            topics = self.classifiers.topic_proba(x)
            score = confidence(stance, topics, len(batch))
            for k, (document_id, _) in enumerate(batch):
                yield {
                    "document_id": document_id,
                    "model_version": self.model_version,
                    "stance": {t: classes[int(np.argmax(p[k]))] for t, (classes, p) in stance.items()},
                    "topics": [t for t, p in topics.items() if p[k] >= self.settings.topic_threshold],
                    "score": round(float(score[k]), 6),
                }


def fit(
    snapshot: Path,
    *,
    settings: Settings,
    taxonomy: Taxonomy,
    folds: int = 5,
    seed: int = 0,
    model: ModelSettings | None = None,
    curve: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Suggester:
    """Train on the snapshot's gold labels and texts, cross-validate (seeded) next to the baselines,
    and say whether the model is ready to push. `progress` gets one line per step (e.g. print to
    stderr); nothing is printed without it."""
    from corpuskit.errors import UsageError

    if folds < 2:
        raise UsageError(f"folds = {folds}: cross-validation needs at least 2")
    model = model or ModelSettings()
    data = training_data(Path(snapshot), settings=settings, taxonomy=taxonomy)
    if progress:
        progress(f"{len(data.rows)} labelled documents; computing n-gram features")
    counts = hashed_counts([r.text for r in data.rows], model)
    evaluation = evaluate(
        counts, data, folds=folds, seed=seed, settings=model, curve=curve, progress=progress
    )
    if progress:
        progress("training on every labelled document")
    classifiers = train_all(counts, data, model)
    reasons = not_ready_reasons(evaluation)
    return Suggester(
        model_version=model_version(taxonomy.version, data.rows, model.to_json()),
        evaluation=evaluation,
        ready=not reasons,
        reasons=reasons,
        taxonomy_version=taxonomy.version,
        training_documents=len(data.rows),
        settings=model,
        classifiers=classifiers,
    )


def train_all(counts: Any, data: TrainingData, model: ModelSettings) -> Classifiers:
    """The model trained on every labelled document."""
    stance = {t: data.stance_labels(t) for t in data.targets}
    return train(counts, stance, data.topic_labels(), data.topics, model)
