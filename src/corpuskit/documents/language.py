"""Which language a document is written in, and which way it reads.

Detection uses py3langid (a maintained fork of langid.py: 97 languages, a 4.5 MB model shipped in
the package, no download, numpy only), chosen over lingua by the measured comparison in
docs/languages.md (`scripts/compare_langid.py`): as accurate on news headlines and paragraphs in
15 languages, and about 20 times smaller, which keeps the pre-commit hook's environment light.

Only a bounded sample of each document is classified (the headline and the start of the body),
so the cost per document does not grow with its length. A script that only one language in the
model writes (Hangul, Hebrew, kana, Han, Thai, Greek) decides without the model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Characters of the document classified: enough for a confident guess on news text (see
# docs/languages.md), few enough that detection stays a small share of validation.
SAMPLE_CHARS = 240
# A detection below this confidence is not used: the document keeps the default language and
# no mismatch is reported.
MIN_CONFIDENCE = 0.9
# Fewer letters than this in the sample: too little text to tell (a one-word headline).
MIN_LETTERS = 12

# Languages written right to left (primary subtags): their documents are shown right to left
# in Label Studio.
RTL_LANGUAGES: frozenset[str] = frozenset({"ar", "he", "fa", "ur", "yi", "ps", "ckb", "dv", "sd", "ug"})

# Scripts that only one language of the model is written in, by code point range: a sample
# mostly in one of them decides the language without the model. (Han alone is Chinese; with kana
# it is Japanese.)
_SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0370, 0x03FF, "el"),
    (0x0590, 0x05FF, "he"),
    (0x0E00, 0x0E7F, "th"),
    (0x1100, 0x11FF, "ko"),
    (0x3040, 0x30FF, "kana"),
    (0x3130, 0x318F, "ko"),
    (0x3400, 0x4DBF, "han"),
    (0x4E00, 0x9FFF, "han"),
    (0xAC00, 0xD7AF, "ko"),
)


# English names for messages; other tags are shown as they are.
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "fa": "Persian",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "th": "Thai",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "zh": "Chinese",
}


@dataclass(frozen=True)
class Detection:
    """A guess: `language` is None when the text is too short or the guess not confident."""

    language: str | None
    confidence: float


def primary(tag: str) -> str:
    """The primary language subtag: 'pt-BR' -> 'pt', 'zh-Hant' -> 'zh'."""
    return tag.split("-", 1)[0].lower()


def name_of(tag: str) -> str:
    """'ar' -> 'Arabic (ar)'; an unknown tag as it is."""
    name = LANGUAGE_NAMES.get(primary(tag))
    return f"{name} ({tag})" if name else repr(tag)


def direction(tag: str) -> str:
    """'rtl' for a language written right to left, else 'ltr'."""
    return "rtl" if primary(tag) in RTL_LANGUAGES else "ltr"


_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _identifier() -> Any:
    # Loading the model takes about a second; only documents that need detection pay for it.
    with _LOCK:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def sample_text(document: Mapping[str, Any]) -> str:
    """The headline, standfirst and start of the body, at most about SAMPLE_CHARS characters."""
    parts: list[str] = []
    size = 0
    paragraphs = document.get("paragraphs")
    texts: list[Any] = [document.get("title"), document.get("summary")]
    if isinstance(paragraphs, list):
        texts += [p.get("text") if isinstance(p, dict) else None for p in paragraphs[:4]]
    for text in texts:
        if isinstance(text, str) and text:
            parts.append(text)
            size += len(text)
            if size >= SAMPLE_CHARS:
                break
    return "\n".join(parts)[:SAMPLE_CHARS]


def _script_of(text: str) -> tuple[str | None, int]:
    """The language a single-language script decides (None when mixed or shared) and the letters."""
    counts: dict[str, int] = {}
    letters = 0
    for char in text:
        if not char.isalpha():
            continue
        letters += 1
        point = ord(char)
        if point < 0x0370:
            continue  # Latin: shared by many languages
        for low, high, script in _SCRIPT_RANGES:
            if low <= point <= high:
                counts[script] = counts.get(script, 0) + 1
                break
    if not letters or not counts:
        return None, letters
    if counts.get("kana", 0) >= letters * 0.1:
        return "ja", letters
    top = max(counts, key=lambda key: counts[key])
    if counts[top] >= letters * 0.6:
        return ("zh" if top == "han" else top), letters
    return None, letters


def detect(text: str) -> Detection:
    """The language of `text` (a news headline and paragraph or more). Never raises."""
    text = text[:SAMPLE_CHARS]
    by_script, letters = _script_of(text)
    if letters < MIN_LETTERS:
        return Detection(None, 0.0)
    if by_script is not None:
        return Detection(by_script, 1.0)
    language, confidence = _identifier().classify(text)
    confidence = float(confidence)
    return Detection(language if confidence >= MIN_CONFIDENCE else None, confidence)


def detect_document(document: Mapping[str, Any]) -> Detection:
    return detect(sample_text(document))


def normalise_languages(values: Iterable[str]) -> frozenset[str]:
    """The primary subtags of a `languages` setting."""
    return frozenset(primary(value) for value in values)
