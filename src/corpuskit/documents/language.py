"""Which language a document is written in, and which way it reads.

Detection runs py3langid's model (a maintained fork of langid.py: about 140 languages, naive
Bayes over byte n-grams) in pure Python from a converted copy shipped in the package
(corpuskit.documents.langidmodel): no download and no numpy, so the core install and the
pre-commit hook stay light. docs/languages.md compares it with py3langid itself, pycld2 and lingua
(`scripts/compare_langid.py`): the same answers as py3langid on news headlines and paragraphs in
15 languages.

Only a bounded sample of each document is classified (the headline and the start of the body),
so the cost per document does not grow with its length. A script that only one language in the
model writes (Hangul, Hebrew, kana, Han, Thai, Greek) decides without the model.

A stated language is still checked against the text, but cheaply first: when the sample is in the
stated language's script and its function words are that language's and no other's, the statement
stands without the model (`confirm`). Only documents that fail that check, and documents that state
no language, load the model (about a second) and classify (about a millisecond each); validation
also caches detections by content hash (corpuskit.validation.cache), so an unchanged corpus never
re-detects.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corpuskit.documents.langidmodel import LanguageIdentifier

# Characters of the document classified: enough for a confident guess on news text (see
# docs/languages.md), few enough that detection stays a small share of validation.
SAMPLE_CHARS = 240
# Characters `confirm` reads: function words are sparse, and counting them is cheap.
CONFIRM_CHARS = 1000
# A detection below this confidence is not used: the document keeps the default language and
# no mismatch is reported.
MIN_CONFIDENCE = 0.9
# Fewer letters than this in the sample: too little text to tell (a one-word headline).
MIN_LETTERS = 12

# Bump when the sample, the model or MIN_CONFIDENCE change: cached detections of another version
# are not used. (2: the model runs in corpuskit, confidences in float64 instead of float32.)
DETECTION_VERSION = 2
# `confirm`: at least this many function words of the stated language in the sample, and this
# many times more than of any other language.
MIN_FUNCTION_WORDS = 3
FUNCTION_WORD_MARGIN = 4

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


# Frequent words of news text per language, for `confirm`. Only the words that are in one list
# alone count (`de`, `la`, `in` say little), so a list can be written without checking the others.
_FUNCTION_WORDS: dict[str, str] = {
    "en": "the of and to that for was on with as said by at from his her is it be are have has "
    "this which were not will would they their after who been an",
    "es": "el la los las de del que y en por con para una un se su es al como más pero fue según "
    "dijo sus este esta",
    "fr": "le la les des du de et est que qui dans pour une un sur au aux par pas avec ce cette il "
    "elle ont été selon",
    "de": "der die das und ist nicht mit von den dem ein eine zu auf für sich im des auch es wurde "
    "nach bei sagte",
    "it": "il la di che e è per un una del della dei non con sono da nel alla gli le ha anche al",
    "pt": "o a os as de do da dos das que e em no na um uma para com não por se mais foi disse ao",
    "nl": "de het een en van is dat op te in niet met voor zijn er aan ook door maar werd bij om",
    "tr": "ve bir bu da de için ile olarak daha çok ama gibi olan en ise kadar sonra dedi",
    "ru": "и в не на что с по это как из за к от для он она года было его также который",
    "uk": "і в не на що з по це як із за до від для він вона року було його також який та у",
}


def _distinctive(lists: Mapping[str, str]) -> dict[str, frozenset[str]]:
    words = {language: frozenset(text.split()) for language, text in lists.items()}
    return {
        language: own - frozenset().union(*(other for key, other in words.items() if key != language))
        for language, own in words.items()
    }


_DISTINCTIVE = _distinctive(_FUNCTION_WORDS)
_LANGUAGE_OF_WORD = {word: language for language, words in _DISTINCTIVE.items() for word in words}
_CYRILLIC = frozenset({"ru", "uk"})
_WORD = re.compile(r"\w+")
# Runs of letters: counted by their lengths, which is the letter count without a string per letter.
_LETTERS = re.compile(r"[^\W\d_]+")
# Letters outside the script of the function-word languages: Latin (to U+024F) or Cyrillic.
_NOT_LATIN = re.compile(r"[^\W\d_\u0000-\u024F]")
_NOT_CYRILLIC = re.compile(r"[^\W\d_\u0400-\u04FF]")


@dataclass(frozen=True)
class Detection:
    """A guess: `language` is None when the text is too short or the guess not confident.

    `by` says how it was told: "script" (a script only one language writes), "model" (py3langid's)
    or "words" (the stated language, confirmed by `confirm` without the model)."""

    language: str | None
    confidence: float
    by: str = "model"


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
def _identifier() -> LanguageIdentifier:
    # Loading the model takes about a second; only documents that need detection pay for it.
    with _LOCK:
        from corpuskit.documents.langidmodel import load

        return load()


def sample_text(document: Mapping[str, Any], limit: int = SAMPLE_CHARS) -> str:
    """The headline, standfirst and start of the body, at most `limit` characters."""
    parts: list[str] = []
    size = 0
    paragraphs = document.get("paragraphs")
    texts: list[Any] = [document.get("title"), document.get("summary")]
    if isinstance(paragraphs, list):
        texts += [p.get("text") if isinstance(p, dict) else None for p in paragraphs[: 4 + limit // 200]]
    for text in texts:
        if isinstance(text, str) and text:
            parts.append(text)
            size += len(text)
            if size >= limit:
                break
    return "\n".join(parts)[:limit]


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
        return Detection(by_script, 1.0, "script")
    language, confidence = _identifier().classify(text)
    return Detection(language if confidence >= MIN_CONFIDENCE else None, confidence)


def detect_document(document: Mapping[str, Any]) -> Detection:
    """`detect` on the document's sample (the model's answer; see `settle` for the cheap path)."""
    return detect(sample_text(document))


def confirm(stated: str, text: str) -> Detection | None:
    """The stated language when the text plainly is in it, told without the model; else None (then
    only the model can say). Plainly: nearly all letters in the language's script, and its own
    function words frequent and far more frequent than any other language's."""
    language = primary(stated)
    if language not in _DISTINCTIVE:
        return None
    counted = _count_latin1(language, text[:CONFIRM_CHARS])
    letters, foreign, hits = counted if counted is not None else _count(language, text[:CONFIRM_CHARS])
    if letters < MIN_LETTERS or foreign > letters * 0.05:
        return None
    own = hits.get(language, 0)
    others = max((count for key, count in hits.items() if key not in (language, None)), default=0)
    if own >= MIN_FUNCTION_WORDS and own >= FUNCTION_WORD_MARGIN * max(others, 1):
        return Detection(language, 1.0, "words")
    return None


# What `confirm` counts in a sample: its letters, the letters outside the stated language's script,
# and the distinctive function words of each language found in it.
_Counts = tuple[int, int, Mapping[str | None, int]]


def _count(language: str, text: str) -> _Counts:
    letters = sum(map(len, _LETTERS.findall(text)))
    foreign = len((_NOT_CYRILLIC if language in _CYRILLIC else _NOT_LATIN).findall(text))
    return letters, foreign, Counter(map(_LANGUAGE_OF_WORD.get, _WORD.findall(text.lower())))


# The same counts for a sample in Latin-1 (English and most western European news, once a few
# typographic marks are set aside), on bytes: a table lookup per byte in C instead of three regular
# expressions over the text, about ten times less. The tables come from those expressions, so both
# ways count alike (tests/unit/test_languages.py compares them).
_LATIN1 = [chr(code) for code in range(256)]
_LATIN1_NOT_LETTERS = bytes(code for code, char in enumerate(_LATIN1) if not _LETTERS.fullmatch(char))
_LATIN1_WORDS = bytes(code if _WORD.fullmatch(char) else 0x20 for code, char in enumerate(_LATIN1))
_LATIN1_LANGUAGE_OF_WORD = {
    word.encode("latin-1"): language
    for word, language in _LANGUAGE_OF_WORD.items()
    if all(ord(char) < 256 for char in word)
}
# Marks outside Latin-1 that are frequent in news (quotes, dashes, the ellipsis), each swapped for
# a Latin-1 mark: none of them is a letter or part of a word, so the counts stay the same.
TYPOGRAPHY: tuple[tuple[str, str], ...] = (
    ("\u2019", "'"),
    ("\u2018", "'"),
    ("\u201c", '"'),
    ("\u201d", '"'),
    ("\u2014", "-"),
    ("\u2013", "-"),
    ("\u2026", "."),
    ("\u20ac", "$"),
    ("\u2022", "*"),
)


def _count_latin1(language: str, text: str) -> _Counts | None:
    """`_count` of a sample in Latin-1; None for any other sample."""
    lowered = text.lower()  # lower-casing keeps a Latin-1 letter a Latin-1 letter
    try:
        data = lowered.encode("latin-1")
    except UnicodeEncodeError:
        for mark, plain in TYPOGRAPHY:
            lowered = lowered.replace(mark, plain)
        try:
            data = lowered.encode("latin-1")
        except UnicodeEncodeError:
            return None
    letters = len(data.translate(None, _LATIN1_NOT_LETTERS))
    # Every Latin-1 letter is Latin script: none is foreign to a Latin language, all to Cyrillic.
    foreign = letters if language in _CYRILLIC else 0
    words = data.translate(_LATIN1_WORDS).split()
    return letters, foreign, Counter(map(_LATIN1_LANGUAGE_OF_WORD.get, words))


DetectFn = Callable[[Mapping[str, Any]], Detection]


def settle(
    document: Mapping[str, Any], stated: str | None, detect_with: DetectFn = detect_document
) -> Detection:
    """What the text says about the document's language, as cheaply as it can be told: a stated
    language that `confirm` accepts needs no model; otherwise `detect_with` (the model, perhaps
    behind a cache) decides."""
    if stated:
        confirmed = confirm(stated, sample_text(document, CONFIRM_CHARS))
        if confirmed is not None:
            return confirmed
    return detect_with(document)


def normalise_languages(values: Iterable[str]) -> frozenset[str]:
    """The primary subtags of a `languages` setting."""
    return frozenset(primary(value) for value in values)
