"""MinHash signatures of document bodies, many documents at a time, without numpy.

Shingles are word-anchored byte windows: after every whitespace or control byte (<= 0x20) of the
lower-cased UTF-8 body, the next 24 bytes (about four words) form one shingle; near the end the
window runs into 0xFF padding (a byte UTF-8 never holds). One compiled regular expression cuts them
all in C (`findall` with a look-ahead group: no match object per shingle), and rensa hashes the
byte strings and computes 128-permutation MinHash signatures in Rust.

Only the low 16 bits of each MinHash value are kept (b-bit minwise hashing): two different
values agree by chance with probability 2**-16, which `estimate_jaccard` corrects for. A
signature is 256 bytes (128 little-endian uint16), and a block of signatures is their
concatenation, so a million documents fit in 256 MB of plain bytes.
"""

from __future__ import annotations

import re
import sys
from array import array
from collections.abc import Sequence
from itertools import chain
from operator import eq

NUM_PERM = 128
SEED = 20241029
# Bump when shingling, hashing or the stored form changes: cached signatures of another version
# are ignored. (2: rensa hashes the shingle bytes; 1 hashed them with numpy.)
VERSION = 2
# One signature: NUM_PERM little-endian uint16 values.
SIGNATURE_BYTES = 2 * NUM_PERM

# A block of signatures, SIGNATURE_BYTES per document, in document order.
Signatures = bytes

_SHINGLE_BYTES = 24
_PAD = b"\xff" * _SHINGLE_BYTES
# The anchor byte is consumed; the shingle is captured in a look-ahead, so shingles overlap.
_SHINGLE = re.compile(rb"[\x00-\x20](?=(.{%d}))" % _SHINGLE_BYTES, re.DOTALL)
_CHANCE = 2.0**-16


# rensa may start native worker threads on first use; a process that has them must not fork
# workers (the children would wait on threads that do not exist in them).
_started = False


def started() -> bool:
    """Whether this process has computed signatures (and may hold rensa's threads)."""
    return _started


def empty() -> Signatures:
    return b""


def count(block: Signatures) -> int:
    """The number of signatures in a block."""
    return len(block) // SIGNATURE_BYTES


def shingles(text: str) -> list[bytes]:
    """The shingles of one body (repeats included; MinHash sees a set)."""
    return _SHINGLE.findall((" " + text.lower()).encode("utf-8") + _PAD)


def signatures(texts: Sequence[str]) -> Signatures:
    """One signature per text, concatenated."""
    import rensa

    global _started
    if not texts:
        return empty()
    _started = True
    matrix = rensa.RMinHash.digest_matrix_from_token_byte_sets(
        [shingles(text) for text in texts], NUM_PERM, SEED
    )
    values = array("I", chain.from_iterable(matrix.to_rows()))
    if values.itemsize != 4:  # pragma: no cover - no mainstream platform has another
        values = array("L", values)
    if sys.byteorder == "big":  # pragma: no cover
        values.byteswap()
    wide = values.tobytes()
    # The low two bytes of every little-endian 32-bit value, gathered by strided slicing.
    low = bytearray(len(wide) // 2)
    low[0::2] = wide[0::4]
    low[1::2] = wide[1::4]
    return bytes(low)


def _values(signature: bytes | memoryview) -> memoryview:
    view = memoryview(signature).cast("B").cast("H")
    if sys.byteorder == "big":  # pragma: no cover
        swapped = array("H", view)
        swapped.byteswap()
        return memoryview(swapped)
    return view


def estimate_jaccard(first: bytes | memoryview, second: bytes | memoryview) -> float:
    """Estimated Jaccard similarity of the shingle sets of two signatures (b-bit corrected)."""
    agree = int(sum(map(eq, _values(first), _values(second)))) / NUM_PERM
    return min(1.0, max(0.0, (agree - _CHANCE) / (1.0 - _CHANCE)))


def bands_for(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) with bands * rows == num_perm whose S-curve best separates pairs at `threshold`.

    False negatives weigh four times false positives: a candidate pair costs one comparison of
    two signatures, a missed near-duplicate is never reported.
    """
    grid = [step / 200 for step in range(201)]
    best: tuple[float, int, int] | None = None
    for rows in range(1, num_perm + 1):
        if num_perm % rows:
            continue
        bands = num_perm // rows
        candidate = [1.0 - (1.0 - s**rows) ** bands for s in grid]
        false_positive = sum(c for s, c in zip(grid, candidate, strict=True) if s < threshold) / len(grid)
        false_negative = sum(1.0 - c for s, c in zip(grid, candidate, strict=True) if s >= threshold) / len(
            grid
        )
        cost = false_positive + 4.0 * false_negative
        if best is None or cost < best[0]:
            best = (cost, bands, rows)
    assert best is not None
    return best[1], best[2]
