"""Answers a dying server or proxy can send, from a real local socket: each ends as `Transient`
(retried, then one line), never as a traceback.

Label Studio is never imitated here: the fake below only speaks broken HTTP, the transport-level
faults a real server can't be made to show on demand."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from corpuskit.errors import CorpuskitError
from corpuskit.studio import pull_state
from corpuskit.studio.client import Connection, ServerError, StudioClient, Transient
from corpuskit.studio.gateway import Gateway

TOKEN = "0123456789abcdef0123456789abcdef01234567"
JSON = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
EMPTY_PAGE = b'{"tasks": [], "total": 0}'

ANSWERS = {
    # An HTML page where JSON was asked for: `_json_complete` looked at JSON-labelled bodies only.
    "html page": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\n<h1>x</h1",
    # A body lost on the way, sent without a content type.
    "empty, no content type": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    # A compressed body broken on the way: httpx's DecodingError is not one of its TransportErrors.
    "broken gzip": JSON + b"Content-Encoding: gzip\r\nContent-Length: 6\r\n\r\n\x1f\x8bxxxx",
    # A JSON body cut short under a content type spelled otherwise.
    "cut short, other spelling": b"HTTP/1.1 200 OK\r\nContent-Type: Application/JSON\r\n"
    b"Content-Length: 9\r\n\r\n" + EMPTY_PAGE[:9],
}


@contextmanager
def broken_server(answers: list[bytes]) -> Iterator[tuple[str, list[bytes]]]:
    """A socket server on 127.0.0.1 sending `answers` in turn (the last one ever after), one per
    connection; yields its URL and the request heads it received."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                seen.append(conn.recv(65536))
                conn.sendall(answers[min(len(seen), len(answers)) - 1])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    finally:
        # A shutdown wakes the accept that close alone would leave waiting.
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=5)


def _client(url: str) -> StudioClient:
    return StudioClient(Connection(url, TOKEN), attempts=3, backoff=0.0, timeout=5.0)


@pytest.mark.parametrize("answer", list(ANSWERS), ids=list(ANSWERS))
def test_an_unreadable_answer_is_transient_and_ends_as_one_line(answer: str) -> None:
    with (
        broken_server([ANSWERS[answer]]) as (url, seen),
        _client(url) as client,
        pytest.raises(Transient) as raised,
    ):
        Gateway(client).tasks.with_drafts(7)
    message = str(raised.value)
    assert message.startswith(f"find the tasks with drafts of project 7: Label Studio at {url} ")
    assert message.endswith(" after 3 attempts")
    assert "\n" not in message and TOKEN not in message
    assert len(seen) == 3


@pytest.mark.parametrize("answer", list(ANSWERS), ids=list(ANSWERS))
def test_an_unreadable_answer_is_retried_and_a_good_one_then_taken(answer: str) -> None:
    good = JSON + b"Content-Length: %d\r\n\r\n" % len(EMPTY_PAGE) + EMPTY_PAGE
    with broken_server([ANSWERS[answer], good]) as (url, seen), _client(url) as client:
        assert Gateway(client).tasks.with_drafts(7) == []
    assert len(seen) == 2


def test_the_summary_of_a_pull_ends_as_one_corpuskit_error_when_answers_are_unreadable() -> None:
    # The summary's requests run in a thread pool beside the drafts lookup; what fails there
    # must still reach the command as a corpuskit error (one line), not as a traceback.
    with (
        broken_server([ANSWERS["html page"]]) as (url, _),
        _client(url) as client,
        pytest.raises(CorpuskitError) as raised,
    ):
        pull_state.project_summary(Gateway(client), 7)
    assert isinstance(raised.value, Transient)
    assert "\n" not in str(raised.value)


def test_a_redirect_where_json_was_asked_for_is_one_error_not_retried() -> None:
    location = b"https://studio.example.org/api/tasks"
    moved = b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
    with (
        broken_server([moved]) as (url, seen),
        _client(url) as client,
        pytest.raises(ServerError) as raised,
    ):
        Gateway(client).tasks.with_drafts(7)
    assert not isinstance(raised.value, Transient)
    assert raised.value.status == 302
    assert str(raised.value) == (
        f"find the tasks with drafts of project 7: Label Studio at {url} answered HTTP 302 "
        "(a redirect to https://studio.example.org/api/tasks) instead of JSON: check LABEL_STUDIO_URL"
    )
    assert len(seen) == 1


@pytest.mark.parametrize("kind", [*ANSWERS, "connection closed"])
def test_a_members_session_ends_as_one_error_when_an_answer_is_unreadable(kind: str) -> None:
    # A member's own session (the demo's annotators, the team tests) reads the queue and submits
    # through its own client: the same broken answers end as one StudioError line there too.
    from corpuskit.errors import StudioError
    from corpuskit.studio.members import Member, _client

    answer = ANSWERS.get(kind, b"")  # nothing at all: the connection is closed without an answer
    with broken_server([answer]) as (url, seen):
        member = Member(url=url, email="a@example.org", http=_client(url, None))
        try:
            with pytest.raises(StudioError) as caught:
                member.next_task(7)
            with pytest.raises(StudioError) as submitted:
                member.submit(3, 7, [{"from_name": "topics"}])
        finally:
            member.close()
    message = str(caught.value)
    assert "\n" not in message and message.startswith("ask the queue of project 7 as a@example.org: ")
    assert url in message
    assert str(submitted.value).startswith("submit an annotation of task 3 as a@example.org: ")
    # The submit may go out on the kept-alive connection the server has just closed: then the
    # server never reads it, and the member gets a dropped connection, one line all the same.
    assert seen[0].startswith(b"GET /api/projects/7/next ")
    assert all(head.startswith(b"POST /api/tasks/3/annotations/ ") for head in seen[1:])
