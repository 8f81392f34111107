"""What every log line (and Sentry event) is about: the incident number and the request id.

Front ends open a `scope()` per unit of work (an HTTP request, a Slack delivery, a job, a console
line); the incident service binds the incident number as soon as it knows it. A logging filter
(bot.core.logging_setup) copies both onto every record. Context variables, not thread locals: they
follow the work into Starlette's thread pool and are reset when the scope ends, so a pooled thread
never carries the previous request's incident into the next one.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("fireline_request_id", default=None)
_incident: ContextVar[int | None] = ContextVar("fireline_incident", default=None)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,80}$")


def _reseed() -> None:
    global _id_prefix, _id_counter
    _id_prefix = os.urandom(4).hex()
    _id_counter = itertools.count(1)


_reseed()
os.register_at_fork(after_in_child=_reseed)  # a forked server process gets ids of its own


def new_request_id() -> str:
    """16 hex characters, unique per process: a random prefix and a counter.

    Why not uuid4: it reads the kernel's random source on every request, a system call that lets
    another thread take the interpreter lock, and under load the ack then waits to get it back.
    """
    return f"{_id_prefix}{next(_id_counter) & 0xFFFFFFFF:08x}"


def given_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Fly-Request-Id, else X-Request-Id, from an ASGI request's headers (names arrive lower-cased), if plain."""
    fly = other = None
    for name, value in headers:
        if name == b"fly-request-id":
            fly = value
        elif name == b"x-request-id":
            other = value
    chosen = fly or other
    return clean_request_id(chosen.decode("latin-1")) if chosen else None


def clean_request_id(value: str | None) -> str | None:
    """A request id from a header (Fly-Request-Id, X-Request-Id) only if it is short and plain."""
    if value and _SAFE_ID.match(value):
        return value
    return None


@contextmanager
def scope(request_id: str | None = None, incident: int | None = None) -> Iterator[str]:
    """A unit of work: a fresh request id (given or new) and the incident, if already known."""
    rid = request_id or new_request_id()
    tokens = (_request_id.set(rid), _incident.set(incident))
    try:
        yield rid
    finally:
        _incident.reset(tokens[1])
        _request_id.reset(tokens[0])


def bind_incident(number: int | None) -> None:
    """The work in progress is about incident #number (called by the incident service)."""
    if number is not None:
        _incident.set(int(number))


def current_request_id() -> str | None:
    return _request_id.get()


def current_incident() -> int | None:
    return _incident.get()


def current() -> dict[str, object]:
    """The known fields only, for structured logs and Sentry tags."""
    fields: dict[str, object] = {}
    if _incident.get() is not None:
        fields["incident"] = _incident.get()
    if _request_id.get() is not None:
        fields["request_id"] = _request_id.get()
    return fields
