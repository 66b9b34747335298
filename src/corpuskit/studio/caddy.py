"""Caddy, the TLS reverse proxy in front of the team server's Label Studio: its configuration, its
certificate authority and its process (Debian's `caddy` package, 2.6).

Everything Caddy keeps lives in one folder (the team server's `caddy/`): the `Caddyfile` written
at each start, its storage (`pki/authorities/local/root.crt` is the root certificate of its own
CA, `certificates/` what that CA issued), its autosaved configuration and `caddy.log`. The proxy
listens on HOST:PORT only (`bind`), serves HTTPS only (no HTTP redirect server on port 80), has no
admin endpoint, never touches the system's trust store, asks no OCSP responder, and forwards to
Label Studio on 127.0.0.1. Without `cert`/`key` its internal CA issues the server's certificate,
for a host name or an IP address alike (an IP address SAN), and renews it while running.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
from pathlib import Path

from corpuskit.errors import EnvironmentProblem, UsageError
from corpuskit.studio import processes

CADDYFILE = "Caddyfile"
LOG = "caddy.log"
MARKER = b"caddy"
INSTALL_HINT = "apt-get install caddy postgresql"
CA_NAME = "corpuskit team server"
ROOT_CERTIFICATE = Path("pki", "authorities", "local", "root.crt")


def executable() -> str:
    found = shutil.which("caddy")
    if found is None:
        raise EnvironmentProblem(f"caddy is not installed: the team server needs it ({INSTALL_HINT})")
    return found


def _quoted(value: str) -> str:
    if any(c in value for c in '"\n\r{}'):
        raise UsageError(f"{value!r}: a path or name for Caddy may not hold quotes, braces or line breaks")
    return f'"{value}"'


def site_address(host: str, port: int) -> str:
    """`https://HOST:PORT` (an IPv6 address in brackets)."""
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def caddyfile(
    folder: Path, host: str, port: int, upstream_port: int, cert: Path | None = None, key: Path | None = None
) -> str:
    """The configuration: HTTPS on HOST:PORT only, proxied to Label Studio on 127.0.0.1."""
    tls = f"tls {_quoted(str(cert))} {_quoted(str(key))}" if cert and key else "tls internal"
    return f"""\
# Written by corpuskit at every `corpuskit studio start --team`: changes here are overwritten.
{{
	admin off
	auto_https disable_redirects
	skip_install_trust
	ocsp_stapling off
	storage file_system {{
		root {_quoted(str(folder))}
	}}
	servers {{
		protocols h1 h2
	}}
	pki {{
		ca local {{
			name {_quoted(CA_NAME)}
		}}
	}}
}}

{site_address(host, port)} {{
	bind {host}
	{tls}
	reverse_proxy 127.0.0.1:{upstream_port}
}}
"""


def root_certificate(folder: Path) -> Path:
    """Where Caddy keeps its internal CA's root certificate (created at its first start)."""
    return Path(folder) / ROOT_CERTIFICATE


def first_certificate(pem_file: Path) -> str:
    """The first certificate of a PEM file (a chain starts with the server's own)."""
    text = Path(pem_file).read_text(encoding="ascii", errors="replace")
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    if begin not in text or end not in text[text.find(begin) :]:
        raise UsageError(f"{pem_file}: no PEM certificate in it")
    start = text.index(begin)
    return text[start : text.index(end, start) + len(end)]


def fingerprint(pem_file: Path) -> str:
    """The SHA-256 fingerprint of the first certificate in a PEM file, as browsers show it
    (`AB:CD:...`): the hash of its DER bytes."""
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(first_certificate(pem_file))).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def launch(
    folder: Path, host: str, port: int, upstream_port: int, cert: Path | None = None, key: Path | None = None
) -> subprocess.Popen[bytes]:
    """Write the Caddyfile and start Caddy in its own process group, its log in `caddy.log`."""
    binary = executable()
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    config = folder / CADDYFILE
    config.write_text(caddyfile(folder, host, port, upstream_port, cert, key), encoding="utf-8")
    env = {
        **os.environ,
        # Caddy's default data and config folders are the user's: keep its autosave here too.
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_CONFIG_HOME": str(folder / "config"),
    }
    return processes.spawn(
        [binary, "run", "--config", str(config), "--adapter", "caddyfile"], folder, env, folder / LOG
    )
