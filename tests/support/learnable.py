"""A learnable corpus: synthetic news-like documents whose stance and topics can be learnt from the text.

The recipe (docs/suggest-model.md describes it for readers of the benchmark figures). For each
document:

1. **Labels first.** Each stance target draws a value from an imbalanced prior (`STANCE_PRIOR`:
   against and unrelated common, favor rarer, neutral rarest); each topic is present with its own
   prevalence, spread from 6 % to 40 % over the taxonomy's topics in order.
2. **Filler.** Sentences of words drawn from the taxonomy's vocabulary (the words of every target's
   and topic's definition, less the keywords below): news-like, on the subject, and equally likely
   under every label, so no label can be read off the filler.
3. **Stance cues.** A target that is not `unrelated` is mentioned with its keywords (the words of
   its name); each mention carries a cue phrase of the drawn value. Cues have
   three strengths: *strong* (a phrase only that value uses), *weak* (a phrase the value uses 60 % of
   the time and another value the rest) and *none* (a bare mention). An `unrelated` target is never
   mentioned, except in passing (a bare keyword, 15 % of documents), as the guidelines allow.
   Cues are attached to the target's keyword in one sentence (`"... condemned the arms transfers ..."`),
   so word bigrams tell which target a cue is about.
4. **Topic cues.** A present topic gets one to three sentences using two or three words of its
   name; an absent topic leaks one of its words into the filler 20 % of the time.
5. **Label noise.** With probability `noise` a stance label is replaced by another value drawn
   uniformly, and each topic is flipped with probability `noise / 4`: gold is what annotators said,
   not what the generator meant, as in a real corpus.

Everything is seeded (`random.Random(seed)`), so a corpus is the same on every machine. `shuffled`
gives the same texts with the labels permuted across documents: nothing is learnable, which is what
a model must be refused on. `write_snapshot_folder` writes a snapshot (tasks + two agreeing
annotators per document, so gold is a majority) that `corpuskit.suggest.fit` and `corpuskit gold`
read like a pulled one.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from corpuskit.taxonomy.model import Taxonomy

STANCE_PRIOR = {"favor": 0.22, "against": 0.33, "neutral": 0.12, "unrelated": 0.33}

# Cue phrases per stance value: strong ones belong to that value alone.
STRONG_CUES = {
    "favor": ["welcomed", "praised", "defended as necessary", "called legitimate", "hailed"],
    "against": ["condemned", "denounced as illegal", "warned against", "called a threat", "protested"],
    "neutral": ["described without comment", "listed the facts of", "gave both views on", "summarised"],
}
# Weak cues: used by their own value 60 % of the time and by the `confused` one otherwise.
WEAK_CUES = {
    "favor": ["supported", "backed", "saw benefits in"],
    "against": ["questioned", "criticised", "doubted"],
    "neutral": ["reported on", "noted", "mentioned"],
}
CONFUSED = {"favor": "neutral", "against": "neutral", "neutral": "favor"}
CUE_STRENGTH = (("strong", 0.55), ("weak", 0.3), ("none", 0.15))
SPEAKERS = ["officials", "the ministry", "analysts", "the envoy", "a spokesperson", "diplomats", "the paper"]
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "between",
        "by",
        "for",
        "from",
        "given",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "them",
        "these",
        "this",
        "those",
        "to",
        "two",
        "with",
        "whether",
        "whose",
        "which",
        "other",
        "another",
        "such",
        "not",
        "no",
        "e",
        "g",
    ]
)


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z][a-z-]+", text.lower()) if w not in _STOP]


@dataclass(frozen=True)
class LearnableDocument:
    document_id: str
    title: str
    text: str
    stance: dict[str, str]
    topics: tuple[str, ...]


def _keywords(name: str) -> list[str]:
    """A label's own words: the words of its name."""
    return list(dict.fromkeys(_words(name)))


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    roll = rng.random() * sum(w for _, w in weighted)
    for value, weight in weighted:
        roll -= weight
        if roll <= 0:
            return value
    return weighted[-1][0]


def learnable_corpus(
    taxonomy: Taxonomy, n: int, *, seed: int = 0, noise: float = 0.08, sentences: int = 14
) -> list[LearnableDocument]:
    """`n` documents following the recipe in the module docstring."""
    rng = random.Random(seed)
    values = [v for v in taxonomy.stance_value_ids if v in STANCE_PRIOR] or list(taxonomy.stance_value_ids)
    prior = [(v, STANCE_PRIOR.get(v, 0.1)) for v in values]
    target_words = {t.id: _keywords(t.name) for t in taxonomy.targets}
    topic_words = {t.id: _keywords(t.name) for t in taxonomy.topics}
    keywords = {w for words in (*target_words.values(), *topic_words.values()) for w in words}
    vocabulary = sorted(
        {w for t in (*taxonomy.targets, *taxonomy.topics) for w in _words(t.definition)} - keywords
    )
    k = len(taxonomy.topic_ids)
    prevalence = {t: 0.06 + 0.34 * (i / max(1, k - 1)) for i, t in enumerate(reversed(taxonomy.topic_ids))}

    def filler(words: int) -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(words))

    documents: list[LearnableDocument] = []
    for i in range(n):
        stance = {t: _pick(rng, prior) for t in taxonomy.target_ids}
        topics = tuple(t for t in taxonomy.topic_ids if rng.random() < prevalence[t])
        parts = [filler(rng.randint(10, 18)) for _ in range(sentences)]
        for target, value in stance.items():
            words = target_words[target]
            if value == "unrelated":
                if rng.random() < 0.15:
                    parts.append(f"{filler(6)} {rng.choice(words)} {filler(6)}")
                continue
            for _ in range(rng.randint(1, 3)):
                mention = " ".join(rng.sample(words, min(2, len(words))))
                strength = _pick(rng, CUE_STRENGTH)
                if strength == "strong" and value in STRONG_CUES:
                    cue = rng.choice(STRONG_CUES[value])
                elif strength == "weak" and value in WEAK_CUES:
                    own = rng.random() < 0.6
                    cue = rng.choice(WEAK_CUES[value if own else CONFUSED[value]])
                else:
                    cue = "spoke about"
                parts.append(f"{rng.choice(SPEAKERS)} {cue} the {mention} {filler(rng.randint(4, 9))}")
        for topic in taxonomy.topic_ids:
            words = topic_words[topic]
            if topic in topics:
                for _ in range(rng.randint(1, 3)):
                    cue = " ".join(rng.sample(words, min(len(words), rng.randint(2, 3))))
                    parts.append(f"{filler(5)} {cue} {filler(5)}")
            elif rng.random() < 0.2:
                parts.append(f"{filler(7)} {rng.choice(words)} {filler(4)}")
        rng.shuffle(parts)
        text = "\n\n".join(p[0].upper() + p[1:] + "." for p in parts)
        title = filler(7).capitalize()
        # Label noise: gold is what annotators said, not what the text was written to say.
        noisy = {
            t: (rng.choice([v for v in values if v != value]) if rng.random() < noise else value)
            for t, value in stance.items()
        }
        flipped = {t for t in taxonomy.topic_ids if rng.random() < noise / 4}
        noisy_topics = tuple(t for t in taxonomy.topic_ids if (t in topics) != (t in flipped))
        documents.append(LearnableDocument(f"learn-{seed}-{i:06d}", title, text, noisy, noisy_topics))
    return documents


def shuffled(documents: Sequence[LearnableDocument], seed: int = 1) -> list[LearnableDocument]:
    """The same texts with their labels permuted across documents: no label is learnable."""
    rng = random.Random(seed)
    labels = [(d.stance, d.topics) for d in documents]
    rng.shuffle(labels)
    return [replace(d, stance=s, topics=t) for d, (s, t) in zip(documents, labels, strict=True)]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def task_rows(documents: Sequence[LearnableDocument], taxonomy: Taxonomy) -> Iterator[dict[str, Any]]:
    """`tasks.jsonl` rows as a pull writes them (push puts title and body in the task data)."""
    for number, d in enumerate(documents, start=1):
        yield {
            "document_id": d.document_id,
            "task_id": number,
            "content_sha256": sha256(d.text),
            "taxonomy_version": taxonomy.version,
            "data": {"doc_id": d.document_id, "title": d.title, "text": d.text},
            "meta": None,
            "extra": {},
        }


def annotation_rows(
    documents: Sequence[LearnableDocument], taxonomy: Taxonomy, annotators: int = 2
) -> Iterator[dict[str, Any]]:
    """`annotations.jsonl` rows: `annotators` people who all give the document's (noisy) labels."""
    for number, d in enumerate(documents, start=1):
        for who in range(1, annotators + 1):
            yield {
                "document_id": d.document_id,
                "task_id": number,
                "content_sha256": sha256(d.text),
                "taxonomy_version": taxonomy.version,
                "annotation_id": number * 10 + who,
                "annotator": {"id": who, "email": None},
                "stance": dict(d.stance),
                "topics": list(d.topics),
                "spans": [],
                "note": None,
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
                "lead_time": 30.0,
                "was_cancelled": False,
                "ground_truth": False,
                "original": None,
                "result": [],
                "extra": {},
            }


def write_snapshot_folder(
    folder: Path,
    documents: Sequence[LearnableDocument],
    taxonomy: Taxonomy,
    *,
    unlabelled: Sequence[LearnableDocument] = (),
    predictions: Sequence[dict[str, Any]] = (),
) -> Path:
    """A snapshot folder of `documents` (annotated) and `unlabelled` (tasks only), with `predictions`
    rows (PredictionRow) if given."""
    from corpuskit.snapshot import write_snapshot

    tasks = list(task_rows([*documents, *unlabelled], taxonomy))
    meta = {
        "project_id": 1,
        "project_title": "learnable corpus",
        "server": None,
        "source": "tests/support/learnable.py",
        "exported_at": "2026-01-01T00:00:00Z",
        "taxonomy_version": taxonomy.version,
    }
    # A snapshot's document tables are in document order (corpuskit.snapshot), as pull writes them.
    tables = {
        "tasks": sorted(tasks, key=lambda row: row["document_id"]),
        "annotations": sorted(annotation_rows(documents, taxonomy), key=lambda row: row["document_id"]),
        "predictions": sorted(predictions, key=lambda row: row["document_id"]),
    }
    write_snapshot(folder, tables, meta)
    return folder
