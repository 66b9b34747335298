"""Gold labels with provenance: one row per document, one decision per stance target and topic.

The rule (quoted by the dataset card, see `GOLD_RULE`): a label is decided by the first of
1. `ground_truth` - a submitted annotation marked as ground truth in Label Studio;
2. `adjudicated` - the adjudicator's answer pulled from the review project (`adjudications.jsonl`);
3. `majority` - more than half of the annotators who answered, and at least `MIN_VOTES` of them;
4. `single` - the one answer of a document that only one annotator labelled (flagged
   `single_annotator`; in an overlap design these are the documents outside the overlap share);
otherwise the label is null and `decided_by` is `unresolved`, with a flag saying why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpuskit.errors import DataError
from corpuskit.quality.ratings import (
    DocumentAnswers,
    Ratings,
    TaxonomyLike,
    Vocabulary,
    document_answers,
    iter_groups_of,
    read_rows,
    scan_vocabulary,
)
from corpuskit.quality.stats import item_agreement
from corpuskit.snapshot import GOLD_FILE, write_jsonl
from corpuskit.taxonomy.features import DECIDED_BY

# A majority needs at least this many answers: a single annotator's answer is never gold by itself.
MIN_VOTES = 2
PRESENT, ABSENT = "present", "absent"

GOLD_RULE = (
    "Each gold label is decided by the first rule that applies: (1) ground_truth: an annotation marked as "
    "ground truth in Label Studio; (2) adjudicated: the adjudicator's answer in the review project; "
    f"(3) majority: the value chosen by more than half of the annotators who answered, with at least "
    f"{MIN_VOTES} answers; (4) single: the answer of a document that only one annotator labelled, "
    "flagged 'single_annotator' and never counted in agreement. Otherwise the label is null and "
    "decided_by is 'unresolved', flagged 'tie' (two or more values share the most votes), "
    "'no_majority' (the most votes are not more than half), 'single_annotator' (one answer to this "
    "question on a document that several annotators labelled) or 'no_votes'. Ties are never resolved "
    "silently. Cancelled annotations never vote; an annotator with several annotations of a document "
    "votes once, with the latest. Topics are decided one by one as present/absent among the annotators "
    "who answered the topics question."
)


@dataclass(frozen=True)
class Adjudication:
    """The adjudicator's answer for one document (a row of `annotations/adjudications.jsonl`)."""

    document_id: str
    stance: Mapping[str, str | None]
    topics: frozenset[str] | None
    updated_at: str
    row: Mapping[str, Any]


@dataclass(frozen=True)
class Decision:
    label: str | bool | None
    decided_by: str
    n_annotators: int
    votes: dict[str, int]
    agreement: float | None
    flags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "decided_by": self.decided_by,
            "n_annotators": self.n_annotators,
            "votes": self.votes,
            "agreement": None if self.agreement is None else round(self.agreement, 6),
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class GoldRow:
    document_id: str
    n_annotations: int
    stance: dict[str, Decision]
    topics: dict[str, Decision]
    pilot: bool = False  # labelled in the pilot round, by every member

    @property
    def topic_labels(self) -> list[str]:
        return [t for t, d in self.topics.items() if d.label is True]

    def decisions(self) -> Iterable[tuple[str, Decision]]:
        """(name, decision) for every stance target (`stance.<id>`) and topic (`topics.<id>`)."""
        for target, d in self.stance.items():
            yield f"stance.{target}", d
        for topic, d in self.topics.items():
            yield f"topics.{topic}", d

    def to_json(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "n_annotations": self.n_annotations,
            "stance": {t: d.to_json() for t, d in self.stance.items()},
            "topics": {t: d.to_json() for t, d in self.topics.items()},
            "topic_labels": self.topic_labels,
            **({"pilot": True} if self.pilot else {}),
        }


@dataclass(frozen=True)
class Gold:
    rows: list[GoldRow]
    rule: str = GOLD_RULE

    def summary(self) -> dict[str, Any]:
        """Counts of decisions by `decided_by`, for stance and topics separately, and of flags."""
        tally = GoldTally()
        for row in self.rows:
            tally.add(row)
        return tally.summary()


def read_adjudications(path: Path) -> dict[str, Adjudication]:
    """Adjudications by document (latest `updated_at` wins); a missing file means none yet."""
    if not path.is_file():
        return {}
    result: dict[str, Adjudication] = {}
    for number, row in enumerate(read_rows(path), start=1):
        doc = row.get("document_id")
        stance = row.get("stance") or {}
        topics = row.get("topics")
        if not isinstance(doc, str) or not isinstance(stance, Mapping):
            raise DataError(f"{path}:{number}: needs document_id (string) and stance (object)")
        if topics is not None and not isinstance(topics, list):
            raise DataError(f"{path}:{number}: topics: expected a list or null")
        adj = Adjudication(
            document_id=doc,
            stance={str(k): (None if v is None else str(v)) for k, v in stance.items()},
            topics=None if topics is None else frozenset(str(t) for t in topics),
            updated_at=str(row.get("updated_at") or ""),
            row=row,
        )
        if doc not in result or adj.updated_at >= result[doc].updated_at:
            result[doc] = adj
    return result


def majority(votes: Mapping[str, int], order: Sequence[str]) -> tuple[str | None, tuple[str, ...]]:
    """The strict-majority value of a vote count, or None with the flag saying why not."""
    n = sum(votes.values())
    if n == 0:
        return None, ("no_votes",)
    if n < MIN_VOTES:
        return None, ("single_annotator",)
    top = max(votes.values())
    leaders = [v for v in order if votes.get(v, 0) == top]
    if len(leaders) > 1:
        return None, ("tie",)
    if top * 2 <= n:
        return None, ("no_majority",)
    return leaders[0], ()


def _decide(
    votes: dict[str, int],
    order: Sequence[str],
    ground_truth: list[Any],
    adjudicated: Any,
    min_annotators: int,
    annotators: int,
) -> tuple[Any, str, tuple[str, ...]]:
    """One label's decision; `annotators` is how many labelled the document at all."""
    flags: list[str] = []
    distinct = list(dict.fromkeys(ground_truth))
    if len(distinct) == 1:
        return distinct[0], "ground_truth", ()
    if len(distinct) > 1:
        flags.append("ground_truth_conflict")
    if adjudicated is not None:
        return adjudicated, "adjudicated", tuple(flags)
    label, why = majority(votes, order)
    if why == ("single_annotator",) and annotators == 1:
        return next(iter(votes)), "single", (*flags, *why)
    if label is None:
        return None, "unresolved", (*flags, *why)
    if sum(votes.values()) < min_annotators:
        flags.append("below_min_annotators")
    return label, "majority", tuple(flags)


def decide_document(
    answers: DocumentAnswers,
    vocabulary: Vocabulary,
    adjudication: Adjudication | None,
    min_annotators: int,
) -> GoldRow:
    """The gold row of one document, from its answers alone."""
    gts = answers.ground_truth
    # Counted annotations are one per annotator (each one's latest), so they number the people.
    people = n_annotations = len(answers.kept)
    stance: dict[str, Decision] = {}
    for target in vocabulary.targets:
        given = answers.stance(target)
        counts = Counter(given.values())
        order = [v for v in vocabulary.stance_values if counts.get(v)]
        votes = {v: counts[v] for v in order}
        gt_values = [a.stance[target] for a in gts if a.stance.get(target) is not None]
        adj = adjudication.stance.get(target) if adjudication else None
        label, by, flags = _decide(votes, order, gt_values, adj, min_annotators, people)
        stance[target] = Decision(label, by, len(given), votes, item_agreement(list(votes.values())), flags)
    topics: dict[str, Decision] = {}
    sets = answers.topic_sets()
    for topic in vocabulary.topics:
        present = sum(1 for s in sets.values() if topic in s)
        votes = {k: n for k, n in ((PRESENT, present), (ABSENT, len(sets) - present)) if n}
        gt_topic = [topic in a.topics for a in gts if a.topics is not None]
        adj_topic = (
            (topic in adjudication.topics) if adjudication and adjudication.topics is not None else None
        )
        label, by, flags = _decide(votes, (PRESENT, ABSENT), gt_topic, adj_topic, min_annotators, people)
        if isinstance(label, str):
            label = label == PRESENT
        topics[topic] = Decision(label, by, len(sets), votes, item_agreement(list(votes.values())), flags)
    return GoldRow(answers.document_id, n_annotations, stance, topics, answers.pilot)


def compute_gold(
    ratings: Ratings, adjudications: Mapping[str, Adjudication] | None = None, min_annotators: int = MIN_VOTES
) -> Gold:
    """Gold rows for every document that has at least one annotation row, sorted by document id."""
    adjudications = adjudications or {}
    vocabulary = ratings.vocabulary
    return Gold(
        [
            decide_document(a, vocabulary, adjudications.get(a.document_id), min_annotators)
            for a in ratings.by_document
        ]
    )


def iter_gold(
    snapshot: str | Path | None = None,
    *,
    rows: Iterable[Mapping[str, Any]] | None = None,
    adjudications: str | Path | Mapping[str, Adjudication] | None = None,
    taxonomy: TaxonomyLike | None = None,
    min_annotators: int | None = None,
) -> Iterator[GoldRow]:
    """The gold rows of a snapshot one document at a time, in document order (see `gold`): a
    snapshot is read twice (its vocabulary, then its documents) and never held."""
    from corpuskit.quality.context import resolve_inputs

    inputs = resolve_inputs(snapshot, rows=rows, adjudications=adjudications, taxonomy=taxonomy)
    if min_annotators is None:
        min_annotators = inputs.settings.min_annotators
    vocabulary = scan_vocabulary(iter_groups_of(inputs.rows, inputs.source), inputs.taxonomy, inputs.source)
    for document_id, numbered in iter_groups_of(inputs.rows, inputs.source):
        answers = document_answers(document_id, numbered, inputs.source)
        yield decide_document(answers, vocabulary, inputs.adjudications.get(document_id), min_annotators)


class GoldTally:
    """`Gold.summary()` counted while rows stream past (`counted`)."""

    def __init__(self) -> None:
        self.documents = 0
        self.stance: Counter[str] = Counter()
        self.topics: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()

    def add(self, row: GoldRow) -> None:
        self.documents += 1
        for d in row.stance.values():
            self.stance[d.decided_by] += 1
            self.flags.update(d.flags)
        for d in row.topics.values():
            self.topics[d.decided_by] += 1
            self.flags.update(d.flags)

    def counted(self, rows: Iterable[GoldRow]) -> Iterator[GoldRow]:
        for row in rows:
            self.add(row)
            yield row

    def summary(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "stance": {k: self.stance.get(k, 0) for k in DECIDED_BY},
            "topics": {k: self.topics.get(k, 0) for k in DECIDED_BY},
            "flags": dict(sorted(self.flags.items())),
        }


@dataclass(frozen=True)
class GoldFile:
    """What `write_gold_file` wrote: the file, `Gold.summary()` of its rows, the rule."""

    output: Path
    summary: dict[str, Any]
    rule: str = GOLD_RULE


def write_gold_file(
    snapshot: str | Path | None = None,
    output: str | Path | None = None,
    *,
    adjudications: str | Path | Mapping[str, Adjudication] | None = None,
    taxonomy: TaxonomyLike | None = None,
    min_annotators: int | None = None,
) -> GoldFile:
    """Decide and write `gold.jsonl` (default: in the snapshot folder) one document at a time, so
    memory does not grow with the snapshot (`corpuskit gold`)."""
    from corpuskit.quality.context import default_snapshot
    from corpuskit.settings import load_settings

    folder = Path(snapshot) if snapshot is not None else default_snapshot(load_settings())
    path = Path(output) if output is not None else folder / GOLD_FILE
    tally = GoldTally()
    rows = iter_gold(snapshot, adjudications=adjudications, taxonomy=taxonomy, min_annotators=min_annotators)
    write_gold(tally.counted(rows), path)
    return GoldFile(path, tally.summary())


def gold(
    snapshot: str | Path | None = None,
    *,
    rows: Iterable[Mapping[str, Any]] | None = None,
    adjudications: str | Path | Mapping[str, Adjudication] | None = None,
    taxonomy: TaxonomyLike | None = None,
    min_annotators: int | None = None,
) -> Gold:
    """Gold labels of a pulled snapshot folder (or of annotation `rows`), with provenance.

    `adjudications` defaults to `<snapshot>/adjudications.jsonl`; `min_annotators` to the setting.
    Every row is returned in a list: `iter_gold` and `write_gold_file` stream them instead.
    """
    return Gold(
        list(
            iter_gold(
                snapshot,
                rows=rows,
                adjudications=adjudications,
                taxonomy=taxonomy,
                min_annotators=min_annotators,
            )
        )
    )


def write_gold(result: Gold | Iterable[GoldRow], path: Path) -> Path:
    """Write `gold.jsonl` (sorted by document id, atomically, in the snapshot's JSONL) and return its
    path. Rows given one by one must come in document order, as `iter_gold` yields them."""
    if isinstance(result, Gold):
        rows: Iterable[GoldRow] = sorted(result.rows, key=lambda r: r.document_id)
    else:
        rows = _in_order(result)
    return write_jsonl(path, (row.to_json() for row in rows))


def _in_order(rows: Iterable[GoldRow]) -> Iterator[GoldRow]:
    previous = ""
    for row in rows:
        if row.document_id < previous:
            raise ValueError(f"gold rows out of document order: {row.document_id!r} after {previous!r}")
        previous = row.document_id
        yield row
