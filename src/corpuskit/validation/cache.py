"""MinHash signatures and detected languages cached by content hash in `.corpuskit/cache/`, so warm
runs skip shingling and language detection.

Each cache is one file of fixed-width records keyed by the content SHA-256: a header (magic with
the layout version, record width, count), then the first 8 bytes of every hash as sorted
little-endian uint64 keys, the next 8 bytes of each as a check, then the records in the same order.
The file is memory-mapped: a worker finds a document with one binary search over the keys and
reads only the pages it needs. It holds the last run's corpus, is replaced atomically, and a file
of another version, width or size is ignored.
"""

from __future__ import annotations

import mmap
import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.files import atomic_write
from corpuskit.validation.signatures import NUM_PERM, SIGNATURE_BYTES, VERSION, Signatures, signatures

if TYPE_CHECKING:
    from corpuskit.documents.language import Detection

# Magic (8 bytes: a name and the layout version), record width, record count.
_HEADER = struct.Struct("<8sIQ")
_LAYOUT = b"CKCACHE1"


class _KeyedFile:
    """A cache file, memory-mapped: `find(sha)` gives the record stored for that content hash."""

    def __init__(self, data: mmap.mmap, width: int, size: int) -> None:
        self._data = data
        self._view = memoryview(data)
        self._width = width
        self.size = size
        keys_at = _HEADER.size
        self._keys = self._view[keys_at : keys_at + 8 * size].cast("Q")
        self._checks = self._view[keys_at + 8 * size : keys_at + 16 * size].cast("Q")
        self._records = keys_at + 16 * size

    @classmethod
    def open(cls, path: Path, width: int) -> _KeyedFile | None:
        if sys.byteorder != "little":  # pragma: no cover - the keys are stored little-endian
            return None
        try:
            with open(path, "rb") as handle:
                data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None
        if len(data) < _HEADER.size:
            return None
        layout, stored_width, size = _HEADER.unpack_from(data)
        if layout != _LAYOUT or stored_width != width or len(data) != _HEADER.size + size * (16 + width):
            return None
        return cls(data, width, size)

    def find(self, sha: bytes) -> memoryview | None:
        key = int.from_bytes(sha[:8], "little")
        where = bisect_left(self._keys, key)
        if where >= self.size or self._keys[where] != key:
            return None
        if self._checks[where] != int.from_bytes(sha[8:16], "little"):
            return None
        start = self._records + where * self._width
        return self._view[start : start + self._width]

    @staticmethod
    def save(path: Path, shas: Sequence[bytes], records: Sequence[bytes | memoryview], width: int) -> None:
        """Replace the file with these records (one per content hash); errors are ignored."""
        every = [int.from_bytes(sha[:8], "little") for sha in shas]
        order = sorted(range(len(shas)), key=every.__getitem__)
        keys = array("Q", (every[i] for i in order))
        checks = array("Q", (int.from_bytes(shas[i][8:16], "little") for i in order))

        def write(out: Any) -> None:
            out.write(_HEADER.pack(_LAYOUT, width, len(order)))
            out.write(keys.tobytes())
            out.write(checks.tobytes())
            for i in order:
                out.write(records[i])

        try:
            atomic_write(path, write)
        except OSError:
            # A cache that cannot be written only makes the next run slower.
            return


_NAME = f"signatures-v{VERSION}-{NUM_PERM}.bin"


class SignatureCache:
    def __init__(self, stored: _KeyedFile) -> None:
        self._stored = stored

    @classmethod
    def open(cls, folder: Path) -> SignatureCache | None:
        stored = _KeyedFile.open(folder / _NAME, SIGNATURE_BYTES)
        return cls(stored) if stored is not None and stored.size else None

    def get(self, sha: bytes) -> memoryview | None:
        """The cached signature of a content hash."""
        return self._stored.find(sha)

    @staticmethod
    def save(folder: Path, shas: bytes, blocks: Sequence[Signatures]) -> None:
        """Replace the cache with these signatures (blocks of them, one 32-byte SHA-256 each);
        errors are ignored."""
        joined = b"".join(blocks)
        total = len(joined) // SIGNATURE_BYTES
        if total == 0 or len(shas) != 32 * total:
            return
        view = memoryview(joined)
        _KeyedFile.save(
            folder / _NAME,
            [shas[32 * i : 32 * i + 32] for i in range(total)],
            [view[SIGNATURE_BYTES * i : SIGNATURE_BYTES * (i + 1)] for i in range(total)],
            SIGNATURE_BYTES,
        )


def signatures_for(texts: Sequence[str], shas: Sequence[bytes], cache: SignatureCache | None) -> Signatures:
    """Signatures of `texts`, taken from the cache where their content hash is known."""
    if cache is None:
        return signatures(texts)
    found = [cache.get(sha) for sha in shas]
    missing = [i for i, signature in enumerate(found) if signature is None]
    made = memoryview(signatures([texts[i] for i in missing]))
    for number, i in enumerate(missing):
        found[i] = made[number * SIGNATURE_BYTES : (number + 1) * SIGNATURE_BYTES]
    return b"".join(signature for signature in found if signature is not None)


# -- detected languages ----------------------------------------------------------------------

# Language tag (ASCII, NUL-padded), confidence, how it was told ("model", "script", ...).
_LANGUAGE_RECORD = struct.Struct("<16sf8s")
# One detection as worker processes hand it back: (content SHA-256, language, confidence, by).
DetectionRow = tuple[bytes, str | None, float, str]


def _language_file() -> str:
    from corpuskit.documents.language import DETECTION_VERSION, SAMPLE_CHARS

    return f"languages-v{DETECTION_VERSION}-{SAMPLE_CHARS}.bin"


class LanguageCache:
    """Detected languages by content hash, in `.corpuskit/cache/` beside the signatures: the model
    is loaded and run only for text it has not seen. Same file layout as SignatureCache."""

    def __init__(self, stored: _KeyedFile) -> None:
        self._stored = stored

    @classmethod
    def open(cls, folder: Path) -> LanguageCache | None:
        stored = _KeyedFile.open(folder / _language_file(), _LANGUAGE_RECORD.size)
        return cls(stored) if stored is not None and stored.size else None

    def get(self, sha: bytes) -> DetectionRow | None:
        record = self._stored.find(sha)
        if record is None:
            return None
        language, confidence, by = _LANGUAGE_RECORD.unpack(record)
        tag = language.rstrip(b"\0").decode("ascii")
        return sha, tag or None, float(confidence), by.rstrip(b"\0").decode("ascii")

    @staticmethod
    def save(folder: Path, rows: Sequence[DetectionRow]) -> None:
        """Replace the cache with these detections; errors are ignored."""
        unique = {row[0][:16]: row for row in rows if len(row[0]) == 32}
        if not unique:
            return
        records = [
            _LANGUAGE_RECORD.pack((language or "").encode("ascii"), confidence, by.encode("ascii"))
            for _, language, confidence, by in unique.values()
        ]
        _KeyedFile.save(folder / _language_file(), list(unique), records, _LANGUAGE_RECORD.size)


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
