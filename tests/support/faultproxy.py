"""A fault-injecting HTTP proxy on 127.0.0.1, between corpuskit and a real Label Studio.

Requests pass through to the upstream server unchanged unless a rule matches them; a rule injects
one kind of fault, a given number of times (or always):

- `slow`: the request reaches the server, its answer is held back `delay` seconds (past the
  client's timeout), then sent;
- `stall`: the request is held back `delay` seconds before it reaches the server (a server still
  busy with it when the client has given up), then handled;
- `status`: answered with `status` (500, 502, 503) without reaching the server;
- `status_after`: the server handles the request, the client gets `status` instead of its answer
  (a gateway that gave up: the request may have taken effect);
- `drop`: the connection is closed before the request reaches the server;
- `drop_after`: the server handles the request, the connection is closed before any answer (the
  answer is lost: the request took effect);
- `truncate`: the answer announces its full length but only half the body is sent, then the
  connection is closed;
- `short`: only the first half of the body is sent, announced as the whole (a complete HTTP
  message whose JSON is cut off).

`on_request` lets a test act when the n-th request arrives (the kill loop SIGKILLs the server
there). Every fault and every request is counted.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

KINDS = ("slow", "stall", "status", "status_after", "drop", "drop_after", "truncate", "short")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


@dataclass
class Rule:
    """Inject `kind` into requests whose `METHOD path` matches `match` (a regex), `times` times."""

    kind: str
    match: str = ""
    times: int | None = None  # None: every matching request
    status: int = 503
    delay: float = 0.0
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")

    def applies(self, line: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return re.search(self.match, line) is not None


def _fault_name(rule: Rule) -> str:
    """How a fault is counted: answers by their status, the rest by kind."""
    if rule.kind == "status":
        return f"http {rule.status}"
    if rule.kind == "status_after":
        return f"http {rule.status} after the server acted"
    return rule.kind


@dataclass
class Seen:
    """One request as the proxy saw it, and what it did to it."""

    method: str
    path: str
    at: float
    fault: str | None = None
    status: int | None = None


@dataclass
class FaultProxy:
    """A threaded proxy to `upstream` (an http URL); use as a context manager."""

    upstream: str
    upstream_timeout: float = 600.0
    on_request: Callable[[int, str], None] | None = None
    rules: list[Rule] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the proxy is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def inject(
        self,
        kind: str,
        match: str = "",
        *,
        times: int | None = None,
        status: int = 503,
        delay: float = 0.0,
    ) -> Rule:
        rule = Rule(kind, match, times, status, delay)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def requests_matching(self, pattern: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if re.search(pattern, f"{s.method} {s.path}")]

    def _decide(self, method: str, path: str) -> tuple[int, Rule | None, Seen]:
        line = f"{method} {path}"
        with self._lock:
            seen = Seen(method, path, time.monotonic())
            self.seen.append(seen)
            index = len(self.seen)
            for rule in self.rules:
                if rule.applies(line):
                    rule.hits += 1
                    seen.fault = rule.kind
                    self.faults[_fault_name(rule)] += 1
                    return index, rule, seen
        return index, None, seen

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """The upstream's answer, or None if it could not be reached or died mid-answer."""
        target = urlsplit(self.owner.upstream)
        conn = http.client.HTTPConnection(
            target.hostname or "127.0.0.1", target.port or 80, timeout=self.owner.upstream_timeout
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Host"] = target.netloc
            headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return response.status, kept, data
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def _close_abruptly(self) -> None:
        self.close_connection = True
        # An RST rather than a FIN: the client sees a dropped connection, not an empty answer.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _send(
        self, status: int, headers: list[tuple[str, str]], data: bytes, *, kind: str | None = None
    ) -> None:
        half = data[: len(data) // 2]
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(half) if kind == "short" else len(data)))
        self.end_headers()
        self.wfile.write(half if kind in ("truncate", "short") else data)
        self.wfile.flush()
        if kind == "truncate":
            # A FIN after half the announced bytes: the client sees the body end too early.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_WR)

    def _handle(self) -> None:
        body = self._body()
        index, rule, seen = self.owner._decide(self.command, self.path)
        if self.owner.on_request is not None:
            self.owner.on_request(index, f"{self.command} {self.path}")
        kind = rule.kind if rule is not None else None
        if rule is not None and kind == "status":
            seen.status = rule.status
            self._send(rule.status, [("Content-Type", "text/html")], f"<h1>{rule.status}</h1>".encode())
            return
        if kind == "drop":
            self._close_abruptly()
            return
        if rule is not None and kind == "stall":
            time.sleep(rule.delay)
        answer = self._forward(body)
        if answer is None:
            # The server is gone (killed): the client sees the connection drop, as it would without us.
            self._close_abruptly()
            return
        status, headers, data = answer
        seen.status = status
        if rule is not None and kind == "status_after":
            seen.status = rule.status
            self._send(rule.status, [("Content-Type", "text/html")], f"<h1>{rule.status}</h1>".encode())
            return
        if kind == "drop_after":
            self._close_abruptly()
            return
        if rule is not None and kind == "slow":
            time.sleep(rule.delay)
        try:
            self._send(status, headers, data, kind=kind)
        except OSError:
            # The client gave up waiting (slow) or went away: nothing to answer.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle
