"""Timers cancelled by key prefix: exactly the right ones, found through the unique index, on both databases."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, text
from sqlmodel import Session, select

from bot.store.db import session_scope
from bot.store.models import Job
from bot.service import timers

PREFIX = "clock:ack:1:"
KEYS = {
    "clock:ack:1:2026-11-25T14:15:00": "pending",   # the prefix: cancelled
    "clock:ack:1:é-non-ascii": "pending",           # the prefix, then a multi-byte character: cancelled
    "clock:ack:1:2026-11-25T14:00:00": "done",      # the prefix, but already fired: left alone
    "clock:ack:1:2026-11-25T13:00:00": "cancelled",  # already cancelled: not counted again
    "clock:ack:12:2026-11-25T14:15:00": "pending",  # another incident whose id starts with 1
    "clock:ack:1;": "pending",                      # the range's upper bound itself
    "clock:ack:1": "pending",                       # the prefix without its last character
    "clock:ack:10": "pending",
    "clock:remind:1:2026-11-25T14:15:00": "pending",
    "clock_ack_1_x": "pending",                     # what `_` in a LIKE pattern would have matched
}


def _stored(container) -> dict[str, str]:
    with Session(container.engine) as session:
        return {job.dedup_key: job.status for job in session.exec(select(Job)).all()}


def _arm_all(container, clock) -> None:
    with session_scope(container.engine) as session:
        for key, status in KEYS.items():
            timers.arm(session, "test.timer", key, clock() + timedelta(minutes=15), {}, now=clock())
            session.flush()
            if status != "pending":
                session.execute(text("UPDATE jobs SET status = :status WHERE dedup_key = :key"),
                                {"status": status, "key": key})


def test_cancel_prefix_cancels_exactly_the_pending_timers_that_start_with_it(container, clock):
    _arm_all(container, clock)
    with session_scope(container.engine) as session:
        assert timers.cancel_prefix(session, PREFIX) == 2
    expected = dict(KEYS)
    expected["clock:ack:1:2026-11-25T14:15:00"] = expected["clock:ack:1:é-non-ascii"] = "cancelled"
    assert _stored(container) == expected
    with session_scope(container.engine) as session:
        assert timers.cancel_prefix(session, PREFIX) == 0  # a second cancel finds nothing pending
    assert _stored(container) == expected


def test_a_cancelled_timer_armed_again_is_pending_and_found_by_its_prefix(container, clock):
    key = timers.timer_key("clock:ack", 7, clock() + timedelta(minutes=15))
    with session_scope(container.engine) as session:
        assert timers.arm(session, "test.timer", key, clock() + timedelta(minutes=15), {}, now=clock())
        assert timers.cancel_prefix(session, "clock:ack:7:") == 1
        assert timers.arm(session, "test.timer", key, clock() + timedelta(minutes=20), {}, now=clock())
    assert _stored(container) == {key: "pending"}


def test_an_empty_prefix_is_refused_rather_than_cancelling_every_timer(container):
    with session_scope(container.engine) as session, pytest.raises(ValueError, match="must not be empty"):
        timers.cancel_prefix(session, "")


def _statements_of(container, action) -> list[tuple[str, tuple]]:
    seen: list[tuple[str, tuple]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001 - event signature
        if "jobs" in statement and not statement.lstrip().upper().startswith(("EXPLAIN", "SAVEPOINT", "RELEASE")):
            seen.append((statement, parameters))

    event.listen(container.engine, "before_cursor_execute", remember)
    try:
        action()
    finally:
        event.remove(container.engine, "before_cursor_execute", remember)
    return seen


def test_cancel_prefix_finds_timers_through_the_unique_index_not_by_walking_pending_jobs(container, clock):
    """The old LIKE walked every pending job (each open incident's timers) while holding the write lock."""
    _arm_all(container, clock)

    def cancel() -> None:
        with session_scope(container.engine) as session:
            timers.cancel_prefix(session, PREFIX)

    statements = _statements_of(container, cancel)
    assert [statement.split()[0].upper() for statement, _ in statements] == ["SELECT", "UPDATE", "UPDATE"]
    with container.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        for statement, parameters in statements:
            if container.engine.dialect.name == "sqlite":
                plan = " ".join(str(row[-1]) for row in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters))
                assert "SCAN" not in plan and "ix_jobs_due" not in plan, (statement, plan)
                assert "sqlite_autoindex_jobs_1" in plan or "INTEGER PRIMARY KEY" in plan, (statement, plan)
            else:
                with raw.cursor() as cursor:  # a tiny table: forbid the sequential scan to see what the index allows
                    cursor.execute("ANALYZE jobs")
                    cursor.execute("SET enable_seqscan = off")
                    cursor.execute("EXPLAIN " + statement, parameters)
                    plan = " ".join(row[0] for row in cursor.fetchall())
                    cursor.execute("RESET enable_seqscan")
                assert re.search(r"Index Cond: \(+(\(dedup_key\)|id =)", plan), (statement, plan)


def test_cancel_prefix_writes_nothing_when_no_timer_has_the_prefix(container, clock):
    """A new incident has no timers yet: its declare must not take the write lock for nothing."""
    _arm_all(container, clock)

    def cancel() -> None:
        with session_scope(container.engine) as session:
            assert timers.cancel_prefix(session, "clock:ack:99:") == 0

    assert [statement.split()[0].upper() for statement, _ in _statements_of(container, cancel)] == ["SELECT"]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite compares TEXT bytewise (BINARY) anyway
def test_job_keys_compare_bytewise_on_postgresql(container):
    """Under a linguistic collation keys sharing a prefix need not sort together, and the range would be wrong."""
    with container.engine.connect() as connection:
        collation = connection.execute(text(
            "SELECT collation_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'jobs' AND column_name = 'dedup_key'")).scalar_one()
    assert collation == "C"
