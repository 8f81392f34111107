"""Group commit of the work accepted at Slack's ack (bot/service/intake.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlmodel import Session, select

from bot.models import Job
from bot.service.intake import Intake


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

    def slow_first(self, batch):  # hold the first write so the next requests pile up into one batch
        calls.append(len(batch))
        if len(calls) == 1:
            release.wait(5)
        return real(self, batch)

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

    from bot.db import make_engine

    good = container.engine
    container.engine = make_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    try:
        with pytest.raises(OperationalError):
            Intake(container).enqueue("slack.command", {"n": 1}, dedup_key="k")
    finally:
        container.engine = good
    assert stored_keys(container) == Counter()
