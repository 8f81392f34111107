"""A stored job wakes a worker at once instead of waiting for its poll: in-process on both databases, and on
PostgreSQL across replicas by NOTIFY, sent in the transaction that stored the job (so never for a rollback).

Every worker here polls every 30 s, longer than any of these tests waits: a job that runs within the
test's few seconds ran because something woke the worker.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot.service import jobs
from bot.service.queue import intake_for
from bot.store.db import session_scope
from bot.store.models import Job

POLL = 30.0  # seconds; the tests below wait at most a few
WAIT = 5.0


class _Ran(list):
    """The names of the workers that ran "test.wake", and an event set at the first run."""

    def __init__(self) -> None:
        super().__init__()
        self.event = threading.Event()


def _track(container) -> _Ran:
    ran = _Ran()

    def handler(c, payload, job=None):
        ran.append(job.locked_by if job is not None else "?")
        ran.event.set()

    container.registry.jobs["test.wake"] = handler
    return ran


def _asleep(worker: jobs.Worker) -> None:
    """The worker has looked once, found nothing, and sleeps on its 30 s poll (LISTENing, on PostgreSQL)."""
    if worker.listener is not None:
        assert worker.listener.listening.wait(WAIT), "the worker never started listening"
    time.sleep(0.3)


def _store(container, *, run_at: datetime | None = None, commit: bool = True) -> None:
    with session_scope(container.engine) as session:
        jobs.enqueue(session, "test.wake", {}, run_at=run_at, now=container.clock())
        if not commit:
            session.rollback()


@pytest.fixture
def started():
    workers: list[jobs.Worker] = []

    def start(container, **kwargs) -> jobs.Worker:
        worker = jobs.Worker(container, threads=1, poll_seconds=POLL, **kwargs)
        worker.start()
        workers.append(worker)
        _asleep(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def test_a_job_stored_in_this_process_wakes_its_worker(make_container, db_url, started):
    container = make_container(db_url)
    ran = _track(container)
    worker = started(container)
    began = time.monotonic()
    _store(container)
    assert ran.event.wait(WAIT), "the job waited for the poll"
    assert time.monotonic() - began < POLL / 2 and ran == [worker.name]


def test_a_job_stored_through_the_intake_wakes_the_worker(make_container, db_url, started):
    container = make_container(db_url)
    ran = _track(container)
    started(container)
    assert intake_for(container).enqueue("test.wake", {}) is True
    assert ran.event.wait(WAIT), "the job waited for the poll"


def test_a_savepoint_after_the_job_neither_wakes_early_nor_loses_the_wake(make_container, db_url, started):
    """Fireline opens savepoints all over (a dedup insert, `svc.record`): one that ends after the job was stored
    is not the transaction's end. Before: a released savepoint woke the worker before the job was committed,
    and one rolled back (a duplicate) forgot the job, so the real commit woke nobody."""
    container = make_container(db_url)
    ran = _track(container)
    started(container)
    woken: list[str] = []
    jobs.add_waker(container.engine, lambda: woken.append("wake"))
    with session_scope(container.engine) as session:
        jobs.enqueue(session, "test.wake", {}, now=container.clock())
        with session.begin_nested():
            session.execute(text("SELECT 1"))
        assert woken == [], "woken at a savepoint, before the job was committed"
        try:
            with session.begin_nested():
                session.execute(text("SELECT no_such_column FROM jobs"))
        except Exception:
            pass
    assert woken == ["wake"]
    assert ran.event.wait(WAIT), "the job waited for the poll"


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_job_stored_on_one_replica_wakes_the_worker_of_another(make_container, db_url, started):
    """Two containers on one PostgreSQL, as two machines would be: only B has a worker; A stores the job."""
    replica_a, replica_b = make_container(db_url), make_container(db_url)
    ran = _track(replica_b)
    worker_b = started(replica_b)
    began = time.monotonic()
    _store(replica_a)
    assert ran.event.wait(WAIT), "replica B's worker waited for its poll"
    assert time.monotonic() - began < POLL / 2 and ran == [worker_b.name]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_the_intake_of_one_replica_wakes_the_worker_of_another(make_container, db_url, started):
    """The ack path's own connection (bot.service.job_writers) notifies in its INSERT."""
    replica_a, replica_b = make_container(db_url), make_container(db_url)
    ran = _track(replica_b)
    started(replica_b)
    assert intake_for(replica_a).enqueue("test.wake", {}, dedup_key="wake-intake") is True
    assert ran.event.wait(WAIT), "replica B's worker waited for its poll"


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_rolled_back_job_notifies_nobody_and_a_later_one_still_wakes(make_container, db_url, started):
    replica_a, replica_b = make_container(db_url), make_container(db_url)
    ran = _track(replica_b)
    worker_b = started(replica_b)
    woken = threading.Event()
    wake = worker_b.wake
    worker_b.wake = lambda: (woken.set(), wake())  # type: ignore[method-assign]
    worker_b.listener.wake = worker_b.wake
    _store(replica_a, commit=False)
    assert not woken.wait(1.0), "a notification was sent for a transaction that rolled back"
    with session_scope(replica_b.engine) as session:
        assert session.exec(select(Job)).all() == []
    _store(replica_a)
    assert ran.event.wait(WAIT)


def test_a_timer_runs_when_due_not_at_the_next_poll(make_container, db_url, started):
    container = make_container(db_url, clock=lambda: datetime.now(UTC))
    ran = _track(container)
    started(container)
    due = datetime.now(UTC) + timedelta(seconds=1)
    _store(container, run_at=due)
    assert ran.event.wait(WAIT), "the timer waited for the poll"
    assert datetime.now(UTC) >= due


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_listener_that_lost_its_connection_listens_again(make_container, db_url, started, monkeypatch):
    """The server dropped the LISTEN connection (a restart, a failover): back after a pause, then woken again."""
    monkeypatch.setattr(jobs.Listener, "RETRY_SECONDS", 0.1)
    replica_a, replica_b = make_container(db_url), make_container(db_url)
    ran = _track(replica_b)
    worker_b = started(replica_b)
    with session_scope(replica_a.engine) as session:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": worker_b.listener.backend_pid})
    deadline = time.monotonic() + WAIT
    while worker_b.listener.listening.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker_b.listener.listening.wait(WAIT), "the listener did not come back"
    _store(replica_a)
    assert ran.event.wait(WAIT)
