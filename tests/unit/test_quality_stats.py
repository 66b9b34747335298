"""Agreement coefficients against published worked examples (sources cited in tests/data/quality/*.json)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import binary_distance
from nltk.metrics.distance import masi_distance as nltk_masi_distance

from corpuskit.quality.agreement import compute_agreement
from corpuskit.quality.ratings import build_ratings
from corpuskit.quality.stats import (
    Patterns,
    StreamedMedian,
    alpha_from_counts,
    bootstrap_weights,
    cohen_kappa,
    cohen_kappa_from_table,
    count_matrix,
    delta_matrix,
    first,
    fleiss_kappa_from_counts,
    item_agreement,
    masi_distance,
    nominal_delta,
    percentile_interval,
    resample_patterns,
)

DATA = Path(__file__).parents[1] / "data" / "quality"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


def units_of(coders: dict[str, list[int | None]]) -> list[list[int]]:
    n = len(next(iter(coders.values())))
    return [[c[u] for c in coders.values() if c[u] is not None] for u in range(n)]


def rows_from_matrix(coders: dict[str, list[Any]], target: str = "q") -> list[dict[str, Any]]:
    """Reliability data (coder -> values per unit, None = missing) as annotation rows."""
    rows = []
    for name, values in coders.items():
        for unit, value in enumerate(values):
            if value is not None:
                rows.append(
                    {
                        "document_id": f"u{unit:02d}",
                        "annotation_id": len(rows) + 1,
                        "annotator": {"id": None, "email": f"{name}@example.org"},
                        "stance": {target: str(value)},
                        "topics": None,
                    }
                )
    return rows


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: nominal 0.743, interval 0.849.
def test_krippendorff_2011_nominal_alpha_from_counts() -> None:
    example = load("krippendorff_2011.json")
    counts, values = count_matrix(units_of(example["coders"]))
    alpha = first(alpha_from_counts(counts, nominal_delta(len(values))))
    assert alpha == pytest.approx(example["published"]["nominal"], abs=5e-4)


def test_krippendorff_2011_interval_alpha_checks_the_custom_distance_path() -> None:
    example = load("krippendorff_2011.json")
    counts, values = count_matrix(units_of(example["coders"]))
    delta = delta_matrix(values, lambda a, b: float((a - b) ** 2))
    assert first(alpha_from_counts(counts, delta)) == pytest.approx(
        example["published"]["interval"], abs=5e-4
    )


def test_krippendorff_2011_through_agreement_gives_the_published_alpha() -> None:
    example = load("krippendorff_2011.json")
    result = compute_agreement(build_ratings(rows_from_matrix(example["coders"])), draws=200, seed=1)
    target = result.target("q")
    assert round(target.alpha.value or 0, 3) == example["published"]["nominal"]
    # Unit 12 has one value: a single-annotated document compares nothing and is left out.
    assert target.items == 11 and target.pairable_items == 11
    assert result.counts["overlapped_documents"] == 11 and result.counts["single_documents"] == 1
    assert result.counts["annotators"] == 4


def test_masi_alpha_on_singleton_sets_reduces_to_nominal_alpha() -> None:
    """MASI between singletons is 0 (same) or 1 (different): the set-valued alpha must give 0.743."""
    example = load("krippendorff_2011.json")
    units = [[frozenset([v]) for v in unit] for unit in units_of(example["coders"])]
    counts, values = count_matrix(units)
    alpha = first(alpha_from_counts(counts, delta_matrix(values, masi_distance)))
    assert alpha == pytest.approx(example["published"]["nominal"], abs=5e-4)


# Fleiss (1971), Table 1: 30 patients x 6 raters, kappa = 0.430.
def test_fleiss_1971_kappa() -> None:
    example = load("fleiss_1971.json")
    counts, _ = count_matrix(example["ratings"], [1, 2, 3, 4, 5])
    assert counts.sum(axis=0).tolist() == example["published"]["category_totals"]
    kappa = first(fleiss_kappa_from_counts(counts))
    assert kappa is not None and round(kappa, 3) == example["published"]["kappa"]


def test_fleiss_1971_through_agreement() -> None:
    example = load("fleiss_1971.json")
    coders = {f"rater{r + 1}": [row[r] for row in example["ratings"]] for r in range(6)}
    target = compute_agreement(build_ratings(rows_from_matrix(coders)), draws=100).target("q")
    assert target.fleiss_kappa is not None and round(target.fleiss_kappa.value or 0, 3) == 0.430


def test_fleiss_with_varying_raters_drops_single_ratings_and_matches_constant_case() -> None:
    example = load("fleiss_1971.json")
    counts, _ = count_matrix(example["ratings"], [1, 2, 3, 4, 5])
    lone = np.zeros((3, 5))
    lone[:, 0] = 1  # three items with one rating each carry no information about agreement
    assert first(fleiss_kappa_from_counts(np.vstack([counts, lone]))) == pytest.approx(
        first(fleiss_kappa_from_counts(counts))
    )


# Cohen's kappa: Wikipedia worked example (0.400), SAS printout (0.4842),
# R irr kappa2 on anxiety (-0.006289308).
@pytest.mark.parametrize("case", load("cohen_examples.json")["tables"], ids=lambda c: c["name"])
def test_cohen_kappa_published_tables(case: dict[str, Any]) -> None:
    kappa = cohen_kappa_from_table(np.array(case["table"], dtype=float))
    assert kappa is not None and round(kappa, 3) == round(case["kappa"], 3)


@pytest.mark.parametrize("case", load("cohen_examples.json")["ratings"], ids=lambda c: c["name"])
def test_cohen_kappa_published_ratings(case: dict[str, Any]) -> None:
    kappa = cohen_kappa(case["a"], case["b"])
    assert kappa == pytest.approx(case["kappa"], abs=1e-6)


def test_cohen_kappa_is_undefined_when_both_raters_use_one_value() -> None:
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None


# MASI (Passonneau 2006): 1 - Jaccard * monotonicity (1 equal, 2/3 subset, 1/3 overlap, 0 disjoint).
@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({"A"}, {"A"}, 0.0),
        ({"A"}, {"A", "B"}, 1 - 0.5 * 2 / 3),
        ({"A", "B"}, {"B", "C"}, 1 - (1 / 3) * (1 / 3)),
        ({"A"}, {"B"}, 1.0),
        (set(), set(), 0.0),
        (set(), {"A"}, 1.0),
        ({1, 2}, {1, 2, 3, 4}, 1 - 0.5 * 2 / 3),
    ],
)
def test_masi_distance_definition(a: set[Any], b: set[Any], expected: float) -> None:
    assert masi_distance(frozenset(a), frozenset(b)) == pytest.approx(expected)
    assert masi_distance(frozenset(b), frozenset(a)) == pytest.approx(expected)


def test_masi_distance_matches_nltk() -> None:
    """NLTK's masi_distance (an independent implementation; 3.10 uses the exact 2/3 and 1/3 weights;
    its docs still quote 0.665 for {1, 2} vs {1, 2, 3, 4} from the old rounded 0.67)."""
    sets = [frozenset(s) for s in ({"a"}, {"a", "b"}, {"b", "c"}, {"c"}, {"a", "b", "c"})]
    for x, y in itertools.product(sets, sets):
        assert masi_distance(x, y) == pytest.approx(nltk_masi_distance(set(x), set(y)), abs=1e-12)


def test_set_alpha_matches_an_independent_implementation() -> None:
    """NLTK's AnnotationTask computes alpha its own way; given the same distance it must agree."""
    rng = np.random.default_rng(7)
    labels = ["a", "b", "c", "d"]
    data = []
    units: list[list[frozenset[str]]] = []
    for u in range(40):
        unit = []
        for coder in range(4):
            if rng.random() < 0.2:
                continue  # missing
            chosen = frozenset(x for x in labels if rng.random() < 0.35) or frozenset(["a"])
            unit.append(chosen)
            data.append((f"c{coder}", f"u{u}", chosen))
        units.append(unit)
    counts, values = count_matrix(units)
    ours = first(alpha_from_counts(counts, delta_matrix(values, masi_distance)))
    theirs = AnnotationTask(data=data, distance=lambda x, y: masi_distance(x, y)).alpha()
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_nominal_alpha_matches_nltk_on_krippendorff_example() -> None:
    example = load("krippendorff_2011.json")
    data = [(c, u, v) for c, vals in example["coders"].items() for u, v in enumerate(vals) if v is not None]
    counts, values = count_matrix(units_of(example["coders"]))
    ours = first(alpha_from_counts(counts, nominal_delta(len(values))))
    assert ours == pytest.approx(AnnotationTask(data=data, distance=binary_distance).alpha(), abs=1e-12)


def test_item_agreement_is_share_of_agreeing_pairs() -> None:
    assert item_agreement([2, 1]) == pytest.approx(1 / 3)
    assert item_agreement([3]) == 1.0
    assert item_agreement([1]) is None


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    example = load("fleiss_1971.json")
    counts, _ = count_matrix(example["ratings"], [1, 2, 3, 4, 5])
    point = first(fleiss_kappa_from_counts(counts))

    def interval(seed: int) -> tuple[float | None, float | None]:
        samples = fleiss_kappa_from_counts(counts, bootstrap_weights(len(counts), 1000, seed))
        ci = percentile_interval(point, samples)
        return ci.low, ci.high

    low, high = interval(3)
    assert interval(3) == (low, high)
    assert interval(4) != (low, high)
    assert low is not None and high is not None and low < (point or 0) < high
    assert low > 0.2 and high < 0.7  # about +-0.1 around 0.43 for 30 items


def test_bootstrap_weights_resample_items_with_replacement() -> None:
    weights = bootstrap_weights(30, 50, 0)
    assert weights.shape == (50, 30)
    assert (weights.sum(axis=1) == 30).all()
    assert (weights == 0).any()  # some items left out in some draws


def test_resample_patterns_are_the_resampler_draws_summed_per_pattern() -> None:
    """Pieces and blocks of any size give exactly the item multiplicities of `Resampler`, grouped by
    pattern."""
    rng = np.random.default_rng(5)
    n_items, draws = 701, 30
    questions = []
    for distinct in (3, 5000):  # the second one outgrows one byte per item
        patterns = Patterns()
        for key in rng.integers(0, distinct, size=n_items):
            patterns.add(("key", int(key)))
        questions.append(patterns)
    weights = bootstrap_weights(n_items, draws, seed=9)
    # Pieces of picks and blocks of draws of any size (`max_cells` 5: one draw per block).
    for piece, max_cells in ((1, 5), (7, 1 << 19), (700, 3000), (1 << 18, 1 << 19)):
        found = resample_patterns(questions, draws, seed=9, piece=piece, max_cells=max_cells)
        for patterns, per_pattern in zip(questions, found, strict=True):
            onehot = np.zeros((n_items, len(patterns.ids)))
            onehot[np.arange(n_items), patterns.numbers()] = 1
            assert per_pattern.shape == (draws, len(patterns.ids))
            assert (per_pattern == weights @ onehot).all()
    assert questions[1].items.typecode == "H"
    assert (questions[0].frequencies()[0] == np.bincount(questions[0].numbers())).all()


def _package_alpha(units: list[list[str]]) -> float:
    """`krippendorff.alpha` on the value counts of the units with two or more answers."""
    import krippendorff

    values = sorted({v for unit in units for v in unit})
    counts, _ = count_matrix([u for u in units if len(u) >= 2], values)
    return float(
        krippendorff.alpha(
            value_counts=counts.astype(np.int64),
            value_domain=np.arange(len(values), dtype=float),
            level_of_measurement="nominal",
        )
    )


@pytest.mark.parametrize("seed", range(6))
def test_nominal_alpha_equals_the_krippendorff_package_on_varied_data(seed: int) -> None:
    """The package is the reference for the point estimate: 2 to 7 coders, 2 to 6 values, missing
    answers, on the count form agreement computes (one row per distinct count pattern)."""
    rng = np.random.default_rng(seed)
    coders = int(rng.integers(2, 8))
    k = int(rng.integers(2, 7))
    truth = rng.integers(0, k, size=400)
    matrix: dict[str, list[Any]] = {}
    for c in range(coders):
        right = rng.random(400) < rng.uniform(0.4, 0.95)
        given = np.where(right, truth, rng.integers(0, k, size=400))
        matrix[f"c{c}"] = [None if rng.random() < 0.25 else int(v) for v in given]
    result = compute_agreement(build_ratings(rows_from_matrix(matrix)), draws=10, seed=0)
    expected = _package_alpha([[str(v) for v in unit] for unit in units_of(matrix)])
    assert result.target("q").alpha.value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert round(result.target("q").alpha.value or 0, 6) == round(expected, 6)


def test_alpha_of_the_pinned_snapshot_equals_the_krippendorff_package() -> None:
    """Every stance target and topic of the pinned corpus (tests/support/pinned_quality.py), against
    the package given the same kept answers."""
    from support.pinned_quality import snapshot_rows
    from support.synthetic import TARGETS

    rows, _, _ = snapshot_rows()
    ratings = build_ratings(rows)
    result = compute_agreement(ratings, draws=10, seed=0)
    documents = ratings.by_document
    for target in TARGETS:
        units = [list(d.stance(target).values()) for d in documents if len(d.kept) >= 2]
        expected = _package_alpha(units)
        assert result.target(target).alpha.value == pytest.approx(expected, rel=1e-12)
    checked = 0
    for c in result.topics:
        units = [
            ["present" if c.name in s else "absent" for s in d.topic_sets().values()]
            for d in documents
            if len(d.kept) >= 2
        ]
        if len({v for u in units if len(u) >= 2 for v in u}) < 2:
            assert c.alpha.value is None
            continue
        assert c.alpha.value == pytest.approx(_package_alpha(units), rel=1e-12)
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("seed", range(8))
def test_streamed_median_is_statistics_median_to_the_last_bit(seed: int) -> None:
    """Lead times read twice: counted per bucket, then only the middle buckets' values kept."""
    import statistics

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    kind = seed % 4
    if kind == 0:
        values = rng.lognormal(3, 1.5, size=n)  # seconds, spread over many doublings
    elif kind == 1:
        values = rng.integers(0, 4, size=n).astype(float) + 5.0  # few distinct values, many ties
    elif kind == 2:
        values = rng.normal(0, 1e-3, size=n)  # both signs, zero crossed
    else:
        values = np.round(rng.uniform(1, 1.01, size=n), 5)  # all in one bucket
    data = [float(v) for v in values]
    first = StreamedMedian()
    for v in data:
        first.count(v)
    again = first.second_pass()
    for v in data:
        again.keep(v)
    expected = statistics.median(data)
    assert again.median() == expected
    if kind == 0 and n > 100:
        assert sum(again.kept.values()) < n  # the point: most values are not kept
    alone = StreamedMedian()  # no first pass: every value kept
    for v in data:
        alone.keep(v)
    assert alone.median() == expected
    assert StreamedMedian().median() is None


def test_streamed_median_refuses_values_that_changed_between_passes() -> None:
    first = StreamedMedian()
    for v in (1.0, 2.0, 3.0):
        first.count(v)
    again = first.second_pass()
    for v in (1.0, 2.0):
        again.keep(v)
    with pytest.raises(ValueError, match="2 values met the second time, 3 the first"):
        again.median()
