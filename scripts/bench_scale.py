"""The scale part of `scripts/bench.py scale` (not in CI): the whole annotation loop at a team's size on
a PostgreSQL-backed Label Studio, each corpuskit step next to the plain library calls it stands for.

    .venv/bin/python scripts/bench.py scale --n 2000 --json      # a first try
    .venv/bin/python scripts/bench.py scale --n 100000 --json    # the size of issue 17

One run: a PostgreSQL cluster (Debian's `postgresql`, 127.0.0.1, fsync on as a team's would be) and
Label Studio on it; N synthetic news documents (`bench.synthetic_documents`, about 3.6 KB each) in a
corpus folder; then, each step in a fresh process so that its peak RSS (`wait4`'s `ru_maxrss`) is its
own, and Label Studio's own high-water mark (`VmHWM`) read after each server step, with the step's
requests (how many, the seconds during which one was in flight, the ten longest):

- `plain_import`: `import_tasks` of the same task bodies push sends, batches of 1,000, into a project
  of its own (the baseline of push);
- `push` then `repush` (`corpuskit push`, first and unchanged);
- `bulk_annotations` (set-up, timed): the same task bodies with 3 synthetic annotations each from 3
  Label Studio users, imported in batches of 1,000 tasks with their annotations embedded (the bulk
  import, never one annotation at a time), into a third project;
- `plain_export`: an export snapshot of that project created and downloaded (the path pull uses);
- `pull` (`corpuskit pull --project ID`);
- `agreement`, `gold`, `release` (`--allow-below-threshold`: the gate is not what is measured), each
  beside a plain version on the same files: orjson + `krippendorff.alpha` per target (no bootstrap);
  orjson + a `Counter` majority per document and target, written with orjson; orjson + pyarrow
  `from_pylist` + zstd `write_table` of the documents, annotations and gold tables (one file each,
  no splits, card or checksums).

Everything lives in one temporary folder, removed at the end (`--keep` keeps it); both servers are
stopped by their own pids. `.venv/bin/python scripts/bench_scale.py --offline FOLDER` measures the
offline steps again on a kept folder (after a change to agreement, gold or release).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
BATCH = 1000
ANNOTATORS = 3


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- what the children do ---------------------------------------------------------------------------


def _import(url: str, token: str, project: int, tasks: Path) -> int:
    """Import the tasks of a JSONL file (one task per line) in batches of BATCH; how many."""
    import orjson
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=url, api_key=token, timeout=900.0)
    count = 0
    batch: list[dict[str, Any]] = []
    with open(tasks, "rb") as handle:
        for line in handle:
            batch.append(orjson.loads(line))
            if len(batch) == BATCH:
                ls.projects.import_tasks(project, request=batch)
                count += len(batch)
                batch = []
    if batch:
        ls.projects.import_tasks(project, request=batch)
        count += len(batch)
    return count


def _plain_export(url: str, token: str, project: int) -> int:
    """An export snapshot created and downloaded (streamed, not kept); bytes received."""
    import httpx

    headers = {"Authorization": f"Token {token}"}
    size = 0
    timeout = httpx.Timeout(60.0, read=3600.0)
    with httpx.Client(base_url=url, headers=headers, timeout=timeout) as http:
        created = http.post(f"/api/projects/{project}/exports/", json={"title": "bench scale"})
        created.raise_for_status()
        export_id = created.json()["id"]
        with http.stream("GET", f"/api/projects/{project}/exports/{export_id}/download") as response:
            response.raise_for_status()
            for block in response.iter_raw(1 << 20):
                size += len(block)
        http.delete(f"/api/projects/{project}/exports/{export_id}")
    return size


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    import orjson

    with open(path, "rb") as handle:
        for line in handle:
            yield orjson.loads(line)


def _plain_agreement(snapshot: Path) -> int:
    """Krippendorff's alpha (nominal) per stance target from the annotations table, with the
    `krippendorff` package on a coders x units matrix: the plain library call, no bootstrap."""
    import krippendorff
    import numpy as np

    rows = list(_rows(snapshot / "annotations.jsonl"))
    coders = sorted({row["annotator"]["id"] for row in rows})
    units = sorted({row["document_id"] for row in rows})
    coder = {c: i for i, c in enumerate(coders)}
    unit = {u: i for i, u in enumerate(units)}
    targets = sorted({t for row in rows for t in row["stance"]})
    for target in targets:
        values = sorted({row["stance"].get(target) for row in rows} - {None})
        index = {v: float(i) for i, v in enumerate(values)}
        data = np.full((len(coders), len(units)), np.nan)
        for row in rows:
            value = row["stance"].get(target)
            if value is not None:
                data[coder[row["annotator"]["id"]], unit[row["document_id"]]] = index[value]
        krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    return len(rows)


def _plain_gold(snapshot: Path, out: Path) -> int:
    """A majority per document and target with `Counter`, written as JSONL with orjson."""
    from collections import Counter, defaultdict

    import orjson

    votes: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for row in _rows(snapshot / "annotations.jsonl"):
        for target, value in row["stance"].items():
            if value is not None:
                votes[row["document_id"]][target][value] += 1
    with open(out, "wb") as handle:
        for document in sorted(votes):
            decided = {t: c.most_common(1)[0][0] for t, c in votes[document].items()}
            handle.write(orjson.dumps({"document_id": document, "stance": decided}) + b"\n")
    return len(votes)


def _plain_release(corpus: Path, snapshot: Path, out: Path) -> int:
    """Documents, annotations and gold as pyarrow tables (`from_pylist`), each written with zstd."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "documents": corpus / "raw" / "bench.jsonl",
        "annotations": snapshot / "annotations.jsonl",
        "gold": snapshot / "gold.jsonl",
    }
    count = 0
    for name, path in tables.items():
        # `extra` (Label Studio's leftovers) is not released and holds empty objects Parquet refuses.
        table = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "extra"} for r in _rows(path)])
        pq.write_table(table, out / f"{name}.parquet", compression="zstd")
        count += table.num_rows
        del table
    return count


def _child(step: str, args: list[str]) -> int:
    """Run one step in this process and write its figures to BENCH_FIGURES: `corpuskit ARGS` (the CLI
    itself, in-process) or one of the plain steps above. Peak RSS is read from this process's own
    VmHWM: `ru_maxrss` would also count the parent's memory copied at fork."""
    import resource

    started = time.perf_counter()
    requests = _request_timeline(started)
    code, count = 0, None
    if step == "corpuskit":
        from corpuskit.cli.main import main as corpuskit_main

        try:
            code = corpuskit_main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    elif step == "import":
        count = _import(args[0], os.environ["BENCH_TOKEN"], int(args[1]), Path(args[2]))
    elif step == "export":
        count = _plain_export(args[0], os.environ["BENCH_TOKEN"], int(args[1]))
    elif step == "agreement":
        count = _plain_agreement(Path(args[0]))
    elif step == "gold":
        count = _plain_gold(Path(args[0]), Path(args[1]))
    elif step == "release":
        count = _plain_release(Path(args[0]), Path(args[1]), Path(args[2]))
    else:
        raise SystemExit(f"unknown step {step!r}")
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    figures = {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": _hwm_mb("self"),
        # Worker processes (validation's pool) forked from this one; 0 when there were none.
        "workers_peak_rss_mb": round(workers, 1),
        "count": count,
    }
    if requests:
        figures["requests"] = _timeline_figures(requests)
    Path(os.environ["BENCH_FIGURES"]).write_text(json.dumps(figures), encoding="utf-8")
    return code


# -- measuring ----------------------------------------------------------------------------------------


def _request_timeline(started: float) -> list[dict[str, Any]]:
    """Every HTTP request this step process sends, as it goes: method, path, when it was sent, when its
    headers came and when its body was read to the end (seconds from the step's start). It wraps
    `httpx.Client.send` and `httpx.Response.close` in this process only, to say how much of a step is
    the server's and how much the client's own; what the step does is unchanged."""
    import httpx

    seen: list[dict[str, Any]] = []
    send, close = httpx.Client.send, httpx.Response.close

    def timed_send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        entry = {"method": request.method, "path": request.url.path, "sent": time.perf_counter() - started}
        seen.append(entry)
        response = send(self, request, **kwargs)
        entry["headers"] = entry["done"] = time.perf_counter() - started
        response.extensions["bench_timeline"] = entry
        return response

    def timed_close(self: httpx.Response) -> None:
        close(self)
        entry = self.extensions.get("bench_timeline")
        if entry is not None:
            entry["done"] = max(entry["done"], time.perf_counter() - started)

    httpx.Client.send = timed_send  # type: ignore[method-assign]
    httpx.Response.close = timed_close  # type: ignore[method-assign]
    return seen


def _timeline_figures(seen: list[dict[str, Any]]) -> dict[str, Any]:
    """The requests of a step: how many, the seconds during which at least one was in flight, and
    the ten longest (rounded), so the client's own time is the step's time less `in_flight_s`."""
    spans = sorted((e["sent"], e["done"]) for e in seen)
    busy, end = 0.0, float("-inf")
    for start, stop in spans:
        if stop > end:
            busy += stop - max(start, end)
            end = stop
    longest = sorted(seen, key=lambda e: e["done"] - e["sent"], reverse=True)[:10]
    return {
        "count": len(seen),
        "in_flight_s": round(busy, 2),
        "longest": [
            {
                "method": e["method"],
                "path": e["path"],
                "sent_s": round(e["sent"], 2),
                "headers_s": round(e["headers"] - e["sent"], 2),
                "total_s": round(e["done"] - e["sent"], 2),
            }
            for e in longest
        ],
    }


def _hwm_mb(pid: int | str | None) -> float | None:
    """A process's peak RSS so far (VmHWM), None when it cannot be read."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _measure(name: str, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run one step (`_child`) in a fresh process; its figures (stdout and stderr go to `log`)."""
    say(f"scale: {name} ...")
    figures_file = log.with_name(f"{name}.json")
    command = [sys.executable, str(Path(__file__).resolve()), "--step", *args]
    with open(log, "ab") as out:
        out.write(f"\n== {name}: {' '.join(args)}\n".encode())
        out.flush()
        done = subprocess.run(
            command, cwd=cwd, env={**env, "BENCH_FIGURES": str(figures_file)}, stdout=out, stderr=out
        )
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"bench scale: {name} exited with {done.returncode}:\n{tail}")
    figures: dict[str, Any] = json.loads(figures_file.read_text(encoding="utf-8"))
    say(f"scale: {name}: {figures['seconds']} s, peak RSS {figures['peak_rss_mb']} MB")
    return figures


def synthetic_fields(taxonomy: Any, number: int, who: int) -> dict[str, Any]:
    """Annotator `who`'s answer for document `number`: annotators agree on most documents, and on
    every fifth each one shifts the values."""
    targets, values, topics = taxonomy.target_ids, taxonomy.stance_value_ids, taxonomy.topic_ids
    shift = who if number % 5 == 0 else 0
    return {
        "stance": {t: values[(number + i + shift) % len(values)] for i, t in enumerate(targets)},
        "topics": [topics[(number + shift) % len(topics)]] if topics else [],
        "spans": [],
        "note": None,
    }


def _prepare(work: Path, n: int) -> tuple[Path, int]:
    """The corpus folder (raw JSONL, schema, guidelines, settings) and `tasks.jsonl`/`annotated.jsonl`:
    the task bodies push sends, without and with 3 annotations each; how many documents are valid."""
    import orjson

    from bench import synthetic_documents
    from bench_studio_push import make_corpus
    from corpuskit.settings import load_settings
    from corpuskit.studio.push import REMOVED, STALE, task_data
    from corpuskit.taxonomy import load_taxonomy, row_to_result
    from corpuskit.validation.api import iter_valid_documents

    corpus = make_corpus(work / "corpus", synthetic_documents(n), work / "studio", "bench scale")
    with open(corpus / "pyproject.toml", "a", encoding="utf-8") as settings_file:
        settings_file.write(f"annotators_per_document = {ANNOTATORS}\n")
    settings = load_settings(corpus)
    taxonomy = load_taxonomy(corpus / "schema" / "taxonomy.yaml")
    valid = 0
    with open(work / "tasks.jsonl", "wb") as plain, open(work / "annotated.jsonl", "wb") as annotated:
        for number, doc in enumerate(iter_valid_documents(settings=settings)):
            data = task_data(doc, taxonomy.version)
            plain.write(orjson.dumps({"data": data, "meta": {STALE: False, REMOVED: False}}) + b"\n")
            annotations = []
            for who in range(ANNOTATORS):
                fields = synthetic_fields(taxonomy, number, who)
                annotations.append(
                    {
                        "result": row_to_result(taxonomy, fields, data["text"]),
                        "completed_by": f"@{who}",  # replaced by the user id once users exist
                        "lead_time": 10.0 + who,
                        # Label Studio marks imported annotations as ground truth unless told not to.
                        "ground_truth": False,
                    }
                )
            annotated.write(orjson.dumps({"data": data, "annotations": annotations}) + b"\n")
            valid += 1
    return corpus, valid


def _with_users(work: Path, users: list[int]) -> Path:
    """`annotated.jsonl` with the placeholders replaced by the Label Studio user ids."""
    import orjson

    out = work / "annotated-users.jsonl"
    with open(work / "annotated.jsonl", "rb") as source, open(out, "wb") as target:
        for line in source:
            task = orjson.loads(line)
            for annotation in task["annotations"]:
                annotation["completed_by"] = users[int(annotation["completed_by"][1:])]
            target.write(orjson.dumps(task) + b"\n")
    return out


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = 0
    for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1]) // 1024
    return {
        "nproc": os.cpu_count(),
        "memory_mb": memory,
        "cpu": cpu,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    return round(a["seconds"] / b["seconds"], 2) if b["seconds"] else float("nan")


def _offline(work: Path, env: dict[str, str], log: Path) -> dict[str, dict[str, Any]]:
    """agreement, gold and release on the pulled snapshot, each beside its plain version."""
    corpus, snapshot = work / "corpus", work / "corpus" / "annotations"
    shutil.rmtree(corpus / "releases", ignore_errors=True)
    shutil.rmtree(work / "plain-release", ignore_errors=True)
    steps = (
        ("plain_agreement", ["agreement", str(snapshot)]),
        ("agreement", ["corpuskit", "agreement", "--format", "json"]),
        ("gold", ["corpuskit", "gold"]),
        ("plain_gold", ["gold", str(snapshot), str(work / "plain-gold.jsonl")]),
        ("release", ["corpuskit", "release", "1.0.0", "--allow-below-threshold"]),
        ("plain_release", ["release", str(corpus), str(snapshot), str(work / "plain-release")]),
    )
    return {name: _measure(name, args, corpus, env, log) for name, args in steps}


def _env(token: str) -> dict[str, str]:
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(SCRIPTS), os.environ.get("PYTHONPATH", "")]),
        # Label Studio builds an export snapshot inside the request that creates it: at 100,000
        # tasks x 3 annotations that took about 640 s here, beyond corpuskit's default 300 s read
        # timeout, and every retry starts one more build on the server.
        "CORPUSKIT_HTTP_TIMEOUT": "3600",
    }
    env.pop("LABEL_STUDIO_URL", None)
    env.pop("LABEL_STUDIO_API_KEY", None)
    return env


def _summary(out: dict[str, Any]) -> dict[str, Any]:
    steps = out["steps"]
    pairs = {
        "push_vs_plain_import": ("push", "plain_import"),
        "pull_vs_plain_export": ("pull", "plain_export"),
        "agreement_vs_plain": ("agreement", "plain_agreement"),
        "gold_vs_plain": ("gold", "plain_gold"),
        "release_vs_plain": ("release", "plain_release"),
    }
    ratios = {name: _ratio(steps[a], steps[b]) for name, (a, b) in pairs.items() if a in steps and b in steps}
    if "repush" in steps:
        ratios["repush_vs_push"] = round(steps["repush"]["seconds"] / steps["push"]["seconds"], 3)
    for name, step in steps.items():
        flight = f"  requests in flight {step['requests']['in_flight_s']:.2f} s" if "requests" in step else ""
        say(f"  {name:<17} {step['seconds']:>9.2f} s  peak {step['peak_rss_mb']:>8.1f} MB{flight}")
    for name, value in ratios.items():
        say(f"  {name:<22} {value}x")
    return ratios


def offline_figures(work: Path) -> dict[str, Any]:
    """Only agreement, gold and release again, on the snapshot of a run kept with --keep."""
    log = work / "steps.log"
    out: dict[str, Any] = {"machine": _machine(), "folder": str(work)}
    out["steps"] = _offline(work, _env(""), log)
    out["ratios"] = _summary(out)
    return out


def figures(n: int, keep: bool = False) -> dict[str, Any]:
    """The scale run at `n` documents (see the module docstring)."""
    sys.path.insert(0, str(SCRIPTS))
    from unittest import mock

    from label_studio_sdk import LabelStudio

    from corpuskit.studio import postgres, server
    from corpuskit.taxonomy import label_config, load_taxonomy

    machine = _machine()
    work = Path(tempfile.mkdtemp(prefix="corpuskit-bench-scale-"))
    # Under root, PostgreSQL runs as `postgres` and must pass through the work folder.
    postgres.allow_passage(work)
    log = work / "steps.log"
    say(f"scale: working in {work} (step output: {log})")
    out: dict[str, Any] = {"documents_generated": n, "machine": machine}
    cluster = None
    studio = work / "studio"
    try:
        started = time.perf_counter()
        corpus, valid = _prepare(work, n)
        out["documents_valid"] = valid
        out["prepare_s"] = round(time.perf_counter() - started, 1)
        say(f"scale: {valid:,} valid documents of {n:,} written ({out['prepare_s']} s)")

        cluster = postgres.start(work / "postgres", server.free_port(), secrets.token_hex(16))
        say("scale: starting Label Studio on PostgreSQL (about 30-60 s)")
        started = time.perf_counter()
        with mock.patch.dict(os.environ, cluster.env()):
            running = server.start(studio, port=server.free_port(), timeout=600.0, progress=False)
        out["server_start_s"] = round(time.perf_counter() - started, 1)
        say(f"scale: Label Studio answered after {out['server_start_s']} s")
        if (studio / server.LS_DATA / "label_studio.sqlite3").exists():
            raise SystemExit("bench scale: Label Studio fell back to SQLite")
        env = _env(running.token)
        taxonomy = load_taxonomy(corpus / "schema" / "taxonomy.yaml")
        ls = LabelStudio(base_url=running.url, api_key=running.token, timeout=600.0)
        config = label_config(taxonomy)
        steps: dict[str, dict[str, Any]] = {}
        out["steps"] = steps

        def server_step(name: str, args: list[str]) -> None:
            steps[name] = _measure(name, args, corpus, env, log)
            steps[name]["label_studio_peak_rss_mb"] = _hwm_mb(running.pid)

        plain_project = ls.projects.create(title="bench scale plain import", label_config=config).id
        server_step("plain_import", ["import", running.url, str(plain_project), str(work / "tasks.jsonl")])
        server_step("push", ["corpuskit", "push"])
        server_step("repush", ["corpuskit", "push"])

        stamp = time.time_ns()
        users = [
            ls.users.create(email=f"scale{i}-{stamp}@example.org", username=f"scale{i}-{stamp}").id
            for i in range(ANNOTATORS)
        ]
        annotated = _with_users(work, users)
        project = ls.projects.create(title="bench scale annotated", label_config=config).id
        server_step("bulk_annotations", ["import", running.url, str(project), str(annotated)])
        server_step("plain_export", ["export", running.url, str(project)])
        server_step("pull", ["corpuskit", "pull", "--project", str(project)])
        meta = json.loads((corpus / "annotations" / "snapshot.json").read_text(encoding="utf-8"))
        out["snapshot_counts"] = meta["counts"]
        if meta["counts"]["annotations"] != ANNOTATORS * valid:
            raise SystemExit(f"bench scale: pulled {meta['counts']} for {valid} documents")
        steps.update(_offline(work, env, log))
        out["ratios"] = _summary(out)
        out["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if (studio / server.PID_FILE).exists():
            server.stop(studio)
        if cluster is not None:
            postgres.stop(cluster.recorded())
        if keep:
            say(f"scale: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "--step":
        sys.path.insert(0, str(SCRIPTS))
        return _child(sys.argv[2], sys.argv[3:])
    if len(sys.argv) == 3 and sys.argv[1] == "--offline":
        print(json.dumps(offline_figures(Path(sys.argv[2])), indent=2))
        return 0
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
    print(json.dumps(figures(n), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
