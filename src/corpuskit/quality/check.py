"""The release gate: is agreement high enough and is every gold label decided by enough people?

Fails (each failure names the target or the document):
- a stance target, or the topic sets (MASI), whose Krippendorff's alpha is below `min_alpha`, or
  undefined (no document with two answers, or no variation at all);
- a gold label left `unresolved` (tie, no majority, one answer on a document several labelled, no votes);
- a gold label decided by `majority` with fewer than `min_annotators` answers;
- a gold label decided by a `single` annotator on a document that the overlap design meant for k
  (in the overlap share, or a pilot document): its other annotators have not answered yet.
Labels decided by `ground_truth` or `adjudicated` need no minimum: a named person decided them;
`single` labels on documents the design gives one annotator are accepted (the card reports them).

`assess` is the one quality assessment: `corpuskit gold --check`, the release gate and `corpuskit
status` all call it, so the same snapshot gets the same gold, the same alpha and the same bootstrap
intervals (`DRAWS` draws, seed `SEED`) wherever it is judged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpuskit.quality.agreement import (
    DEFAULT_DRAWS,
    DEFAULT_SEED,
    AgreementAccumulator,
    AgreementResult,
    Coefficients,
    compute_agreement,
)
from corpuskit.quality.design import OverlapDesign
from corpuskit.quality.gold import Adjudication, Gold, GoldRow, compute_gold, decide_document
from corpuskit.quality.ratings import (
    Ratings,
    TaxonomyLike,
    Vocabulary,
    document_answers,
    iter_groups_of,
    scan_vocabulary,
)

# Bootstrap draws and seed of every quality judgement. 1,000 draws: a 95% percentile interval then
# rests on the 25th and 975th of the sorted draws rather than the 5th and 195th, and the whole
# assessment of a 10,000-document snapshot still takes about a second (docs/quality.md).
DRAWS = DEFAULT_DRAWS
SEED = DEFAULT_SEED


@dataclass(frozen=True)
class Failure:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message}


@dataclass
class CheckResult:
    min_annotators: int
    min_alpha: float
    targets: list[Failure] = field(default_factory=list)
    items: list[Failure] = field(default_factory=list)
    checked_items: int = 0
    # Every gold label that fell short is counted; `items` keeps the first `keep_items` of them
    # (None: all), so that a caller that shows a few holds a few.
    failed_items: int = 0
    keep_items: int | None = None

    @property
    def ok(self) -> bool:
        return not self.targets and not self.failed_items

    def add_item(self, failure: Failure) -> None:
        self.failed_items += 1
        if self.keep_items is None or len(self.items) < self.keep_items:
            self.items.append(failure)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "min_annotators": self.min_annotators,
            "min_alpha": self.min_alpha,
            "checked_items": self.checked_items,
            "targets": [f.to_json() for f in self.targets],
            "items": [f.to_json() for f in self.items],
        }


def _alpha_failure(where: str, c: Coefficients, min_alpha: float) -> Failure | None:
    value = c.alpha.value
    if value is None:
        return Failure(where, f"alpha is undefined ({c.pairable_items} documents with two or more answers)")
    if value < min_alpha:
        low = f", 95% CI {c.alpha.low:.3f}-{c.alpha.high:.3f}" if c.alpha.low is not None else ""
        return Failure(where, f"alpha {value:.3f} < min_alpha {min_alpha:g}{low}")
    return None


def check_targets(check: CheckResult, result: AgreementResult) -> None:
    """Add the stance targets (and the topic sets) whose alpha is below `min_alpha` or undefined."""
    coefficients = [(f"stance.{c.name}", c) for c in result.stance]
    if result.topic_set.ratings:
        coefficients.append(("topics", result.topic_set))
    for where, c in coefficients:
        failure = _alpha_failure(where, c, check.min_alpha)
        if failure:
            check.targets.append(failure)


def check_row(check: CheckResult, row: GoldRow, design: OverlapDesign | None = None) -> None:
    """Add the gold labels of one document that fall short (`design`: see `check_quality`)."""
    min_annotators = check.min_annotators
    for name, d in row.decisions():
        check.checked_items += 1
        where = f"{row.document_id} {name}"
        if d.decided_by == "unresolved":
            why = ", ".join(d.flags) or "unresolved"
            votes = ", ".join(f"{k} {v}" for k, v in d.votes.items()) or "no votes"
            check.add_item(Failure(where, f"unresolved ({why}; {votes})"))
        elif d.decided_by == "single" and (
            design is None or design.overlap_of(row.document_id, pilot=row.pilot) > 1
        ):
            k = "every member" if row.pilot else f"{design.k if design else min_annotators} annotators"
            check.add_item(Failure(where, f"one annotator so far; the design asks for {k}"))
        elif d.decided_by == "majority" and d.n_annotators < min_annotators:
            check.add_item(Failure(where, f"{d.n_annotators} annotators < min_annotators {min_annotators}"))


def check_quality(
    result: AgreementResult,
    gold: Gold,
    min_annotators: int,
    min_alpha: float,
    design: OverlapDesign | None = None,
) -> CheckResult:
    """Compare agreement and gold against the thresholds (`design`: which documents were meant
    for one annotator; None means every document was meant for several)."""
    check = CheckResult(min_annotators=min_annotators, min_alpha=min_alpha)
    check_targets(check, result)
    for row in gold.rows:
        check_row(check, row, design)
    return check


@dataclass(frozen=True)
class Assessment:
    """Gold, agreement and the threshold check of one set of ratings."""

    gold: Gold
    agreement: AgreementResult
    check: CheckResult


def assess(
    ratings: Ratings,
    *,
    min_annotators: int,
    min_alpha: float,
    adjudications: Mapping[str, Adjudication] | None = None,
    design: OverlapDesign | None = None,
    source: str = "<rows>",
) -> Assessment:
    """The one quality assessment: gold, agreement with `DRAWS` bootstrap draws (seed `SEED`), and
    the check against the thresholds (`design`: see `check_quality`)."""
    gold = compute_gold(ratings, adjudications, min_annotators)
    result = compute_agreement(ratings, gold, draws=DRAWS, seed=SEED, source=source)
    return Assessment(gold, result, check_quality(result, gold, min_annotators, min_alpha, design))


Groups = Iterator[tuple[str, Sequence[tuple[int, Mapping[str, Any]]]]]


@dataclass(frozen=True)
class StreamedAssessment:
    """`assess` taken one document at a time: the agreement and the check, and what is needed to
    decide the gold rows again (`gold_rows`) without having kept them."""

    agreement: AgreementResult
    check: CheckResult
    vocabulary: Vocabulary
    groups: Callable[[], Groups]
    adjudications: Mapping[str, Adjudication]
    source: str

    def gold_rows(self) -> Iterator[GoldRow]:
        """The gold rows, in document order, decided afresh from another read of the documents."""
        min_annotators = self.check.min_annotators
        for document_id, numbered in self.groups():
            answers = document_answers(document_id, numbered, self.source)
            yield decide_document(
                answers, self.vocabulary, self.adjudications.get(document_id), min_annotators
            )


def assess_streaming(
    groups: Callable[[], Groups],
    *,
    taxonomy: TaxonomyLike | None,
    adjudications: Mapping[str, Adjudication],
    min_annotators: int,
    min_alpha: float,
    design: OverlapDesign | None = None,
    source: str = "<rows>",
    keep_items: int | None = None,
) -> StreamedAssessment:
    """The same judgement as `assess` (the same figures, the same failures), from documents given one
    at a time: `groups()` yields (document id, numbered rows) in document order, and is called twice
    (the vocabulary, then the documents). Nothing per document is kept but what agreement needs
    (docs/quality.md, "Memory"); `keep_items`: see `CheckResult`."""
    check = CheckResult(min_annotators=min_annotators, min_alpha=min_alpha, keep_items=keep_items)
    vocabulary = scan_vocabulary(groups(), taxonomy, source)
    accumulator = AgreementAccumulator(vocabulary)
    for document_id, numbered in groups():
        answers = document_answers(document_id, numbered, source)
        row = decide_document(answers, vocabulary, adjudications.get(document_id), min_annotators)
        accumulator.add(answers, row)
        check_row(check, row, design)
    result = accumulator.result(draws=DRAWS, seed=SEED, source=source)
    check_targets(check, result)
    return StreamedAssessment(result, check, vocabulary, groups, adjudications, source)


def check_gold(
    snapshot: str | Path | None = None,
    *,
    rows: Iterable[Mapping[str, Any]] | None = None,
    adjudications: str | Path | Mapping[str, Adjudication] | None = None,
    taxonomy: TaxonomyLike | None = None,
    min_annotators: int | None = None,
    min_alpha: float | None = None,
    keep_items: int | None = None,
) -> CheckResult:
    """Check a snapshot against `min_annotators` / `min_alpha` (defaults: the `[tool.corpuskit]` settings).

    The same judgement as `assess`, taken one document at a time: the snapshot is read twice (its
    vocabulary, then its documents) and never held. Every failing gold label is counted
    (`failed_items`); `keep_items` bounds how many are kept in `items` (None: all, as
    `--format json` prints them)."""
    from corpuskit.quality.context import recorded_design, resolve_inputs

    inputs = resolve_inputs(snapshot, rows=rows, adjudications=adjudications, taxonomy=taxonomy)
    assessment = assess_streaming(
        lambda: iter_groups_of(inputs.rows, inputs.source),
        taxonomy=inputs.taxonomy,
        adjudications=inputs.adjudications,
        min_annotators=inputs.settings.min_annotators if min_annotators is None else min_annotators,
        min_alpha=inputs.settings.min_alpha if min_alpha is None else min_alpha,
        design=recorded_design(inputs),
        source=inputs.source,
        keep_items=keep_items,
    )
    return assessment.check
