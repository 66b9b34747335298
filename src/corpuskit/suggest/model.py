"""Features and classifiers: word and character n-gram TF-IDF, logistic regression.

- **Features.** Word 1-2-grams and character 3-5-grams within words (`char_wb`), hashed
  (`HashingVectorizer`: no vocabulary to store, the same columns for every batch), then TF-IDF with
  sublinear term frequency, the IDF fitted on the training documents only and the n-grams seen in
  fewer than two of them dropped. Each block is normalised
  on its own and weighted 1/sqrt(2), so neither drowns the other. Character n-grams of a document
  are the sum of its words' n-grams, so they are computed once per distinct word of a batch and
  multiplied in: the same matrix as scikit-learn's `char_wb` analyser, about ten times faster on
  news-length texts.
- **Classifiers.** One multinomial logistic regression per stance target and one binary logistic
  regression per topic (one-vs-rest), all with balanced class weights (rare stances count as much as
  common ones, which is what macro-F1 rewards). Probabilities are logistic regression's own:
  it minimises log loss, a proper scoring rule, so its probabilities are close to calibrated on
  held-out data without a second fit; `CalibratedClassifierCV` would train every classifier three to
  five more times for a ranking (the queue's order) that barely moves. The evaluation reports the
  expected calibration error so that the claim is checked on every corpus.
- **Score.** A document's score is the model's confidence in its least sure stance decision and in
  its topic decisions on average (`min(max_c p(stance_t = c) for each target, mean over topics of
  max(p, 1 - p))`), in [0, 1]; Label Studio's uncertainty sampling serves the lowest first.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# An n-gram must occur in this many training documents to become a feature.
MIN_DF = 2
# A numpy array of any element type (probabilities, booleans, labels).
Array = npt.NDArray[Any]


@dataclass(frozen=True)
class ModelSettings:
    """Everything that decides what a trained model predicts (part of its model_version)."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (3, 5)
    hash_bits: int = 20
    c: float = 1.0  # inverse regularisation strength (scikit-learn's default: converges in a few dozen steps)
    max_iter: int = 500
    # lbfgs stops when the largest gradient component is below this: at 1e-3 the multinomial fit on
    # 10,000 documents takes half the steps of scikit-learn's 1e-4 for the same held-out macro-F1.
    tol: float = 1e-3
    topic_threshold: float = 0.5

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "tfidf-logreg",
            **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()},
        }


def hashed_counts(texts: Sequence[str], settings: ModelSettings) -> csr_matrix:
    """Raw n-gram counts of `texts`: word block then character block (stateless, any batch)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

    n_features = 2**settings.hash_bits
    words = HashingVectorizer(
        n_features=n_features, ngram_range=settings.word_ngrams, alternate_sign=False, norm=None
    ).transform(texts)
    # char_wb splits on whitespace after lowercasing: count those tokens, hash each distinct one once.
    tokens = CountVectorizer(lowercase=True, tokenizer=str.split, token_pattern=None)
    try:
        per_token = tokens.fit_transform(texts)
    except ValueError:  # no token at all (empty texts)
        return hstack([words, words * 0]).tocsr()
    vocabulary = tokens.get_feature_names_out()
    chars = HashingVectorizer(
        n_features=n_features,
        analyzer="char_wb",
        ngram_range=settings.char_ngrams,
        alternate_sign=False,
        norm=None,
    ).transform(vocabulary)
    return hstack([words, per_token @ chars]).tocsr()


class Weighting:
    """TF-IDF fitted on training rows: the n-grams in at least `MIN_DF` of them (the rest cannot
    generalise and only slow the fit down), sublinear tf, smooth idf (as scikit-learn's
    `TfidfTransformer`), each block L2-normalised and weighted 1/sqrt(2)."""

    def __init__(self, counts: csr_matrix, n_features: int) -> None:
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        self.columns = np.flatnonzero(df >= MIN_DF)
        self.split = int(np.searchsorted(self.columns, n_features))  # first character column
        n = counts.shape[0]
        self.idf = np.log((1 + n) / (1 + df[self.columns])) + 1.0

    def transform(self, counts: csr_matrix) -> csr_matrix:
        from scipy.sparse import csr_matrix, diags, hstack

        x = csr_matrix(counts[:, self.columns], dtype=np.float64)
        np.log(x.data, out=x.data)
        x.data += 1.0
        x = (x @ diags(self.idf)).tocsr()
        parts = [_l2(x[:, : self.split]), _l2(x[:, self.split :])]
        return csr_matrix(hstack(parts) * (1 / math.sqrt(2)))


def _l2(x: csr_matrix) -> csr_matrix:
    """Rows scaled to unit length (an empty row stays empty; no column at all is fine too)."""
    from scipy.sparse import diags

    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return (diags(1.0 / norms) @ x).tocsr()


class _Constant:
    """The classifier of a question with one class in its training data: that class, probability 1."""

    def __init__(self, label: Any) -> None:
        self.classes_ = np.array([label])

    def predict_proba(self, x: csr_matrix) -> Array:
        ones: Array = np.ones((x.shape[0], 1))
        return ones


def _logistic(x: csr_matrix, y: Sequence[Any], settings: ModelSettings) -> Any:
    if len(set(y)) < 2 or x.shape[1] == 0:
        # One class, or no n-gram in two training documents (a handful of tiny texts): nothing to
        # learn, so the most common class.
        return _Constant(Counter(y).most_common(1)[0][0])
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        C=settings.c, class_weight="balanced", max_iter=settings.max_iter, tol=settings.tol
    )
    with warnings.catch_warnings():
        # Not converged to lbfgs' tolerance within max_iter moves the probabilities in the third
        # decimal; the cross-validated figures are what says whether the model is good enough.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, np.asarray(y))
    return model


@dataclass
class Classifiers:
    """The trained stance classifiers (per target) and topic classifiers (per topic)."""

    weighting: Weighting
    stance: dict[str, Any]
    topics: dict[str, Any]
    settings: ModelSettings

    def stance_proba(self, x: csr_matrix) -> dict[str, tuple[list[str], Array]]:
        """Target -> (classes, probabilities n x classes)."""
        return {t: ([str(c) for c in m.classes_], m.predict_proba(x)) for t, m in self.stance.items()}

    def topic_proba(self, x: csr_matrix) -> dict[str, Array]:
        """Topic -> probability that it is present (n)."""
        out: dict[str, Array] = {}
        for topic, m in self.topics.items():
            proba = m.predict_proba(x)
            classes = list(m.classes_)
            out[topic] = proba[:, classes.index(True)] if True in classes else np.zeros(x.shape[0])
        return out


def train(
    counts: csr_matrix,
    stance: Mapping[str, tuple[Sequence[int], Sequence[str]]],
    topics: tuple[Sequence[int], Sequence[tuple[str, ...]]],
    topic_ids: Sequence[str],
    settings: ModelSettings,
) -> Classifiers:
    """Fit the weighting on the rows of `counts` and the classifiers on their labels (row indices of
    `counts` with the gold of each question)."""
    weighting = Weighting(counts, 2**settings.hash_bits)
    x = weighting.transform(counts)
    stance_models = {
        t: _logistic(x[list(index)], list(y), settings) for t, (index, y) in stance.items() if index
    }
    topic_index, topic_sets = topics
    topic_models: dict[str, Any] = {}
    if topic_index:
        xt = x[list(topic_index)]
        for topic in topic_ids:
            topic_models[topic] = _logistic(xt, [topic in s for s in topic_sets], settings)
    return Classifiers(weighting, stance_models, topic_models, settings)


def confidence(stance: Mapping[str, tuple[list[str], Array]], topics: Mapping[str, Array], n: int) -> Array:
    """Per document: the least confident stance decision and the mean topic confidence, the lower."""
    parts = [proba.max(axis=1) for _, proba in stance.values()]
    if topics:
        parts.append(np.mean([np.maximum(p, 1 - p) for p in topics.values()], axis=0))
    if not parts:
        return np.ones(n)
    result: Array = np.clip(np.min(parts, axis=0), 0.0, 1.0)
    return result
