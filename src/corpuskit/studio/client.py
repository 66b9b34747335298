"""Talking to Label Studio: which server, which token, and requests that survive transient failures.

The server is the one named by `LABEL_STUDIO_URL` + `LABEL_STUDIO_API_KEY` (or the same keys in
`[tool.corpuskit]`), else the server `corpuskit studio start` runs for this corpus: the embedded
one, or the team server (its public HTTPS URL, trusting the team server's own CA). Two kinds of
token work: the legacy token (`Authorization: Token …`) and a personal access token, which is a JWT
refresh token exchanged at `/api/token/refresh/` for short-lived access tokens (`Bearer …`).

Every failure becomes one typed `StudioError` line carrying the HTTP status; the token never appears
in it. `retrying` is the one back-off loop every request goes through.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from corpuskit.errors import DataError, StudioError, UsageError

if TYPE_CHECKING:
    import ssl

    import httpx

    from corpuskit.settings import Settings

T = TypeVar("T")

# The one set of statuses worth another try.
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

# The request budget; the environment can shorten it (tests, interactive use) or lengthen it (a
# slow export of a big project over a slow link).
TIMEOUT_ENV = "CORPUSKIT_HTTP_TIMEOUT"
RETRIES_ENV = "CORPUSKIT_RETRIES"
BACKOFF_ENV = "CORPUSKIT_RETRY_BACKOFF"
DEFAULT_TIMEOUT = 300.0
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF = 0.5


def env_number(name: str, default: float, *, minimum: float) -> float:
    """A number from the environment (unset or empty: `default`); a bad value is a UsageError."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{name}={value!r} is not a number") from None
    if not number >= minimum:  # also refuses nan
        raise UsageError(f"{name}={value!r} must be at least {minimum:g}")
    return number


class ServerError(StudioError):
    """A request Label Studio answered with an error, or did not answer; `status` is the HTTP status
    when there was one. Each subclass is still one line for people (exit code 2, the token never in it)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(ServerError):
    """HTTP 404: no such project, task or export."""


class AuthError(ServerError):
    """HTTP 401 or 403: the token was refused."""


class Conflict(ServerError):
    """HTTP 409."""


class BadRequest(ServerError):
    """Any other 4xx: the server understood the request and refused it."""


class Transient(ServerError):
    """The server could not be reached, was busy (5xx, 429), timed out, reset the connection or cut
    its answer short: the request may or may not have taken effect."""


def error_for_status(status: int, message: str) -> ServerError:
    """The typed error for an HTTP error status."""
    if status in TRANSIENT_STATUS:
        return Transient(message, status)
    if status in (401, 403):
        return AuthError(message, status)
    if status == 404:
        return NotFound(message, status)
    if status == 409:
        return Conflict(message, status)
    return BadRequest(message, status)


def retrying(
    fn: Callable[[], T],
    *,
    attempts: int,
    backoff: float,
    before_retry: Callable[[], None] | None = None,
) -> T:
    """`fn()` until it does not raise `Transient`, at most `attempts` times, waiting `backoff`
    seconds before the second try and twice as long before each next one. `before_retry` runs
    after each wait (whatever it raises ends the loop): a caller whose request may have taken
    effect looks at the server there. The last failure says how many attempts were made."""
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Transient as exc:
            if attempt == attempts:
                plural = "s" if attempt > 1 else ""
                raise Transient(f"{exc} after {attempt} attempt{plural}", exc.status) from None
        time.sleep(delay)
        delay *= 2
        if before_retry is not None:
            before_retry()
    raise AssertionError("unreachable")


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _jwt_payload(token: str) -> dict[str, Any] | None:
    """The payload of a JWT (unverified: only its shape and claims matter here), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def token_kind(token: str) -> str:
    """`"pat"` for a personal access token (a JWT refresh token), else `"legacy"`."""
    payload = _jwt_payload(token)
    return "pat" if payload is not None and payload.get("token_type") == "refresh" else "legacy"


@dataclass(frozen=True)
class Connection:
    """Where Label Studio is and how to authenticate: `embedded` for the embedded server, `team`
    for this corpus's team server, whose certificate `ca_file` (its own CA) signs."""

    url: str
    token: str = field(repr=False)
    embedded: bool = False
    team: bool = False
    ca_file: Path | None = None

    @property
    def kind(self) -> str:
        return token_kind(self.token)

    @property
    def where(self) -> str:
        return "team server" if self.team else "embedded server" if self.embedded else "remote server"


def tls_verify(ca_file: str | os.PathLike[str] | None) -> ssl.SSLContext | bool:
    """httpx's `verify`: trust `ca_file` (a private CA's certificate), else the default CAs."""
    if ca_file is None:
        return True
    import ssl

    return ssl.create_default_context(cafile=os.fspath(ca_file))


def connection(settings: Settings, *, warn: bool = True) -> Connection:
    """The server to use: the remote one from settings/environment, else the running embedded one."""
    url, token = settings.label_studio_url, settings.label_studio_api_key
    if url or token:
        if not url:
            raise UsageError("LABEL_STUDIO_API_KEY is set but LABEL_STUDIO_URL is not")
        if not token:
            raise UsageError(f"LABEL_STUDIO_URL is set ({url}) but LABEL_STUDIO_API_KEY is not")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"LABEL_STUDIO_URL is not an http(s) URL: {url!r}")
        if warn and parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
            print(
                f"corpuskit: warning: {url} is plain http: the API token travels unencrypted",
                file=sys.stderr,
            )
        return Connection(url=url.rstrip("/"), token=token)
    from corpuskit.studio import server

    data_dir = settings.path(settings.studio_dir)
    running = server.status(data_dir)
    if running is None:
        raise StudioError(
            "no Label Studio server: run `corpuskit studio start`, "
            "or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY for a remote one"
        )
    if running.mode == server.TEAM:
        from corpuskit.studio import teamserver

        team = teamserver.status(data_dir)
        if team is not None and not team.all_alive:
            raise StudioError(
                f"this corpus's team server at {running.url} is partly down "
                f"({', '.join(team.down)} not running): `corpuskit studio stop`, then start it again"
            )
        return Connection(url=running.url, token=running.token, team=True, ca_file=running.ca_file)
    return Connection(url=running.url, token=running.token, embedded=True)


class StudioClient:
    """The transport: a Label Studio connection whose requests fail with typed errors and are
    retried on transient ones (`retrying`: bounded, exponential back-off).

    `request` is one HTTP request (JSON answers are checked complete), `download` streams an
    answer to a file; both retry unless told not to. What corpuskit asks of the server is written
    once, above this, in `corpuskit.studio.gateway`. `sdk` is label_studio_sdk's client on the same
    connection, for tests and tools.

    Unless given, the per-request timeout, the number of retries and the first back-off delay come
    from `CORPUSKIT_HTTP_TIMEOUT` (seconds, default 300), `CORPUSKIT_RETRIES` (default 4, so 5
    attempts) and `CORPUSKIT_RETRY_BACKOFF` (seconds, default 0.5, doubled after each attempt)."""

    def __init__(
        self,
        conn: Connection,
        *,
        attempts: int | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
    ) -> None:
        self.conn = conn
        self.url = conn.url
        if attempts is None:
            attempts = 1 + int(env_number(RETRIES_ENV, DEFAULT_RETRIES, minimum=0))
        self.attempts = attempts
        self.backoff = env_number(BACKOFF_ENV, DEFAULT_BACKOFF, minimum=0) if backoff is None else backoff
        self.timeout = env_number(TIMEOUT_ENV, DEFAULT_TIMEOUT, minimum=0.1) if timeout is None else timeout
        self._http: httpx.Client | None = None
        self._sdk: Any = None
        self._access: str | None = None
        self._access_exp = 0.0
        self._lock = threading.Lock()
        # Requests in flight together on a new client (a pull's summary beside its settings read)
        # reach `http` at once: one of them makes the connection pool, the others wait for it.
        # Two pools would leave one unclosed, its kept-alive TLS connections with it.
        self._http_lock = threading.Lock()

    # -- authentication -------------------------------------------------------------------------

    def _secrets(self) -> list[str | None]:
        return [self.conn.token, self._access]

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets())

    def auth_header(self) -> str:
        if self.conn.kind == "legacy":
            return f"Token {self.conn.token}"
        with self._lock:
            if self._access is None or time.time() > self._access_exp - 30:
                self._refresh_access()
            return f"Bearer {self._access}"

    def _refresh_access(self) -> None:
        response = self.retry(
            lambda: self._send(
                "POST",
                "/api/token/refresh/",
                what="exchange the personal access token",
                json={"refresh": self.conn.token},
                auth=False,
            )
        )
        access = (
            response.json().get("access")
            if response.headers.get("content-type", "").startswith("application/json")
            else None
        )
        if not isinstance(access, str):
            raise StudioError(f"{self.url}: the token refresh answered without an access token")
        self._access = access
        payload = _jwt_payload(access) or {}
        self._access_exp = float(payload.get("exp", time.time() + 240))

    # -- requests -----------------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            with self._http_lock:
                if self._http is None:
                    self._http = self._new_http()
        return self._http

    def _new_http(self) -> httpx.Client:
        """A connection pool for this server (see `http`)."""
        import socket

        import httpx

        verify = tls_verify(self.conn.ca_file)
        parts = urlsplit(self.url)
        # A reused connection to Label Studio waits about 40 ms per answer: its server writes
        # headers and body in two sends (Nagle holds the second until ours is acknowledged)
        # and a connection past its first packets acknowledges late. A new connection answers
        # at once and costs well under a millisecond on this machine's loopback, so a local
        # server gets one per request (5-15 ms instead of 50-60 ms); over the network, where
        # a connection (and its TLS) costs more, connections are kept.
        local = parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS
        transport = httpx.HTTPTransport(
            verify=verify,
            limits=httpx.Limits(max_keepalive_connections=0) if local else httpx.Limits(),
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        return httpx.Client(
            base_url=self.url,
            timeout=self.timeout,
            follow_redirects=False,
            verify=verify,
            transport=transport,
        )

    def retry(self, fn: Callable[[], T], *, before_retry: Callable[[], None] | None = None) -> T:
        """`retrying` with this client's attempts and back-off."""
        return retrying(fn, attempts=self.attempts, backoff=self.backoff, before_retry=before_retry)

    def request(
        self, method: str, path: str, *, what: str, retry: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """One HTTP request, retried on transient errors unless `retry=False` (for a request that
        the server may have carried out before the answer was lost); an error status becomes the
        typed one-line error."""
        if not retry:
            return self._send(method, path, what=what, auth=True, **kwargs)
        return self.retry(lambda: self._send(method, path, what=what, auth=True, **kwargs))

    def request_json(self, method: str, path: str, *, what: str, retry: bool = True, **kwargs: Any) -> Any:
        """One HTTP request whose answer must be JSON: its parsed body. As `request`, and an answer
        that is not JSON whatever its content type (a body cut short, an HTML page, an empty
        body) is `Transient` like a dropped connection, so it is retried and ends as one line;
        a redirect is an error of its own, not retried."""

        def attempt() -> Any:
            response = self._send(method, path, what=what, auth=True, check_json=False, **kwargs)
            return self._json_body(response, what)

        return attempt() if not retry else self.retry(attempt)

    def _json_body(self, response: httpx.Response, what: str) -> Any:
        if 300 <= response.status_code < 400:
            where = response.headers.get("location")
            to = f" to {where}" if where else ""
            raise ServerError(
                self.scrub(
                    f"{what}: Label Studio at {self.url} answered HTTP {response.status_code} "
                    f"(a redirect{to}) instead of JSON: check LABEL_STUDIO_URL"
                ),
                response.status_code,
            )
        return json_body(response, self.url, what)

    def _send(
        self, method: str, path: str, *, what: str, auth: bool, check_json: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """One attempt; unless `check_json` is off (the caller parses the body itself), an answer
        labelled JSON must parse."""
        headers = dict(kwargs.pop("headers", None) or {})
        if auth:
            headers["Authorization"] = self.auth_header()
        with self._failures(what):
            response = self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:  # the detail re-encodes the body: errors only
            raise self._status_error(response.status_code, _body_detail(response), what)
        if check_json and not _json_complete(response):
            # A proxy or a dying server can end a message early with a consistent length.
            raise Transient(f"{what}: Label Studio at {self.url} sent a cut-off or malformed answer")
        return response

    def download(self, path: str, params: dict[str, Any], target: Path, *, what: str) -> None:
        """Stream an answer's body to `target`, retried on transient errors; a body shorter than
        announced is an error."""

        def write(chunks: Iterator[bytes]) -> None:
            with open(target, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)

        self.stream(path, params, write, what=what)

    def stream(
        self, path: str, params: dict[str, Any], consume: Callable[[Iterator[bytes]], T], *, what: str
    ) -> T:
        """Hand an answer's body to `consume` chunk by chunk as it arrives and return what it
        returns; the whole is retried on transient errors (`consume` starts afresh). A body
        shorter than announced is an error, also when `consume` failed on it first."""

        def attempt() -> T:
            headers = {"Authorization": self.auth_header()}
            with (
                self._failures(what),
                self.http.stream("GET", path, params=params, headers=headers) as response,
            ):
                if response.status_code >= 400:
                    raise self._status_error(response.status_code, "", what)
                expected = response.headers.get("content-length")
                encoding = response.headers.get("content-encoding", "identity")

                def cut_off() -> StudioError | None:
                    received = response.num_bytes_downloaded
                    if expected is not None and encoding == "identity" and received != int(expected):
                        return StudioError(f"{what}: the export was cut off ({received} of {expected} bytes)")
                    return None

                chunks = response.iter_bytes(1 << 20)
                try:
                    value = consume(chunks)
                    for _ in chunks:  # whatever the consumer left: the length check needs it all
                        pass
                except DataError:
                    problem = cut_off()
                    if problem is not None:
                        raise problem from None
                    raise
            problem = cut_off()
            if problem is not None:
                raise problem
            return value

        return self.retry(attempt)

    @contextmanager
    def _failures(self, what: str) -> Iterator[None]:
        """A timeout, a broken connection or a body that cannot be decoded as `Transient`; an
        untrusted certificate at once."""
        import httpx

        try:
            yield
        except httpx.TimeoutException:
            raise Transient(f"{what}: Label Studio at {self.url} did not answer in time") from None
        except httpx.DecodingError:
            # Not a TransportError in httpx: a compressed body broken on the way (a server or a
            # proxy dying mid-answer) would otherwise escape as a traceback.
            raise Transient(
                f"{what}: Label Studio at {self.url} sent an answer that cannot be decoded (DecodingError)"
            ) from None
        except httpx.TransportError as exc:
            self._raise_if_untrusted(exc, what)
            raise Transient(
                self.scrub(f"{what}: cannot reach Label Studio at {self.url} ({type(exc).__name__})")
            ) from None

    def _raise_if_untrusted(self, exc: Exception, what: str) -> None:
        """A certificate this client does not trust is no transient fault: say so at once."""
        if "CERTIFICATE_VERIFY_FAILED" not in str(exc):
            return
        hint = (
            f"it is not signed by the team server's CA {self.conn.ca_file}"
            if self.conn.ca_file is not None
            else "set SSL_CERT_FILE to the certificate of the CA that signed it"
        )
        raise StudioError(f"{what}: Label Studio at {self.url}: its TLS certificate is not trusted ({hint})")

    def _status_error(self, status: int, detail: str, what: str) -> ServerError:
        if status in (401, 403):
            kind = "personal access token" if self.conn.kind == "pat" else "API token"
            message = (
                f"{what}: Label Studio at {self.url} refused the {kind} (HTTP {status}); "
                "check LABEL_STUDIO_API_KEY"
            )
        elif status == 404:
            message = f"{what}: not found on Label Studio at {self.url} (HTTP 404)"
        else:
            message = f"{what}: Label Studio at {self.url} answered HTTP {status}"
            if detail and status not in TRANSIENT_STATUS:
                message = f"{message}: {detail}"
        return error_for_status(status, self.scrub(message))

    # -- the SDK ------------------------------------------------------------------------------------

    @property
    def sdk(self) -> Any:
        """label_studio_sdk's `LabelStudio` for this server (its own retries off), on this client's
        connection: for tests and tools; corpuskit's own requests go through the gateway."""
        if self._sdk is None:
            from label_studio_sdk import LabelStudio

            try:
                # Sharing our httpx client means `close()` releases the SDK's connections too.
                self._sdk = LabelStudio(  # type: ignore[no-untyped-call]
                    base_url=self.url,
                    api_key=self.conn.token,
                    timeout=self.timeout,
                    max_retries=0,
                    httpx_client=self.http,
                )
            except Exception as exc:  # the SDK checks a JWT's expiry at construction
                raise StudioError(
                    self.scrub(f"Label Studio at {self.url}: the API token is not usable: {_sdk_detail(exc)}")
                ) from None
        return self._sdk

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        self._sdk = None

    def __enter__(self) -> StudioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def json_body(response: httpx.Response, url: str, what: str) -> Any:
    """An answer's body as JSON, whatever its content type; one that is not JSON (a body cut short,
    an HTML page, an empty body) is `Transient`, like a dropped connection."""
    import orjson

    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        kind = response.headers.get("content-type") or "no content type"
        raise Transient(
            f"{what}: Label Studio at {url} sent a cut-off or malformed answer "
            f"(HTTP {response.status_code}, {kind}, {len(response.content)} bytes, not JSON)",
            response.status_code,
        ) from None


def _json_complete(response: httpx.Response) -> bool:
    """False for a JSON answer whose body does not parse (everything else is taken as it is)."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return True
    import orjson

    try:
        orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return False
    return True


def _body_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip().replace("\n", " ")
    return _short(body)


def _sdk_detail(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if body is not None:
        return _short(body)
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]


def _short(body: Any) -> str:
    if isinstance(body, dict):
        detail = body.get("validation_errors") or body.get("detail") or body
        return json.dumps(detail, ensure_ascii=False)[:300] if not isinstance(detail, str) else detail[:300]
    return str(body)[:300].replace("\n", " ")
