"""The push part of `scripts/bench.py studio`: `corpuskit push` of N documents against a plain
label_studio_sdk `import_tasks` of the same tasks, and a re-push of the unchanged documents, on the
same server in one run.

Run alone: `.venv/bin/python scripts/bench_studio_push.py [N]` (starts and stops its own server).
"""

from __future__ import annotations

import gc
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def make_corpus(folder: Path, documents: Iterable[dict[str, Any]], studio_dir: Path, title: str) -> Path:
    import orjson

    shutil.copytree(ROOT / "schema", folder / "schema")
    (folder / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "annotation-guidelines.md", folder / "docs")
    (folder / "raw").mkdir()
    with open(folder / "raw" / "bench.jsonl", "wb") as out:
        for doc in documents:
            out.write(orjson.dumps(doc) + b"\n")
    (folder / "pyproject.toml").write_text(
        f'[tool.corpuskit]\nraw = "raw"\nproject_title = {json.dumps(title)}\n'
        f"studio_dir = {json.dumps(str(studio_dir))}\n",
        encoding="utf-8",
    )
    return folder


def bench_push(server: Any, documents: list[dict[str, Any]], batch_size: int = 1000) -> dict[str, Any]:
    from corpuskit.settings import load_settings
    from corpuskit.studio.client import Connection, StudioClient
    from corpuskit.studio.push import REMOVED, STALE, push, task_data
    from corpuskit.taxonomy import label_config, load_taxonomy
    from corpuskit.validation.api import iter_valid_documents

    generated = len(documents)
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        corpus = make_corpus(Path(tmp) / "corpus", documents, server.data_dir, "bench corpuskit push")
        settings = load_settings(corpus)
        taxonomy = load_taxonomy(corpus / "schema" / "taxonomy.yaml")
        # Both sides get the same tasks: the documents that pass validation (the generator makes
        # a few near-duplicates on purpose).
        valid = list(iter_valid_documents(settings=settings))
        n = len(valid)
        payloads = [
            {"data": task_data(doc, taxonomy.version), "meta": {STALE: False, REMOVED: False}}
            for doc in valid
        ]
        # The benchmark's own objects (the generated documents, the plain import's payloads) are
        # moved out of the garbage collector's sight: otherwise every full collection during the
        # timed calls walks them too, a cost a `corpuskit push` process does not have (it timed
        # the unchanged re-push at 0.66 s instead of 0.20 s, all of the difference in collections).
        gc.collect()
        gc.freeze()
        with StudioClient(Connection(server.url, server.token)) as client:
            ls = client.sdk
            project = ls.projects.create(title="bench plain import", label_config=label_config(taxonomy))
            started = time.perf_counter()
            for start in range(0, n, batch_size):
                ls.projects.import_tasks(project.id, request=payloads[start : start + batch_size])
            plain = time.perf_counter() - started

            sent: list[str] = []
            client.http.event_hooks["request"].append(lambda request: sent.append(request.method))
            started = time.perf_counter()
            first = push(settings=settings, batch_size=batch_size, progress=False, client=client)
            first_s = time.perf_counter() - started
            first_requests, sent[:] = len(sent), []
            if first.created != n:
                raise SystemExit(f"bench: the first push created {first.created} of {n} tasks")

            started = time.perf_counter()
            again = push(settings=settings, batch_size=batch_size, progress=False, client=client)
            again_s = time.perf_counter() - started
            again_requests = len(sent)
            if again.created or again.plan.counts()["unchanged"] != n:
                raise SystemExit(f"bench: the re-push was not a no-op: {again.summary()['plan']}")
    gc.unfreeze()
    return {
        "documents_generated": generated,
        "documents_valid": n,
        "plain_import_tasks_s": round(plain, 2),
        "push_s": round(first_s, 2),
        "push_vs_plain": round(first_s / plain, 2),
        "repush_unchanged_s": round(again_s, 2),
        "repush_vs_push": round(again_s / first_s, 3),
        "push_requests": first_requests,
        "repush_unchanged_requests": again_requests,
        "targets": {"push_vs_plain": 1.2, "repush_vs_push": 0.05},
    }


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench import synthetic_documents
    from corpuskit.studio import server

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory(prefix="bench-studio-") as data_dir:
        running = server.start(Path(data_dir), port=server.free_port(), timeout=300.0)
        try:
            print(json.dumps(bench_push(running, list(synthetic_documents(n))), indent=2))
        finally:
            server.stop(Path(data_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
