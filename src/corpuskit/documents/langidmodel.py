"""py3langid's language identifier, run in pure Python from a converted copy of its model.

py3langid (a fork of langid.py by Marco Lui; BSD-3-Clause, notice in langid_model/LICENSE) is a
naive-Bayes classifier over byte n-grams: a DFA walks the UTF-8 bytes and names a feature at
some of them; each language's score is its prior plus the sum over features of
log(1 + count) * log P(feature | language). py3langid computes that sum with numpy; here it is
computed with Python's integers, so that the core install (and the pre-commit hook) need no numpy:

- the model's log-probabilities are float16 values with nothing below 2**-9, so each one times
  `scale` is an exact integer (`scripts/convert_langid_model.py` checks this when it converts);
- the 142 values of a feature are packed into one big integer, 32 bits per language, and the
  features seen the same number of times are added as big integers (one addition per feature,
  in C; a lane holds the sum of every feature's value, so it never carries into the next);
- each such sum is unpacked once and weighted by log(1 + count).

Classifications agree with py3langid's (the conversion script's `--check` compares both on
scripts/langid_samples.json); confidences differ only by float32 rounding in py3langid.
"""

from __future__ import annotations

import json
import lzma
import math
import unicodedata
from array import array
from collections import Counter
from pathlib import Path

MODEL_PATH = Path(__file__).with_name("langid_model") / "model.xz"
MAGIC = b"CKLANGID1\n"
_LANE = 4


class LanguageIdentifier:
    """`classify(text) -> (language, confidence)`, as py3langid's with `norm_probs=True`."""

    def __init__(
        self,
        classes: list[str],
        priors: list[float],
        scale: int,
        nextmove: array[int],
        state_row: array[int],
        out_feat: array[int],
        weights: array[int],
    ) -> None:
        self.classes = classes
        self._priors = priors
        self._scale = float(scale)
        self._nextmove = nextmove
        self._rowbase = [row << 8 for row in state_row]
        self._out = out_feat.tolist()
        self._weights = weights
        self._packed: dict[int, int] = {}
        # Labels that appear twice (a language in two scripts): the first column takes both.
        first: dict[str, int] = {}
        self._aliases: list[tuple[int, int]] = []
        for index, name in enumerate(classes):
            if name in first:
                self._aliases.append((first[name], index))
            else:
                first[name] = index

    def _row(self, feature: int) -> int:
        """A feature's values for every language, packed into one integer (built on first use)."""
        packed = self._packed.get(feature)
        if packed is None:
            width = len(self.classes)
            lanes = array("I", self._weights[feature * width : (feature + 1) * width])
            packed = int.from_bytes(lanes.tobytes(), "little")
            self._packed[feature] = packed
        return packed

    def _features(self, data: bytes) -> Counter[int]:
        nextmove, rowbase, out = self._nextmove, self._rowbase, self._out
        state = 0
        found: list[int] = []
        for byte in data:
            state = nextmove[rowbase[state] + byte]
            feature = out[state]
            if feature >= 0:
                found.append(feature)
        return Counter(found)

    def scores(self, text: str) -> list[float]:
        """The probability of every class (aliases folded into their first column)."""
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf-8", errors="surrogatepass")
        width = len(self.classes)
        by_count: dict[int, int] = {}
        for feature, times in self._features(data).items():
            by_count[times] = by_count.get(times, 0) + self._row(feature)
        if by_count:
            totals = list(self._priors)
            for times, packed in by_count.items():
                lanes = array("I")
                lanes.frombytes(packed.to_bytes(width * _LANE, "little"))
                weight = math.log1p(times) / self._scale
                totals = [total - weight * value for total, value in zip(totals, lanes, strict=True)]
        else:
            totals = [0.0] * width
        factor = 1.0 / math.sqrt(len(data) or 1)
        top = max(totals)
        exps = [math.exp((total - top) * factor) for total in totals]
        whole = sum(exps)
        probabilities = [value / whole for value in exps]
        for keep, fold in self._aliases:
            probabilities[keep] += probabilities[fold]
            probabilities[fold] = 0.0
        return probabilities

    def classify(self, text: str) -> tuple[str, float]:
        probabilities = self.scores(text)
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        return self.classes[best], probabilities[best]


def _read(handle: lzma.LZMAFile, typecode: str, count: int) -> array[int]:
    values = array(typecode, [0]) * count
    if values.itemsize not in (2, 4):  # pragma: no cover - mainstream platforms
        raise RuntimeError(f"array('{typecode}') is {values.itemsize} bytes here")
    # Decompressed into the array a megabyte at a time: the model is never held twice.
    target = memoryview(values).cast("B")
    filled = 0
    while filled < len(target):
        got = handle.readinto(target[filled : filled + (1 << 20)])
        if not got:
            raise ValueError("the language model ends early")
        filled += got
    return values


def load(path: Path = MODEL_PATH) -> LanguageIdentifier:
    """Read the converted model (about 70 MB of arrays), decompressing straight into them."""
    import sys

    with lzma.open(path) as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path}: not a corpuskit language model")
        header = json.loads(handle.read(int.from_bytes(handle.read(4), "little")))
        nextmove = _read(handle, "I", header["rows"] * 256)
        state_row = _read(handle, "I", header["states"])
        out_feat = _read(handle, "i", header["states"])
        weights = _read(handle, "H", header["features"] * len(header["classes"]))
        if handle.read(1):
            raise ValueError(f"{path}: longer than its header says")
    if sys.byteorder == "big":  # pragma: no cover - the file is little-endian
        for values in (nextmove, state_row, out_feat, weights):
            values.byteswap()
    return LanguageIdentifier(
        header["classes"], header["priors"], header["scale"], nextmove, state_row, out_feat, weights
    )
