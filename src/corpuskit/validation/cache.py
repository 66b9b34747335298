"""MinHash signatures and detected languages cached by content hash in `.corpuskit/cache/`, so warm
runs skip shingling and language detection.

One `.npy` file of records (first 8 and next 8 bytes of the content SHA-256, 128 signature
values), sorted by the first 8 bytes and memory-mapped: a worker looks a batch up with one
binary search and reads only the pages it needs. The file holds the signatures of the last
run's corpus, replaced atomically; a file of another version or shape is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from corpuskit.files import atomic_write
from corpuskit.validation.signatures import NUM_PERM, VERSION, Signatures, signatures

if TYPE_CHECKING:
    from corpuskit.documents.language import Detection

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


# -- detected languages ----------------------------------------------------------------------

_LANGUAGE_DTYPE = np.dtype(
    [("key", "<u8"), ("check", "<u8"), ("language", "S16"), ("confidence", "<f4"), ("by", "S8")]
)
# One detection as worker processes hand it back: (content SHA-256, language, confidence, by).
DetectionRow = tuple[bytes, str | None, float, str]


def _language_file() -> str:
    from corpuskit.documents.language import DETECTION_VERSION, SAMPLE_CHARS

    return f"languages-v{DETECTION_VERSION}-{SAMPLE_CHARS}.npy"


class LanguageCache:
    """Detected languages by content hash, in `.corpuskit/cache/` beside the signatures: the model
    is loaded and run only for text it has not seen. Same layout rules as SignatureCache (sorted,
    memory-mapped, replaced atomically with the last run's detections)."""

    def __init__(self, records: npt.NDArray[np.void]) -> None:
        self._records = records
        self._keys = records["key"]

    @classmethod
    def open(cls, folder: Path) -> LanguageCache | None:
        try:
            records = np.load(folder / _language_file(), mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None
        if records.dtype != _LANGUAGE_DTYPE or records.ndim != 1 or len(records) == 0:
            return None
        return cls(records)

    def get(self, sha: bytes) -> DetectionRow | None:
        key, check = np.frombuffer(sha[:16], dtype="<u8")
        where = min(int(np.searchsorted(self._keys, key)), len(self._keys) - 1)
        row = self._records[where]
        if row["key"] != key or row["check"] != check:
            return None
        language = bytes(row["language"]).decode("ascii")
        return sha, language or None, float(row["confidence"]), bytes(row["by"]).decode("ascii")

    @staticmethod
    def save(folder: Path, rows: Sequence[DetectionRow]) -> None:
        """Replace the cache with these detections; errors are ignored."""
        unique = {row[0][:16]: row for row in rows if len(row[0]) == 32}
        if not unique:
            return
        records = np.empty(len(unique), dtype=_LANGUAGE_DTYPE)
        keys = np.frombuffer(b"".join(unique), dtype="<u8").reshape(-1, 2)
        records["key"] = keys[:, 0]
        records["check"] = keys[:, 1]
        records["language"] = [(row[1] or "").encode("ascii") for row in unique.values()]
        records["confidence"] = [row[2] for row in unique.values()]
        records["by"] = [row[3].encode("ascii") for row in unique.values()]
        records.sort(order="key", kind="stable")
        try:
            atomic_write(folder / _language_file(), lambda out: np.save(out, records, allow_pickle=False))
        except OSError:
            return


class CachedDetector:
    """`detect_document` behind a LanguageCache, keyed by the document's content hash; `rows` keeps
    every detection given (looked up or made), for the next run's cache."""

    def __init__(self, cache: LanguageCache | None) -> None:
        self.cache = cache
        self.rows: list[DetectionRow] = []

    def __call__(self, document: Mapping[str, Any]) -> Detection:
        from corpuskit.documents.language import Detection, detect_document

        sha = _sha_of(document)
        if sha is None:
            return detect_document(document)
        row = self.cache.get(sha) if self.cache is not None else None
        if row is None:
            found = detect_document(document)
            row = (sha, found.language, found.confidence, found.by)
        self.rows.append(row)
        return Detection(row[1], row[2], row[3])


def _sha_of(document: Mapping[str, Any]) -> bytes | None:
    value = document.get("content_sha256")
    if not isinstance(value, str) or len(value) != 64:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None
