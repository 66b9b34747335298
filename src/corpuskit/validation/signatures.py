"""MinHash signatures of document bodies, many documents at a time.

Shingles are word-anchored byte windows: after every whitespace byte of the lower-cased UTF-8
body, the next 24 bytes (about four words) form one shingle. They are hashed with a few numpy
operations over a whole batch (no Python object per word, which is what makes pure-Python word
shingling slow), and rensa turns the flat hash buffer into 128-permutation MinHash signatures.

Only the low 16 bits of each MinHash value are kept (b-bit minwise hashing): two different
values agree by chance with probability 2**-16, which `estimate_jaccard` corrects for, and a
signature costs 256 bytes, so a million documents fit in 256 MB.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

NUM_PERM = 128
SEED = 20241029
# Bump when shingling or hashing changes: cached signatures of another version are ignored.
VERSION = 1

Signatures = npt.NDArray[np.uint16]

_SHINGLE_BYTES = 24
# 0xFF never occurs in UTF-8, so padding never creates an anchor or matches text.
_PAD = b"\xff" * (_SHINGLE_BYTES + 8)
_C1 = np.uint64(0x9E3779B97F4A7C15)
_C2 = np.uint64(0xC2B2AE3D27D4EB4F)
_C3 = np.uint64(0x165667B19E3779F9)
_S = np.uint64(31)
_CHANCE = 2.0**-16


# rensa may start native worker threads on first use; a process that has them must not fork
# workers (the children would wait on threads that do not exist in them).
_started = False


def started() -> bool:
    """Whether this process has computed signatures (and may hold rensa's threads)."""
    return _started


def empty() -> Signatures:
    return np.zeros((0, NUM_PERM), dtype=np.uint16)


def signatures(texts: Sequence[str]) -> Signatures:
    """One signature row per text."""
    import rensa

    global _started
    if not texts:
        return empty()
    _started = True
    encoded = [(" " + text.lower()).encode("utf-8") for text in texts]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    buffer = _PAD.join(encoded) + _PAD
    starts = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths + len(_PAD), out=starts[1:])
    raw = np.frombuffer(buffer, dtype=np.uint8)
    anchors = np.flatnonzero(raw <= 0x20) + 1
    # Unaligned 8-byte reads at any offset: a strided view, gathered only at the anchors.
    words: npt.NDArray[np.uint64] = np.ndarray(
        shape=(len(buffer) - 7,), dtype="<u8", buffer=buffer, strides=(1,)
    )
    first = words[anchors] * _C1
    second = words[anchors + 8] * _C2
    third = words[anchors + 16] * _C3
    hashed = first ^ ((second << _S) | (second >> (np.uint64(64) - _S))) ^ third
    hashed ^= hashed >> np.uint64(29)
    offsets = np.searchsorted(anchors, starts).astype(np.uint64)
    offsets[-1] = len(anchors)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashed, offsets, NUM_PERM, SEED)
    return np.array(matrix.to_rows(), dtype=np.uint32).astype(np.uint16)


def estimate_jaccard(first: Signatures, second: Signatures) -> npt.NDArray[np.float64]:
    """Estimated Jaccard similarity of the shingle sets, row by row (b-bit corrected)."""
    agree = (first == second).mean(axis=-1)
    result: npt.NDArray[np.float64] = np.clip((agree - _CHANCE) / (1.0 - _CHANCE), 0.0, 1.0)
    return result


def bands_for(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) with bands * rows == num_perm whose S-curve best separates pairs at `threshold`.

    False negatives weigh four times false positives: a candidate pair costs one comparison of
    two signatures, a missed near-duplicate is never reported.
    """
    best: tuple[float, int, int] | None = None
    grid = np.linspace(0.0, 1.0, 201)
    for rows in range(1, num_perm + 1):
        if num_perm % rows:
            continue
        bands = num_perm // rows
        candidate = 1.0 - (1.0 - grid**rows) ** bands
        false_positive = float(np.mean(np.where(grid < threshold, candidate, 0.0)))
        false_negative = float(np.mean(np.where(grid >= threshold, 1.0 - candidate, 0.0)))
        cost = float(false_positive + 4.0 * false_negative)
        if best is None or cost < best[0]:
            best = (cost, bands, rows)
    assert best is not None
    return best[1], best[2]
