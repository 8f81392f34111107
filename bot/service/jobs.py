"""The durable queue: work handed off after Slack's ack, and timers, as rows in the database.

A job is claimed with a conditional UPDATE (`... WHERE id = ? AND status = 'pending'`): on SQLite
and on PostgreSQL only one worker's UPDATE matches, so each job runs exactly once even with
several replicas on one database. Timers are jobs whose `run_at` is in the future.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from bot.core import log_context
from bot.core.container import Container
from bot.store.db import session_scope
from bot.store.models import Job

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=15)


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
        return job
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        return None
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


class Worker:
    """Background threads that run due jobs; `wake()` makes a fresh job start at once."""

    def __init__(self, container: Container, threads: int = 2, poll_seconds: float = 0.5) -> None:
        self.container = container
        self.threads = threads
        self.poll_seconds = poll_seconds
        self.backoff = Backoff()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.name = worker_name()

    def start(self) -> None:
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
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = run_due(self.container, self.name, limit=50)
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
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
