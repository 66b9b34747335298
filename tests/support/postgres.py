"""A throwaway PostgreSQL cluster for tests, run by `corpuskit.studio.postgres` (the team server's
code): Debian's `postgresql` binaries, 127.0.0.1 only, fsync off.

The cluster lives in a fresh folder under the system's temporary folder, not under pytest's: those
are private to root, and under root the cluster runs as `postgres`, which must reach its folder.
It is stopped by the postmaster's pid, and its folder removed.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path

from corpuskit.studio import postgres
from corpuskit.studio.postgres import Cluster

__all__ = ["Cluster", "query", "start_cluster", "stop_cluster"]


def start_cluster(port: int) -> Cluster:
    """A new cluster on 127.0.0.1:`port` with Label Studio's database created."""
    root = Path(tempfile.mkdtemp(prefix="corpuskit-pg-"))
    try:
        return postgres.start(root, port, secrets.token_hex(16), durable=False)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def query(cluster: Cluster, sql: str) -> str:
    """The result of one SQL statement in the Label Studio database, as psql prints it unaligned."""
    return cluster.query(sql)


def stop_cluster(cluster: Cluster) -> None:
    """Stop the postmaster by its pid and remove the cluster's folder."""
    postgres.stop(cluster.recorded())
    shutil.rmtree(cluster.root, ignore_errors=True)
