"""Coverage-guided fuzzing of the raw reader with atheris, for a fixed time (`bench.py fuzz`).

Not part of the test suite (the suite has derandomized hypothesis properties in
tests/unit/test_properties.py); this searches much longer, guided by which branches of the parser an
input reaches. atheris is optional and not a dependency: `pip install atheris` (wheels for CPython
3.11 on Linux x86-64). Without it the benchmark says so and reports nothing else.

An input is one byte choosing the file type (.txt, .json or .jsonl) followed by the file's bytes. The
seeds are the corpus's own raw files and the test data. Every input must read without an exception,
every problem must carry a documented code and a line inside the file, and every document read from a
.txt file must render back to text that parses to the same document (or be refused by the renderer).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SUFFIXES = (".txt", ".json", ".jsonl")
SEED_FOLDERS = ("raw", "tests/data/documents", "tests/data/valid", "tests/data/invalid")


def documented_codes() -> frozenset[str]:
    """The diagnostic codes docs/raw-format.md and docs/validation.md list in their tables."""
    codes: set[str] = set()
    for line in (REPO / "docs" / "raw-format.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            codes.update(re.findall(r"`([a-z0-9]+(?:-[a-z0-9]+)*)`", line.rstrip(" |").rsplit("|", 1)[-1]))
    for line in (REPO / "docs" / "validation.md").read_text(encoding="utf-8").splitlines():
        codes.update(re.findall(r"^\| `([a-z0-9]+(?:-[a-z0-9]+)*)` \|", line))
    return frozenset(codes)


def _seed(corpus: Path) -> int:
    count = 0
    for folder in SEED_FOLDERS:
        for path in sorted((REPO / folder).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and path.stat().st_size < 64 * 1024:
                choice = bytes([SUFFIXES.index(path.suffix)])
                (corpus / f"seed-{count:04d}").write_bytes(choice + path.read_bytes())
                count += 1
    return count


def _stat(text: str, name: str) -> int | None:
    match = re.search(rf"stat::{name}:\s*(\d+)", text)
    return int(match.group(1)) if match else None


def figures(seconds: int) -> dict[str, Any]:
    """Fuzz for `seconds` and report executions, coverage, corpus size and any crash."""
    if importlib.util.find_spec("atheris") is None:
        return {"skipped": "atheris is not installed (optional): pip install atheris"}
    work = Path(tempfile.mkdtemp(prefix="corpuskit-fuzz-"))
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        seeds = _seed(corpus)
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "worker",
            str(corpus),
            f"-max_total_time={seconds}",
            "-seed=1",
            "-max_len=8192",
            "-rss_limit_mb=2048",
            "-timeout=10",
            "-print_final_stats=1",
            f"-artifact_prefix={work}/",
        ]
        env = {**os.environ, "CORPUSKIT_FUZZ_DIR": str(work / "files")}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 300)
        log = done.stderr
        final = re.findall(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)", log)
        crashes = sorted(p.name for p in work.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
        result: dict[str, Any] = {
            "seconds": seconds,
            "seed_inputs": seeds,
            "inputs_fuzzed": _stat(log, "number_of_executed_units"),
            "coverage_edges": int(final[-1][1]) if final else None,
            "features": int(final[-1][2]) if final else None,
            "corpus_size": int(final[-1][3]) if final else None,
            "peak_rss_mb": _stat(log, "peak_rss_mb"),
            "exit_code": done.returncode,
            "failures": len(crashes),
        }
        if done.returncode != 0 or crashes:
            keep = REPO / "tests" / "artifacts" / "fuzz"
            keep.mkdir(parents=True, exist_ok=True)
            for name in crashes:
                shutil.copy(work / name, keep / name)
            result["failure_inputs"] = [str(keep / name) for name in crashes]
            result["log_tail"] = log.strip().splitlines()[-25:]
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def worker(argv: list[str]) -> None:
    """Runs under atheris in its own process (libFuzzer owns the process and exits it)."""
    import atheris

    with atheris.instrument_imports():
        from corpuskit.documents import decoding, jsonrecords, rawtext, reader  # noqa: F401
        from corpuskit.documents.rawtext import parse_raw_text
        from corpuskit.documents.reader import SourceRecord, read_file
        from corpuskit.documents.rendertext import RenderError, render_raw_text

    known = documented_codes()
    folder = Path(os.environ["CORPUSKIT_FUZZ_DIR"])
    folder.mkdir(parents=True, exist_ok=True)

    def one_input(data: bytes) -> None:
        suffix = SUFFIXES[data[0] % 3] if data else ".txt"
        content = data[1:]
        path = folder / f"input{suffix}"
        path.write_bytes(content)
        lines = content.count(b"\n") + content.replace(b"\r\n", b"\n").count(b"\r") + 1
        for item in read_file(path, root=folder):
            if isinstance(item, SourceRecord):
                if suffix != ".txt":
                    continue
                doc = item.document
                try:
                    text = render_raw_text(doc)
                except RenderError:
                    continue
                again = parse_raw_text(text, doc_id=doc["id"], raw_path=doc["raw_path"])
                if again.document != doc:
                    raise AssertionError(f"render round trip changed the document: {doc!r} -> {text!r}")
                continue
            if item.code not in known:
                raise AssertionError(f"undocumented code {item.code!r}: {item}")
            if item.line is not None and not 1 <= item.line <= lines:
                raise AssertionError(f"line {item.line} outside the file's {lines} lines: {item}")
            if not item.message.strip():
                raise AssertionError(f"empty message: {item!r}")

    atheris.Setup([sys.argv[0], *argv], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2:])
    else:
        print(figures(int(sys.argv[1]) if len(sys.argv) > 1 else 60))
