"""What the fault tests share: corpora, annotated projects, the CLI as a subprocess, server checks."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpuskit.studio.client import Connection, StudioClient
from corpuskit.studio.gateway import Gateway
from corpuskit.studio.push import read_tasks

REPO = Path(__file__).resolve().parents[2]
CORPUSKIT = str(Path(sys.executable).parent / "corpuskit")

# The budget a faulty server gets in these tests: short, so that giving up is quick.
TIMEOUT = 2.0
RETRIES = 3
BACKOFF = 0.2


def make_corpus(root: Path, title: str, count: int, *, seed: int) -> list[str]:
    """A corpus folder with `count` generated documents (one JSONL file); returns their ids."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "schema", root / "schema")
    (root / "raw").mkdir()
    (root / "pyproject.toml").write_text(
        f'[tool.corpuskit]\nraw = "raw"\nproject_title = {json.dumps(title)}\n', encoding="utf-8"
    )
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(3000)]
    ids = []
    with open(root / "raw" / "generated.jsonl", "w", encoding="utf-8") as out:
        for i in range(count):
            doc_id = f"doc-{seed}-{i:04d}"
            ids.append(doc_id)
            text = " ".join(rng.choice(words) for _ in range(80))
            record = {"id": doc_id, "title": f"Story {i}", "paragraphs": [{"heading": None, "text": text}]}
            out.write(json.dumps(record) + "\n")
    return ids


def cli_env(url: str, token: str, **extra: str) -> dict[str, str]:
    """The environment of a corpuskit subprocess talking to `url` with a short request budget."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "CORPUSKIT_"))}
    env.update(
        {
            "LABEL_STUDIO_URL": url,
            "LABEL_STUDIO_API_KEY": token,
            "CORPUSKIT_HTTP_TIMEOUT": str(TIMEOUT),
            "CORPUSKIT_RETRIES": str(RETRIES),
            "CORPUSKIT_RETRY_BACKOFF": str(BACKOFF),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
        }
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CORPUSKIT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], token: str) -> str:
    """Exit 2 with exactly one line on stderr, `corpuskit: error: …`, no traceback, no token."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("corpuskit: error: "), lines[0]
    assert "Traceback" not in result.stderr
    assert token not in result.stderr and token not in result.stdout
    return lines[0]


def client_for(url: str, token: str) -> StudioClient:
    """A direct client (no proxy, default budget) for checking what the server holds."""
    return StudioClient(Connection(url, token), attempts=3, backoff=0.5, timeout=120.0)


def projects_titled(url: str, token: str, title: str) -> list[dict[str, Any]]:
    with client_for(url, token) as client:
        return Gateway(client).projects.find(title)


def doc_counts(url: str, token: str, project_id: int) -> Counter[str]:
    """How many tasks of the project carry each document id."""
    with client_for(url, token) as client:
        return Counter(str(task.doc_id) for task in read_tasks(client, project_id))


def assert_exactly_once(url: str, token: str, title: str, ids: list[str]) -> int:
    """One project titled `title`, holding one task for every id and nothing else; its id."""
    found = projects_titled(url, token, title)
    assert len(found) == 1, f"{len(found)} projects titled {title!r}"
    counts = doc_counts(url, token, int(found[0]["id"]))
    duplicated = sorted(doc for doc, n in counts.items() if n > 1)
    assert not duplicated, f"documents with several tasks: {duplicated[:10]}"
    assert set(counts) == set(ids), (sorted(set(ids) - set(counts))[:10], sorted(set(counts) - set(ids))[:10])
    return int(found[0]["id"])


@dataclass
class AnnotatedProject:
    """A project whose tasks were imported with embedded annotations, each with a unique note."""

    id: int
    notes: list[str]  # "doc-id#n", one per annotation


def annotated_tasks(prefix: str, count: int, rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    """`count` task payloads with 1-3 embedded annotations each, and the annotations' notes."""
    from corpuskit.taxonomy import load_taxonomy, row_to_result

    taxonomy = load_taxonomy(REPO / "schema" / "taxonomy.yaml")
    payloads: list[dict[str, Any]] = []
    notes: list[str] = []
    for i in range(count):
        doc_id = f"{prefix}-{i:04d}"
        text = f"Story {doc_id}. Officials said on Tuesday that the talks would resume next month."
        annotations = []
        for n in range(rng.randint(1, 3)):
            note = f"{doc_id}#{n}"
            row = {
                "stance": {t: rng.choice(taxonomy.stance_value_ids) for t in taxonomy.target_ids},
                "topics": [rng.choice(taxonomy.topic_ids)],
                "note": note,
            }
            annotations.append({"result": row_to_result(taxonomy, row, text), "lead_time": 1.0 + n})
            notes.append(note)
        payloads.append(
            {
                "data": {
                    "doc_id": doc_id,
                    "content_sha256": f"{i:064x}",
                    "taxonomy_version": taxonomy.version,
                    "title": f"Story {i}",
                    "summary": None,
                    "section": None,
                    "source": None,
                    "published_at": None,
                    "modified_at": None,
                    "text": text,
                },
                "annotations": annotations,
            }
        )
    return payloads, notes


def make_annotated_project(url: str, token: str, title: str, count: int, *, seed: int) -> AnnotatedProject:
    from corpuskit.taxonomy import label_config, load_taxonomy

    taxonomy = load_taxonomy(REPO / "schema" / "taxonomy.yaml")
    with client_for(url, token) as client:
        made = Gateway(client).projects.create({"title": title, "label_config": label_config(taxonomy)})
        project = AnnotatedProject(made, [])
    add_annotated_tasks(url, token, project, f"{title.replace(' ', '-')}-0", count, random.Random(seed))
    return project


def add_annotated_tasks(
    url: str, token: str, project: AnnotatedProject, prefix: str, count: int, rng: random.Random
) -> None:
    payloads, notes = annotated_tasks(prefix, count, rng)
    with client_for(url, token) as client:
        Gateway(client).tasks.import_once(project.id, payloads)
    project.notes.extend(notes)


def snapshot_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of a snapshot folder (empty if there is none)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_snapshot_exact(folder: Path, notes: list[str]) -> int:
    """The snapshot is complete and holds every annotation exactly once (by its unique note)."""
    from corpuskit.snapshot import read_snapshot

    snapshot = read_snapshot(folder)
    assert snapshot.meta.get("complete") is True
    seen = Counter(str(row["note"]) for row in snapshot.annotations)
    duplicated = sorted(note for note, n in seen.items() if n > 1)
    assert not duplicated, f"annotations pulled twice: {duplicated[:10]}"
    assert set(seen) == set(notes), (sorted(set(notes) - set(seen))[:10], sorted(set(seen) - set(notes))[:10])
    assert not snapshot.problems, snapshot.problems[:3]
    return len(seen)


def leftovers(parent: Path) -> list[str]:
    """Temporary files or folders a pull left next to the snapshot."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith((".pull-", ".annotations")))


@dataclass
class Outcome:
    """How a library call ended: exit code 0 and no message, or a corpuskit error's code and line."""

    code: int
    message: str = ""


def in_process(call: Any) -> Outcome:
    """Run `call()`; a corpuskit error becomes its exit code and message (anything else propagates:
    for a user that would be a traceback)."""
    from corpuskit.errors import CorpuskitError

    try:
        call()
    except CorpuskitError as exc:
        return Outcome(exc.exit_code, str(exc))
    return Outcome(0)


def assert_clear_error(outcome: Outcome, token: str) -> None:
    """Exit 2 with one line that names no secret."""
    assert outcome.code == 2, outcome
    assert outcome.message and "\n" not in outcome.message, outcome.message
    assert token not in outcome.message


def use_server(monkeypatch: Any, url: str, token: str) -> None:
    """Point library calls in this process at `url` with the tests' short request budget."""
    for key, value in cli_env(url, token).items():
        if key.startswith(("LABEL_STUDIO_", "CORPUSKIT_")):
            monkeypatch.setenv(key, value)
