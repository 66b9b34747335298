"""A second process that converts export tasks for `corpuskit pull` while pull's own process
downloads, cuts and writes.

Converting the export into snapshot rows is Python work on one core, and it starts only once
Label Studio has built the export: the server is idle by then, and the machine's other core too.
`ConvertWorker` starts `python -m corpuskit.studio.pull_worker` before the export is requested
(its start-up runs while the server builds), then takes batches of tasks as their bytes and
sends back each batch's rows serialised, with their sort keys (`pull.convert_batch`, the function
pull's own process runs on the batches it keeps). So the snapshot's bytes are the same whichever
process converted a batch.

The worker gets no token (not even in its environment) and opens no data file or connection: it
reads frames on its stdin and answers on its stdout. What it cannot do is declined, and pull's
process converts the batch: an annotator missing from the user list it was given (the list must
be read again from the server), an error, a worker that exits or is killed. A failing worker
costs speed, never a row. It exits when its stdin closes, so it never outlives the pull that
started it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corpuskit.studio import pull

if TYPE_CHECKING:
    from corpuskit.studio import loop
    from corpuskit.taxonomy.model import Taxonomy

# Batches the worker holds at once (the one it converts and those waiting in its pipe); pull's
# process converts a batch itself when the worker has this many.
DEPTH = 3
# A pull of fewer tasks than this converts in its own process: the worker's start (about 0.3 s of
# the other core) buys nothing on an export built in a second or two.
MIN_TASKS = 2_000
# Pipe capacity asked for (Linux; the system's default maximum for a user): a batch's bytes fit,
# so handing one over does not wait for the worker to read it.
PIPE_SIZE = 1 << 20

_HEADER = struct.Struct("<Q")


@dataclass(frozen=True)
class Setup:
    """What the worker converts with: the taxonomy, the user list read before the export (None:
    no emails are filled) and the project's queue settings and history (None: no `prelabels`)."""

    taxonomy: Taxonomy
    users: list[dict[str, Any]] | None
    info: dict[str, Any] | None
    history: list[loop.Event] = field(default_factory=list)


class Declined:
    """The worker's answer for a batch pull's process must convert itself, and why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Declined({self.reason!r})"


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worth_starting(tasks: int | None) -> bool:
    """Whether a pull of about `tasks` tasks (None: not known) gains from a worker."""
    return cores() > 1 and (tasks is None or tasks >= MIN_TASKS)


class ConvertWorker:
    """The worker process and its two pipes, used from one thread: `submit` hands over a batch and
    returns its ticket, `result` gives what the worker made of it (a `pull.Batch`), or a
    `Declined` for a batch pull's process converts itself; `close` stops the worker.

    This side never blocks on one pipe alone: the bytes of batches wait in `_outbox` until the
    worker's stdin takes them, answers are read whenever they come, so a worker busy writing a
    large answer and a pull handing over a large batch cannot wait for each other."""

    def __init__(self, setup: Setup) -> None:
        self.failure: str | None = None  # why the worker stopped taking batches, if it did
        self._next = 0
        self._waiting: set[int] = set()  # tickets handed over and not answered yet
        self._answers: dict[int, Any] = {}
        self._declined_from: int | None = None  # every ticket from this one on is declined
        self._void_below = 0  # answers to tickets before this one are dropped (`forget`)
        self._outbox = bytearray()  # frames not yet taken by the worker's stdin
        self._inbox = bytearray()  # answer bytes read, not yet a whole frame
        from corpuskit.settings import SECRET_ENV

        self.process = subprocess.Popen(
            [sys.executable, "-m", "corpuskit.studio.pull_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env={name: value for name, value in os.environ.items() if name not in SECRET_ENV},
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in = self.process.stdin.fileno()
        self._out = self.process.stdout.fileno()
        for fd in (self._in, self._out):
            os.set_blocking(fd, False)
            with contextlib.suppress(AttributeError, OSError):
                import fcntl

                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self._send(setup)

    def accepts(self) -> bool:
        """Whether a batch handed over now would start soon (else convert it here)."""
        self._pump(wait=False)
        return self.failure is None and self._declined_from is None and len(self._waiting) < DEPTH

    def submit(self, start: int, items: list[Any]) -> int:
        """Hand over the tasks at positions `start`, `start + 1`, ... of the export, each as the
        bytes orjson reads it from or as the value itself; the batch's ticket."""
        ticket = self._next
        self._next += 1
        if self.failure is None:
            self._waiting.add(ticket)
            self._send((ticket, start, items))
        return ticket

    def result(self, ticket: int, *, wait: bool) -> Any:
        """The worker's answer for `ticket`: a `pull.Batch`, a `Declined`, or None when it is not
        there yet (only when not `wait`). Tickets are asked for in the order they were given."""
        if self._declined_from is not None and ticket >= self._declined_from:
            self._answers.pop(ticket, None)
            return Declined("a batch before it was declined")
        while ticket not in self._answers:
            if self.failure is not None or ticket not in self._waiting:
                return Declined(self.failure or "never handed over")
            if not self._pump(wait=wait) and not wait:
                return None
        answer = self._answers.pop(ticket)
        if isinstance(answer, Declined):
            # What follows was converted with what the worker lacked: pull's process takes it all.
            self._declined_from = ticket
        return answer

    def forget(self) -> None:
        """Drop every answer still to come (a download that starts again hands its tasks over
        again, with new tickets)."""
        self._answers.clear()
        self._declined_from = None
        self._void_below = self._next

    def close(self) -> None:
        """Stop the worker: its stdin and stdout closed, so it exits at once; killed if it lingers."""
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ConvertWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, message: Any) -> None:
        data = pickle.dumps(message, protocol=5)
        self._outbox += _HEADER.pack(len(data))
        self._outbox += data
        self._pump(wait=False)

    def _pump(self, *, wait: bool) -> bool:
        """Move bytes both ways as far as the pipes allow; with `wait`, until an answer came (or
        the worker failed). Whether an answer came."""
        answered = False
        while self.failure is None:
            writing = [self._in] if self._outbox else []
            reading = [self._out] if self._waiting else []
            if not writing and not reading:
                break
            idle = wait and not answered
            readable, writable, _ = select.select(reading, writing, [], None if idle else 0)
            if not readable and not writable:
                break
            try:
                if writable:
                    del self._outbox[: os.write(self._in, self._outbox)]
                if readable:
                    data = os.read(self._out, PIPE_SIZE)
                    if not data:
                        raise EOFError("the worker closed its answers")
                    self._inbox += data
                    answered |= self._unpack()
            except BlockingIOError:
                continue
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                self._fail(f"the worker stopped ({exc})")
        return answered

    def _unpack(self) -> bool:
        """Take every whole answer out of `_inbox`; whether there was one."""
        found = False
        while len(self._inbox) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._inbox)
            end = _HEADER.size + size
            if len(self._inbox) < end:
                break
            ticket, answer = pickle.loads(self._inbox[_HEADER.size : end])
            del self._inbox[:end]
            self._waiting.discard(ticket)
            if ticket >= self._void_below:
                self._answers[ticket] = Declined(answer) if isinstance(answer, str) else answer
            found = True
        return found

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            code = self.process.poll()
            self.failure = reason if code is None else f"{reason}; it exited with {code}"
        self._waiting.clear()
        self._outbox.clear()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int) -> bytes:
    parts = []
    while size:
        part = os.read(fd, min(size, PIPE_SIZE))
        if not part:
            raise EOFError("the worker's pipe closed")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def _read_message(fd: int) -> Any:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    return pickle.loads(_read_exact(fd, size))


def main() -> None:
    """The worker: read the setup, then convert each batch and answer, until stdin closes."""
    import gc

    import orjson

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the pull, which closes the pipes
    gc.disable()  # as in pull (`_collector_paused`): millions of small objects, no cycles
    # Frames go to the pipe the pull reads; anything else a library prints goes to stderr.
    answers = os.dup(1)
    os.dup2(2, 1)
    try:
        setup = _read_message(0)
    except (EOFError, OSError):
        return
    mapper = pull.taxonomy_mapper(setup.taxonomy)
    emails = None if setup.users is None else _ListedEmails(setup.users)
    marks = None if setup.info is None else pull.PrelabelMarks(setup.info, setup.history)
    while True:
        try:
            ticket, start, items = _read_message(0)
        except (EOFError, OSError):
            return
        answer: Any
        try:
            tasks = [orjson.loads(item) if isinstance(item, bytes) else item for item in items]
            answer = pull.convert_batch(start, tasks, mapper, emails, marks)
        except _UnlistedAnnotator as exc:
            answer = str(exc)
        except Exception as exc:  # the pull converts the batch itself
            answer = f"{type(exc).__name__}: {exc}"
        data = pickle.dumps((ticket, answer), protocol=5)
        try:
            _write_all(answers, _HEADER.pack(len(data)) + data)
        except OSError:
            return


class _UnlistedAnnotator(Exception):
    pass


class _ListedEmails(pull.UserEmails):
    """The user list given, and nothing else: the server is pull's process's to ask."""

    def __init__(self, users: list[dict[str, Any]]) -> None:
        super().__init__(None, users)  # type: ignore[arg-type]  # never asks a server

    def read_again(self) -> dict[Any, Any]:
        raise _UnlistedAnnotator("an annotator is not in the user list: it must be read again")


if __name__ == "__main__":
    main()
