"""Agreement coefficients on plain arrays: no annotations, no files, just the formulas.

Everything here works on a *count matrix*: one row per item (unit), one column per value, the cell
holding how many annotators gave that value to that item. Missing ratings are simply absent from the
counts, which is how Krippendorff's alpha and the varying-raters form of Fleiss' kappa define them.
Set-valued labels (topics) are first turned into one "value" per distinct set, so the same code serves
nominal, binary and MASI-distance alpha.
"""

from __future__ import annotations

import struct
from array import array
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a bootstrap percentile interval (None where undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def to_json(self) -> dict[str, float | None]:
        return {"value": _round(self.value), "low": _round(self.low), "high": _round(self.high)}


def _round(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def count_matrix(
    units: Sequence[Sequence[Hashable]], values: Sequence[Hashable] | None = None
) -> tuple[FloatArray, list[Hashable]]:
    """Turn per-item lists of ratings into an item x value count matrix (columns in `values` order)."""
    if values is None:
        seen: dict[Hashable, None] = {}
        for unit in units:
            for v in unit:
                seen.setdefault(v, None)
        values = list(seen)
    index = {v: i for i, v in enumerate(values)}
    counts = np.zeros((len(units), len(values)), dtype=np.float64)
    for row, unit in enumerate(units):
        for v in unit:
            counts[row, index[v]] += 1
    return counts, list(values)


def nominal_delta(k: int) -> FloatArray:
    """Nominal distance: 0 on the diagonal, 1 elsewhere."""
    return np.ones((k, k), dtype=np.float64) - np.eye(k, dtype=np.float64)


def masi_distance(a: frozenset[Hashable], b: frozenset[Hashable]) -> float:
    """MASI distance (Passonneau 2006): 1 - Jaccard * monotonicity.

    Monotonicity is 1 for equal sets, 2/3 when one contains the other, 1/3 when they overlap
    otherwise, 0 when disjoint. Two empty sets are equal (distance 0); an empty and a non-empty
    set are disjoint (distance 1).
    """
    if a == b:
        return 0.0
    union = len(a | b)
    inter = len(a & b)
    if inter == 0:
        return 1.0
    m = 2.0 / 3.0 if a <= b or b <= a else 1.0 / 3.0
    return 1.0 - (inter / union) * m


def delta_matrix(values: Sequence[Any], distance: Callable[[Any, Any], float]) -> FloatArray:
    """Pairwise distance matrix between the value columns of a count matrix."""
    k = len(values)
    delta = np.zeros((k, k), dtype=np.float64)
    for i in range(k):
        for j in range(i + 1, k):
            delta[i, j] = delta[j, i] = distance(values[i], values[j])
    return delta


def _pairable(counts: FloatArray) -> FloatArray:
    """Rows with at least two ratings: the only ones that carry information about agreement."""
    pairable: FloatArray = counts[counts.sum(axis=1) >= 2]
    return pairable


def alpha_from_counts(counts: FloatArray, delta: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """Krippendorff's alpha from the coincidence formulation, for any distance `delta`.

    alpha = 1 - (n - 1) * sum_u sum_ck n_uc n_uk delta_ck / (m_u - 1)  /  sum_ck n_c n_k delta_ck,
    over items with m_u >= 2 ratings (Krippendorff 2011, section on coincidences). `weights` is a
    (draws x items) matrix of item multiplicities, so that one call computes every bootstrap draw;
    without it the result is a 1-element array.
    """
    counts = _pairable(counts) if weights is None else counts
    w = np.ones((1, counts.shape[0])) if weights is None else weights
    m = counts.sum(axis=1)
    ok = m >= 2
    per_item = np.zeros(counts.shape[0])
    if ok.any():
        c = counts[ok]
        per_item[ok] = np.einsum("uc,cd,ud->u", c, delta, c) / (m[ok] - 1)
    w = w * ok  # items with fewer than two ratings are not pairable and drop out
    n_c = w @ counts
    n = n_c.sum(axis=1)
    observed = w @ per_item
    expected = np.einsum("bc,cd,bd->b", n_c, delta, n_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        result: FloatArray = np.where(expected > 0, 1.0 - (n - 1) * observed / expected, np.nan)
    return result


def fleiss_kappa_from_counts(counts: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """Fleiss' (1971) kappa; with varying numbers of ratings per item, its natural generalisation.

    P_i = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1)) for items with n_i >= 2, P_bar = their mean,
    p_j = share of category j among all ratings of those items, P_e = sum_j p_j^2. With a constant
    number of raters this is exactly Fleiss' formula.
    """
    counts = _pairable(counts) if weights is None else counts
    w = np.ones((1, counts.shape[0])) if weights is None else weights
    m = counts.sum(axis=1)
    ok = m >= 2
    p_i = np.zeros(counts.shape[0])
    p_i[ok] = ((counts[ok] ** 2).sum(axis=1) - m[ok]) / (m[ok] * (m[ok] - 1))
    w = w * ok
    n_items = w.sum(axis=1)
    n_c = w @ counts
    with np.errstate(divide="ignore", invalid="ignore"):
        p_bar = (w @ p_i) / n_items
        p_j = n_c / n_c.sum(axis=1, keepdims=True)
        p_e = (p_j**2).sum(axis=1)
        result: FloatArray = np.where((n_items > 0) & (p_e < 1), (p_bar - p_e) / (1 - p_e), np.nan)
    return result


def cohen_kappa_from_table(table: FloatArray) -> float | None:
    """Cohen's (1960) kappa from a k x k contingency table (rows: rater A, columns: rater B)."""
    total = table.sum()
    if total == 0:
        return None
    p_o = np.trace(table) / total
    p_e = float((table.sum(axis=1) / total) @ (table.sum(axis=0) / total))
    if p_e >= 1:
        return None
    return float((p_o - p_e) / (1 - p_e))


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two aligned rating lists."""
    values = sorted(set(a) | set(b), key=repr)
    index = {v: i for i, v in enumerate(values)}
    table = np.zeros((len(values), len(values)))
    for x, y in zip(a, b, strict=True):
        table[index[x], index[y]] += 1
    return cohen_kappa_from_table(table)


def item_agreement(counts: Sequence[float]) -> float | None:
    """Share of agreeing annotator pairs on one item (Fleiss' P_i); None below two ratings."""
    m = float(sum(counts))
    if m < 2:
        return None
    return float((sum(c * c for c in counts) - m) / (m * (m - 1)))


@dataclass
class Resampler:
    """Seeded bootstrap over items: `draws` resamples with replacement, as item-multiplicity matrices.

    Draws come in chunks of at most `max_cells` matrix cells; up to `cache_cells` cells in all they are
    kept and reused by every statistic of a report (the costly part is drawing them), beyond that they
    are drawn again for each statistic so that memory stays bounded. The same seed always yields the
    same resamples, so every question of one report is resampled identically."""

    n_items: int
    draws: int
    seed: int
    max_cells: int = 4_000_000
    cache_cells: int = 25_000_000
    _cache: list[FloatArray] | None = field(default=None, repr=False)

    def _draw(self) -> Iterator[FloatArray]:
        rng = np.random.default_rng(self.seed)
        size = max(1, self.max_cells // max(1, self.n_items))
        done = 0
        while done < self.draws:
            c = min(size, self.draws - done)
            picks = rng.integers(0, max(1, self.n_items), size=(c, self.n_items), dtype=np.int64)
            picks += (np.arange(c, dtype=np.int64) * self.n_items)[:, None]
            counts = np.bincount(picks.ravel(), minlength=c * self.n_items).reshape(c, self.n_items)
            yield counts.astype(np.float64)
            done += c

    def chunks(self) -> Iterator[FloatArray]:
        if self._cache is not None:
            yield from self._cache
            return
        if self.n_items * self.draws > self.cache_cells:
            yield from self._draw()
            return
        self._cache = list(self._draw())
        yield from self._cache

    def apply(self, statistic: Callable[[FloatArray], FloatArray]) -> FloatArray:
        """The statistic on every resample (one value per draw)."""
        parts = [statistic(weights) for weights in self.chunks()]
        return np.concatenate(parts) if parts else np.zeros(0)


# Items handled at once where a whole column of items would be copied (bootstrap picks, counting):
# 65,536 picks are 512 KB, whatever the number of documents.
PIECE = 1 << 16


class Patterns:
    """A count matrix kept as its distinct rows: one small number per item, naming its pattern.

    Every coefficient here is a sum over items of something that depends only on the item's counts,
    so items with the same counts can be summed together: the matrix of distinct rows weighted by
    how often each occurs (`frequencies`), or, in a bootstrap, by how often each was drawn
    (`resample_patterns`). An item costs 1 byte while there are at most 256 distinct rows, 2 up to
    65,536, 4 beyond; the distinct rows themselves are few (for 3 annotators and 5 values, 35)."""

    def __init__(self) -> None:
        self.ids: dict[Hashable, int] = {}
        self.items: array[int] = array("B")

    def add(self, key: Hashable) -> None:
        """One item, whose counts `key` names (a tuple of counts, or any hashable that maps to them)."""
        number = self.ids.get(key)
        if number is None:
            number = self.ids[key] = len(self.ids)
            if number == 256 or number == 65_536:
                self.items = array("H" if number == 256 else "I", self.items)
        self.items.append(number)

    def __len__(self) -> int:
        return len(self.items)

    def keys(self) -> list[Hashable]:
        """The distinct keys, in the order of their pattern numbers."""
        return list(self.ids)

    def numbers(self) -> npt.NDArray[Any]:
        """The pattern number of every item, in item order (a view, no copy)."""
        dtype = {"B": np.uint8, "H": np.uint16, "I": np.uint32}[self.items.typecode]
        return np.frombuffer(self.items, dtype=dtype) if self.items else np.zeros(0, dtype=dtype)

    def frequencies(self) -> FloatArray:
        """How many items have each pattern, as a (1 x patterns) weight row."""
        found = np.zeros(len(self.ids), dtype=np.int64)
        numbers = self.numbers()
        for start in range(0, len(numbers), PIECE):  # bincount widens its input: a piece at a time
            found += np.bincount(numbers[start : start + PIECE], minlength=len(self.ids))
        return found.astype(np.float64)[None, :]


def iter_resampled(
    patterns: Sequence[Patterns], draws: int, seed: int, piece: int = PIECE, max_cells: int = 1 << 19
) -> Iterator[list[IntArray]]:
    """The draws of `Resampler(n_items, draws, seed)` grouped by pattern, for several questions at
    once, in blocks of consecutive draws.

    For each question a (block x patterns) matrix: how many of a draw's picks fell on an item of each
    pattern, which is the item multiplicities summed per pattern. The random numbers are the same,
    in the same order, as `Resampler`'s (numpy's generator yields the same stream whether it is asked
    for one block or for consecutive pieces), but they are taken `piece` at a time and never kept,
    and a block holds at most `max_cells` counts per question: memory grows neither with draws x
    items nor with draws x patterns."""
    n_items = len(patterns[0]) if patterns else 0
    if any(len(p) != n_items for p in patterns):
        raise ValueError("every question must have one pattern number per item")
    widest = max((len(p.ids) for p in patterns), default=1)
    block = max(1, max_cells // max(1, widest))
    numbers = [p.numbers() for p in patterns]
    rng = np.random.default_rng(seed)
    for first_draw in range(0, draws, block):
        size_of_block = min(block, draws - first_draw)
        found: list[IntArray] = [np.zeros((size_of_block, len(p.ids)), dtype=np.int64) for p in patterns]
        for draw in range(size_of_block if n_items else 0):
            left = n_items
            while left:
                size = min(left, piece)
                picks = rng.integers(0, n_items, size=size, dtype=np.int64)
                for question, ids in enumerate(numbers):
                    found[question][draw] += np.bincount(ids[picks], minlength=found[question].shape[1])
                left -= size
        yield found


def resample_patterns(
    patterns: Sequence[Patterns], draws: int, seed: int, piece: int = PIECE, max_cells: int = 1 << 19
) -> list[IntArray]:
    """Every block of `iter_resampled` put together: per question, a (draws x patterns) matrix."""
    blocks = list(iter_resampled(patterns, draws, seed, piece, max_cells))
    return [
        np.vstack([block[q] for block in blocks]) if blocks else np.zeros((0, len(p.ids)), dtype=np.int64)
        for q, p in enumerate(patterns)
    ]


def _order_key(x: float) -> int:
    """An integer that sorts as the float does (its IEEE 754 bits, negative numbers reversed)."""
    bits: int = struct.unpack("<Q", struct.pack("<d", x))[0]
    return bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63


class StreamedMedian:
    """The exact median of values met twice (as `statistics.median` gives it), keeping only values
    near the middle: the first pass counts them (`count`) per bucket of the first 16 bits of their
    order (sign, exponent and 4 bits of mantissa: 1/16 of a doubling), the second keeps (`keep`),
    with their multiplicity, only the values of the one or two buckets where the middle ranks fall.
    Without a first pass every value is kept."""

    SHIFT = 48

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.kept: Counter[float] = Counter()
        self.seen = 0
        self._below: dict[int, int] | None = None  # wanted bucket -> values in the buckets below it

    def count(self, x: float) -> None:
        self.buckets[_order_key(x) >> self.SHIFT] += 1

    def second_pass(self) -> StreamedMedian:
        """A fresh median to `keep` the values again, planned on this one's counts."""
        again = StreamedMedian()
        again.buckets = self.buckets
        return again

    def _plan(self) -> dict[int, int]:
        total = sum(self.buckets.values())
        ranks = {(total - 1) // 2, total // 2}
        below, wanted = 0, {}
        for bucket in sorted(self.buckets):
            size = self.buckets[bucket]
            if any(below <= r < below + size for r in ranks):
                wanted[bucket] = below
            below += size
        return wanted

    def keep(self, x: float) -> None:
        self.seen += 1
        if not self.buckets:
            self.kept[x] += 1
            return
        if self._below is None:
            self._below = self._plan()
        if _order_key(x) >> self.SHIFT in self._below:
            self.kept[x] += 1

    def median(self) -> float | None:
        if self.seen == 0:
            return None
        if self.buckets and self.seen != sum(self.buckets.values()):
            raise ValueError(
                f"{self.seen} values met the second time, {sum(self.buckets.values())} the first"
            )
        start = min(self._below.values()) if self._below else 0
        n = self.seen

        def at(rank: int) -> float:
            position = start
            for value in sorted(self.kept):
                position += self.kept[value]
                if rank < position:
                    return value
            raise ValueError("the values changed between the two passes")

        if n % 2:
            return at(n // 2)
        return (at(n // 2 - 1) + at(n // 2)) / 2


def bootstrap_weights(n_items: int, draws: int, seed: int) -> FloatArray:
    """All item multiplicities of `Resampler(n_items, draws, seed)` as one (draws x items) matrix."""
    chunks = list(Resampler(n_items, draws, seed).chunks())
    return np.vstack(chunks) if chunks else np.zeros((0, n_items))


def percentile_interval(point: float | None, samples: FloatArray, confidence: float = 0.95) -> Interval:
    """Percentile interval of the finite bootstrap samples around a point estimate."""
    finite = samples[np.isfinite(samples)]
    if point is None or not np.isfinite(point) or finite.size == 0:
        return Interval(point if point is not None and np.isfinite(point) else None)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(float(point), float(low), float(high))


def first(values: FloatArray) -> float | None:
    """The single value of a 1-element result as a float, None when undefined."""
    x = float(values[0])
    return x if np.isfinite(x) else None
