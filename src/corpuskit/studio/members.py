"""A team member's own session on Label Studio: sign up by invite, log in, and label from the queue.

This is what an annotator's browser does, without the browser: the demo's synthetic accounts and
the team tests use it so that every document reaches its annotators through Label Studio's queue
(`GET /api/projects/<id>/next`), never by corpuskit choosing tasks for them. A member's session
cookie is used, never the admin's token, so the server answers as it answers that member.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from corpuskit.errors import StudioError
from corpuskit.studio.client import error_for_status, json_body

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx


@contextmanager
def _answered(url: str, what: str) -> Iterator[None]:
    """A dropped connection, a timeout or an answer that cannot be decoded as one `StudioError`
    line (as the admin client's `Transient`), not a traceback."""
    import httpx

    try:
        yield
    except (httpx.TransportError, httpx.DecodingError) as exc:
        raise StudioError(f"{what}: cannot reach Label Studio at {url} ({type(exc).__name__})") from None


@dataclass
class Member:
    """A logged-in member of the server's organisation."""

    url: str
    email: str
    http: httpx.Client = field(repr=False)
    user_id: int | None = None
    number: int = 0  # a caller's own numbering (the demo's account number)

    def _headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.http.cookies.get("csrftoken") or "", "Referer": f"{self.url}/"}

    def api(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        """The JSON answer to one request made as this member."""
        with _answered(self.url, f"{what} as {self.email}"):
            response = self.http.request(method, path, headers=self._headers(), **kwargs)
        if response.status_code >= 400:
            raise error_for_status(
                response.status_code,
                f"{what} as {self.email}: Label Studio at {self.url} answered HTTP {response.status_code}",
            )
        return json_body(response, self.url, f"{what} as {self.email}")

    def next_task(self, project_id: int) -> dict[str, Any] | None:
        """The task Label Studio's queue gives this member next, or None when the queue is empty."""
        what = f"ask the queue of project {project_id} as {self.email}"
        with _answered(self.url, what):
            response = self.http.get(f"/api/projects/{project_id}/next", headers=self._headers())
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            status = response.status_code
            raise error_for_status(status, f"{what}: Label Studio at {self.url} answered HTTP {status}")
        body = json_body(response, self.url, what)
        return body if isinstance(body, dict) and body.get("id") is not None else None

    def submit(
        self, task_id: int, project_id: int, result: list[dict[str, Any]], lead_time: float | None = None
    ) -> int:
        """Submit this member's annotation of a task; returns the annotation id."""
        body: dict[str, Any] = {"result": result, "project": project_id}
        if lead_time is not None:
            body["lead_time"] = lead_time
        made = self.api(
            "POST",
            f"/api/tasks/{task_id}/annotations/",
            json=body,
            what=f"submit an annotation of task {task_id}",
        )
        return int(made["id"])

    def skip(self, task_id: int, project_id: int) -> int:
        """Skip a task, as the Skip button does (a cancelled annotation)."""
        made = self.api(
            "POST",
            f"/api/tasks/{task_id}/annotations/",
            json={"result": [], "was_cancelled": True, "project": project_id},
            what=f"skip task {task_id}",
        )
        return int(made["id"])

    def close(self) -> None:
        self.http.close()


def _client(url: str, verify: str | os.PathLike[str] | None) -> httpx.Client:
    import httpx

    from corpuskit.studio.client import tls_verify

    return httpx.Client(
        base_url=url.rstrip("/"), timeout=60.0, follow_redirects=True, verify=tls_verify(verify)
    )


def _form(
    member_http: httpx.Client, page: str, fields: dict[str, str], url: str, what: str
) -> httpx.Response:
    member_http.get(page)
    token = member_http.cookies.get("csrftoken")
    if not token:
        raise StudioError(f"{what}: Label Studio at {url} set no CSRF cookie on {urlsplit(page).path}")
    # Referer and Origin as a browser sends them: behind a TLS proxy, Django accepts the form only
    # when the server trusts its public origin (CSRF_TRUSTED_ORIGINS).
    headers = {"Referer": f"{url.rstrip('/')}{page}", "Origin": url.rstrip("/")}
    return member_http.post(page, data={**fields, "csrfmiddlewaretoken": token}, headers=headers)


def _session(http: httpx.Client, member: Member, page: str, fields: dict[str, str], what: str) -> Member:
    """Submit the form, then ask who is logged in; the connection is closed on any failure."""
    try:
        with _answered(member.url, what):
            _form(http, page, fields, member.url, what)
            response = http.get("/api/current-user/whoami")
        if response.status_code != 200:
            raise StudioError(f"{what}: Label Studio at {member.url} did not log {member.email} in")
        member.user_id = int(json_body(response, member.url, what)["id"])
    except BaseException:
        http.close()
        raise
    return member


def sign_up(
    invite_url: str, email: str, password: str, *, verify: str | os.PathLike[str] | None = None
) -> Member:
    """Create an account through an invite link (as the sign-up form does) and return its session.

    `verify` is the CA certificate to trust over HTTPS (a team server's own CA); default: the usual CAs."""
    parts = urlsplit(invite_url)
    url = f"{parts.scheme}://{parts.netloc}"
    page = f"{parts.path}?{parts.query}" if parts.query else parts.path
    http = _client(url, verify)
    fields = {"email": email, "password": password}
    return _session(http, Member(url=url, email=email, http=http), page, fields, f"sign up {email}")


def log_in(url: str, email: str, password: str, *, verify: str | os.PathLike[str] | None = None) -> Member:
    """Log an existing member in (as the login form does) and return the session (`verify`: as
    for `sign_up`)."""
    http = _client(url, verify)
    member = Member(url=url.rstrip("/"), email=email, http=http)
    return _session(http, member, "/user/login/", {"email": email, "password": password}, f"log {email} in")
