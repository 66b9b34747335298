"""The memory part of `scripts/bench.py memory`: peak RSS of reading a snapshot's annotations one
document at a time (`iter_groups`), of `corpuskit gold` (`write_gold_file`), of `corpuskit gold
--check` (`check_gold` keeping the 20 failures the text shows, 1,000 bootstrap draws), of agreement
(100 draws) and of the release's quality gate (`assess_quality`, 1,000 draws, then every gold row
it hands the build), each in a fresh process, for snapshots of several sizes (documents x 3
annotations), so that one can see whether memory stays flat as the corpus grows.
`corpuskit status` reads the live project from Label Studio; its step here is what it does with
what it reads: the pages of the task list (as the data manager sends them, folded into a
`progress_tasks.TaskList` one page at a time) and the one-line JSON export of the same documents x
3 annotations, folded task by task (`progress.Tally`) as it is read from a file.

Run alone: `.venv/bin/python scripts/bench_memory.py 100000 1000000` (annotations).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("read", "gold", "check", "agreement", "gate", "status")


def _rows(documents: int, taxonomy: Any) -> Iterator[dict[str, Any]]:
    """Annotation rows as `corpuskit pull` writes them: three annotators per document, who agree
    most of the time, with the verbatim result and the extra keys Label Studio exports."""
    from corpuskit.taxonomy import row_to_result

    targets = list(taxonomy.target_ids)
    values = list(taxonomy.stance_value_ids)
    text = "Russia and North Korea signed a defence pact. " * 40
    for number in range(documents):
        for annotator in range(3):
            stance = {
                t: values[(number + i + (annotator if number % 5 == 0 else 0)) % len(values)]
                for i, t in enumerate(targets)
            }
            fields = {"stance": stance, "topics": [], "spans": [], "note": None}
            yield {
                "document_id": f"doc-{number:07d}",
                "task_id": number + 1,
                "content_sha256": f"{number:064x}",
                "taxonomy_version": taxonomy.version,
                "annotation_id": number * 3 + annotator + 1,
                "annotator": {"id": annotator + 1, "email": f"a{annotator}@example.org"},
                **fields,
                "lead_time": 5.0 + annotator,
                "created_at": "2026-01-01T00:00:00.000000Z",
                "updated_at": "2026-01-01T00:00:00.000000Z",
                "was_cancelled": False,
                "ground_truth": False,
                "original": None,
                "result": row_to_result(taxonomy, fields, text),
                "extra": {"draft_created_at": None, "prediction": {}, "result_count": 0},
            }


def write_export(path: Path, documents: int, taxonomy: Any) -> None:
    """The one-line JSON export Label Studio sends for the same annotations (`_rows`), written one
    task at a time; annotators as bare ids, as the export endpoint names them."""
    text = "Russia and North Korea signed a defence pact. " * 3
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        task: dict[str, Any] | None = None
        for row in _rows(documents, taxonomy):
            if task is None or task["id"] != row["task_id"]:
                if task is not None:
                    out.write(json.dumps(task) + ", ")
                task = {
                    "id": row["task_id"],
                    "annotations": [],
                    "drafts": [],
                    "predictions": [],
                    "data": {
                        "doc_id": row["document_id"],
                        "text": text,
                        "language": "en",
                        "content_sha256": row["content_sha256"],
                        "taxonomy_version": row["taxonomy_version"],
                    },
                    "meta": {},
                }
            task["annotations"].append(
                {
                    "id": row["annotation_id"],
                    "completed_by": row["annotator"]["id"],
                    "result": row["result"],
                    "was_cancelled": False,
                    "ground_truth": False,
                    "created_at": row["created_at"],
                    "updated_at": row["updated_at"],
                    "lead_time": row["lead_time"],
                }
            )
        out.write(json.dumps(task) + "]")


def task_pages(documents: int, taxonomy: Any, size: int = 5000) -> Iterator[bytes]:
    """The body of each page of the data manager's task list that status reads for the documents of
    `write_export` (`id,overlap,meta,data`; overlap 3, no marks), one page at a time."""
    text = "Russia and North Korea signed a defence pact. " * 3
    for first in range(0, documents, size):
        items = [
            {
                "id": number + 1,
                "overlap": 3,
                "meta": {},
                "data": {
                    "doc_id": f"doc-{number:07d}",
                    "text": text,
                    "language": "en",
                    "content_sha256": f"{number:064x}",
                    "taxonomy_version": taxonomy.version,
                },
            }
            for number in range(first, min(first + size, documents))
        ]
        yield json.dumps({"total": documents, "tasks": items}).encode()


def make_corpus(folder: Path, documents: int) -> Path:
    """A corpus folder (settings, schema) with a pulled snapshot of `documents` x 3 annotations."""
    from corpuskit.snapshot import write_snapshot
    from corpuskit.taxonomy import load_taxonomy

    shutil.copytree(ROOT / "schema", folder / "schema")
    (folder / "pyproject.toml").write_text('[tool.corpuskit]\nraw = "raw"\n', encoding="utf-8")
    taxonomy = load_taxonomy(folder / "schema" / "taxonomy.yaml")
    meta = {"project_id": None, "source": "bench", "taxonomy_version": taxonomy.version}
    write_snapshot(folder / "annotations", {"annotations": _rows(documents, taxonomy)}, meta)
    write_export(folder / "export.json", documents, taxonomy)
    (folder / "export.tasks").write_text(str(documents), encoding="utf-8")
    return folder


def _step(step: str, folder: Path) -> dict[str, Any]:
    """One step in this process (called in a child): its wall time and the process's peak RSS."""
    import os

    os.chdir(folder)
    started = time.perf_counter()
    if step == "read":
        from corpuskit.snapshot import iter_groups

        count = sum(len(rows) for _, rows in iter_groups(folder / "annotations", "annotations"))
    elif step == "gold":
        from corpuskit.quality.gold import write_gold_file

        count = write_gold_file(folder / "annotations").summary["documents"]
    elif step == "check":
        from corpuskit.quality.check import check_gold

        count = check_gold(folder / "annotations", keep_items=20).checked_items
    elif step == "gate":
        from corpuskit.release.api import assess_quality
        from corpuskit.release.inputs import load_taxonomy
        from corpuskit.settings import load_settings

        settings = load_settings(folder)
        outcome = assess_quality(settings, folder / "annotations", load_taxonomy(settings))
        count = sum(1 for _ in outcome.gold)
    elif step == "status":
        from corpuskit.settings import load_settings
        from corpuskit.studio.progress import Tally
        from corpuskit.studio.progress_tasks import TaskList
        from corpuskit.studio.pull import convert_stream_by_task, taxonomy_mapper
        from corpuskit.taxonomy import load_taxonomy

        settings = load_settings(folder)
        taxonomy = load_taxonomy(folder / "schema" / "taxonomy.yaml")
        documents = int((folder / "export.tasks").read_text(encoding="utf-8"))
        # The task list as `read_task_list` reads it: pages of the data manager's list (5,000
        # tasks of overlap 3, no marks, with their data), each parsed from its JSON and folded.
        tasks = TaskList()
        for page in task_pages(documents, taxonomy):
            tasks.add_page(json.loads(page)["tasks"])
            del page
        tasks.seal()
        emails = {n + 1: f"a{n}@example.org" for n in range(3)}

        def fill(annotator: dict[str, Any]) -> dict[str, Any]:
            return {"id": annotator["id"], "email": emails.get(annotator["id"])}

        tally = Tally(tasks, fill)
        try:
            with (folder / "export.json").open("rb") as body:
                for tables in convert_stream_by_task(
                    iter(lambda: body.read(1 << 20), b""), taxonomy_mapper(taxonomy)
                ):
                    tally.add_task(tables.annotations)
            count = tally.figures(taxonomy, settings)["complete"]
        finally:
            tally.close()
    else:
        from corpuskit.quality.agreement import agreement

        agreement(folder / "annotations", draws=100)
        count = 0
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1), "count": count}


def figures(sizes: list[int]) -> dict[str, Any]:
    """For each size (annotations), each step's wall time and peak RSS in a fresh process."""
    out: dict[str, Any] = {}
    for wanted in sizes:
        documents = max(1, wanted // 3)
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
            print(f"memory: writing a snapshot of {documents * 3:,} annotations", file=sys.stderr)
            started = time.perf_counter()
            folder = make_corpus(Path(tmp) / "corpus", documents)
            size = {"write_s": round(time.perf_counter() - started, 1)}
            table = folder / "annotations" / "annotations.jsonl"
            size["annotations_mb"] = round(table.stat().st_size / 1e6)
            for step in STEPS:
                print(f"memory: {step} at {documents * 3:,} annotations", file=sys.stderr)
                done = subprocess.run(
                    [sys.executable, __file__, "--step", step, str(folder)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    raise SystemExit(f"bench memory {step} failed:\n{done.stderr[-2000:]}")
                size[step] = json.loads(done.stdout.strip().splitlines()[-1])
            out[str(documents * 3)] = size
    if len(sizes) > 1:
        small, large = str(max(1, sizes[0] // 3) * 3), str(max(1, sizes[-1] // 3) * 3)
        out["peak_growth"] = {
            step: round(out[large][step]["peak_rss_mb"] / out[small][step]["peak_rss_mb"], 2)
            for step in STEPS
        }
    return out


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--step":
        print(json.dumps(_step(sys.argv[2], Path(sys.argv[3]))))
        return 0
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    print(json.dumps(figures(sizes), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
