"""Session-wide fixtures: one real Label Studio server and one headless Chromium for the whole run.

Label Studio behaviour is tested against the real server (never mocks of its API); it takes about
30 s to start, so it starts once, lazily, for the first test that asks for it, and is stopped by the
pid it recorded when the session ends.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

# Tests never reach the Hugging Face Hub; set before anything imports datasets/huggingface_hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
# A datasets cache of the run's own: `datasets` can reuse the cache entry of an earlier release at
# the same relative paths (seen: a release test reading the features of an older schema from
# ~/.cache), so a test reads what it just built, never what an older run left behind.
_HF_CACHE = tempfile.mkdtemp(prefix="corpuskit-tests-hf-")
os.environ["HF_DATASETS_CACHE"] = _HF_CACHE
atexit.register(shutil.rmtree, _HF_CACHE, ignore_errors=True)

if TYPE_CHECKING:
    from corpuskit.studio.server import StudioServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioServer]:
    """A real Label Studio on 127.0.0.1 (free port, fresh SQLite), shared by the whole session.

    Its admin is `studio_server.username` / `.password`, with API token `.token` (legacy token,
    enabled). Tests that change global state (users, organisation settings) must keep it usable."""
    from corpuskit.studio import server

    data_dir = tmp_path_factory.mktemp("studio")
    running = server.start(data_dir, port=server.free_port(), timeout=300.0, progress=True)
    try:
        yield running
    finally:
        server.stop(data_dir)


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Any]:
    """The one Playwright of the session (a second sync Playwright in the same thread is refused);
    tests that need a browser with other launch options launch it from here."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def _browser(playwright_session: Any) -> Iterator[Any]:
    browser = playwright_session.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def chromium_page(_browser: Any) -> Iterator[Any]:
    """A fresh page in its own browser context (no cookies shared between tests)."""
    context = _browser.new_context()
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def login(page: Any, url: str, email: str, password: str) -> None:
    """Log `page` in to Label Studio at `url` as `email` and wait until the app has loaded."""
    page.goto(f"{url.rstrip('/')}/user/login")
    page.fill("input#email", email)
    page.fill("input#password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda current: urlsplit(current).path.rstrip("/") != "/user/login")
    page.wait_for_load_state()


@pytest.fixture
def studio_login() -> Any:
    """The `login(page, url, email, password)` helper, for tests that cannot import conftest."""
    return login


@pytest.fixture(scope="session")
def studio_server_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioServer]:
    """A second real Label Studio, backed by PostgreSQL (its production set-up) instead of SQLite.

    The cluster (Debian's `postgresql`, 127.0.0.1 only, see `support/postgres.py`) and the server start
    once, for the first test that asks; both are stopped by pid when the session ends."""
    from unittest import mock

    from corpuskit.studio import server
    from support.postgres import query, start_cluster, stop_cluster

    cluster = start_cluster(server.free_port())
    data_dir = tmp_path_factory.mktemp("studio-pg")
    try:
        # The embedded server takes Label Studio's own database settings from the environment;
        # patched only while it starts, so nothing else in the session sees them.
        with mock.patch.dict(os.environ, cluster.env()):
            running = server.start(data_dir, port=server.free_port(), timeout=300.0, progress=True)
        try:
            # Label Studio falls back to SQLite quietly: make sure its data really is in PostgreSQL.
            assert not (data_dir / server.LS_DATA / "label_studio.sqlite3").exists()
            assert running.username in query(cluster, "SELECT email FROM htx_user").split()
            yield running
        finally:
            server.stop(data_dir)
    finally:
        stop_cluster(cluster)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def studio_server_any(request: pytest.FixtureRequest) -> StudioServer:
    """The session's Label Studio on each database in turn: SQLite (`studio_server`) and PostgreSQL.

    A module runs its round-trip tests against both by overriding `studio_server` with this."""
    name = "studio_server" if request.param == "sqlite" else "studio_server_pg"
    server: StudioServer = request.getfixturevalue(name)
    return server
