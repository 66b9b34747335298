"""Compare offline language identifiers on news text: corpuskit's copy of py3langid's model and others.

    .venv/bin/python scripts/compare_langid.py [--json] [--repeat N]

The texts are scripts/langid_samples.json: headlines ("short") and one paragraph ("long") per
language, written for this repository. Nothing is downloaded: every library ships its model.
Figures: accuracy per kind, throughput (texts per second, after loading), model load time and the
installed size of each package (for corpuskit's copy of the model: the model file and the module
that runs it). docs/languages.md records a run.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).with_name("langid_samples.json")


def _size_mb(distribution: str) -> float:
    files = metadata.distribution(distribution).files or []
    return sum(Path(str(f.locate())).stat().st_size for f in files if Path(str(f.locate())).is_file()) / 1e6


def _corpuskit_model_mb() -> float:
    from corpuskit.documents import langidmodel

    parts = [Path(langidmodel.__file__), *langidmodel.MODEL_PATH.parent.iterdir()]
    return sum(path.stat().st_size for path in parts) / 1e6


def _py3langid() -> Callable[[str], str]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return lambda text: str(identifier.classify(text)[0])


def _pure_python() -> Callable[[str], str]:
    from corpuskit.documents.langidmodel import load

    identifier = load()
    return lambda text: identifier.classify(text)[0]


def _corpuskit() -> Callable[[str], str]:
    from corpuskit.documents.language import detect

    return lambda text: detect(text).language or "und"


def _pycld2() -> Callable[[str], str]:
    import pycld2

    # CLD2 names Hebrew by its old code, iw.
    renamed = {"iw": "he", "zh-Hant": "zh"}

    def classify(text: str) -> str:
        _, _, found = pycld2.detect(text)
        code = str(found[0][1])
        return renamed.get(code, code)

    return classify


def _lingua() -> Callable[[str], str]:
    from lingua import LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

    def classify(text: str) -> str:
        found = detector.detect_language_of(text)
        return "und" if found is None else str(found.iso_code_639_1.name).lower()

    return classify


DETECTORS: dict[str, tuple[Callable[[], float], Callable[[], Callable[[str], str]]]] = {
    "py3langid's model in pure Python (corpuskit.documents.langidmodel)": (_corpuskit_model_mb, _pure_python),
    "corpuskit detect (the same, 240-character sample, script shortcut, confidence >= 0.9)": (
        _corpuskit_model_mb,
        _corpuskit,
    ),
    "py3langid 0.4 (numpy)": (lambda: _size_mb("py3langid") + _size_mb("numpy"), _py3langid),
    "pycld2 0.42": (lambda: _size_mb("pycld2"), _pycld2),
    "lingua 2.1 (all languages, preloaded)": (lambda: _size_mb("lingua-language-detector"), _lingua),
}


def run(repeat: int) -> dict[str, Any]:
    samples = {
        k: v for k, v in json.loads(SAMPLES.read_text(encoding="utf-8")).items() if not k.startswith("_")
    }
    results: dict[str, Any] = {"languages": sorted(samples)}
    for name, (size_mb, make) in DETECTORS.items():
        started = time.perf_counter()
        classify = make()
        classify("warm up")
        load = time.perf_counter() - started
        row: dict[str, Any] = {"load_seconds": round(load, 2), "package_mb": round(size_mb(), 1)}
        for kind in ("short", "long"):
            texts = [(tag, text) for tag, values in samples.items() for text in values[kind]]
            wrong = [f"{tag}->{got}" for tag, text in texts if (got := classify(text)) != tag]
            started = time.perf_counter()
            for _ in range(repeat):
                for _, text in texts:
                    classify(text)
            seconds = time.perf_counter() - started
            row[kind] = {
                "texts": len(texts),
                "accuracy": round(1 - len(wrong) / len(texts), 3),
                "wrong": wrong,
                "texts_per_s": round(repeat * len(texts) / seconds),
            }
        results[name] = row
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=20)
    options = parser.parse_args()
    results = run(options.repeat)
    if options.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    print(f"{len(results['languages'])} languages: {', '.join(results['languages'])}")
    print(
        "| detector | short: accuracy | short: texts/s | long: accuracy | long: texts/s "
        "| load s | package MB |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, row in results.items():
        if name == "languages":
            continue
        short, long = row["short"], row["long"]
        print(
            f"| {name} | {short['accuracy']:.3f} ({short['texts']}) | {short['texts_per_s']:,} | "
            f"{long['accuracy']:.3f} ({long['texts']}) | {long['texts_per_s']:,} | {row['load_seconds']} | "
            f"{row['package_mb']} |"
        )
        for kind in ("short", "long"):
            if row[kind]["wrong"]:
                print(f"    {kind} misses: {', '.join(row[kind]['wrong'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
