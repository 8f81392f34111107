"""Job claims from several replicas on one database (bot/service/jobs.py: claim_next), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import event, text
from sqlmodel import Session, select

from bot.app.assembly import build_container
from bot.service import jobs
from bot.store.db import session_scope
from bot.store.models import Job
from tests.support.factories import make_container, make_settings


def replicas(db_url, recorder, clock):
    """Two containers on one database, each with its own engine and pool, as two `fireline serve` processes."""
    return make_container(db_url, recorder, clock=clock), build_container(make_settings(db_url, recorder),
                                                                          clock=clock, migrate=False)


def queue(container, clock, count: int) -> list[int]:
    with session_scope(container.engine) as session:
        return [jobs.enqueue(session, "test.noop", {"n": n}, now=clock()).id for n in range(count)]


def test_claims_from_two_replicas_take_every_job_exactly_once(db_url, recorder, clock):
    first, second = replicas(db_url, recorder, clock)
    ids = queue(first, clock, 300)
    taken: list[int] = []
    lock = threading.Lock()

    def claim_all(container, name):
        while (job := jobs.claim_next(container, name)) is not None:
            with lock:
                taken.append(job.id)

    threads = [threading.Thread(target=claim_all, args=(c, f"w{n}")) for n, c in enumerate([first, second] * 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Counter(taken) == Counter(ids)  # each job claimed once, none left behind
    with Session(first.engine) as session:
        rows = session.exec(select(Job)).all()
    assert {(job.status, job.attempts) for job in rows} == {("running", 1)}
    assert len({job.locked_by for job in rows}) > 1  # the claims were in fact spread over the claimers


def test_a_claim_skips_the_job_another_replica_holds_instead_of_waiting(db_url, recorder, clock):
    """While one replica's claim holds the oldest job's row, the other's claim takes the next job at once."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has no row locks: one writer at a time is its whole model")
    first, second = replicas(db_url, recorder, clock)
    oldest, newer = queue(first, clock, 2)
    with first.engine.connect() as holder:
        holder.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": oldest})  # a claim in flight
        got: list[Job | None] = []
        claimer = threading.Thread(target=lambda: got.append(jobs.claim_next(second, "w2")))
        claimer.start()
        claimer.join(10)
        blocked = claimer.is_alive()
        holder.rollback()
    claimer.join(10)
    assert not blocked, "the claim waited for the other replica's row lock"
    assert [job.id for job in got] == [newer]
    assert jobs.claim_next(second, "w2").id == oldest  # released: now it is taken


def test_a_claim_is_one_statement(db_url, recorder, clock):
    """Choose, lock, mark and read the job in one round trip (it was three statements in an open transaction)."""
    container, _ = replicas(db_url, recorder, clock)
    queue(container, clock, 2)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001, PLR0913
        statements.append(statement)

    event.listen(container.engine, "before_cursor_execute", seen)
    try:
        job = jobs.claim_next(container, "w1")
    finally:
        event.remove(container.engine, "before_cursor_execute", seen)
    assert job is not None and job.status == "running" and job.locked_by == "w1" and job.attempts == 1
    assert job.payload == {"n": 0}  # the oldest, read back whole
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("UPDATE"), statements


def test_a_claim_takes_only_due_jobs_of_the_kinds_asked(db_url, recorder, clock):
    from datetime import timedelta

    container, _ = replicas(db_url, recorder, clock)
    with session_scope(container.engine) as session:
        later = jobs.enqueue(session, "test.noop", {"n": "later"}, run_at=clock() + timedelta(minutes=5), now=clock())
        other = jobs.enqueue(session, "test.other", {"n": "other"}, now=clock())
        wanted = jobs.enqueue(session, "test.noop", {"n": "now"}, now=clock())
    assert jobs.claim_next(container, "w1", kinds=["test.noop"]).id == wanted.id
    assert jobs.claim_next(container, "w1", kinds=["test.noop"]) is None  # `later` is not due yet
    assert jobs.claim_next(container, "w1").id == other.id
    clock.advance(minutes=5)
    assert jobs.claim_next(container, "w1").id == later.id
