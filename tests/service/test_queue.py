"""Group commit of the work accepted at Slack's ack (bot/service/queue.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlmodel import Session, select

from bot.store.models import Job
from bot.service import jobs
from bot.service.queue import Intake


def stored_keys(container) -> Counter:
    with Session(container.engine) as session:
        return Counter(job.dedup_key for job in session.exec(select(Job)).all())


def test_concurrent_requests_are_each_stored_once(container):
    intake = Intake(container)
    results: dict[str, list[bool]] = {}
    lock = threading.Lock()

    def submit(thread: int) -> None:
        for n in range(25):
            key = f"cmd:{n}"  # every thread sends the same 25 keys: Slack retries and double clicks
            stored = intake.enqueue("slack.command", {"thread": thread, "n": n}, dedup_key=key)
            with lock:
                results.setdefault(key, []).append(stored)

    threads = [threading.Thread(target=submit, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stored_keys(container) == Counter({f"cmd:{n}": 1 for n in range(25)})
    assert all(flags.count(True) == 1 and len(flags) == 8 for flags in results.values())  # one winner each


def test_jobs_without_a_key_are_all_stored_with_their_payload(container):
    intake = Intake(container)
    for n in range(3):
        assert intake.enqueue("slack.action", {"n": n}) is True
    with Session(container.engine) as session:
        jobs = session.exec(select(Job).order_by(Job.id)).all()
    assert [(job.kind, job.payload, job.status, job.run_at is not None) for job in jobs] == [
        ("slack.action", {"n": n}, "pending", True) for n in range(3)]


def test_one_bad_job_does_not_sink_the_others_in_its_batch(container, monkeypatch):
    intake = Intake(container)
    release = threading.Event()
    real = Intake._store_together
    calls: list[int] = []

    def slow_first(self, batch, **kwargs):  # hold the first write so the next requests pile up into one batch
        calls.append(len(batch))
        if len(calls) == 1:
            release.wait(5)
        return real(self, batch, **kwargs)

    monkeypatch.setattr(Intake, "_store_together", slow_first)
    outcomes: dict[str, object] = {}

    def submit(name: str, payload: dict) -> None:
        try:
            outcomes[name] = intake.enqueue("slack.command", payload, dedup_key=name)
        except Exception as exc:  # the bad one gets its own error
            outcomes[name] = exc

    first = threading.Thread(target=submit, args=("first", {"ok": 1}))
    first.start()
    while not calls:
        threading.Event().wait(0.01)
    others = [threading.Thread(target=submit, args=(name, payload)) for name, payload in
              (("good-1", {"ok": 2}), ("bad", {"not json": object()}), ("good-2", {"ok": 3}))]
    for thread in others:
        thread.start()
    threading.Event().wait(0.3)
    release.set()
    for thread in [first, *others]:
        thread.join()
    assert max(calls) >= 2  # the three waiting requests were tried together first
    assert outcomes["first"] is True and outcomes["good-1"] is True and outcomes["good-2"] is True
    assert isinstance(outcomes["bad"], Exception)
    assert set(stored_keys(container)) == {"first", "good-1", "good-2"}


def test_a_failed_commit_reports_the_error_and_stores_nothing(container, tmp_path):
    from sqlalchemy.exc import OperationalError

    from bot.store.db import make_engine

    good = container.engine
    container.engine = make_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    try:
        with pytest.raises(OperationalError):
            Intake(container).enqueue("slack.command", {"n": 1}, dedup_key="k")
    finally:
        container.engine = good
    assert stored_keys(container) == Counter()


def test_coroutines_are_stored_together_and_told_their_own_result(container):
    import asyncio

    intake = Intake(container)

    async def many() -> list[bool]:
        keys = ["a", "b", "a", "c", "b"]  # a double click and a Slack retry among them
        return await asyncio.gather(*(intake.enqueue_async("slack.command", {"k": key}, dedup_key=key)
                                      for key in keys))

    assert sorted(asyncio.run(many())) == [False, False, True, True, True]
    assert stored_keys(container) == Counter({"a": 1, "b": 1, "c": 1})


def test_a_coroutine_gets_the_database_error_or_a_timeout(container, monkeypatch):
    import asyncio

    from sqlalchemy.exc import OperationalError

    from bot.service.queue import IntakeTimeout

    intake = Intake(container)

    def down(self, batch, **kwargs):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(Intake, "_store_together", down)
    with pytest.raises(OperationalError):
        asyncio.run(intake.enqueue_async("slack.command", {}, dedup_key="x"))

    monkeypatch.undo()
    if container.engine.dialect.name == "sqlite":  # stored on the event loop: slow means the lock is busy
        import sqlite3

        holder = sqlite3.connect(container.engine.url.database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(IntakeTimeout):
                asyncio.run(intake.enqueue_async("slack.command", {}, dedup_key="y", timeout=0.1))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return

    def stuck(self, batch, **kwargs):
        threading.Event().wait(0.5)
        return True

    monkeypatch.setattr(Intake, "_store_together", stuck)
    with pytest.raises(IntakeTimeout):
        asyncio.run(intake.enqueue_async("slack.command", {}, dedup_key="y", timeout=0.1))


def test_the_worker_is_woken_once_per_stored_batch_not_per_job(container, monkeypatch):
    intake = Intake(container)
    wakes: list[int] = []
    intake.add_waker(lambda: wakes.append(1))
    release = threading.Event()
    real = Intake._store_together

    def held(self, batch, **kwargs):
        release.wait(5)
        return real(self, batch, **kwargs)

    monkeypatch.setattr(Intake, "_store_together", held)
    threads = [threading.Thread(target=intake.enqueue, args=("slack.command", {"n": n})) for n in range(6)]
    for thread in threads:
        thread.start()
    threading.Event().wait(0.3)
    release.set()
    for thread in threads:
        thread.join()
    assert sum(stored_keys(container).values()) == 6
    assert 1 <= len(wakes) <= 2  # the first job's batch, then the five that waited behind it
    assert intake.enqueue("slack.command", {"n": 9}, dedup_key="d") and len(wakes) in (2, 3)
    before = len(wakes)
    assert intake.enqueue("slack.command", {"n": 9}, dedup_key="d") is False
    assert len(wakes) == before  # nothing new stored: nothing to wake for


def test_sqlite_jobs_from_the_intake_read_back_like_any_other(sqlite_container):
    import sqlite3

    from bot.service import jobs

    ran: list[dict] = []
    sqlite_container.registry.job("test.echo")(lambda container, payload, job=None: ran.append(payload))
    Intake(sqlite_container).enqueue("test.echo", {"text": "héllo <!here>", "n": [1, 2]}, dedup_key="e1")
    with Session(sqlite_container.engine) as session:
        [job] = session.exec(select(Job)).all()
    assert (job.kind, job.status, job.attempts, job.dedup_key) == ("test.echo", "pending", 0, "e1")
    with Session(sqlite_container.engine) as session:  # the same job through the ORM, for comparison
        now = sqlite_container.clock()
        session.add(Job(kind="test.echo", payload={"text": "héllo <!here>", "n": [1, 2]}, run_at=now,
                        created_at=now, dedup_key="e2", status="done"))
        session.commit()
    raw = sqlite3.connect(sqlite_container.engine.url.database)
    ours, orms = raw.execute("SELECT payload, run_at, created_at, typeof(run_at) FROM jobs ORDER BY id").fetchall()
    raw.close()
    assert ours == orms  # stored byte for byte as SQLAlchemy stores them (dates compare as text in SQL)
    assert jobs.run_due(sqlite_container) == 1  # the worker's own "due" query finds it
    assert ran == [{"text": "héllo <!here>", "n": [1, 2]}]


def test_sqlite_intake_waits_for_a_held_write_lock_then_stores(sqlite_container):
    import sqlite3

    holder = sqlite3.connect(sqlite_container.engine.url.database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the worker in the middle of a write
    threading.Timer(0.15, lambda: holder.execute("COMMIT")).start()
    started = time.monotonic()
    assert Intake(sqlite_container).enqueue("slack.command", {"n": 1}, dedup_key="after-lock") is True
    assert time.monotonic() - started >= 0.14
    assert stored_keys(sqlite_container) == Counter({"after-lock": 1})
    holder.close()


def test_sqlite_intake_gives_up_on_a_lock_held_too_long_with_the_engines_error(sqlite_container):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from bot.service.job_writers import SqliteJobWriter

    holder = sqlite3.connect(sqlite_container.engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    writer = SqliteJobWriter(sqlite_container.engine, lock_timeout=0.2)
    now = sqlite_container.clock()
    row = {"kind": "slack.command", "payload": {}, "run_at": now, "status": "pending", "attempts": 0,
           "dedup_key": "k", "created_at": now}
    try:
        with pytest.raises(OperationalError, match="no write lock within 0.2 s"):
            writer.insert([row])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert writer.insert([row]) == {"k"}  # the next try opens a fresh connection and works
    writer.close()


def test_sqlite_intake_never_checkpoints_on_the_acks_path(sqlite_container):
    from bot.service.job_writers import SqliteJobWriter

    writer = SqliteJobWriter(sqlite_container.engine)
    connection = writer._connect()
    assert connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    writer.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # a server-side disconnect is PostgreSQL's
def test_postgres_intake_replaces_a_connection_the_server_closed(container):
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    def server_closes_our_connection() -> None:  # a failover, or the server restarted
        with container.engine.connect() as connection:
            killed = connection.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'fireline-intake'")).scalar_one()
        assert killed >= 1

    intake = Intake(container)
    assert intake.enqueue("slack.command", {"n": 1}, dedup_key="before")
    server_closes_our_connection()
    assert intake.enqueue("slack.command", {"n": 2}, dedup_key="after") is True  # sent again: no "try again"
    assert stored_keys(container) == Counter({"before": 1, "after": 1})
    server_closes_our_connection()
    with pytest.raises(OperationalError):  # no key: sending it again could store it twice, so it is not
        intake.enqueue("slack.command", {"n": 3})
    assert intake.enqueue("slack.command", {"n": 4}) is True  # and the next batch has a fresh connection


def test_a_worker_registered_on_the_engine_and_the_intake_is_woken_once_per_batch(container):
    """The runtime registers its worker's wake on the engine (every transaction that stores a job) and the Bolt
    app with the intake: one stored batch wakes it once, not once for each registration."""
    intake = Intake(container)
    wakes: list[int] = []

    def wake() -> None:
        wakes.append(1)

    jobs.add_waker(container.engine, wake)
    intake.add_waker(wake)
    try:
        assert intake.enqueue("slack.command", {"n": 1}) is True
        deadline = time.monotonic() + 2  # the writer wakes the worker just after it tells the request
        while not wakes and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        assert len(wakes) == 1
    finally:
        jobs.remove_waker(container.engine, wake)
