"""A model in the loop: suggestions trained on a snapshot's gold, evaluated honestly, never on a server.

`fit` reads a snapshot folder (its tasks' texts and the gold `corpuskit gold` computes from its
annotations; predictions never count), trains word and character n-gram TF-IDF with logistic
regression (one classifier per stance target, one per topic), cross-validates it next to the
majority and chance baselines, and returns a `Suggester`: its `model_version`, its `evaluation`,
whether it is `ready` to push (and the `reasons` when not), and `predict`, which yields the rows
`corpuskit push --predictions` reads. `write_report` writes the Markdown report and its
learning-curve plot. Needs the `suggest` extra (scikit-learn).
"""

from corpuskit.suggest.data import TrainingData, TrainingRow, task_text, training_data
from corpuskit.suggest.evaluate import CurvePoint, Evaluation, Figure
from corpuskit.suggest.model import ModelSettings
from corpuskit.suggest.report import summary, write_report
from corpuskit.suggest.suggester import Suggester, fit

__all__ = [
    "CurvePoint",
    "Evaluation",
    "Figure",
    "ModelSettings",
    "Suggester",
    "TrainingData",
    "TrainingRow",
    "fit",
    "summary",
    "task_text",
    "training_data",
    "write_report",
]
