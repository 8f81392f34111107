"""One pool of kept-alive HTTP connections per process, shared by every outgoing client.

Why: Slack's WebClient (urllib) and clients built per call (Fly for each playbook run, PagerDuty,
Statuspage, the health probe) opened a new TCP+TLS connection for every request. Against Slack at
80 ms a call and 60 ms a handshake (bench/slack_latency.py) a declare paid a handshake per call:
the channel card came 2.7x its critical path. With the pool each process opens a connection once
per host (a few when calls run side by side) and reuses it.

`shared_transport()` is the process's connection pool (an `httpx.HTTPTransport`, safe to share
between the worker's threads: httpcore locks its pool). Clients still come and go per call where
that is how their code reads (`with FlyClient(...)`): closing one closes only a thin handle
(`KeptTransport`), never the pool. A client handed a test transport keeps that instead.
"""

from __future__ import annotations

import os
import threading

import httpx

# Keep idle connections 55 s (httpx's default is 5 s, which would reopen for nearly every declare
# in production, where calls come seconds or minutes apart); a connection the far end closed in the
# meantime is noticed before reuse and replaced.
KEEPALIVE_SECONDS = 55.0
LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=KEEPALIVE_SECONDS)

_lock = threading.Lock()
_pool: tuple[int, httpx.HTTPTransport] | None = None  # (pid, pool): a forked child makes its own


class KeptTransport(httpx.BaseTransport):
    """The shared pool behind a client; `close()` leaves the pool open for the rest of the process."""

    def __init__(self, pool: httpx.HTTPTransport) -> None:
        self.pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.pool.handle_request(request)

    def close(self) -> None:
        return None


def pool() -> httpx.HTTPTransport:
    """The process's connection pool, made at first use."""
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), httpx.HTTPTransport(limits=LIMITS, retries=0))
        return _pool[1]


def shared_transport(transport: httpx.BaseTransport | None = None) -> httpx.BaseTransport:
    """`transport` when given (tests), else a handle on the process's pool."""
    return transport if transport is not None else KeptTransport(pool())


def reset() -> None:
    """Close the pool (tests that count connections; a process about to exit)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool[1].close()
        _pool = None
