"""`bench.py suggest`: what a model in the loop saves, and how fast it trains and predicts.

1. **The loop, simulated** on a learnable corpus (tests/support/learnable.py, the recipe in its
   docstring and docs/suggest-model.md): a pool of documents to annotate and a held-out set. Both orders
   start from the same first `step` documents; then every `step` annotations the model is retrained
   on everything annotated so far and the next `step` documents are taken either in push order
   (*sequential*) or lowest score first (*uncertainty*, the score corpuskit pushes and Label Studio's
   uncertainty sampling sorts by). After each retraining the model is scored on the held-out set
   against its gold labels: mean stance macro-F1 over the targets, and topics micro-F1. The
   annotations saved are those the sequential order needs, minus those the uncertainty order needs,
   to first reach a fixed stance macro-F1 (by default the sequential order's figure at the end of
   the budget, less 0.01: a level both orders reach).
2. **Speed** on `train_n` documents: the features (hashed word and character n-grams) and the final
   training, next to the plain scikit-learn pipeline on the same documents (`TfidfVectorizer` word
   1-2-grams and `char_wb` 3-5-grams with min_df=2, the same logistic regressions); prediction
   throughput in documents per second.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# The learnable corpus is the tests' own (tests/support/learnable.py).
sys.path.insert(0, str(REPO / "tests"))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _setup() -> Any:
    from corpuskit.taxonomy import load_taxonomy

    return load_taxonomy(REPO / "schema" / "taxonomy.yaml")


def _labels(docs: list[Any], taxonomy: Any) -> tuple[dict[str, list[str]], list[tuple[str, ...]]]:
    return {t: [d.stance[t] for d in docs] for t in taxonomy.target_ids}, [d.topics for d in docs]


def _score(classifiers: Any, x: Any, docs: list[Any], taxonomy: Any) -> tuple[float, float]:
    """(mean stance macro-F1 over targets, topics micro-F1) of held-out documents against gold."""
    from corpuskit.suggest.evaluate import macro_f1, topic_f1

    stance = classifiers.stance_proba(x)
    scores = []
    for t in taxonomy.target_ids:
        classes, proba = stance[t]
        predicted = [classes[int(i)] for i in np.argmax(proba, axis=1)]
        truth = [d.stance[t] for d in docs]
        scores.append(macro_f1(truth, predicted, sorted(set(truth) | set(predicted))))
    topics = classifiers.topic_proba(x)
    truth_m = np.array([[t in d.topics for t in taxonomy.topic_ids] for d in docs], dtype=bool)
    predicted_m = np.array(
        [
            [topics[t][k] >= 0.5 if t in topics else False for t in taxonomy.topic_ids]
            for k in range(len(docs))
        ],
        dtype=bool,
    )
    return float(np.mean(scores)), topic_f1(truth_m, predicted_m)[0]


def _train(counts: Any, index: list[int], docs: list[Any], taxonomy: Any, settings: Any) -> Any:
    from corpuskit.suggest.model import train

    chosen = [docs[i] for i in index]
    stance, topics = _labels(chosen, taxonomy)
    local = list(range(len(index)))
    return train(
        counts[index],
        {t: (local, y) for t, y in stance.items()},
        (local, topics),
        taxonomy.topic_ids,
        settings,
    )


def simulate(pool_n: int, test_n: int, budget: int, step: int, seed: int) -> dict[str, Any]:
    from corpuskit.suggest.model import ModelSettings, confidence, hashed_counts
    from support.learnable import learnable_corpus

    taxonomy = _setup()
    settings = ModelSettings()
    docs = learnable_corpus(taxonomy, pool_n + test_n, seed=seed)
    pool, test = docs[:pool_n], docs[pool_n:]
    say(f"suggest: features of {len(docs)} learnable documents")
    counts = hashed_counts([f"{d.title}\n\n{d.text}" for d in docs], settings)
    pool_counts, test_counts = counts[:pool_n], counts[pool_n:]
    curves: dict[str, list[dict[str, Any]]] = {}
    for order in ("sequential", "uncertainty"):
        labelled = list(range(step))
        points = []
        while True:
            model = _train(pool_counts, labelled, pool, taxonomy, settings)
            x_test = model.weighting.transform(test_counts)
            stance_f1, topics_f1 = _score(model, x_test, test, taxonomy)
            points.append({"annotations": len(labelled), "stance_macro_f1": round(stance_f1, 4),
                           "topics_micro_f1": round(topics_f1, 4)})  # fmt: skip
            say(
                f"suggest: {order} {len(labelled)} annotations: stance {stance_f1:.3f} topics {topics_f1:.3f}"
            )
            if len(labelled) >= budget:
                break
            taken = set(labelled)
            rest = [i for i in range(pool_n) if i not in taken]
            if order == "sequential":
                labelled += rest[:step]
            else:
                x_rest = model.weighting.transform(pool_counts[rest])
                score = confidence(model.stance_proba(x_rest), model.topic_proba(x_rest), len(rest))
                # Lowest score first; ties by push order, as Label Studio breaks them by task id.
                labelled += [rest[k] for k in np.argsort(score, kind="stable")[:step]]
        curves[order] = points
    final = curves["sequential"][-1]["stance_macro_f1"]
    target = round(final - 0.01, 4)

    def needed(order: str) -> int | None:
        return next((p["annotations"] for p in curves[order] if p["stance_macro_f1"] >= target), None)

    seq, unc = needed("sequential"), needed("uncertainty")
    return {
        "pool": pool_n,
        "held_out": test_n,
        "budget": budget,
        "retrain_every": step,
        "seed": seed,
        "target_stance_macro_f1": target,
        "annotations_to_target": {"sequential": seq, "uncertainty": unc},
        "annotations_saved": None if seq is None or unc is None else seq - unc,
        "saved_share": None if seq is None or unc is None else round((seq - unc) / seq, 3),
        "curves": curves,
    }


def speed(train_n: int, seed: int) -> dict[str, Any]:
    import warnings

    from corpuskit.suggest.model import ModelSettings, confidence, hashed_counts, train
    from support.learnable import learnable_corpus

    taxonomy = _setup()
    settings = ModelSettings()
    docs = learnable_corpus(taxonomy, train_n, seed=seed + 1)
    texts = [f"{d.title}\n\n{d.text}" for d in docs]
    stance, topics = _labels(docs, taxonomy)
    every = list(range(train_n))
    say(f"suggest: training on {train_n} documents")
    started = time.perf_counter()
    counts = hashed_counts(texts, settings)
    features_s = time.perf_counter() - started
    model = train(
        counts, {t: (every, y) for t, y in stance.items()}, (every, topics), taxonomy.topic_ids, settings
    )
    train_s = time.perf_counter() - started - features_s
    started = time.perf_counter()
    x = model.weighting.transform(hashed_counts(texts, settings))
    confidence(model.stance_proba(x), model.topic_proba(x), train_n)
    predict_s = time.perf_counter() - started

    say(f"suggest: the plain scikit-learn pipeline on the same {train_n} documents")
    from scipy.sparse import hstack
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    plain = {"C": settings.c, "class_weight": "balanced", "max_iter": settings.max_iter, "tol": settings.tol}
    started = time.perf_counter()
    word = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(texts)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True).fit_transform(
        texts
    )
    x_raw = hstack([word, char]).tocsr()
    raw_features_s = time.perf_counter() - started
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for y in stance.values():
            LogisticRegression(**plain).fit(x_raw, y)
        for topic in taxonomy.topic_ids:
            labels = [topic in s for s in topics]
            LogisticRegression(**plain).fit(x_raw, labels)
    raw_train_s = time.perf_counter() - started - raw_features_s
    return {
        "documents": train_n,
        "mean_characters": round(sum(map(len, texts)) / train_n),
        "features_s": round(features_s, 2),
        "train_s": round(train_s, 2),
        "predict_documents_per_s": round(train_n / predict_s),
        "sklearn_plain_features_s": round(raw_features_s, 2),
        "sklearn_plain_train_s": round(raw_train_s, 2),
        "features_and_train_s": round(features_s + train_s, 2),
        "sklearn_plain_features_and_train_s": round(raw_features_s + raw_train_s, 2),
        "speedup_over_plain": round((raw_features_s + raw_train_s) / (features_s + train_s), 2),
    }


def figures(pool_n: int, test_n: int, budget: int, step: int, train_n: int, seed: int = 0) -> dict[str, Any]:
    return {"loop": simulate(pool_n, test_n, budget, step, seed), "speed": speed(train_n, seed)}
