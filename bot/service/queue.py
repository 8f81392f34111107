"""Group commit for the work Fireline accepts at Slack's ack.

Each slash command and button press is stored as a job before Slack gets its answer, so nothing
acknowledged is lost. Done one transaction per request, concurrent requests fight over the database:
SQLite lets one writer in at a time and makes the others sleep and retry (tens of milliseconds at
the tail), and PostgreSQL pays a commit per request. Here, request threads hand their job to one
writer thread, which stores everything waiting in a single transaction and then wakes each request
with its own result. A request still answers only after its job is committed.

Two ways in: `enqueue` blocks a thread (Bolt's listeners), `enqueue_async` awaits on the event loop
(the HTTP fast path for slash commands, which saves the hop into a thread pool per request).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.core.container import Container, Part
from bot.store.models import Job
from bot.service.job_writers import JobWriter, writer_for
from bot.service.jobs import wake_workers

log = logging.getLogger(__name__)

MAX_BATCH = 200
IDLE_SECONDS = 2.0  # the writer thread ends when idle and starts again on the next request


class IntakeTimeout(Exception):
    """The job was not stored in time; the caller tells the user to try again."""


@dataclass
class _Pending:
    kind: str
    payload: dict[str, Any]
    dedup_key: str | None
    done: threading.Event | None = None  # set by enqueue: the waiting thread's signal
    stored: bool = False
    error: BaseException | None = None
    future: asyncio.Future | None = None  # set by enqueue_async: resolved on its event loop


def _settle(future: asyncio.Future, pending: _Pending) -> None:
    """On the waiting event loop: hand the writer's outcome to the awaiting request."""
    if future.done():  # it timed out meanwhile
        return
    if pending.error is not None:
        future.set_exception(pending.error)
    else:
        future.set_result(pending.stored)


def _settle_all(waiting: list[tuple[asyncio.Future, _Pending]]) -> None:
    for future, pending in waiting:
        _settle(future, pending)


class Intake:
    """Stores jobs for request threads, many per transaction. Thread-safe; one per container."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        self._writer: JobWriter | None = None
        self._writer_engine: object = None  # the engine _writer was made for
        self._wakers: list[Callable[[], None]] = []

    def add_waker(self, wake: Callable[[], None]) -> None:
        """Call `wake` (the worker's) once after each transaction that stored a job, not once per job."""
        if wake not in self._wakers:
            self._wakers.append(wake)

    def remove_waker(self, wake: Callable[[], None]) -> None:
        if wake in self._wakers:
            self._wakers.remove(wake)

    @property
    def wakers(self) -> list[Callable[[], None]]:
        return list(self._wakers)

    def enqueue(self, kind: str, payload: dict[str, Any], *, dedup_key: str | None = None,
                timeout: float = 2.5) -> bool:
        """Store a job and return once it is committed: True, or False when dedup_key was seen before.

        Raises the database's error when the transaction failed, IntakeTimeout when it took too long.
        """
        done = threading.Event()
        pending = _Pending(kind, payload, dedup_key, done=done)
        self._queue.put(pending)
        self._ensure_writer_thread()
        if not done.wait(timeout):
            raise IntakeTimeout(f"storing a {kind} job took over {timeout:.1f} s")
        if pending.error is not None:
            raise pending.error
        return pending.stored

    async def enqueue_async(self, kind: str, payload: dict[str, Any], *, dedup_key: str | None = None,
                            timeout: float = 2.5) -> bool:
        """`enqueue` for a coroutine: the event loop serves other requests while the batch commits."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        pending = _Pending(kind, payload, dedup_key, future=future)

        def too_slow() -> None:
            if not future.done():
                future.set_exception(IntakeTimeout(f"storing a {kind} job took over {timeout:.1f} s"))

        timer = loop.call_later(timeout, too_slow)
        self._queue.put(pending)
        self._ensure_writer_thread()
        try:
            return await future
        finally:
            timer.cancel()

    def _ensure_writer_thread(self) -> None:
        with self._lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._write_loop, name="fireline-intake", daemon=True).start()

    def _write_loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                self._close_writer()  # an idle process keeps no connection of its own open
                with self._lock:
                    if self._queue.empty():
                        self._running = False
                        return
                continue
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._store(batch)

    def _store(self, batch: list[_Pending]) -> None:
        try:
            self._store_together(batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:  # one bad job must not sink the others: store them one by one
                log.warning("storing %d jobs together failed (%s); storing each alone", len(batch),
                            type(exc).__name__)
                for pending in batch:
                    try:
                        self._store_together([pending])
                    except Exception as single:
                        pending.error = single
        finally:
            self._wake(batch)
        if any(pending.stored for pending in batch):
            # this engine's workers (bot.service.jobs.add_waker) and ours, each once: the runtime registers its
            # worker with both
            wake_workers(self.container.engine, also=self._wakers)

    @staticmethod
    def _wake(batch: list[_Pending]) -> None:
        """Wake each waiter: threads by their event, coroutines with one call per event loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, _Pending]]] = {}
        for pending in batch:
            if pending.done is not None:
                pending.done.set()
            if pending.future is not None:
                by_loop.setdefault(pending.future.get_loop(), []).append((pending.future, pending))
        for loop, waiting in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_all, waiting)
            except RuntimeError:  # that loop has closed: nobody is waiting any more
                pass

    def _store_together(self, batch: list[_Pending]) -> None:
        """One INSERT for the whole batch; a dedup key already stored (or repeated in the batch) is skipped."""
        now = self.container.clock()
        rows = [{"kind": p.kind, "payload": p.payload, "run_at": now, "status": "pending", "attempts": 0,
                 "dedup_key": p.dedup_key, "created_at": now} for p in batch]
        writer = self._own_writer()
        if writer is not None:
            inserted = writer.insert(rows)
        else:
            inserted = self._insert_with_engine(rows)
        seen: set[str] = set()
        for pending in batch:  # only once the commit went through
            key = pending.dedup_key
            pending.stored = key is None or (key in inserted and key not in seen)
            if key is not None:
                seen.add(key)

    def _insert_with_engine(self, rows: list[dict[str, Any]]) -> set[str]:
        table = Job.__table__
        if self.container.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        # executemany form: compiled once and cached; SQLAlchemy sends it as one multi-row INSERT
        statement = (insert(table).on_conflict_do_nothing(index_elements=["dedup_key"])
                     .returning(table.c.dedup_key))
        with self.container.engine.begin() as connection:
            return {key for (key,) in connection.execute(statement, rows)}

    def _own_writer(self) -> JobWriter | None:
        """The intake's own connection (bot.service.job_writers), made on first use."""
        engine = self.container.engine
        stale = None
        with self._lock:
            if self._writer_engine is not engine:  # first use, or the container's database changed
                stale = self._writer
                self._writer, self._writer_engine = writer_for(engine), engine
            writer = self._writer
        if stale is not None:
            stale.close()
        return writer

    def _close_writer(self) -> None:
        with self._lock:
            writer, self._writer, self._writer_engine = self._writer, None, None
        if writer is not None:
            writer.close()


# The container's ack-time queue, made on first use.
INTAKE: Part[Intake] = Part("service.intake", Intake)


def intake_for(container: Container) -> Intake:
    """The container's intake, made on first use."""
    return container.parts.get(INTAKE)
