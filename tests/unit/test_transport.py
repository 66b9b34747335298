"""The Label Studio transport without a server: typed errors by HTTP status, and the one retry policy."""

from __future__ import annotations

import time

import pytest

from corpuskit.errors import EXIT_USAGE, StudioError
from corpuskit.studio.client import (
    AuthError,
    BadRequest,
    Conflict,
    NotFound,
    Transient,
    error_for_status,
    retrying,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequest),
        (401, AuthError),
        (403, AuthError),
        (404, NotFound),
        (409, Conflict),
        (413, BadRequest),
        (429, Transient),
        (500, Transient),
        (502, Transient),
        (503, Transient),
        (504, Transient),
    ],
)
def test_each_status_has_its_error_with_the_status_and_exit_code_2(status: int, kind: type) -> None:
    error = error_for_status(status, f"read task 1: answered HTTP {status}")
    assert type(error) is kind
    assert isinstance(error, StudioError)
    assert error.status == status
    assert error.exit_code == EXIT_USAGE
    assert str(error) == f"read task 1: answered HTTP {status}"


def test_a_transient_failure_is_retried_with_doubling_waits_then_reported_once() -> None:
    calls: list[float] = []

    def failing() -> None:
        calls.append(time.monotonic())
        raise Transient("read task 1: Label Studio answered HTTP 503", 503)

    with pytest.raises(Transient) as raised:
        retrying(failing, attempts=3, backoff=0.05)
    assert str(raised.value) == "read task 1: Label Studio answered HTTP 503 after 3 attempts"
    assert raised.value.status == 503
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.05 * 0.95
    assert calls[2] - calls[1] >= 0.1 * 0.95


def test_a_failure_that_clears_is_not_reported_and_the_hook_runs_between_tries() -> None:
    seen: list[str] = []

    def flaky() -> str:
        seen.append("try")
        if len(seen) < 4:
            raise Transient("busy", 502)
        return "ok"

    assert retrying(flaky, attempts=5, backoff=0.0, before_retry=lambda: seen.append("look")) == "ok"
    assert seen == ["try", "look", "try", "look", "try"]


def test_an_error_that_is_not_transient_is_never_retried() -> None:
    calls = 0

    def refused() -> None:
        nonlocal calls
        calls += 1
        raise NotFound("read task 1: not found (HTTP 404)", 404)

    with pytest.raises(NotFound):
        retrying(refused, attempts=5, backoff=0.0)
    assert calls == 1
