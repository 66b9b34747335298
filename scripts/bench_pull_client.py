"""`corpuskit pull`'s own work after Label Studio's export, without a server: phase by phase.

Writes a one-line JSON export shaped like the export snapshot Label Studio 1.23 sends (the scale
benchmark's synthetic documents of about 3.6 KB, 3 annotations each, annotators as bare ids, every
key the server adds), then, in a fresh process per size, runs what `pull` does with those bytes:
conversion while the bytes arrive (`convert_stream`, 1 MB chunks as the client reads them), the
annotators' emails (`add_emails`, from a user list already read), the `prelabels` marks, writing
the snapshot and the summary counts. Prints each phase's wall time and the process's peak RSS after
it. `--shuffle` writes the export's tasks in a shuffled order (documents not in task order).

Run: `.venv/bin/python scripts/bench_pull_client.py 10000 30000 100000 [--json] [--shuffle]`.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
USERS = [{"id": 2 + i, "email": f"annotator-{i}@example.org"} for i in range(3)]
INFO = {
    "id": 1,
    "title": "bench pull",
    "description": "",
    "sampling": "Sequential sampling",
    "model_version": "",
    "show_collab_predictions": False,
    "reveal_preannotations_interactively": False,
}


def write_export(path: Path, n: int, shuffle: bool) -> None:
    """The export snapshot's one-line JSON for `n` documents x 3 annotations."""
    from bench import synthetic_documents
    from bench_scale import synthetic_fields
    from corpuskit.taxonomy import load_taxonomy, row_to_result

    taxonomy = load_taxonomy(ROOT / "schema" / "taxonomy.yaml")
    order = list(range(n))
    if shuffle:
        random.Random(3).shuffle(order)
    docs: dict[int, bytes] = {}
    stamp = "2026-11-30T05:27:38.130048Z"
    for number, doc in enumerate(synthetic_documents(n)):
        text = "\n\n".join(p["text"] for p in doc["paragraphs"])
        data = {
            "doc_id": doc["id"],
            "content_sha256": doc["content_sha256"],
            "taxonomy_version": taxonomy.version,
            "title": doc["title"],
            "summary": doc["summary"],
            "section": doc["section"],
            "source": doc["source"],
            "published_at": doc["published_at"],
            "modified_at": None,
            "source_name": f"{doc['id']}.txt",
            "text": text,
        }
        annotations = []
        for who in range(3):
            result = row_to_result(taxonomy, synthetic_fields(taxonomy, number, who), text)
            annotations.append(
                {
                    "id": number * 3 + who + 1,
                    "completed_by": USERS[who]["id"],
                    "result": result,
                    "was_cancelled": False,
                    "ground_truth": False,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "draft_created_at": None,
                    "lead_time": 10.0 + who,
                    "prediction": {},
                    "result_count": len(result),
                    "unique_id": f"{number:08x}-0000-4000-8000-{who:012x}",
                    "import_id": 1,
                    "last_action": None,
                    "bulk_created": True,
                    "task": number + 1,
                    "project": 1,
                    "updated_by": USERS[who]["id"],
                    "parent_prediction": None,
                    "parent_annotation": None,
                    "last_created_by": None,
                }
            )
        # Label Studio's serializer: Python's json with its default separators, on one line.
        docs[number] = json.dumps(
            {
                "id": number + 1,
                "annotations": annotations,
                "drafts": [],
                "predictions": [],
                "data": data,
                "meta": {"corpuskit_stale": False, "corpuskit_removed": False},
                "created_at": stamp,
                "updated_at": stamp,
                "allow_skip": True,
                "inner_id": number + 1,
                "total_annotations": 3,
                "cancelled_annotations": 0,
                "total_predictions": 0,
                "comment_count": 0,
                "unresolved_comment_count": 0,
                "last_comment_updated_at": None,
                "project": 1,
                "updated_by": 1,
                "comment_authors": [],
            }
        ).encode()
    with path.open("wb") as out:
        out.write(b"[")
        out.write(b", ".join(docs.pop(number) for number in order))
        out.write(b"]")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(export: Path, out: Path, worker: bool = False) -> dict[str, Any]:
    """pull's client-side path from the export's bytes, phase by phase (in this process); with
    `worker`, a conversion worker started (and ready) beforehand, as pull starts it while the
    server builds the export."""
    import gc

    from corpuskit.snapshot import write_snapshot
    from corpuskit.studio import pull as pull_module
    from corpuskit.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(ROOT / "schema" / "taxonomy.yaml")
    mapper = pull_module.taxonomy_mapper(taxonomy)
    phases: dict[str, Any] = {"start_rss_mb": round(_peak_mb(), 1)}

    def chunks() -> Any:
        with export.open("rb") as handle:
            while block := handle.read(1 << 20):
                yield block

    def timed(name: str, started: float) -> None:
        phases[name] = {"s": round(time.perf_counter() - started, 3), "peak_rss_mb": round(_peak_mb(), 1)}

    total = time.perf_counter()
    meta = {"project_id": 1, "exported_at": "2026-11-30T00:00:00Z", "taxonomy_version": taxonomy.version}
    if hasattr(pull_module, "write_stream"):  # rows written as they come
        from corpuskit.snapshot import SnapshotWriter

        helper = None
        if worker:
            from corpuskit.studio.pull_worker import ConvertWorker, Setup

            started = time.perf_counter()
            helper = ConvertWorker(Setup(taxonomy, USERS, INFO, []))
            helper.result(helper.submit(0, []), wait=True)  # an empty batch: answered once ready
            timed("worker_ready", started)
        started = time.perf_counter()
        writer = SnapshotWriter(out)
        marks = pull_module.PrelabelMarks(INFO, [])
        emails = pull_module.UserEmails(None, USERS)  # type: ignore[arg-type]
        streamed = pull_module.write_stream(
            chunks(), mapper, writer, emails=emails, marks=marks, worker=helper
        )
        timed("convert_and_stage", started)
        if helper is not None:
            phases["worker_failure"] = helper.failure
            helper.close()
        started = time.perf_counter()
        meta["loop"] = marks.summary()
        writer.commit(meta)
        timed("commit", started)
        counts = streamed.counts
    else:
        gc_was = gc.isenabled()
        gc.disable()  # as `pull` runs (`_collector_paused`)
        started = time.perf_counter()
        tables = pull_module.convert_stream(chunks(), mapper)
        timed("convert", started)
        started = time.perf_counter()
        pull_module.add_emails(None, tables, USERS)  # type: ignore[arg-type]
        timed("emails", started)
        started = time.perf_counter()
        meta["loop"] = pull_module.mark_prelabels(tables, INFO, [])
        timed("prelabels", started)
        started = time.perf_counter()
        changed = write_snapshot(out, tables.by_table(), meta)
        timed("write", started)
        started = time.perf_counter()
        counts = pull_module._summarise(out, tables, changed, meta).counts
        timed("summary", started)
        started = time.perf_counter()
        del tables
        timed("free", started)
        if gc_was:
            gc.enable()
    phases["total_s"] = round(time.perf_counter() - total, 3)
    phases["counts"] = counts
    phases["files"] = json.loads((out / "snapshot.json").read_text())["files"]
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10000, 30000, 100000])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--shuffle", action="store_true", help="tasks not in document order")
    parser.add_argument("--keep", type=Path, help="keep the exports in this folder (reused if present)")
    parser.add_argument("--worker", action="store_true", help="convert with pull's worker process too")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(*args.child, worker=args.worker)))
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-pull-client-"))
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"load": Path("/proc/loadavg").read_text().split()[:3]}
    try:
        for n in args.sizes:
            export = work / f"export-{n}{'-shuffled' if args.shuffle else ''}.json"
            if not export.exists():
                write_export(export, n, args.shuffle)
            out = work / f"snapshot-{n}"
            shutil.rmtree(out, ignore_errors=True)
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(export), str(out), *(["--worker"] * args.worker)],
                check=True,
                capture_output=True,
                text=True,
            )
            shutil.rmtree(out, ignore_errors=True)
            figures[str(n)] = {"export_mb": round(export.stat().st_size / 1e6, 1), **json.loads(child.stdout)}
            if not args.json:
                print(n, json.dumps(figures[str(n)]), file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    figures["load_end"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(figures) if args.json else json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
