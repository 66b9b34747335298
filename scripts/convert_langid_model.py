"""Convert py3langid's model into the numpy-free form corpuskit ships (corpuskit/documents/langid/).

    .venv/bin/python scripts/convert_langid_model.py [--check]

py3langid (BSD-3-Clause; its notice is kept in src/corpuskit/documents/langid/LICENSE) stores a
naive-Bayes model in an LZMA-compressed numpy archive, and its classifier needs numpy. corpuskit
runs the same model in pure Python (corpuskit.documents.langidmodel), so the core install, and the
pre-commit hook, need no numpy. This script, run in the development environment (py3langid and
numpy are in the dev extra), writes the model's arrays as plain little-endian arrays behind a
small JSON header, LZMA-compressed: the DFA of the byte n-gram tokenizer as it is, and the
per-language log-probabilities as integers (they are float16 values with no bits below 2**-9,
so `-value * 512` is an exact integer: nothing is rounded).

`--check` converts into memory and compares with the file in the package (exit 1 if they differ),
then classifies scripts/langid_samples.json with both implementations and prints the agreement.
"""

from __future__ import annotations

import argparse
import json
import lzma
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from corpuskit.documents.langidmodel import MAGIC, MODEL_PATH  # noqa: E402


def convert() -> bytes:
    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, state_row, out_feat = load_model(MODEL_DIR / MODEL_FILE)
    ptc = np.asarray(ptc, dtype=np.float64)
    # The smallest power of two that makes every log-probability an exact integer.
    scale = 1
    while not np.array_equal(np.round(ptc * scale), ptc * scale):
        scale *= 2
        if scale > 2**16:
            raise SystemExit("the model's probabilities are not float16 values: cannot store them exactly")
    quantized = np.round(-ptc * scale)
    if quantized.min() < 0 or quantized.max() >= 2**16:
        raise SystemExit("log-probabilities out of the uint16 range")
    features = ptc.shape[0]
    # The classifier adds a feature's values at most once per sum, in 32-bit lanes: even every
    # feature at once must not carry into the next language's lane.
    if features * int(quantized.max()) >= 2**32:
        raise SystemExit("the sum of every feature's values does not fit a 32-bit lane")
    header = {
        "classes": list(classes),
        "features": features,
        "states": len(state_row),
        "rows": len(nextmove) // 256,
        "scale": scale,
        "priors": [float(value) for value in np.asarray(pc, dtype=np.float32)],
    }
    parts = [
        np.asarray(nextmove, dtype="<u4").tobytes(),
        np.asarray(state_row, dtype="<u4").tobytes(),
        np.asarray(out_feat, dtype="<i4").tobytes(),
        quantized.astype("<u2").tobytes(),
    ]
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    payload = MAGIC + len(encoded).to_bytes(4, "little") + encoded + b"".join(parts)
    # Preset 6 (an 8 MB dictionary, what py3langid uses): decompressing needs about the dictionary's
    # size in memory, and preset 9's 64 MB would double the peak of loading the model.
    return lzma.compress(payload, preset=6)


def agreement() -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from corpuskit.documents.langidmodel import load

    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ours = load()
    samples = json.loads((REPO / "scripts" / "langid_samples.json").read_text(encoding="utf-8"))
    same, largest = 0, 0.0
    texts = [
        text
        for key, kinds in samples.items()
        if not key.startswith("_")
        for v in kinds.values()
        for text in v
    ]
    for text in texts:
        theirs, confidence = reference.classify(text)
        mine, mine_confidence = ours.classify(text)
        same += theirs == mine
        largest = max(largest, abs(float(confidence) - mine_confidence))
    print(f"{same}/{len(texts)} samples classified alike; largest confidence difference {largest:.2e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped model, write nothing")
    options = parser.parse_args()
    data = convert()
    if options.check:
        shipped = MODEL_PATH.read_bytes() if MODEL_PATH.exists() else b""
        same = lzma.decompress(shipped) == lzma.decompress(data) if shipped else False
        print(f"{MODEL_PATH.relative_to(REPO)}: {'up to date' if same else 'differs from the conversion'}")
        agreement()
        return 0 if same else 1
    MODEL_PATH.write_bytes(data)
    print(f"wrote {MODEL_PATH.relative_to(REPO)} ({len(data) / 1e6:.1f} MB)")
    agreement()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
