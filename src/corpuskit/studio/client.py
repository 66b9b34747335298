"""Talking to Label Studio: which server, which token, and requests that survive transient failures.

The server is the one named by `LABEL_STUDIO_URL` + `LABEL_STUDIO_API_KEY` (or the same keys in
`[tool.corpuskit]`), else the server `corpuskit studio start` runs for this corpus: the embedded
one, or the team server (its public HTTPS URL, trusting the team server's own CA). Two kinds of
token work: the legacy token (`Authorization: Token …`) and a personal access token, which is a JWT
refresh token exchanged at `/api/token/refresh/` for short-lived access tokens (`Bearer …`).

Every failure becomes one `StudioError` line; the token never appears in it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from corpuskit.errors import StudioError, UsageError

if TYPE_CHECKING:
    import ssl

    import httpx

    from corpuskit.settings import Settings

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
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


class TransientStudioError(StudioError):
    """The server could not be reached or was busy: the request may or may not have taken effect."""


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
    """A Label Studio connection with bounded retries (exponential back-off) on transient errors.

    `request` speaks HTTP directly (httpx) for the bulk endpoints; `sdk` is the label_studio_sdk
    client (imported on first use: it takes over a second) and `call` runs one of its methods
    under the same retry and error rules.

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
        response = self._send(
            "POST",
            "/api/token/refresh/",
            what="exchange the personal access token",
            json={"refresh": self.conn.token},
            auth=False,
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

    # -- plain HTTP ---------------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client(
                base_url=self.url,
                timeout=self.timeout,
                follow_redirects=False,
                verify=tls_verify(self.conn.ca_file),
            )
        return self._http

    def request(self, method: str, path: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """One HTTP request with retries; a non-2xx answer becomes a one-line StudioError."""
        return self._send(method, path, what=what, auth=True, **kwargs)

    def _send(self, method: str, path: str, *, what: str, auth: bool, **kwargs: Any) -> httpx.Response:
        import httpx

        extra_headers = dict(kwargs.pop("headers", None) or {})
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            headers = dict(extra_headers)
            if auth:
                headers["Authorization"] = self.auth_header()
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TimeoutException:
                problem = f"{what}: Label Studio at {self.url} did not answer in time"
            except httpx.TransportError as exc:
                self._raise_if_untrusted(exc, what)
                problem = f"{what}: cannot reach Label Studio at {self.url} ({type(exc).__name__})"
            else:
                if response.status_code not in TRANSIENT_STATUS:
                    if response.status_code >= 400:  # the detail re-encodes the body: errors only
                        self._raise_for_status(response.status_code, _body_detail(response), what)
                    if _json_complete(response):
                        return response
                    # A proxy or a dying server can end a message early with a consistent length.
                    problem = f"{what}: Label Studio at {self.url} sent a cut-off or malformed answer"
                else:
                    problem = f"{what}: Label Studio at {self.url} answered HTTP {response.status_code}"
            if attempt == self.attempts:
                raise TransientStudioError(self.scrub(f"{problem} after {attempt} attempts")) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

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

    def _raise_for_status(self, status: int, detail: str, what: str) -> None:
        if status < 400:
            return
        if status in (401, 403):
            kind = "personal access token" if self.conn.kind == "pat" else "API token"
            raise StudioError(
                f"{what}: Label Studio at {self.url} refused the {kind} (HTTP {status}); "
                "check LABEL_STUDIO_API_KEY"
            )
        if status == 404:
            raise StudioError(self.scrub(f"{what}: not found on Label Studio at {self.url} (HTTP 404)"))
        message = f"{what}: Label Studio at {self.url} answered HTTP {status}"
        raise StudioError(self.scrub(f"{message}: {detail}" if detail else message))

    # -- the SDK ------------------------------------------------------------------------------------

    @property
    def sdk(self) -> Any:
        """label_studio_sdk's `LabelStudio` for this server (its own retries off: ours apply)."""
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

    def call(self, what: str, fn: Callable[..., T], *args: Any, retry: bool = True, **kwargs: Any) -> T:
        """Run an SDK method with retries on transient errors; errors become one StudioError line.

        `retry=False` for requests that are not idempotent (an import that the server may have
        accepted before the connection broke): the caller checks the server and decides."""
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        attempts = self.attempts if retry else 1
        delay = self.backoff
        for attempt in range(1, attempts + 1):
            try:
                return fn(*args, **kwargs)
            except ApiError as exc:
                status = exc.status_code or 0
                if 200 <= status < 300:
                    # The SDK reports a success whose body it could not parse as an ApiError.
                    problem = f"{what}: Label Studio at {self.url} sent a cut-off or malformed answer"
                elif status not in TRANSIENT_STATUS:
                    self._raise_for_status(status, _sdk_detail(exc), what)
                    raise StudioError(self.scrub(f"{what}: {_sdk_detail(exc)}")) from None
                else:
                    problem = f"{what}: Label Studio at {self.url} answered HTTP {status}"
            except httpx.TimeoutException:
                problem = f"{what}: Label Studio at {self.url} did not answer in time"
            except httpx.TransportError as exc:
                self._raise_if_untrusted(exc, what)
                problem = f"{what}: cannot reach Label Studio at {self.url} ({type(exc).__name__})"
            if attempt == attempts:
                raise TransientStudioError(self.scrub(f"{problem} after {attempt} attempt(s)")) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    # -- small conveniences -------------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """The authenticated user (checks that the server answers and accepts the token)."""
        body = self.request("GET", "/api/current-user/whoami", what="check the API token").json()
        return body if isinstance(body, dict) else {}

    def project(self, project_id: int, *, fields: str | None = None) -> dict[str, Any]:
        """A project's settings; a wrong id is one clear StudioError. `fields` (comma-separated)
        limits the answer to those fields: Label Studio then computes only the counts named."""
        params = {"include": fields} if fields else None
        try:
            body = self.request(
                "GET", f"/api/projects/{project_id}", params=params, what=f"project {project_id}"
            ).json()
        except StudioError as exc:
            if "HTTP 404" in str(exc):
                raise StudioError(f"Label Studio at {self.url} has no project {project_id}") from None
            raise
        return body if isinstance(body, dict) else {}

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        self._sdk = None

    def __enter__(self) -> StudioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
