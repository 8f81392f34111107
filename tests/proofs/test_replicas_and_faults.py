"""Two replicas on one database, and the database going away: nothing runs twice, nothing is lost."""

from __future__ import annotations

import threading
from collections import Counter

from sqlmodel import Session, select

from bot.app.assembly import build_container
from bot.service import jobs
from bot.store.db import session_scope
from bot.store.models import Incident, Job
from tests.support.factories import make_container, make_settings


def two_replicas(db_url, recorder, clock):
    first = make_container(db_url, recorder, clock=clock)
    second = build_container(make_settings(db_url, recorder), clock=clock, migrate=False)
    return first, second


def test_jobs_run_exactly_once_with_two_replicas(db_url, recorder, clock):
    first, second = two_replicas(db_url, recorder, clock)
    ran: Counter[int] = Counter()
    lock = threading.Lock()

    def count(container, payload, job=None):
        with lock:
            ran[payload["n"]] += 1

    for container in (first, second):
        container.registry.jobs["test.count"] = count
    with session_scope(first.engine) as session:
        for n in range(200):
            jobs.enqueue(session, "test.count", {"n": n}, now=clock())
    threads = [threading.Thread(target=jobs.run_due, args=(container, f"w{i}"))
               for i, container in enumerate([first, second, first, second])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(ran) == list(range(200))
    assert set(ran.values()) == {1}
    with Session(first.engine) as session:
        assert {job.status for job in session.exec(select(Job))} == {"done"}


def test_timers_fire_once_and_only_when_due(db_url, recorder, clock):
    from datetime import timedelta

    first, second = two_replicas(db_url, recorder, clock)
    fired: list[str] = []
    for container in (first, second):
        container.registry.jobs["test.timer"] = lambda c, payload, job=None: fired.append(payload["key"])
    with session_scope(first.engine) as session:
        assert jobs.enqueue(session, "test.timer", {"key": "ack-1"}, run_at=clock() + timedelta(minutes=15),
                            dedup_key="ack:1") is not None
    with session_scope(second.engine) as session:  # the other replica arms the same timer: dropped
        assert jobs.enqueue(session, "test.timer", {"key": "ack-1"}, run_at=clock() + timedelta(minutes=15),
                            dedup_key="ack:1") is None
    assert jobs.run_due(first) == 0
    clock.advance(minutes=15)
    threads = [threading.Thread(target=jobs.run_due, args=(c,)) for c in (first, second, first)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert fired == ["ack-1"]


def test_concurrent_declares_on_two_replicas_get_distinct_numbers(db_url, recorder, clock):
    from bot.adapters.console import console_context
    from bot.adapters.console_chat import ConsoleChat
    from bot.service import incidents as svc

    first, second = two_replicas(db_url, recorder, clock)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def declare(container, n):
        try:
            import io

            ctx = console_context(container, ConsoleChat(io.StringIO()), user_id="U1", channel_id="C1")
            incident, _ = svc.declare(ctx, f"Parallel {n}", 3, "test")
            numbers.append(incident.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=declare, args=((first, second)[n % 2], n)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(numbers) == list(range(1, 21))
    with Session(first.engine) as session:
        assert len(session.exec(select(Incident)).all()) == 20


def test_interrupted_jobs_are_marked_not_rerun(db_url, recorder, clock):
    first, _ = two_replicas(db_url, recorder, clock)
    with session_scope(first.engine) as session:
        job = jobs.enqueue(session, "slack.command", {"command": "incident", "text": "list"}, now=clock())
    claimed = jobs.claim_next(first, "dead-worker")
    assert claimed.id == job.id
    clock.advance(minutes=20)  # the worker that claimed it died
    assert jobs.reap_stale(first) == 1
    assert jobs.run_due(first) == 0
    with Session(first.engine) as session:
        assert session.get(Job, job.id).status == "interrupted"


def test_database_outage_then_recovery(slack, tmp_path):
    """While the database is unreachable users are told to try again; afterwards all works again."""
    from bot.store.db import make_engine

    good = slack.container.engine
    slack.container.engine = make_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")  # cannot be opened
    try:
        response = slack.command("declare Site is down sev1", run=False)
    finally:
        slack.container.engine = good
    assert response.status_code == 200 and "try again" in response.text.lower()
    with Session(good) as session:
        assert session.exec(select(Job)).all() == []  # nothing half-stored
    slack.command("declare Site is down sev1")
    assert "Declared *#1*" in slack.reply_text()


def test_worker_survives_database_errors(container, monkeypatch):
    from sqlalchemy.exc import OperationalError

    calls = {"n": 0}

    def broken(*args, **kwargs):
        calls["n"] += 1
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr("bot.service.jobs.session_scope", broken)  # the worker's reads and claims all fail
    worker = jobs.Worker(container, threads=1, poll_seconds=0.01)
    worker.start()
    try:
        import time

        deadline = time.monotonic() + 5
        while calls["n"] < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()
    assert calls["n"] >= 3  # it kept trying instead of dying
