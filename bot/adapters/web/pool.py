"""The web pages' own few threads: their queries and template rendering never run on the event loop.

Why: the event loop that serves the pages also acknowledges Slack, which gives up after 3 s. Rendered
on the loop, 500 concurrent team-page requests held a lone `/incident list` ack for 9.5 s, and 1,500
cache-busting status-page requests for 5.8 s. Off the loop but in Starlette's shared pool (40 threads),
a crowd of pages would still fill the pool that Bolt's dispatch and the webhooks wait on. So pages get
PAGE_THREADS threads of their own: a crowd queues for those, and what Slack needs stays free.

Why threads and not a separate web process: one process keeps one database pool, one settings object
and one deploy, and the pages are a small share of the work. How many: measured with bench/web_load.py
(10,000 incidents, 500 connections loading /team/, SQLite, one run each on the 2-core machine), the
ack's p99 was 136 ms with 2 page threads (99 pages/s), 203 ms with 4 (131 pages/s), 212 ms with 8 (125
pages/s), against 917 ms (94 pages/s) before, with the pages on the loop and in the shared pool. Two:
one per core; rendering holds the GIL, so more threads only take more turns from the loop for little
more throughput.
"""

from __future__ import annotations

import functools
import weakref
from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

T = TypeVar("T")

PAGE_THREADS = 2

_limiters: weakref.WeakKeyDictionary[AbstractEventLoop, CapacityLimiter] = weakref.WeakKeyDictionary()


def limiter() -> CapacityLimiter:
    """The running event loop's page limiter (made there: a limiter belongs to one loop)."""
    loop = get_running_loop()
    found = _limiters.get(loop)
    if found is None:
        found = _limiters[loop] = CapacityLimiter(PAGE_THREADS)
    return found


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in one of the page threads (context variables, so the log scope, go along)."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=limiter())
