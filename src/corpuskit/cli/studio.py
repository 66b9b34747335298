"""`corpuskit studio`: this corpus's Label Studio, embedded or team server (start, stop, status, open,
credentials, invite, backup, restore)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from corpuskit.cli.options import ExitCodes, add_action, add_command, add_format

DESCRIPTION = """\
Run Label Studio for this corpus: a local server (SQLite, bound to 127.0.0.1) with its data,
log and generated admin credentials under .corpuskit/studio/ ([tool.corpuskit] studio_dir).
With `start --team --listen HOST:PORT`, a team server instead: Label Studio on PostgreSQL behind
an HTTPS proxy (Caddy, its own CA or --cert/--key) listening on HOST:PORT only, sign-up by invite
link only (docs/team-server.md). The admin password and API token are stored with mode 0600 and
printed only by `corpuskit studio credentials`. To use a server run elsewhere, set
LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (a legacy token or a personal access token): `status`
then checks that one.
"""

EXAMPLES = (
    "corpuskit studio start              # wait until it answers, print where to open it",
    "corpuskit studio start --port 8081",
    "corpuskit studio start --team --listen 192.168.1.20:8443   # a team server (needs caddy, postgresql)",
    "corpuskit studio start --team --listen annotate.lab.example.org:443 --cert fullchain.pem --key key.pem",
    "corpuskit studio status",
    "corpuskit studio open",
    "corpuskit studio credentials        # admin email, password, API token (keep them private)",
    "corpuskit studio invite             # the sign-up link to send to annotators",
    "corpuskit studio backup backups/studio-$(date +%F).tar.gz   # safe while annotators label",
    "corpuskit studio restore backups/studio-2026-11-30.tar.gz --into .corpuskit/studio",
    "corpuskit studio stop",
)
EXIT_CODES = ExitCodes(
    ok="done",
    data="a backup archive is damaged or not a corpuskit backup",
    usage="the server could not start, is not running, is unreachable or refused the token, "
    "a restore target is in use, or a bad option",
)
UNREACHABLE = "the server is not running, is unreachable or refused the token, or a bad option"


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "studio",
        help="start, stop or check this corpus's Label Studio (embedded or team server)",
        description=DESCRIPTION,
        examples=EXAMPLES,
        exit_codes=EXIT_CODES,
    )
    sub = parser.add_subparsers(dest="studio_command", metavar="ACTION", required=True)

    def add(
        name: str, help_text: str, examples: tuple[str, ...], exit_codes: ExitCodes
    ) -> argparse.ArgumentParser:
        return add_action(sub, name, help_text, examples, exit_codes)

    start = add(
        "start",
        "start the embedded server (or with --team the team server) and wait until it answers",
        (
            "corpuskit studio start",
            "corpuskit studio start --port 8081",
            "corpuskit studio start --team --listen 192.168.1.20:8443",
        ),
        ExitCodes(
            ok="running (where to open it on stdout, progress on stderr)",
            usage="the server could not start, or a bad option",
        ),
    )
    start.add_argument(
        "--port",
        type=int,
        default=None,
        help="port on 127.0.0.1 (default: the port used last, else 8080, else the next free one)",
    )
    start.add_argument("--timeout", type=float, default=180.0, help="seconds to wait (default: 180)")
    start.add_argument(
        "--team",
        action="store_true",
        help="start the team server: PostgreSQL + Label Studio + an HTTPS proxy, invite-only",
    )
    start.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="with --team: the address annotators open, the only one it listens on ([v6]:PORT for IPv6)",
    )
    start.add_argument(
        "--cert",
        metavar="FILE",
        help="with --team: a PEM certificate (with its chain) for HOST instead of the server's own CA",
    )
    start.add_argument("--key", metavar="FILE", help="with --team and --cert: the certificate's private key")
    start.set_defaults(func=run_start)
    stop = add(
        "stop",
        "stop this corpus's server (embedded, or every process of the team server)",
        ("corpuskit studio stop",),
        ExitCodes(
            ok="stopped (or nothing was running)", usage="the server could not be stopped, or a bad option"
        ),
    )
    stop.set_defaults(func=run_stop)
    status = add(
        "status",
        "is the server up, and does it accept the token?",
        ("corpuskit studio status", "corpuskit studio status --format json"),
        ExitCodes(ok="up and the token is accepted", usage=UNREACHABLE),
    )
    add_format(status)
    status.set_defaults(func=run_status)
    open_ = add(
        "open",
        "open the server in a web browser",
        ("corpuskit studio open",),
        ExitCodes(ok="opened (the address on stdout)", usage="no server is configured, or a bad option"),
    )
    open_.set_defaults(func=run_open)
    creds = add(
        "credentials",
        "print this corpus's server's admin login and API token",
        ("corpuskit studio credentials", "corpuskit studio credentials --format json | jq -r .token"),
        ExitCodes(ok="printed", usage="no credentials yet (the server was never started), or a bad option"),
    )
    add_format(creds)
    creds.set_defaults(func=run_credentials)
    back = add(
        "backup",
        "write one archive of the server's database, data and settings (safe while labelling)",
        ("corpuskit studio backup backups/studio-$(date +%F).tar.gz",),
        ExitCodes(
            ok="written",
            usage="no server data to back up, the archive exists already, or a bad option",
        ),
    )
    back.add_argument("file", help="the archive to write (.tar, or .tar.gz to compress); never overwritten")
    add_format(back)
    back.set_defaults(func=run_backup)
    rest = add(
        "restore",
        "restore a backup into a new, empty studio folder",
        ("corpuskit studio restore backups/studio-2026-11-30.tar.gz --into .corpuskit/studio",),
        ExitCodes(
            ok="restored",
            data="the archive is damaged or not a corpuskit backup",
            usage="no such archive, the target folder is in use or not empty, or a bad option",
        ),
    )
    rest.add_argument("file", help="the archive written by `corpuskit studio backup`")
    rest.add_argument(
        "--into",
        metavar="DIR",
        help="the studio folder to create (default: [tool.corpuskit] studio_dir); must be new or empty",
    )
    add_format(rest)
    rest.set_defaults(func=run_restore)
    invite = add(
        "invite",
        "print the sign-up link for annotators (Label Studio's invite)",
        ("corpuskit studio invite", "corpuskit studio invite --format json"),
        ExitCodes(ok="printed (the link on stdout, advice on stderr)", usage=UNREACHABLE),
    )
    add_format(invite)
    invite.set_defaults(func=run_invite)


def _data_dir() -> Any:
    from corpuskit.settings import load_settings

    settings = load_settings()
    return settings, settings.path(settings.studio_dir)


def run_start(args: argparse.Namespace) -> int:
    from corpuskit.errors import UsageError
    from corpuskit.studio import server

    settings, data_dir = _data_dir()
    if args.team and args.port is not None:
        raise UsageError("--port is the embedded server's; the team server listens on --listen HOST:PORT")
    if not args.team and (args.listen or args.cert or args.key):
        raise UsageError("--listen, --cert and --key are for the team server: add --team")
    if settings.label_studio_url:
        print(
            f"corpuskit: note: LABEL_STUDIO_URL is set ({settings.label_studio_url}); "
            "push and pull use that server, not this one",
            file=sys.stderr,
        )
    if args.team:
        return _start_team(args, data_dir)
    running = server.start(data_dir, port=args.port, timeout=args.timeout, progress=True)
    if args.port is not None and not running.url.endswith(f":{args.port}"):
        print(
            f"corpuskit: note: this corpus's server is already running at {running.url}; "
            "--port applies at the next start (`corpuskit studio stop` first)",
            file=sys.stderr,
        )
    print(f"Label Studio is running at {running.url} (pid {running.pid})")
    print(f"log in as {running.username}; `corpuskit studio credentials` shows the password")
    return 0


def _start_team(args: argparse.Namespace, data_dir: Any) -> int:
    from pathlib import Path

    from corpuskit.errors import UsageError
    from corpuskit.studio import teamserver

    if not args.listen:
        raise UsageError(
            "--team needs --listen HOST:PORT: the address annotators open, e.g. 192.168.1.20:8443"
        )
    host, port = teamserver.parse_listen(args.listen)
    team = teamserver.start(
        data_dir,
        host,
        port,
        cert=Path(args.cert) if args.cert else None,
        key=Path(args.key) if args.key else None,
        timeout=args.timeout,
        progress=True,
    )
    pids = ", ".join(f"{name} pid {entry.pid}" for name, entry in team.processes.items())
    print(f"the team server is running at {team.url} ({pids})")
    print(f"it listens on {team.listen} only (HTTPS); Label Studio and PostgreSQL listen on 127.0.0.1")
    if team.ca_file is not None:
        print(f"CA certificate: {team.ca_file}")
        print(f"CA fingerprint (SHA-256): {team.fingerprint}")
        print(
            "annotators trust this CA once: send them the certificate file, and the fingerprint by another\n"
            "channel; they check that it matches before importing the file into their browser or system\n"
            "as a trusted certificate authority (docs/team-server.md)"
        )
    else:
        print(f"certificate: {team.certificate}")
        print(f"certificate fingerprint (SHA-256): {team.fingerprint}")
        print("browsers trust it when they trust its issuer (docs/team-server.md)")
    print(
        f"log in as {team.server.username}; `corpuskit studio credentials` shows the password, "
        "`corpuskit studio invite` the sign-up link"
    )
    return 0


def run_stop(args: argparse.Namespace) -> int:
    from corpuskit.studio import server

    _, data_dir = _data_dir()
    running = server.status(data_dir)
    if server.stop(data_dir) and running is not None:
        if running.mode == server.TEAM:
            print(f"stopped the team server at {running.url} (Caddy, Label Studio and PostgreSQL)")
        else:
            print(f"stopped Label Studio (pid {running.pid})")
    else:
        print("no embedded Label Studio is running")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from corpuskit.studio.client import StudioClient, connection
    from corpuskit.studio.gateway import Gateway

    settings, _ = _data_dir()
    conn = connection(settings)
    client = StudioClient(conn, attempts=2)
    try:
        user = Gateway(client).users.whoami()
    finally:
        client.close()
    info = {
        "url": conn.url,
        "embedded": conn.embedded,
        "team": conn.team,
        "token": conn.kind,
        "user": user.get("email"),
    }
    if args.format == "json":
        print(json.dumps(info, indent=2))
    else:
        kind = "personal access token" if conn.kind == "pat" else "legacy token"
        print(f"Label Studio at {conn.url} ({conn.where}) is up; the {kind} is accepted for {info['user']}")
    return 0


def run_open(args: argparse.Namespace) -> int:
    import webbrowser

    from corpuskit.studio.client import connection

    settings, _ = _data_dir()
    conn = connection(settings, warn=False)
    print(conn.url)
    webbrowser.open(conn.url)
    return 0


def run_credentials(args: argparse.Namespace) -> int:
    from corpuskit.errors import StudioError
    from corpuskit.studio import server

    _, data_dir = _data_dir()
    creds = server.load_credentials(data_dir)
    if creds is None:
        raise StudioError(f"{data_dir}: no credentials yet: run `corpuskit studio start` first")
    running = server.status(data_dir)
    data = {
        "url": running.url if running is not None else None,
        "username": creds.username,
        "password": creds.password,
        "token": creds.token,
    }
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key}: {value if value is not None else '(not running)'}")
    return 0


def run_invite(args: argparse.Namespace) -> int:
    from corpuskit.studio.client import StudioClient, connection
    from corpuskit.studio.gateway import Gateway

    settings, _ = _data_dir()
    conn = connection(settings)
    with StudioClient(conn, attempts=2) as client:
        link = Gateway(client).users.invite_link()
    if args.format == "json":
        print(
            json.dumps(
                {"invite_url": link, "server": conn.url, "embedded": conn.embedded, "team": conn.team},
                indent=2,
            )
        )
        return 0
    print(link)
    print(
        "Send this link to each annotator privately: whoever has it can join the team. They sign up with\n"
        "their own e-mail and password, open the project and press 'Label All Tasks', so that Label\n"
        "Studio's queue hands out the documents and nobody sees another annotator's answers\n"
        "(docs/team.md; the annotator guide is docs/annotators.md).",
        file=sys.stderr,
    )
    if conn.embedded:
        print(
            "note: the embedded server listens on 127.0.0.1 only: the link works for people on this machine.",
            file=sys.stderr,
        )
    if conn.ca_file is not None:
        print(
            f"note: annotators' browsers must trust the team server's CA first: {conn.ca_file}\n"
            "(`corpuskit studio start --team` printed its fingerprint; docs/team-server.md).",
            file=sys.stderr,
        )
    return 0


def run_backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from corpuskit.studio.backup import backup

    _, data_dir = _data_dir()
    result = backup(data_dir, Path(args.file))
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(
            f"backed up the {result.mode} Label Studio in {data_dir} to {result.path} "
            f"({result.files} files, {result.bytes} bytes, sha256 {result.sha256})"
        )
        print(
            "the archive holds the admin token and the accounts: keep it private (mode 0600)", file=sys.stderr
        )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from corpuskit.studio.backup import restore

    _, data_dir = _data_dir()
    target = Path(args.into) if args.into else data_dir
    result = restore(Path(args.file), target)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(
            f"restored the {result.mode} Label Studio backed up at {result.created_at} into {result.folder} "
            f"({result.files} files checked against the manifest)"
        )
        print("start it with `corpuskit studio start`", file=sys.stderr)
    return 0
