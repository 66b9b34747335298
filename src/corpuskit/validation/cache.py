"""MinHash signatures cached by content hash in `.corpuskit/cache/`, so warm runs skip shingling.

One `.npy` file of records (first 8 and next 8 bytes of the content SHA-256, 128 signature
values), sorted by the first 8 bytes and memory-mapped: a worker looks a batch up with one
binary search and reads only the pages it needs. The file holds the signatures of the last
run's corpus, replaced atomically; a file of another version or shape is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from corpuskit.files import atomic_write
from corpuskit.validation.signatures import NUM_PERM, VERSION, Signatures, signatures

_DTYPE = np.dtype([("key", "<u8"), ("check", "<u8"), ("signature", "<u2", (NUM_PERM,))])
_NAME = f"signatures-v{VERSION}-{NUM_PERM}.npy"


class SignatureCache:
    def __init__(self, records: npt.NDArray[np.void]) -> None:
        self._records = records
        self._keys = records["key"]

    @classmethod
    def open(cls, folder: Path) -> SignatureCache | None:
        try:
            records = np.load(folder / _NAME, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None
        if records.dtype != _DTYPE or records.ndim != 1:
            return None
        return cls(records)

    def lookup(self, shas: Sequence[bytes]) -> tuple[npt.NDArray[np.bool_], Signatures]:
        """(found flags, signatures of the found ones in order)."""
        raw = np.frombuffer(b"".join(sha[:16] for sha in shas), dtype="<u8").reshape(-1, 2)
        where = np.searchsorted(self._keys, raw[:, 0])
        where = np.minimum(where, len(self._keys) - 1)
        rows = self._records[where]
        found = (rows["key"] == raw[:, 0]) & (rows["check"] == raw[:, 1])
        return found, np.asarray(rows["signature"][found], dtype=np.uint16)

    @staticmethod
    def save(folder: Path, shas: bytes, blocks: Sequence[Signatures]) -> None:
        """Replace the cache with these signatures (blocks of rows, one 32-byte SHA-256 per row);
        errors are ignored."""
        count = sum(len(block) for block in blocks)
        if count == 0 or len(shas) != 32 * count:
            return
        records = np.empty(count, dtype=_DTYPE)
        keys = np.frombuffer(shas, dtype="<u8").reshape(count, 4)
        records["key"] = keys[:, 0]
        records["check"] = keys[:, 1]
        start = 0
        for block in blocks:
            records["signature"][start : start + len(block)] = block
            start += len(block)
        records.sort(order="key", kind="stable")
        try:
            atomic_write(folder / _NAME, lambda out: np.save(out, records, allow_pickle=False))
        except OSError:
            # A cache that cannot be written only makes the next run slower.
            return


def signatures_for(texts: Sequence[str], shas: Sequence[bytes], cache: SignatureCache | None) -> Signatures:
    """Signatures of `texts`, taken from the cache where their content hash is known."""
    if cache is None or len(cache._keys) == 0:
        return signatures(texts)
    found, cached = cache.lookup(shas)
    if found.all():
        return cached
    result = np.empty((len(texts), NUM_PERM), dtype=np.uint16)
    result[found] = cached
    missing = np.flatnonzero(~found)
    result[missing] = signatures([texts[i] for i in missing.tolist()])
    return result
