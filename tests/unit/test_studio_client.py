"""The HTTP client under requests in flight together."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from corpuskit.studio.client import Connection, StudioClient


def test_requests_starting_together_on_a_new_client_share_one_connection_pool() -> None:
    # A pull sends its summary's requests and its settings read at once on a new client; two
    # connection pools made side by side would leave one unclosed (its TLS connections with it).
    client = StudioClient(Connection("https://studio.example.org", "secret-token"))
    threads = 8
    start = threading.Barrier(threads)

    def first_use(_: int) -> int:
        start.wait()
        return id(client.http)

    try:
        with ThreadPoolExecutor(threads) as pool:
            pools = set(pool.map(first_use, range(threads)))
        assert pools == {id(client.http)}
    finally:
        client.close()
