#!/usr/bin/env python3
"""corpuskit benchmarks: `python scripts/bench.py NAME [--n N] [--json]`.

Every benchmark registers itself in BENCHMARKS with `@benchmark("name")`, takes the parsed
options and returns a flat-ish dict of figures; `--json` prints that dict as one JSON object
(for `all`: one object keyed by benchmark name), otherwise a short human summary.
Benchmarks write only to a temporary folder, which is removed unless --keep is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schema" / "document.schema.json"
BIN = Path(sys.executable).parent

Figures = dict[str, Any]
BENCHMARKS: dict[str, Callable[[argparse.Namespace], Figures]] = {}


def benchmark(
    name: str,
) -> Callable[[Callable[[argparse.Namespace], Figures]], Callable[[argparse.Namespace], Figures]]:
    def register(
        function: Callable[[argparse.Namespace], Figures],
    ) -> Callable[[argparse.Namespace], Figures]:
        BENCHMARKS[name] = function
        return function

    return register


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- synthetic news -----------------------------------------------------------------------

_NEWS_TEXT = (
    "government minister officials said on Tuesday that the talks would resume next month after "
    "pause security council resolution sanctions military cooperation between Seoul Tokyo Washington "
    "Beijing Moscow Pyongyang Kyiv agreement trade economy growth inflation interest rates central "
    "bank election campaign voters opposition party leader parliament vote bill reform budget "
    "deficit spending tax energy prices oil gas pipeline exports imports market shares investors "
    "analysts expected forecast quarter percent record high low drop rise announced statement "
    "spokesperson according to sources familiar with the matter who asked not to be named because "
    "they were not authorised to speak publicly police arrested suspects investigation court ruling "
    "judge appeal protest thousands gathered capital streets demanding resignation climate summit "
    "emissions target storm flooding evacuated residents rescue teams hospital injured killed "
    "wounded ceasefire troops border missile launch drills navy aircraft carrier drone strike attack "
    "defence ministry said company chief executive profit revenue layoffs workers union strike wages "
    "negotiations deal"
)
_WORDS = tuple(_NEWS_TEXT.split())


def _sentence_pool(rng: random.Random, size: int) -> list[str]:
    pool = []
    for _ in range(size):
        words = rng.choices(_WORDS, k=rng.randint(14, 30))
        words[0] = words[0].capitalize()
        pool.append(" ".join(words) + ".")
    return pool


def synthetic_documents(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """N normalized news documents of about 3.6 KB; every 50th is a near-duplicate of an earlier one
    (a new headline, one sentence changed): the same wire story published twice."""
    from corpuskit.documents.model import content_sha256

    rng = random.Random(seed)
    pool = _sentence_pool(rng, 20000)
    recent: list[list[str]] = []
    for number in range(n):
        if number % 50 == 49 and recent:
            paragraphs = [list(p) for p in rng.choice(recent)]
            paragraphs[0][0] = rng.choice(pool)
        else:
            paragraphs = [rng.sample(pool, 3) for _ in range(rng.randint(6, 9))]
            if len(recent) < 200:
                recent.append(paragraphs)
            else:
                recent[rng.randrange(200)] = paragraphs
        month, day, hour, minute = (
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
        )
        doc: dict[str, Any] = {
            "id": f"doc-{number:07d}",
            "title": " ".join(rng.choices(_WORDS, k=10)).capitalize(),
            "summary": " ".join(rng.choices(_WORDS, k=30)).capitalize() + ".",
            "section": rng.choice(["Asia", "World", "Business", "Politics"]),
            "source": rng.choice(["AFP", "AP", "Reuters", None]),
            "published_at": f"2024-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00",
            "modified_at": None,
            "language": "en",
            "paragraphs": [
                {"heading": "Background" if i == 4 else None, "text": " ".join(p)}
                for i, p in enumerate(paragraphs)
            ],
            "credits": ["with AP inputs"] if number % 7 == 0 else [],
            "related": [],
            "content_sha256": "",
            "raw_path": None,
        }
        doc["content_sha256"] = content_sha256(doc)
        yield doc


def raw_text(doc: dict[str, Any]) -> str:
    """The document in the raw text format (headline, standfirst, bullets, body, trailers)."""
    lines = [doc["title"], doc["summary"], f"- {doc['section']}"]
    if doc["source"]:
        lines.append(f"- {doc['source']}")
    heading = None
    for paragraph in doc["paragraphs"]:
        if paragraph["heading"] and paragraph["heading"] != heading:
            lines.append(paragraph["heading"])
        heading = paragraph["heading"]
        lines.append(paragraph["text"])
    lines += [f"({credit})" for credit in doc["credits"]]
    return "\n".join(lines) + "\n"


def generate(folder: Path, n: int, *, shard: int, sample: int) -> dict[str, Any]:
    """JSONL shards of all N documents (streamed), plus the first `sample` documents as .json files
    (for check-jsonschema, which cannot read JSONL) and as raw .txt files."""
    import orjson

    jsonl, single, text = folder / "jsonl", folder / "json", folder / "txt"
    for path in (jsonl, single, text):
        path.mkdir(parents=True)
    out = None
    size = 0
    for number, doc in enumerate(synthetic_documents(n)):
        if number % shard == 0:
            if out:
                out.close()
            out = open(jsonl / f"part-{number // shard:05d}.jsonl", "wb")  # noqa: SIM115
        line = orjson.dumps(doc) + b"\n"
        size += len(line)
        out.write(line)  # type: ignore[union-attr]
        if number < sample:
            (single / f"{doc['id']}.json").write_bytes(line)
            (text / f"{doc['id']}.txt").write_text(raw_text(doc), encoding="utf-8")
    if out:
        out.close()
    return {"jsonl": jsonl, "json": single, "txt": text, "bytes": size}


# -- measuring --------------------------------------------------------------------------

_RUNNER = """
import json, resource, sys, time
from pathlib import Path
from corpuskit.settings import Settings
from corpuskit.validation.api import validate

if __name__ == "__main__":
    folder, root = Path(sys.argv[1]), Path(sys.argv[2])
    started = time.perf_counter()
    workers = None if sys.argv[5] == "auto" else int(sys.argv[5])
    settings = Settings(root=root, schema=sys.argv[3])
    result = validate([folder], settings=settings, cache=sys.argv[4] == "cache", workers=workers)
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    codes = sorted({d.code for d in result.diagnostics})
    figures = {"seconds": seconds, "summary": result.summary(), "codes": codes}
    print(json.dumps(figures | {"rss_kb": own, "worker_rss_kb": workers}))
"""


def run_corpuskit(
    folder: Path, root: Path, *, cache: bool, profile: Path | None = None, workers: int | None = None
) -> dict[str, Any]:
    """`validate` in a fresh process (so its peak RSS is its own): work time, process time, memory."""
    script = root / "runner.py"
    script.write_text(_RUNNER, encoding="utf-8")
    command = [sys.executable]
    if profile:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += [str(script), str(folder), str(root), str(SCHEMA), "cache" if cache else "no-cache"]
    command.append("auto" if workers is None else str(workers))
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"corpuskit run failed:\n{done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = wall
    return figures


def plain_jsonschema(folder: Path, limit: int) -> tuple[int, float]:
    """A precompiled Draft 2020-12 `jsonschema` validator with format checking over records already
    parsed (parsing is not timed)."""
    import jsonschema
    import orjson

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    count, seconds = 0, 0.0
    for path in sorted(folder.iterdir()):
        with open(path, "rb") as handle:
            docs = [orjson.loads(line) for line, _ in zip(handle, range(limit - count), strict=False)]
        started = time.perf_counter()
        for doc in docs:
            validator.is_valid(doc)
        seconds += time.perf_counter() - started
        count += len(docs)
        if count >= limit:
            break
    return count, seconds


def corpuskit_schema_only(folder: Path, limit: int) -> tuple[int, float]:
    """corpuskit's schema check alone (the compiled fast path) over the same parsed records."""
    import orjson

    from corpuskit.validation.schema_check import load_checker

    checker = load_checker(SCHEMA)
    count, seconds, rejected = 0, 0.0, 0
    for path in sorted(folder.iterdir()):
        with open(path, "rb") as handle:
            docs = [orjson.loads(line) for line, _ in zip(handle, range(limit - count), strict=False)]
        started = time.perf_counter()
        for doc in docs:
            rejected += not checker.is_valid(doc)
        seconds += time.perf_counter() - started
        count += len(docs)
        if count >= limit:
            break
    if rejected:
        raise SystemExit(f"the synthetic corpus has {rejected} schema-invalid documents")
    return count, seconds


def check_jsonschema_cli(folder: Path) -> tuple[int, float]:
    """The check-jsonschema CLI over one .json file per document, in batches that fit a command line."""
    executable = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    if executable is None:
        raise SystemExit("check-jsonschema is not installed (it is in the dev extra)")
    files = sorted(str(p) for p in folder.iterdir())
    seconds = 0.0
    for start in range(0, len(files), 2000):
        started = time.perf_counter()
        done = subprocess.run(
            [executable, "--schemafile", str(SCHEMA), *files[start : start + 2000]],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds += time.perf_counter() - started
        if done.returncode not in (0,):
            raise SystemExit(f"check-jsonschema failed:\n{(done.stdout + done.stderr)[-2000:]}")
    return len(files), seconds


def top_functions(profile: Path, count: int = 12) -> list[dict[str, Any]]:
    import pstats

    stats = pstats.Stats(str(profile))
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(file).name}:{line}:{name}",
                "calls": calls,
                "own_s": round(own, 3),
                "cum_s": round(cumulative, 3),
            }
        )
    rows.sort(key=lambda row: row["own_s"], reverse=True)
    return rows[:count]


@benchmark("validate")
def bench_validate(options: argparse.Namespace) -> Figures:
    """corpuskit validate (cold, cache cleared) vs plain jsonschema vs the check-jsonschema CLI."""
    n = options.n
    sample = min(n, options.baseline_cap)
    work = Path(tempfile.mkdtemp(prefix="corpuskit-bench-validate-"))
    try:
        say(
            f"generating {n:,} documents (JSONL shards of {options.shard:,}; "
            f"{sample:,} also as .json and .txt) ..."
        )
        started = time.perf_counter()
        made = generate(work / "corpus", n, shard=options.shard, sample=sample)
        generate_seconds = time.perf_counter() - started
        root = work / "root"
        root.mkdir()
        say("corpuskit validate, cold (no signature cache) ...")
        cold = run_corpuskit(made["jsonl"], root, cache=False)
        say("corpuskit validate, writing then reading the signature cache ...")
        run_corpuskit(made["jsonl"], root, cache=True)
        warm = run_corpuskit(made["jsonl"], root, cache=True)
        say(f"corpuskit validate on {sample:,} raw .txt files ...")
        text_run = run_corpuskit(made["txt"], root, cache=False)
        say(f"plain jsonschema on {sample:,} parsed records ...")
        js_count, js_seconds = plain_jsonschema(made["jsonl"], sample)
        schema_count, schema_seconds = corpuskit_schema_only(made["jsonl"], sample)
        say(f"check-jsonschema CLI on {sample:,} .json files ...")
        cj_count, cj_seconds = check_jsonschema_cli(made["json"])
        profile_rows: list[dict[str, Any]] = []
        if options.profile:
            say("profiling one cold run in one process ...")
            profile = work / "validate.prof"
            run_corpuskit(made["jsonl"], root, cache=False, profile=profile, workers=1)
            profile_rows = top_functions(profile)
    finally:
        if options.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    rate = n / cold["seconds"]
    js_rate = js_count / js_seconds
    cj_rate = cj_count / cj_seconds
    schema_rate = schema_count / schema_seconds
    figures: Figures = {
        "documents": n,
        "corpus_mb": round(made["bytes"] / 1e6, 1),
        "generate_seconds": round(generate_seconds, 1),
        "corpuskit_cold_docs_per_s": round(rate),
        "corpuskit_cold_seconds": round(cold["seconds"], 2),
        "corpuskit_cold_process_seconds": round(cold["process_seconds"], 2),
        "corpuskit_warm_docs_per_s": round(n / warm["seconds"]),
        "corpuskit_txt_docs_per_s": round(sample / text_run["seconds"]),
        "corpuskit_schema_only_docs_per_s": round(schema_rate),
        "jsonschema_docs_per_s": round(js_rate),
        "check_jsonschema_docs_per_s": round(cj_rate),
        "baseline_documents": sample,
        "ratio_cold_vs_jsonschema": round(rate / js_rate, 2),
        "ratio_schema_only_vs_check_jsonschema": round(schema_rate / cj_rate, 1),
        "ratio_cold_vs_check_jsonschema": round(rate / cj_rate, 1),
        "peak_rss_mb": round(cold["rss_kb"] / 1024, 1),
        "peak_worker_rss_mb": round(cold["worker_rss_kb"] / 1024, 1),
        "summary": cold["summary"],
        "codes": cold["codes"],
        "targets_met": {
            "cold_at_least_jsonschema": rate >= js_rate,
            "schema_only_at_least_10x_check_jsonschema": schema_rate >= 10 * cj_rate,
        },
    }
    if profile_rows:
        figures["profile_top_own_time"] = profile_rows
    return figures


@benchmark("release")
def bench_release(options: argparse.Namespace) -> Figures:
    """`corpuskit release` of --release-n documents (3 annotations each) next to a plain pyarrow
    write of the same tables, and its peak memory at --release-scale times more
    (see scripts/bench_release.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_release import figures

    return figures(options.release_n, options.release_scale)


@benchmark("studio")
def bench_studio(options: argparse.Namespace) -> Figures:
    """On one local Label Studio: `corpuskit push` of --n documents against a plain `import_tasks`
    of the same tasks and a re-push of them unchanged (scripts/bench_studio_push.py), then
    `corpuskit pull` against the plain export paths and the export `corpuskit status` reads
    (scripts/bench_studio_pull.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_studio_pull import bench_pull, bench_status
    from bench_studio_push import bench_push
    from corpuskit.studio import server

    with tempfile.TemporaryDirectory(prefix="bench-studio-") as data_dir:
        say("starting Label Studio (about 30-60 s)")
        running = server.start(Path(data_dir), port=server.free_port(), timeout=300.0, progress=False)
        try:
            say(f"push: {options.n} documents")
            figures: Figures = {"push": bench_push(running, list(synthetic_documents(options.n)))}
            say(f"pull: {options.n} tasks x 3 annotations")
            figures["pull"] = bench_pull(running, options.n)
            say(f"status: export of {options.n} tasks, a tenth annotated")
            figures["status"] = bench_status(running, options.n)
        finally:
            server.stop(Path(data_dir))
    return figures


@benchmark("suggest")
def bench_suggest(options: argparse.Namespace) -> Figures:
    """The model in the loop on a learnable corpus: learning curves of the sequential and the
    uncertainty order and the annotations saved, then training time on --n documents and
    prediction throughput (see scripts/bench_suggest.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_suggest import figures

    pool, held_out, budget, step = options.suggest_loop
    return figures(pool, held_out, budget, step, options.n)


@benchmark("memory")
def bench_memory(options: argparse.Namespace) -> Figures:
    """Peak memory of reading a snapshot's annotations, of gold, gold --check, agreement and the
    release's quality gate, each in a fresh
    process, at --memory-sizes annotations (default 100,000 and 1,000,000; see
    scripts/bench_memory.py): flat means the step streams."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_memory import figures

    return figures(options.memory_sizes)


@benchmark("scale")
def bench_scale(options: argparse.Namespace) -> Figures:
    """The annotation loop at --n documents x 3 annotations on a PostgreSQL-backed Label Studio, each
    step next to the plain library calls (scripts/bench_scale.py; not part of `all`)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_scale import figures

    return figures(options.n, keep=options.keep)


@benchmark("fuzz")
def bench_fuzz(options: argparse.Namespace) -> Figures:
    """Coverage-guided fuzzing of the raw reader with atheris for --fuzz-seconds (optional: skipped,
    and said so, when atheris is not installed; see scripts/bench_fuzz.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_fuzz import figures

    return figures(options.fuzz_seconds)


@benchmark("reliability")
def bench_reliability(options: argparse.Namespace) -> Figures:
    """The tests that record reliability figures (Label Studio SIGKILLed during push and pull
    --kills times each, the fault proxy, and any other module using tests/support/reliability_log.py),
    then docs/reliability.md from their figures (scripts/reliability_report.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reliability_report import run_and_render

    return run_and_render(options.kills, options.kill_seed)


@benchmark("cli")
def bench_cli(options: argparse.Namespace) -> Figures:
    """How fast `corpuskit --help` starts (target under 0.3 s: heavy libraries load lazily), next to
    a bare `python -c pass` on the same interpreter."""
    import statistics

    def median_run(command: list[str], runs: int = 7) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    corpuskit = str(BIN / "corpuskit")
    subprocess.run([corpuskit, "--help"], check=True, capture_output=True)  # bytecode written once
    help_s = median_run([corpuskit, "--help"])
    validate_help_s = median_run([corpuskit, "validate", "--help"])
    python_s = median_run([sys.executable, "-c", "pass"])
    return {
        "corpuskit_help_s": round(help_s, 3),
        "corpuskit_validate_help_s": round(validate_help_s, 3),
        "python_startup_s": round(python_s, 3),
        "help_over_python_startup": round(help_s / python_s, 2),
        "target_help_s": 0.3,
        "meets_target": help_s < 0.3,
    }


# `all` runs every benchmark at these small sizes unless a size is given on the command line.
SMALL = {
    "n": 1_000,
    "release_n": 10_000,
    "release_scale": 1,
    "fuzz_seconds": 10,
    "kills": 2,
    "memory_sizes": [3_000, 30_000],
}
FULL = {
    "n": 10_000,
    "release_n": 100_000,
    "release_scale": 10,
    "fuzz_seconds": 300,
    "kills": 10,
    "memory_sizes": [100_000, 1_000_000],
}


def _print_table(results: dict[str, Figures]) -> None:
    """`all`: one table of every scalar figure, benchmark by benchmark."""

    def flat(figures: Figures, prefix: str = "") -> Iterator[tuple[str, Any]]:
        for key, value in figures.items():
            if isinstance(value, dict):
                yield from flat(value, f"{prefix}{key}.")
            elif isinstance(value, (int, float, str, bool)) or value is None:
                yield f"{prefix}{key}", value

    rows = [(name, key, value) for name, figures in results.items() for key, value in flat(figures)]
    width = max((len(key) for _, key, _ in rows), default=10)
    print(f"{'benchmark':<12} {'figure':<{width}} value")
    for name, key, value in rows:
        shown = f"{value:,.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        print(f"{name:<12} {key:<{width}} {shown}")


def _print_human(name: str, figures: Figures) -> None:
    print(f"== {name}")
    for key, value in figures.items():
        if key == "profile_top_own_time":
            print("  profile (own time, one process):")
            for row in value:
                print(f"    {row['own_s']:>8.3f}s {row['calls']:>9} {row['function']}")
        else:
            print(f"  {key}: {value}")


@contextlib.contextmanager
def _stdout_to_stderr(enabled: bool) -> Iterator[None]:
    """With --json, stdout carries exactly one JSON object: anything a benchmark, a library or a
    child process writes to stdout meanwhile goes to stderr (at the file descriptor, so children
    that inherit it follow)."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name", choices=[*sorted(BENCHMARKS), "all"])
    parser.add_argument("--n", type=int, help="documents to generate (default 10,000; `all`: 1,000)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--shard", type=int, default=10_000, help="documents per JSONL file (validate)")
    parser.add_argument(
        "--baseline-cap",
        type=int,
        default=20_000,
        help="documents the slow baselines and the .txt run see (validate; default 20,000)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile one single-process run (validate)"
    )
    parser.add_argument(
        "--release-n", type=int, help="release benchmark: documents (default 100,000; `all`: 10,000)"
    )
    parser.add_argument(
        "--release-scale", type=int, help="release: also peak memory at n times this (1 skips; default 10)"
    )
    parser.add_argument(
        "--fuzz-seconds", type=int, help="fuzz: how long atheris searches (default 300; `all`: 10)"
    )
    parser.add_argument(
        "--memory-sizes",
        type=int,
        nargs="+",
        help="memory: snapshot sizes in annotations (default 100,000 1,000,000; `all`: 3,000 30,000)",
    )
    parser.add_argument(
        "--suggest-loop",
        type=int,
        nargs=4,
        default=[3_000, 1_000, 1_000, 50],
        metavar=("POOL", "HELD_OUT", "BUDGET", "STEP"),
        help="suggest: documents to annotate, held out, annotations spent, retrain every (3000 1000 1000 50)",
    )
    parser.add_argument("--kills", type=int, help="reliability: SIGKILLs per command (default 10; `all`: 2)")
    parser.add_argument("--kill-seed", type=int, help="reliability: seed of the kill loop")
    options = parser.parse_args(argv)
    for key, full in FULL.items():
        if getattr(options, key) is None:
            setattr(options, key, SMALL[key] if options.name == "all" else full)
    names = sorted(set(BENCHMARKS) - {"scale"}) if options.name == "all" else [options.name]
    with _stdout_to_stderr(options.json):
        results = {name: BENCHMARKS[name](options) for name in names}
    if options.json:
        print(json.dumps(results if options.name == "all" else results[options.name]))
    elif options.name == "all":
        _print_table(results)
    else:
        for name, figures in results.items():
            _print_human(name, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
