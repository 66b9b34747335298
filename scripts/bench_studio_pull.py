"""The pull part of `scripts/bench.py studio`: `corpuskit pull` of N tasks x 3 annotations against the
faster of Label Studio's two plain export paths, on the same server in one run; and the reads
`corpuskit status` could take every task's language from.

Run alone: `.venv/bin/python scripts/bench_studio_pull.py [N] [status]` (starts and stops its own
server; `status` runs only the status part).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.1  # issue 17: pull at most 1.1x the faster plain export


def _tasks(n: int, taxonomy: Any, users: list[int]) -> list[dict[str, Any]]:
    from corpuskit.taxonomy import row_to_result

    text = "Russia and North Korea signed a defence pact. " * 40
    result = row_to_result(
        taxonomy,
        {
            "stance": {"rnk_military_cooperation": "against", "ukraine_military_aid": "unrelated"},
            "topics": [],
        },
        text,
    )
    return [
        {
            "data": {
                "doc_id": f"doc-{i:05d}",
                "content_sha256": f"{i:064x}",
                "taxonomy_version": taxonomy.version,
                "title": f"Document {i}",
                "text": text,
            },
            "annotations": [{"result": result, "completed_by": u, "lead_time": 5.0} for u in users],
        }
        for i in range(n)
    ]


def bench_pull(server: Any, n: int = 10_000) -> dict[str, float]:
    """Create a project of n tasks with 3 annotations each, time both plain exports and `corpuskit pull`."""
    from label_studio_sdk import LabelStudio

    from corpuskit.settings import Settings
    from corpuskit.studio.pull import pull
    from corpuskit.taxonomy import label_config, load_taxonomy

    taxonomy = load_taxonomy(ROOT / "schema" / "taxonomy.yaml")
    headers = {"Authorization": f"Token {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=httpx.Timeout(30.0, read=900.0)) as http:
        ls = LabelStudio(base_url=server.url, api_key=server.token, httpx_client=http)
        project = ls.projects.create(title=f"bench pull {n}", label_config=label_config(taxonomy))
        pid = project.id
        stamp = time.time_ns()
        users = [
            ls.users.create(email=f"bench{i}-{stamp}@example.org", username=f"bench{i}-{stamp}").id
            for i in range(3)
        ]
        for start in range(0, n, 1000):
            ls.projects.import_tasks(pid, request=_tasks(min(1000, n - start), taxonomy, users))

        def plain_export() -> None:
            with http.stream(
                "GET",
                f"/api/projects/{pid}/export",
                params={"exportType": "JSON", "download_all_tasks": "true"},
            ) as r:
                r.raise_for_status()
                for _ in r.iter_raw(1 << 20):
                    pass

        def plain_snapshot() -> None:
            created = http.post(f"/api/projects/{pid}/exports/", json={"title": "bench"}).json()
            with http.stream("GET", f"/api/projects/{pid}/exports/{created['id']}/download") as r:
                r.raise_for_status()
                for _ in r.iter_raw(1 << 20):
                    pass
            http.delete(f"/api/projects/{pid}/exports/{created['id']}")

        times: dict[str, float] = {}
        for name, call in (("export endpoint", plain_export), ("export snapshot", plain_snapshot)):
            t0 = time.perf_counter()
            call()
            times[name] = time.perf_counter() - t0
        fastest = min(times, key=lambda k: times[k])
        method = "export" if fastest == "export endpoint" else "snapshot"
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(root=Path(tmp))  # the pull record goes to this corpus's .corpuskit
            out = Path(tmp) / "annotations"
            t0 = time.perf_counter()
            result = pull(
                project=pid,
                out=out,
                url=server.url,
                token=server.token,
                method=method,
                settings=settings,
                taxonomy=taxonomy,
            )
            times["corpuskit pull"] = time.perf_counter() - t0
            assert result.counts["annotations"] == 3 * n, result.summary()
            worker_tasks = result.worker_tasks
            # Nothing changed on the server: the project's summary says so, nothing is exported.
            t0 = time.perf_counter()
            again = pull(
                project=pid,
                out=out,
                url=server.url,
                token=server.token,
                method=method,
                settings=settings,
                taxonomy=taxonomy,
            )
            times["unchanged re-pull"] = time.perf_counter() - t0
            assert again.unchanged_since is not None, again.summary()
    ratio = times["corpuskit pull"] / times[fastest]
    for name, seconds in times.items():
        print(f"  {name:<18} {seconds:8.2f} s  ({n / seconds:,.0f} tasks/s)", file=sys.stderr)
    print(f"  pull / {fastest} = {ratio:.3f}x (target <= {TARGET}x)", file=sys.stderr)
    print(f"  tasks converted by pull's worker process: {worker_tasks:,} of {n:,}", file=sys.stderr)
    repull = times["unchanged re-pull"] / times[fastest]
    print(f"  unchanged re-pull / {fastest} = {repull:.3f}x", file=sys.stderr)
    return times | {
        "ratio": ratio,
        "target": TARGET,
        "repull_unchanged_vs_export": round(repull, 4),
        "worker_tasks": worker_tasks,
    }


def bench_status(server: Any, n: int = 10_000, share: float = 0.1) -> dict[str, float]:
    """What `corpuskit status` would pay to count every task's language, on a project of n tasks of
    which `share` carry 3 annotations each (a team early in its round): its export (through pull's
    converter) of every task against that of the worked-on tasks only, and the paged task list it
    reads anyway (overlap and marks) without and with the task data, where status takes it from."""
    from label_studio_sdk import LabelStudio

    from corpuskit.studio.client import Connection, StudioClient
    from corpuskit.studio.gateway import Gateway
    from corpuskit.studio.pull import convert_stream, taxonomy_mapper
    from corpuskit.taxonomy import label_config, load_taxonomy

    taxonomy = load_taxonomy(ROOT / "schema" / "taxonomy.yaml")
    annotated = int(n * share)
    headers = {"Authorization": f"Token {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=httpx.Timeout(30.0, read=900.0)) as http:
        ls = LabelStudio(base_url=server.url, api_key=server.token, httpx_client=http)
        pid = ls.projects.create(title=f"bench status {n}", label_config=label_config(taxonomy)).id
        stamp = time.time_ns()
        users = [
            ls.users.create(email=f"status{i}-{stamp}@example.org", username=f"status{i}-{stamp}").id
            for i in range(3)
        ]
        tasks = _tasks(n, taxonomy, users)
        for task in tasks[annotated:]:
            task["annotations"] = []
        for start in range(0, n, 1000):
            ls.projects.import_tasks(pid, request=tasks[start : start + 1000])
    mapper = taxonomy_mapper(taxonomy)
    times: dict[str, float] = {}
    with StudioClient(Connection(server.url, server.token)) as client:
        studio = Gateway(client)
        for name, every in (("worked-on tasks", False), ("every task", True)):
            t0 = time.perf_counter()
            tables = studio.exports.read(
                pid, lambda chunks: convert_stream(chunks, mapper), method="export", all_tasks=every
            )
            times[name] = time.perf_counter() - t0
            assert len(tables.tasks) == (n if every else annotated), (name, len(tables.tasks))
        # The light read status makes anyway (overlap and marks), without and with the task data.
        for name, include in (("task list", "id,overlap,meta"), ("task list + data", "id,overlap,meta,data")):
            t0 = time.perf_counter()
            read = sum(len(page) for page in studio.tasks.pages(pid, include))
            times[name] = time.perf_counter() - t0
            assert read == n, (name, read)
    extra = times["every task"] - times["worked-on tasks"]
    for name, seconds in times.items():
        print(f"  status read, {name:<18} {seconds:8.2f} s", file=sys.stderr)
    per_task = extra / max(n - annotated, 1) * 1000
    print(f"  every task costs {extra:+.2f} s ({per_task:.2f} ms per untouched task)", file=sys.stderr)
    ratio = times["every task"] / times["worked-on tasks"]
    figures = {"tasks": n, "annotated_tasks": annotated, "ratio": ratio, "ms_per_untouched_task": per_task}
    return times | figures


def main() -> int:
    from corpuskit.studio import server

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    only_status = sys.argv[2:] == ["status"]
    with tempfile.TemporaryDirectory() as data_dir:
        running = server.start(Path(data_dir), port=server.free_port(), timeout=300.0)
        try:
            if not only_status:
                print(f"pull of {n:,} tasks x 3 annotations", file=sys.stderr)
                bench_pull(running, n)
            print(f"status export of {n:,} tasks, {n // 10:,} annotated", file=sys.stderr)
            bench_status(running, n)
        finally:
            server.stop(Path(data_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
