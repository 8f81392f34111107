"""Group commit for the work Fireline accepts at Slack's ack.

Each slash command and button press is stored as a job before Slack gets its answer, so nothing
acknowledged is lost. Done one transaction per request, concurrent requests fight over the database:
SQLite lets one writer in at a time and makes the others sleep and retry (tens of milliseconds at
the tail), and PostgreSQL pays a commit per request. Here, request threads hand their job to one
writer thread, which stores everything waiting in a single transaction and then wakes each request
with its own result. A request still answers only after its job is committed.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from bot.container import Container
from bot.models import Job

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
    done: threading.Event = field(default_factory=threading.Event)
    stored: bool = False
    error: BaseException | None = None


class Intake:
    """Stores jobs for request threads, many per transaction. Thread-safe; one per container."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False

    def enqueue(self, kind: str, payload: dict[str, Any], *, dedup_key: str | None = None,
                timeout: float = 2.5) -> bool:
        """Store a job and return once it is committed: True, or False when dedup_key was seen before.

        Raises the database's error when the transaction failed, IntakeTimeout when it took too long.
        """
        pending = _Pending(kind, payload, dedup_key)
        self._queue.put(pending)
        self._ensure_writer()
        if not pending.done.wait(timeout):
            raise IntakeTimeout(f"storing a {kind} job took over {timeout:.1f} s")
        if pending.error is not None:
            raise pending.error
        return pending.stored

    def _ensure_writer(self) -> None:
        with self._lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._write_loop, name="fireline-intake", daemon=True).start()

    def _write_loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
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
            for pending in batch:
                pending.done.set()

    def _store_together(self, batch: list[_Pending]) -> None:
        """One INSERT for the whole batch; a dedup key already stored (or repeated in the batch) is skipped."""
        now = self.container.clock()
        rows = [{"kind": p.kind, "payload": p.payload, "run_at": now, "status": "pending", "attempts": 0,
                 "dedup_key": p.dedup_key, "created_at": now} for p in batch]
        table = Job.__table__
        if self.container.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        # executemany form: compiled once and cached; SQLAlchemy sends it as one multi-row INSERT
        statement = (insert(table).on_conflict_do_nothing(index_elements=["dedup_key"])
                     .returning(table.c.dedup_key))
        with self.container.engine.begin() as connection:
            inserted = {key for (key,) in connection.execute(statement, rows)}
        seen: set[str] = set()
        for pending in batch:  # only once the commit went through
            key = pending.dedup_key
            pending.stored = key is None or (key in inserted and key not in seen)
            if key is not None:
                seen.add(key)


def intake_for(container: Container) -> Intake:
    """The container's intake, made on first use."""
    intake = container.extras.get("intake")
    if intake is None:
        intake = Intake(container)
        container.extras["intake"] = intake
    return intake  # type: ignore[return-value]
