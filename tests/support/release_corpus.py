"""A small corpus repository for release tests: the seed articles, extra generated articles, and an
annotation snapshot written through corpuskit.snapshot's writer (the one pull uses)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TARGETS = ("rnk_military_cooperation", "ukraine_military_aid")
VALUES = ("favor", "against", "neutral", "unrelated")
TOPICS = ("military_cooperation", "arms_transfers", "troop_deployment")
ANNOTATORS = (
    {"id": 11, "email": "ana@lab.org"},
    {"id": 12, "email": "ben@lab.org"},
    {"id": 13, "email": "chi@lab.org"},
)
_WORDS = [
    "ministry",
    "envoy",
    "reservoir",
    "harvest",
    "pipeline",
    "tariff",
    "lagoon",
    "ferry",
    "vaccine",
    "archive",
    "stadium",
    "glacier",
    "orchestra",
    "senate",
    "budget",
    "railway",
    "monsoon",
    "satellite",
    "pension",
    "refinery",
    "festival",
    "museum",
    "census",
    "quarry",
    "wetland",
    "courthouse",
    "bakery",
    "lighthouse",
    "vineyard",
    "observatory",
    "cathedral",
    "reef",
]

PYPROJECT = """\
[tool.corpuskit]
raw = "raw"
schema = "schema/document.schema.json"
taxonomy = "schema/taxonomy.yaml"
language = "en"
min_annotators = 2
min_alpha = {min_alpha}
split_ratios = [0.6, 0.2, 0.2]
"""


def make_corpus(root: Path, extra: int = 10, min_alpha: float = 0.667) -> Path:
    """A corpus repository at `root` with the two seeds plus `extra` generated articles."""
    (root / "raw").mkdir(parents=True)
    (root / "schema").mkdir()
    for name in ("document.schema.json", "taxonomy.yaml", "taxonomy.schema.json"):
        if (REPO / "schema" / name).is_file():
            shutil.copy(REPO / "schema" / name, root / "schema" / name)
    for seed in sorted((REPO / "raw").glob("*.txt")):
        shutil.copy(seed, root / "raw" / seed.name)
    (root / "pyproject.toml").write_text(PYPROJECT.format(min_alpha=min_alpha), encoding="utf-8")
    add_articles(root, range(extra))
    return root


def article(number: int) -> str:
    """A raw-format article whose words are drawn at random, so no two are near-duplicates."""
    rng = random.Random(number)

    def sentence(n: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(n)).capitalize() + "."

    paragraphs = "\n".join(sentence(25) for _ in range(6))
    return (
        f"{sentence(8)[:-1]} number {number}\n{sentence(20)}\n- World\n- AFP\n"
        f"- Published Date: 10:{number % 60:02d} | {1 + number % 28} March 2024\n{paragraphs}\n"
    )


def add_articles(root: Path, numbers: Any) -> list[str]:
    ids = []
    for number in numbers:
        doc_id = f"gen_{number:04d}"
        (root / "raw" / f"{doc_id}.txt").write_text(article(number), encoding="utf-8")
        ids.append(doc_id)
    return ids


def documents(root: Path) -> list[dict[str, Any]]:
    from corpuskit.settings import load_settings
    from corpuskit.validation.api import iter_valid_documents

    return list(iter_valid_documents(settings=load_settings(root)))


def truth_of(doc_id: str) -> dict[str, Any]:
    """The labels every annotator gives a document (a function of its id, so it is stable)."""
    rng = random.Random(doc_id)
    return {
        "stance": {target: rng.choice(VALUES) for target in TARGETS},
        "topics": sorted(rng.sample(TOPICS, 2)),
    }


def write_snapshot(
    root: Path,
    docs: list[dict[str, Any]] | None = None,
    *,
    disagree: bool = False,
    partial: bool = False,
    exported_at: str = "2024-11-03T12:00:00Z",
    stale: str | None = None,
) -> Path:
    """Annotations of every document by three annotators, as `corpuskit pull` would have saved them.

    `disagree` makes every annotator pick a different value (gold below threshold), on every other
    document only with `partial` (alpha then low but with a wide interval); `stale` names a
    document whose annotations carry an older content hash."""
    from corpuskit.snapshot import write_snapshot as write

    docs = documents(root) if docs is None else docs
    tasks, annotations = [], []
    annotation_id = 0
    for task_id, doc in enumerate(sorted(docs, key=lambda d: d["id"]), start=1):
        sha = doc["content_sha256"]
        tasks.append(
            {
                "document_id": doc["id"],
                "task_id": task_id,
                "content_sha256": sha,
                "taxonomy_version": "1.0.0",
                "position": task_id - 1,
                "data": {"doc_id": doc["id"], "content_sha256": sha},
                "meta": None,
                "extra": {},
            }
        )
        truth = truth_of(doc["id"])
        for k, annotator in enumerate(ANNOTATORS):
            annotation_id += 1
            stance = dict(truth["stance"])
            if disagree and not (partial and task_id % 2):
                stance = {t: VALUES[(VALUES.index(v) + k) % len(VALUES)] for t, v in stance.items()}
            annotations.append(
                {
                    "document_id": doc["id"],
                    "content_sha256": "0" * 64 if doc["id"] == stale else sha,
                    "task_id": task_id,
                    "annotation_id": annotation_id,
                    "annotator": annotator,
                    "taxonomy_version": "1.0.0",
                    "stance": stance,
                    "topics": truth["topics"],
                    "spans": [],
                    "note": None,
                    "lead_time": 10.0 + k,
                    "created_at": "2024-11-02T10:00:00Z",
                    "updated_at": "2024-11-02T10:00:00Z",
                    "was_cancelled": False,
                    "ground_truth": False,
                    "original": None,
                    "result": [
                        {"from_name": f"stance_{t}", "value": {"choices": [v]}} for t, v in stance.items()
                    ],
                }
            )
    folder = root / "annotations"
    meta = {
        "project_id": 7,
        "project_title": "Release test project",
        "server": "http://127.0.0.1:8080",
        "exported_at": exported_at,
        "taxonomy_version": "1.0.0",
    }
    write(folder, {"tasks": tasks, "annotations": annotations}, meta)
    return folder
