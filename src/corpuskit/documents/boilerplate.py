"""Page furniture in scraped articles: lines such as "Advertisement" or "Scroll down for video".

A body line that matches one of the patterns as a whole (case-insensitive, surrounding
punctuation ignored) is reported as a `boilerplate` warning with its file and line and is never
taken for a subheading. The lists are per language for people to read and extend (the
`boilerplate` setting adds patterns); a line is checked against every list, because a scraped
English page carries "Advertisement" whatever language its text is in. docs/raw-format.md lists
the defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

PATTERNS: dict[str, tuple[str, ...]] = {
    "en": (
        "advertisement",
        "story continues below( this)? advertisement",
        "scroll down for (the )?video",
        "read more",
        "read more:.*",
        "click here to .*",
        "share( this)?( article| story)?",
        "share on (facebook|twitter|x|whatsapp|linkedin)",
        "email",
        "tweet",
        "print",
        "sign up (for|to) our .*newsletter.*",
        "follow us on .*",
        "related (articles|stories)",
        "watch:?",
        "video",
        "trending( now)?",
        "most read",
    ),
    "es": ("publicidad", "leer más", "compartir", "sigue leyendo", "lea también", "te puede interesar"),
    "fr": ("publicité", "lire aussi", "lire la suite", "partager", "à lire aussi"),
    "de": ("anzeige", "werbung", "weiterlesen", "mehr zum thema", "teilen"),
    "pt": ("publicidade", "leia também", "leia mais", "compartilhar"),
    "it": ("pubblicità", "leggi anche", "condividi"),
    "ar": ("إعلان", "اقرأ أيضا", "اقرأ أيضاً", "اقرأ المزيد", "شارك", "شارك المقال"),
    "ru": ("реклама", "читайте также", "поделиться"),
    "uk": ("реклама", "читайте також", "поділитися"),
}

_EDGE_PUNCTUATION = " \t.:!|»«>-–—•*()[]"


@lru_cache(maxsize=8)
def _compiled(extra: tuple[tuple[str, tuple[str, ...]], ...]) -> re.Pattern[str]:
    patterns = [p for values in PATTERNS.values() for p in values]
    patterns += [p for _, values in extra for p in values]
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def matcher(extra: Mapping[str, Sequence[str]] | None = None) -> re.Pattern[str]:
    """One compiled pattern for the default lists plus `extra` (the `boilerplate` setting)."""
    frozen = tuple(sorted((key, tuple(values)) for key, values in (extra or {}).items()))
    return _compiled(frozen)


def is_boilerplate(line: str, pattern: re.Pattern[str]) -> bool:
    core = line.strip(_EDGE_PUNCTUATION)
    return bool(core) and len(core) <= 120 and pattern.fullmatch(core) is not None


def rule_of(line: str, extra: Mapping[str, Sequence[str]] | None = None) -> str:
    """Which pattern a boilerplate line matches, as `<list>: <pattern>` (`en: advertisement`,
    `settings: ...`): recorded with a stripped line so a reader sees why it went. Only called for
    lines `is_boilerplate` accepted, so trying the patterns one by one costs nothing."""
    core = line.strip(_EDGE_PUNCTUATION)
    lists = [*PATTERNS.items(), *sorted((extra or {}).items())]
    for name, patterns in lists:
        for pattern in patterns:
            if re.fullmatch(pattern, core, re.IGNORECASE):
                return f"{name}: {pattern}"
    return "boilerplate"
