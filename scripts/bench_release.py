"""Benchmark of `corpuskit release` against a plain pyarrow write of the same tables.

    .venv/bin/python scripts/bench.py release                 # 100k documents, 300k annotations; 1M too
    .venv/bin/python scripts/bench_release.py --n 20000 --scale 1

Each measurement runs in its own subprocess and reports its wall time and peak RSS (`ru_maxrss`), so
one run's memory never hides another's. The release streams generated documents, annotations and gold
rows (3 annotations per document) through `build_release`; the baseline builds the same rows as Python
lists (gold joined with the documents' title and text through a dict), converts each table with
`pa.Table.from_pylist` and writes it with zstd `pq.write_table`: one file per table, unsorted, no
splits, no checksums, no card.
`figures(n, scale)` is what `scripts/bench.py release` calls.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# The synthetic release inputs are the tests' own (tests/support/synthetic.py).
TESTS = Path(__file__).resolve().parent.parent / "tests"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
mode, n, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from support import synthetic as s
from corpuskit.release.tables import LabelIndex, annotation_row, document_row, features_of, gold_row
taxonomy = s.SyntheticTaxonomy()
start = time.perf_counter()
if mode == "release":
    from corpuskit.release.build import ReleaseInputs, build_release
    inputs = ReleaseInputs(documents=s.document_rows(n), annotations=s.annotation_rows(n),
        gold=s.gold_rows(n), tasks=s.task_keys(n), taxonomy=taxonomy, snapshot={})
    build_release(inputs, out, "1.0.0")
else:
    import pyarrow as pa, pyarrow.parquet as pq
    index = LabelIndex.of(taxonomy)
    out.mkdir(parents=True)
    documents = [document_row(d) for d in s.document_rows(n)]
    by_id = {row["id"]: row for row in documents}
    gold = []
    for g in s.gold_rows(n):
        row = gold_row(g, taxonomy, index)
        doc = by_id[row["id"]]
        row["title"], row["text"], row["content_sha256"] = doc["title"], doc["text"], doc["content_sha256"]
        gold.append(row)
    tables = {
        "documents": documents,
        "annotations": [annotation_row(a, taxonomy, index) for a in s.annotation_rows(n)],
        "gold": gold,
    }
    for config, rows in tables.items():
        table = pa.Table.from_pylist(rows, schema=features_of(config, taxonomy).arrow_schema)
        pq.write_table(table, out / f"{config}.parquet", compression="zstd")
        del table
seconds = time.perf_counter() - start
size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"mode": mode, "documents": n, "seconds": seconds, "peak_rss_mb": rss, "bytes": size}))
"""


def measure(mode: str, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, mode, str(n), str(Path(tmp) / "out"), str(TESTS)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"{mode} {n} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def figures(n: int, scale: int = 10) -> dict[str, Any]:
    """Release vs plain pyarrow at `n` documents, and the release's peak memory at `n * scale` too."""
    release = measure("release", n)
    baseline = measure("baseline", n)
    out: dict[str, Any] = {
        "documents": n,
        "annotations": 3 * n,
        "release_s": round(release["seconds"], 1),
        "release_peak_rss_mb": round(release["peak_rss_mb"]),
        "release_mb_written": round(release["bytes"] / 1e6, 1),
        "pyarrow_s": round(baseline["seconds"], 1),
        "pyarrow_peak_rss_mb": round(baseline["peak_rss_mb"]),
        "pyarrow_mb_written": round(baseline["bytes"] / 1e6, 1),
        "time_ratio": round(release["seconds"] / baseline["seconds"], 2),
        "memory_ratio": round(release["peak_rss_mb"] / baseline["peak_rss_mb"], 2),
    }
    if scale > 1:
        big = measure("release", n * scale)
        out["large_documents"] = n * scale
        out["large_release_s"] = round(big["seconds"], 1)
        out["large_release_peak_rss_mb"] = round(big["peak_rss_mb"])
        out["peak_rss_growth"] = round(big["peak_rss_mb"] / release["peak_rss_mb"], 2)
    return out


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="documents (3 annotations each)")
    parser.add_argument(
        "--scale", type=int, default=10, help="also measure peak memory at n * scale (1: skip)"
    )
    args = parser.parse_args(argv)
    result = figures(args.n, args.scale)
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
