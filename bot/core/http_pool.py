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
import ssl
import threading

import httpx

# Keep idle connections 55 s (httpx's default is 5 s, which would reopen for nearly every declare
# in production, where calls come seconds or minutes apart); a connection the far end closed in the
# meantime is noticed before reuse and replaced.
KEEPALIVE_SECONDS = 55.0
LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=KEEPALIVE_SECONDS)

_lock = threading.Lock()
_tls_lock = threading.Lock()  # apart from _lock: pool() holds that while it asks for the context
_pool: tuple[int, httpx.HTTPTransport] | None = None  # (pid, pool): a forked child makes its own
_tls: ssl.SSLContext | None = None  # the trusted certificates, loaded once per process tree (`tls_context`)


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
            _pool = (os.getpid(), httpx.HTTPTransport(limits=LIMITS, retries=0, verify=tls_context()))
        return _pool[1]


def tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings (certifi's roots, or SSL_CERT_FILE / SSL_CERT_DIR), loaded once.

    Why once, and before `serve` forks its worker child (`prepare_for_fork`): each pool used to load
    the ~150 root certificates itself, so the child, which makes all of Slack's calls, parsed them
    again into OpenSSL's memory at its first job, ~3 MB of its own resident size that the server's
    copy could have shared. A context holds settings and certificates, no connection: sharing it
    with a child forked before any request is made (the fork is at start-up) shares nothing live.
    """
    global _tls
    with _tls_lock:
        if _tls is None:
            _tls = httpx.create_ssl_context()
    return _tls


def prepare_for_fork() -> None:
    """What every process's first outgoing call loads, done in `serve` before it forks the worker child.

    The child then shares these pages with the server instead of loading its own copies at its first
    job: httpcore and h11 (httpx imports them at its first transport), the IDNA codec (the first
    host name) and the TLS context. Measured with bench/memory.py (SQLite, 300 declares, on the same
    loaded machine before and after, two runs each): the child's resident size after use 92.3-93.3 MB
    before, 88.9-89.1 after; server + child PSS 122.8-124.2 MB before, 121.8-122.5 after (idle
    103.0-105.5 before, 104.8-105.8 after: the modules now count in the server's idle size).
    """
    import encodings.idna  # noqa: F401 - imported for its side effect: the codec is loaded
    import httpcore  # noqa: F401

    tls_context()


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
