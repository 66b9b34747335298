"""Secrets stay secret: API tokens and passwords never reach output, logs, errors, task data,
snapshots or releases; the credentials file is private; a plain-http remote server is warned about.

The full flow runs as real `corpuskit` processes against the session's Label Studio, every byte they
print is kept, and every output and every file they wrote is searched for the token and the password.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from corpuskit.settings import Settings
from corpuskit.studio.server import StudioServer
from support.reliability_log import LOG, reliability  # noqa: F401 (the fixture)

REPO = Path(__file__).resolve().parents[2]
CORPUSKIT = Path(sys.executable).parent / "corpuskit"
PROJECT_TITLE = "corpuskit secrets test"
# The demo normally uses one fixed project title; this test gives its run a project of its own so
# that it cannot change what other tests of the session see in theirs.
DEMO_TITLE = "secrets test demo (synthetic annotations)"
SECTION = "secrets"
pytestmark = pytest.mark.usefixtures("reliability")


def count(name: str, amount: int = 1) -> None:
    """Record a figure for docs/reliability.md once the assertions it stands for have passed (the
    section is described on first use, so a run that deselects these tests keeps the last figures)."""
    LOG.section(
        SECTION,
        title="Attackers: API tokens and passwords never leak",
        checks=[
            "a full run as real processes (demo, validate, studio status, push, pull, a --debug traceback)"
            " and refused-token runs: every stdout/stderr, every file written under the corpus (Parquet"
            " decoded), the server log and Label Studio's task data searched for the token, the password"
            " and the refused token",
            "credentials.json mode 0600 in a 0700 folder; a plain-http remote server is warned about",
        ],
    )
    LOG.count(SECTION, name, amount)


WRONG_TOKEN = "f" * 8 + "0123456789abcdef0123456789abcdef"  # 40 hex digits, not the server's


@dataclass
class Run:
    argv: list[str]
    code: int
    stdout: str
    stderr: str


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONWARNINGS": "default"}
    return env | extra


def corpuskit(root: Path, *argv: str, env: dict[str, str] | None = None) -> Run:
    done = subprocess.run(
        [str(CORPUSKIT), *argv],
        cwd=root,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Run(list(argv), done.returncode, done.stdout, done.stderr)


def demo(root: Path) -> Run:
    """`corpuskit demo` in a process of its own, with the demo's project title made unique."""
    code = (
        "import sys, corpuskit.demo as demo; "
        f"demo.DEMO_PROJECT_TITLE = {DEMO_TITLE!r}; "
        "from corpuskit.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "demo", "--quiet"],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    return Run(["demo"], done.returncode, done.stdout, done.stderr)


def make_corpus(root: Path, studio_dir: Path) -> Path:
    root.mkdir(parents=True)
    for folder in ("schema", "raw"):
        shutil.copytree(REPO / folder, root / folder)
    (root / "docs").mkdir()
    shutil.copy(REPO / "docs" / "annotation-guidelines.md", root / "docs" / "annotation-guidelines.md")
    (root / "pyproject.toml").write_text(
        "[tool.corpuskit]\n"
        f'raw = "raw"\nproject_title = "{PROJECT_TITLE}"\nstudio_dir = {json.dumps(str(studio_dir))}\n',
        encoding="utf-8",
    )
    return root


def _readable(path: Path) -> str:
    """A file as text to search: Parquet files are decoded (their pages are compressed)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False) + json.dumps(
            {k.decode(): v.decode(errors="replace") for k, v in (pq.read_schema(path).metadata or {}).items()}
        )
    return path.read_bytes().decode("utf-8", errors="replace")


def _export(server: StudioServer, title: str) -> str:
    """Every task of the project titled `title`, as Label Studio exports it (task data and meta)."""
    import httpx

    headers = {"Authorization": f"Token {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
        projects = client.get("/api/projects", params={"page_size": 1000}).json()
        results = projects["results"] if isinstance(projects, dict) else projects
        (project,) = [p for p in results if p["title"] == title]
        response = client.get(
            f"/api/projects/{project['id']}/export",
            params={"exportType": "JSON", "download_all_tasks": "true"},
        )
        response.raise_for_status()
        return response.text


def assert_no_secret(where: str, text: str, secrets: dict[str, str]) -> None:
    for name, secret in secrets.items():
        assert secret not in text, f"the {name} appears in {where}"


@pytest.mark.studio
def test_a_full_run_never_shows_the_token_or_the_password(
    tmp_path: Path, studio_server: StudioServer
) -> None:
    root = make_corpus(tmp_path / "corpus", studio_server.data_dir)
    secrets = {"API token": studio_server.token, "admin password": studio_server.password}
    runs = [
        demo(root),
        corpuskit(root, "validate"),
        corpuskit(root, "studio", "status"),
        corpuskit(root, "studio", "status", "--format", "json"),
        corpuskit(root, "push", "--dry-run"),
        corpuskit(root, "push", "--format", "json"),
        corpuskit(root, "push"),
        corpuskit(root, "pull"),
        corpuskit(root, "pull", "--format", "json"),
        corpuskit(root, "--debug", "pull", "--project", "999999"),
    ]
    for run in runs:
        # Each command did its job; the last names a project that does not exist and, with --debug,
        # ends in a traceback (exit 1) that is searched below like everything else.
        expected = 1 if "999999" in run.argv else 0
        assert run.code == expected, (run.argv, run.stdout[-2000:], run.stderr[-2000:])
    assert "Traceback" in runs[-1].stderr

    # A wrong token, from the environment as a team server is configured: refused, exit 2, and the
    # refused token is not echoed either.
    wrong = _env(LABEL_STUDIO_URL=studio_server.url, LABEL_STUDIO_API_KEY=WRONG_TOKEN)
    refused = [
        corpuskit(root, *argv, env=wrong)
        for argv in (
            ("studio", "status"),
            ("push",),
            ("pull",),
            ("--debug", "studio", "status"),
            ("--debug", "push"),
            ("--debug", "pull"),
        )
    ]
    for run in refused:
        assert run.code != 0, run
        assert "refused" in run.stderr and "token" in run.stderr, run.stderr[-2000:]
    secrets["refused token"] = WRONG_TOKEN

    for run in runs + refused:
        assert_no_secret(f"`corpuskit {' '.join(run.argv)}` stdout", run.stdout, secrets)
        assert_no_secret(f"`corpuskit {' '.join(run.argv)}` stderr", run.stderr, secrets)
    assert "corpuskit: warning" not in "".join(run.stderr for run in runs)  # local server: no warning

    written = [p for p in root.rglob("*") if p.is_file()]
    # The flow wrote a snapshot, a demo snapshot and a release (Parquet included) under the corpus.
    assert (root / "annotations" / "snapshot.json").is_file()
    assert any(p.suffix == ".parquet" for p in written)
    assert any(p.name == "README.md" and "releases" in p.parts for p in written)
    for path in written:
        assert_no_secret(str(path.relative_to(root)), _readable(path), secrets)
    # The embedded server's own log lives beside the credentials; it holds no secret either.
    log = studio_server.data_dir / "server.log"
    assert_no_secret(str(log), log.read_text(encoding="utf-8", errors="replace"), secrets)
    # What Label Studio holds as task data for both projects.
    for title in (PROJECT_TITLE, DEMO_TITLE):
        assert_no_secret(f"the task data of {title!r}", _export(studio_server, title), secrets)

    count("process outputs searched", 2 * len(runs + refused))
    count("files, logs and task exports searched", len(written) + 1 + 2)
    count("secrets found", 0)
    # `studio credentials` is the one command that shows them.
    shown = corpuskit(root, "studio", "credentials", "--format", "json")
    assert shown.code == 0
    assert json.loads(shown.stdout) | {"url": None} == {
        "url": None,
        "username": studio_server.username,
        "password": studio_server.password,
        "token": studio_server.token,
    }


@pytest.mark.studio
def test_a_refused_token_is_not_in_the_error_or_its_traceback(studio_server: StudioServer) -> None:
    from corpuskit.errors import StudioError
    from corpuskit.studio.client import AuthError, Connection, StudioClient
    from corpuskit.studio.gateway import Gateway
    from corpuskit.studio.pull import pull

    client = StudioClient(Connection(url=studio_server.url, token=WRONG_TOKEN), attempts=1)
    with pytest.raises(AuthError) as raised:
        Gateway(client).users.whoami()
    client.close()
    with pytest.raises(StudioError) as pulled:
        pull(settings=Settings(root=REPO), url=studio_server.url, token=WRONG_TOKEN, project=1)
    for error in (raised.value, pulled.value):
        shown = "".join(traceback.format_exception(error)) + repr(error) + str(error.args)
        assert WRONG_TOKEN not in shown
        assert "refused" in str(error)


def test_objects_that_hold_a_secret_do_not_show_it_in_their_repr(tmp_path: Path) -> None:
    from corpuskit.studio.client import Connection
    from corpuskit.studio.server import Credentials, StudioServer, ensure_credentials

    creds = ensure_credentials(tmp_path / "studio")
    server = StudioServer("http://127.0.0.1:1", creds.token, creds.username, creds.password, 1, tmp_path)
    settings = Settings(
        root=tmp_path, label_studio_url="https://ls.example.org", label_studio_api_key="k" * 40
    )
    for value in (creds, server, Connection("https://ls.example.org", creds.token), settings):
        shown = repr(value) + str(value)
        assert creds.token not in shown and creds.password not in shown and "k" * 40 not in shown
    assert isinstance(creds, Credentials)


def test_the_credentials_file_is_private_and_so_is_its_folder(tmp_path: Path) -> None:
    from corpuskit.studio.server import CREDENTIALS_FILE, ensure_credentials, load_credentials

    old = os.umask(0o022)  # a common default that would leave new files world-readable
    try:
        studio = tmp_path / "corpus" / ".corpuskit" / "studio"
        first = ensure_credentials(studio)
        path = studio / CREDENTIALS_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(studio.stat().st_mode) == 0o700
        assert load_credentials(studio) == first
        assert len(first.token) == 40 and len(first.password) >= 20
        # Loosened by hand (or by a copy or an unpacked archive): corpuskit makes both private again.
        os.chmod(path, 0o644)
        os.chmod(studio, 0o755)
        assert ensure_credentials(studio) == first
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(studio.stat().st_mode) == 0o700
        # A folder that already existed before the first start is made private too.
        existing = tmp_path / "shared"
        existing.mkdir(mode=0o755)
        ensure_credentials(existing)
        assert stat.S_IMODE(existing.stat().st_mode) == 0o700
    finally:
        os.umask(old)
    # Two corpora never share generated secrets.
    other = ensure_credentials(tmp_path / "other")
    assert other.token != first.token and other.password != first.password


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://annotate.example.org", True),
        ("http://10.1.2.3:8080/", True),
        ("HTTP://Annotate.Example.org:8080", True),
        ("https://annotate.example.org", False),
        ("http://localhost:8080", False),
        ("http://127.0.0.1:8080", False),
        ("http://[::1]:8080", False),
    ],
)
def test_a_plain_http_remote_server_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, warned: bool
) -> None:
    from corpuskit.studio.client import connection

    settings = Settings(root=tmp_path, label_studio_url=url, label_studio_api_key=WRONG_TOKEN)
    connection(settings)
    err = capsys.readouterr().err
    assert ("warning" in err and "unencrypted" in err) is warned, err
    assert WRONG_TOKEN not in err


@pytest.fixture
def refusing_server() -> Iterator[Callable[[str], str]]:
    """A tiny HTTP server that refuses every token (401), started on the loopback address asked for."""
    servers: list[http.server.HTTPServer] = []

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"detail": "Invalid token."}')

        def log_message(self, *args: Any) -> None:
            pass

    def start(host: str) -> str:
        server = http.server.HTTPServer((host, 0), Refuse)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://{host}:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("host", "warned"), [("127.0.0.2", True), ("127.0.0.1", False)])
def test_pull_warns_about_a_plain_http_remote_server_too(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    refusing_server: Callable[[str], str],
    host: str,
    warned: bool,
) -> None:
    """pull has its own path to the server; it warns just as push does. 127.0.0.2 stands in for a
    remote host (it is not on the list of local names), and its server refuses the token at once."""
    from corpuskit.errors import StudioError
    from corpuskit.studio.pull import pull

    url = refusing_server(host)
    settings = Settings(root=REPO, label_studio_url=url, label_studio_api_key=WRONG_TOKEN)
    with pytest.raises(StudioError, match="refused"):
        pull(settings=settings, project=1, out=tmp_path / "annotations")
    err = capsys.readouterr().err
    assert ("unencrypted" in err) is warned, err
    assert WRONG_TOKEN not in err
    assert not (tmp_path / "annotations").exists()
