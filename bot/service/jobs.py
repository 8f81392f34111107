"""The durable queue: work handed off after Slack's ack, and timers, as rows in the database.

A job is claimed with a conditional UPDATE (`... WHERE id = ? AND status = 'pending'`): on SQLite
and on PostgreSQL only one worker's UPDATE matches, so each job runs exactly once even with
several replicas on one database. Timers are jobs whose `run_at` is in the future.

Workers are woken when a job is stored instead of finding it on their next poll: a transaction
that enqueued a job wakes the workers of its own engine once it has committed (`add_waker`: the
worker's threads, or the pipe to `serve`'s worker child), and on PostgreSQL it also sends
`NOTIFY fireline_jobs` inside the same transaction (delivered at its commit, never for a rollback),
which every replica's worker LISTENs for on a connection of its own (`Listener`). The poll stays
as the fallback for a notification lost with its connection, at a longer interval on PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, func, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from bot.core import log_context
from bot.core.clock import as_utc
from bot.core.container import Container
from bot.store.db import own_connection, session_scope
from bot.store.models import Job

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=15)
WAKE_CHANNEL = "fireline_jobs"  # PostgreSQL's NOTIFY channel: a job was stored
POLL_SECONDS = {"postgresql": 5.0}  # LISTEN wakes the worker; the poll is the fallback (others: 0.5 s)
DEFAULT_POLL_SECONDS = 0.5  # SQLite: a `fireline worker` of its own on the same file has nothing else to wake it
_STORED = "fireline.job_stored"  # in Session.info: this transaction enqueued a job
# The payload is the schema the job went to: deployments (and tests) sharing a database in schemas of their
# own wake only their own workers. Several in one transaction are one notification (PostgreSQL folds them).
NOTIFY_EXPRESSION = f"pg_notify('{WAKE_CHANNEL}', current_schema())"
NOTIFY_SQL = f"SELECT {NOTIFY_EXPRESSION}"

_wakers: weakref.WeakKeyDictionary[Engine, list[Callable[[], None]]] = weakref.WeakKeyDictionary()
_wakers_lock = threading.Lock()


def add_waker(engine: Engine, wake: Callable[[], None]) -> None:
    """Call `wake` after each committed transaction of `engine` that stored a job."""
    with _wakers_lock:
        callbacks = _wakers.setdefault(engine, [])
        if wake not in callbacks:
            callbacks.append(wake)


def remove_waker(engine: Engine, wake: Callable[[], None]) -> None:
    with _wakers_lock:
        callbacks = _wakers.get(engine, [])
        if wake in callbacks:
            callbacks.remove(wake)


def wakers(engine: Engine) -> list[Callable[[], None]]:
    """Who a job stored on `engine` wakes now."""
    with _wakers_lock:
        return list(_wakers.get(engine, ()))


def clear_wakers() -> None:
    """In a forked child: the parent's callbacks (its pipe's end) are not ours to call."""
    with _wakers_lock:
        _wakers.clear()


def wake_workers(engine: Engine, also: Sequence[Callable[[], None]] = ()) -> None:
    """Call each waker of `engine` once, and each of `also` not among them: a worker registered both on the
    engine (the runtime) and with the intake (the Bolt app) used to be woken twice per stored batch."""
    with _wakers_lock:
        callbacks = list(_wakers.get(engine, ()))
    callbacks += [wake for wake in also if wake not in callbacks]
    for wake in callbacks:
        try:
            wake()
        except Exception:
            log.warning("could not wake a worker; it finds the job on its next poll")


def _bind(session: OrmSession) -> Engine | None:
    try:
        bind = session.get_bind()
    except Exception:
        return None
    return getattr(bind, "engine", bind)


# A savepoint's commit or rollback fires these events too (`begin_nested`: a dedup insert, `svc.record`...);
# only the outer transaction's end may wake the workers or forget that a job was stored: woken at a
# savepoint, a worker looks before the job is committed; forgotten at one, the real commit wakes nobody and
# the job waits for the poll (5 s on PostgreSQL).
@event.listens_for(OrmSession, "before_commit")
def _notify_replicas(session: OrmSession) -> None:
    """PostgreSQL: one NOTIFY per transaction that stored a job, sent by the server only if it commits."""
    if session.info.get(_STORED) and not session.in_nested_transaction():
        engine = _bind(session)
        if engine is not None and engine.dialect.name == "postgresql":
            session.execute(text(NOTIFY_SQL))


@event.listens_for(OrmSession, "after_commit")
def _wake_local(session: OrmSession) -> None:
    if not session.in_nested_transaction() and session.info.pop(_STORED, False):
        engine = _bind(session)
        if engine is not None:
            wake_workers(engine)


@event.listens_for(OrmSession, "after_rollback")
def _forget(session: OrmSession) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_STORED, None)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def enqueue(session: Session, kind: str, payload: dict[str, Any], *, run_at: datetime | None = None,
            dedup_key: str | None = None, now: datetime | None = None) -> Job | None:
    """Add a job in the caller's transaction. With dedup_key, a second identical job is dropped (None)."""
    job = Job(kind=kind, payload=payload, dedup_key=dedup_key)
    if now is not None:
        job.created_at = now
    job.run_at = run_at or job.created_at
    if dedup_key is None:
        session.add(job)
        session.flush()
        session.info[_STORED] = True
        return job
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        return None
    session.info[_STORED] = True
    return job


def cancel(session: Session, dedup_key: str) -> bool:
    """Cancel a pending timer by its key (e.g. the ack deadline once someone acked)."""
    result = session.execute(update(Job).where(col(Job.dedup_key) == dedup_key, col(Job.status) == "pending")
                             .values(status="cancelled"))
    return bool(result.rowcount)


def claim_next(container: Container, worker: str, kinds: list[str] | None = None) -> Job | None:
    """Take the oldest due job, or None. Safe against other workers and other processes.

    One statement, `UPDATE jobs SET status = 'running' ... WHERE id = (SELECT id ... LIMIT 1 FOR UPDATE SKIP
    LOCKED) RETURNING *`: on PostgreSQL a claimer skips the rows other claimers hold instead of waiting for
    them, and the row is locked, changed and read in one round trip; on SQLite the statement is one write, so
    no other claimer runs between its choice and its change. The conditional `status = 'pending'` stays as
    the guard that makes a claim exactly-once whatever the isolation.

    Why: the claim was a SELECT ... FOR UPDATE SKIP LOCKED, an UPDATE, then a SELECT of the row, inside a
    transaction held open between them (five round trips with BEGIN and COMMIT). Measured on a loaded 2-core
    machine (bench/job_claims.py, PostgreSQL, no-op jobs): a claim took 55 ms, a finish 30 ms, and claims per
    second did not grow from 1 to 4 replicas (19, 16, 19): each round trip waits for a CPU, and the open
    transaction holds the row while its thread waits.
    """
    now = container.clock()
    due = select(Job.id).where(col(Job.status) == "pending", col(Job.run_at) <= now)
    if kinds:
        due = due.where(col(Job.kind).in_(kinds))
    due = due.order_by(col(Job.run_at), col(Job.id)).limit(1)
    if container.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claim = (update(Job).where(col(Job.id) == due.scalar_subquery(), col(Job.status) == "pending")
             .values(status="running", locked_by=worker, locked_at=now, attempts=Job.attempts + 1)
             .returning(Job).execution_options(synchronize_session=False))
    with session_scope(container.engine) as session:
        return session.execute(claim).scalars().first()


def finish(container: Container, job_id: int, error: str | None = None) -> None:
    with session_scope(container.engine) as session:
        session.execute(update(Job).where(col(Job.id) == job_id).values(
            status="failed" if error else "done", finished_at=container.clock(), error=error))


def _job_incident(payload: dict[str, Any]) -> int | None:
    for key in ("incident_id", "incident"):
        value = payload.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def run_one(container: Container, job: Job) -> None:
    # Logs of the job carry the request that queued it (Slack's), else the job's own id.
    request_id = (job.payload or {}).get("request_id") or f"job-{job.id}"
    with log_context.scope(request_id=str(request_id), incident=_job_incident(job.payload or {})):
        handler = container.registry.jobs.get(job.kind)
        if handler is None:
            finish(container, job.id, f"no handler for job kind {job.kind!r}")
            return
        try:
            handler(container, job.payload, job=job)
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            finish(container, job.id, f"{type(exc).__name__}: {str(exc)[:500]}")
            return
        finish(container, job.id)


def run_due(container: Container, worker: str | None = None, kinds: list[str] | None = None,
            limit: int = 1000) -> int:
    """Run every job due now (tests, the console and each worker loop use this). Returns how many ran."""
    worker = worker or worker_name()
    count = 0
    while count < limit:
        job = claim_next(container, worker, kinds)
        if job is None:
            break
        run_one(container, job)
        count += 1
    return count


def reap_stale(container: Container) -> int:
    """Jobs left `running` by a process that died are marked interrupted, never silently redone."""
    cutoff = container.clock() - STALE_AFTER
    with session_scope(container.engine) as session:
        result = session.execute(update(Job).where(col(Job.status) == "running", col(Job.locked_at) < cutoff)
                                 .values(status="interrupted", finished_at=container.clock()))
        return result.rowcount or 0


BACKOFF_START = 0.5  # seconds after the first failed poll
BACKOFF_CAP = 30.0  # seconds between tries in a long outage


class Backoff:
    """How long to wait after each consecutive failure: BACKOFF_START doubling to BACKOFF_CAP, reset on success.

    During a database outage the worker used to poll (and log "database unavailable, retrying") twice a
    second per thread for as long as it lasted; now about 15 tries (and lines) in the first five minutes,
    then one every 30 s. Shared by a worker's threads, so a step is logged once, not once per thread.
    """

    def __init__(self, start: float = BACKOFF_START, cap: float = BACKOFF_CAP) -> None:
        self.start, self.cap = start, cap
        self.failures = 0
        self._lock = threading.Lock()

    def failed(self) -> tuple[float, int]:
        """The wait before the next try, and how many failures in a row this is."""
        with self._lock:
            delay = min(self.cap, self.start * 2 ** min(self.failures, 32))
            self.failures += 1
            return delay, self.failures

    def succeeded(self) -> int:
        """Resets; returns how many failures in a row there had been."""
        with self._lock:
            failures, self.failures = self.failures, 0
            return failures


def next_due_in(container: Container, longest: float) -> float:
    """Seconds until the earliest pending job is due (0 when one is), at most `longest`: a timer set for
    two seconds from now runs then, not at the next fallback poll."""
    with session_scope(container.engine) as session:
        earliest = session.exec(select(func.min(Job.run_at)).where(col(Job.status) == "pending")).first()
    if earliest is None:
        return longest
    return max(0.0, min(longest, (as_utc(earliest) - as_utc(container.clock())).total_seconds()))


class Listener:
    """PostgreSQL: LISTEN on a connection of its own and call `wake` for each NOTIFY of a stored job.

    Why: a job stored by another replica (or by `serve`'s request handlers, for a worker elsewhere) was
    found only at the worker's next poll. A lost connection is opened again after a pause, and the
    worker is woken then too, as a notification may have been missed meanwhile.
    """

    RETRY_SECONDS = 2.0
    CONNECT_SECONDS = 5

    def __init__(self, engine: Engine, wake: Callable[[], None]) -> None:
        self.engine = engine
        self.wake = wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set while LISTEN is in effect (tests wait for it)
        self.backend_pid: int | None = None  # the server process of the LISTEN connection

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fireline-listen", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _connect(self):  # noqa: ANN202 - a psycopg connection
        return own_connection(self.engine, "fireline-listen", self.CONNECT_SECONDS)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._connect() as connection:
                    schema = connection.execute("SELECT current_schema()").fetchone()[0]
                    connection.execute(f"LISTEN {WAKE_CHANNEL}")
                    self.backend_pid = connection.info.backend_pid
                    self.listening.set()
                    self.wake()  # anything stored before LISTEN took effect
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=1.0, stop_after=1):
                            if notice.payload == schema:
                                self.wake()
            except Exception as exc:  # noqa: BLE001 - any failure: the poll covers until we are back
                if self._stop.is_set():
                    break
                log.warning("worker: LISTEN connection lost (%s); polling until it is back", type(exc).__name__)
            finally:
                self.listening.clear()
            self._stop.wait(self.RETRY_SECONDS)


class Worker:
    """Background threads that run due jobs; `wake()` makes a fresh job start at once.

    Woken by the transactions that store jobs (`add_waker`) and, on PostgreSQL, by any replica's NOTIFY
    (`Listener`); between wakes it sleeps until the next timer is due or the fallback poll.
    """

    def __init__(self, container: Container, threads: int = 2, poll_seconds: float | None = None) -> None:
        self.container = container
        self.threads = threads
        dialect = container.engine.dialect.name
        self.poll_seconds = poll_seconds if poll_seconds is not None else POLL_SECONDS.get(dialect,
                                                                                          DEFAULT_POLL_SECONDS)
        self.backoff = Backoff()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.listener = Listener(container.engine, self.wake) if dialect == "postgresql" else None
        self.name = worker_name()

    def start(self) -> None:
        add_waker(self.container.engine, self.wake)
        if self.listener is not None:
            self.listener.start()
        for n in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"fireline-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        self._wake.set()

    @property
    def state(self) -> str:
        """"running", "stopped" (started, but its threads ended) or "not started" (for /readyz)."""
        if not self._threads:
            return "not started"
        alive = any(thread.is_alive() for thread in self._threads)
        return "running" if alive and not self._stop.is_set() else "stopped"

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        remove_waker(self.container.engine, self.wake)
        if self.listener is not None:
            self.listener.stop()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before looking: a job stored while we look wakes the wait below at once
            # A read first, the claim only when a job is due: the claim is an UPDATE, which on SQLite takes
            # the database's one write lock even when it matches nothing, and an idle worker looks twice a
            # second per thread, in the way of the acks' own writes.
            due_in = self.poll_seconds
            try:
                due_in = next_due_in(self.container, self.poll_seconds)
                ran = run_due(self.container, self.name, limit=50) if due_in <= 0 else 0
            except OperationalError:
                delay, failures = self.backoff.failed()
                if failures == 1:
                    log.warning("worker: database unavailable; retrying in %.1f s, backing off to %.0f s",
                                delay, self.backoff.cap)
                else:
                    log.warning("worker: database still unavailable (%d tries); next in %.1f s", failures, delay)
                self._stop.wait(delay)  # not woken by new jobs: none can be stored while the database is down
                continue
            except Exception:
                log.exception("worker loop error")
                ran = 0
            else:
                failures = self.backoff.succeeded()
                if failures:
                    log.info("worker: database available again after %d failed tries", failures)
            if not ran:
                self._wake.wait(max(due_in, 0.02))  # due but not ours (another worker took it): look again soon
