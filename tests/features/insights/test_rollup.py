"""The stored days (bot.features.insights.rollup) give exactly the figures of the full computation.

A property over random histories on SQLite and PostgreSQL: incidents declared, acknowledged, mitigated,
resolved, re-graded, made private and public again, deleted; pages (dry runs among them), postmortems owed
and done, playbook runs proposed and finished; after each round of changes every period (a partial first
day included) and every reader's scope (hidden private incidents) must read the same Figures from the days
as from every row. Times are whole seconds (the days keep milliseconds; see the module's docstring).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from bot.features.insights import rollup
from bot.features.insights.feature import compute_in_full, figures
from bot.service.reads import Visible
from bot.store.db import session_scope
from bot.store.models import Incident, InsightDay, InsightDirty, PagerDutyLink, PlaybookExecution, Postmortem
from playbooks import insights as pure
from tests.support.factories import make_container

NOW = datetime(2026, 11, 25, 14, 0, 7, tzinfo=UTC)
PEOPLE = ("Ana Ops", "Bo", "Cy Lee")
STATUSES = ("proposed", "running", "succeeded", "failed", "stopped", "interrupted", "cancelled")


def _when(rng: random.Random, days: int = 12) -> datetime:
    return NOW - timedelta(seconds=rng.randrange(days * 86_400)) + timedelta(seconds=rng.choice((0, 0, 0, 3600)))


def _round(rng: random.Random, engine, next_id: list[int]) -> None:
    """One round of random changes, each in its own transaction, as the features make them."""
    with session_scope(engine) as session:
        ids = list(session.exec(select(Incident.id)).scalars())
    for _ in range(rng.randrange(5, 25)):
        choice = rng.random()
        with session_scope(engine) as session:
            if choice < 0.35 or not ids:  # declare, perhaps with a page, a postmortem and a run
                number = next_id[0]
                next_id[0] += 1
                declared = _when(rng)
                ack = declared + timedelta(seconds=rng.randrange(0, 7200)) if rng.random() < 0.6 else None
                session.add(Incident(id=number, title=f"inc {number}", severity=rng.randint(1, 4), declared_by="U1",
                                     declared_at=declared, acknowledged_at=ack, private=rng.random() < 0.2))
                session.flush()
                if rng.random() < 0.5:
                    session.add(PagerDutyLink(incident_id=number, incident_key=f"k{number}",
                                              mode=rng.choice(("rest", "events", "dry-run")), paged_at=declared,
                                              assignees=rng.sample(PEOPLE, rng.randint(0, 2)) * rng.randint(1, 2)))
                if rng.random() < 0.4:
                    due = declared + timedelta(hours=rng.choice((1, 48, 24 * 60)))
                    done = due + timedelta(seconds=rng.choice((-3600, 0, 1, 7200))) if rng.random() < 0.5 else None
                    session.add(Postmortem(incident_id=number, due_at=due, done_at=done))
                if rng.random() < 0.4:
                    session.add(PlaybookExecution(playbook=rng.choice(("restart", "scale")), app="web",
                                                  incident_id=number if rng.random() < 0.8 else None,
                                                  status=rng.choice(STATUSES), nonce="n", proposed_by="U1",
                                                  proposed_at=declared + timedelta(seconds=rng.randrange(600))))
                ids.append(number)
                continue
            number = rng.choice(ids)
            table = Incident.__table__
            at = NOW - timedelta(seconds=rng.randrange(86_400 * 3))
            if choice < 0.45:
                session.exec(update(table).where(table.c.id == number).values(acknowledged_at=at))
            elif choice < 0.55:
                session.exec(update(table).where(table.c.id == number).values(mitigated_at=at))
            elif choice < 0.65:
                session.exec(update(table).where(table.c.id == number).values(resolved_at=at, status="resolved"))
            elif choice < 0.75:
                session.exec(update(table).where(table.c.id == number).values(severity=rng.randint(1, 4)))
            elif choice < 0.85:
                session.exec(update(table).where(table.c.id == number).values(private=~table.c.private))
            elif choice < 0.9:
                pms = Postmortem.__table__
                session.exec(update(pms).where(pms.c.incident_id == number).values(done_at=at))
            elif choice < 0.95:
                runs = PlaybookExecution.__table__
                session.exec(update(runs).where(runs.c.incident_id == number)
                             .values(status=rng.choice(STATUSES)))
            else:  # deleted, with what hangs off it
                for model in (PagerDutyLink, Postmortem, PlaybookExecution):
                    session.exec(delete(model.__table__).where(model.__table__.c.incident_id == number))
                session.exec(delete(table).where(table.c.id == number))
                ids.remove(number)


def _scopes(engine) -> list[Visible | None]:
    with session_scope(engine) as session:
        private = sorted(session.exec(select(Incident.id).where(Incident.private.is_(True))).scalars())
    return [None, Visible(frozenset(private)), Visible(frozenset(private[::2])), Visible(frozenset({10_000}))]


@pytest.mark.parametrize("seed", [1, 2])
def test_stored_days_equal_the_full_computation(db_url, recorder, seed):
    rng = random.Random(seed)
    container = make_container(db_url, recorder, clock=lambda: NOW)
    next_id = [1]
    compared = 0
    try:
        for _ in range(6):
            _round(rng, container.engine, next_id)
            for days in (1, 7, 30, 45):
                since = NOW - timedelta(days=days, seconds=rng.randrange(3600))
                for scope in _scopes(container.engine):
                    stored = figures(container, since, visible=scope)
                    full = compute_in_full(container, since, scope)
                    assert stored == full, (days, scope)
                    compared += 1
        with container.engine.connect() as connection:  # every mark consumed, the days written
            assert connection.execute(select(func.count()).select_from(InsightDirty.__table__)).scalar() == 0
            assert connection.execute(select(func.count()).select_from(InsightDay.__table__)).scalar() > 10
    finally:
        container.engine.dispose()
    assert compared == 6 * 4 * 4


def test_every_watched_change_marks_its_day(db_url, recorder):
    """The triggers (migration 0013_insight_days) exist at head: a change no day hears of would stay wrong."""
    container = make_container(db_url, recorder, clock=lambda: NOW)
    day = NOW - timedelta(days=3)
    try:
        with session_scope(container.engine) as session:
            session.add(Incident(id=1, title="t", severity=2, declared_by="U1", declared_at=day))
            session.flush()
            session.add(PagerDutyLink(incident_id=1, incident_key="k", mode="rest", paged_at=day, assignees=[]))
            session.add(Postmortem(incident_id=1, due_at=day, done_at=None))
            session.add(PlaybookExecution(playbook="restart", app="web", incident_id=1, status="proposed", nonce="n",
                                          proposed_by="U1", proposed_at=day))
        assert rollup.refresh(container.engine) == 1
        changes = [(Incident, "id", {"acknowledged_at": NOW}), (Incident, "id", {"mitigated_at": NOW}),
                   (Incident, "id", {"resolved_at": NOW}), (Incident, "id", {"severity": 1}),
                   (PagerDutyLink, "incident_id", {"mode": "dry-run"}),
                   (PagerDutyLink, "incident_id", {"assignees": ["Bo"]}),
                   (Postmortem, "incident_id", {"done_at": NOW}), (PlaybookExecution, "incident_id",
                                                                    {"status": "failed"})]
        for model, key, values in changes:
            table = model.__table__
            with session_scope(container.engine) as session:
                session.exec(update(table).where(table.c[key] == 1).values(**values))
            assert rollup.refresh(container.engine) == 1, (model.__name__, values)
        with session_scope(container.engine) as session:  # a title is not a figure: no day to recompute
            session.exec(update(Incident.__table__).values(title="renamed", private=True))
        assert rollup.refresh(container.engine) == 0
    finally:
        container.engine.dispose()


def test_days_and_hidden_rows_that_disagree_fall_back_to_the_full_computation(sqlite_url, recorder, monkeypatch):
    container = make_container(sqlite_url, recorder, clock=lambda: NOW)
    try:
        with session_scope(container.engine) as session:
            session.add(Incident(id=1, title="t", severity=2, declared_by="U1", declared_at=NOW - timedelta(days=2),
                                 private=True))
        since = NOW - timedelta(days=30)
        hidden = Visible(frozenset({1}))
        assert figures(container, since, visible=hidden).rows == []
        with container.engine.begin() as connection:  # a stored day that lost the incident (a change mid-read)
            connection.execute(delete(InsightDay.__table__))
        with pytest.raises(pure.Stale):
            rollup.period(container.engine, since, NOW, hidden.hidden)
        assert figures(container, since, visible=hidden) == compute_in_full(container, since, hidden)
    finally:
        container.engine.dispose()


def test_the_marks_hold_at_most_one_row_a_day_until_read(db_url, recorder):
    """Every change used to add a mark and only an insights read consumed them: unread, the table grew without end.
    A change to a marked day now renews its row (a new id, so a refresh that read the old one keeps it marked)."""
    container = make_container(db_url, recorder, clock=lambda: NOW)
    days = [NOW - timedelta(days=3), NOW - timedelta(days=1)]
    table = Incident.__table__

    def marks() -> list[tuple[int, str]]:
        with container.engine.connect() as connection:
            return connection.execute(select(InsightDirty.__table__.c.id, InsightDirty.__table__.c.day)).all()

    try:
        with session_scope(container.engine) as session:
            for number, day in enumerate(days, start=1):
                session.add(Incident(id=number, title="t", severity=2, declared_by="U1", declared_at=day))
        before = dict((day, number) for number, day in marks())
        for severity in range(1, 21):
            with session_scope(container.engine) as session:
                session.exec(update(table).where(table.c.id == 1).values(severity=1 + severity % 3,
                                                                           acknowledged_at=NOW))
        rows = marks()
        assert sorted(day for _, day in rows) == sorted(day.date().isoformat() for day in days)  # one row a day
        after = dict((day, number) for number, day in rows)
        first = days[0].date().isoformat()
        assert after[first] != before[first]  # renewed: a refresh holding the old id leaves it marked
        assert rollup.refresh(container.engine) == 2 and marks() == []
        assert figures(container, NOW - timedelta(days=7)) == compute_in_full(container, NOW - timedelta(days=7), None)
    finally:
        container.engine.dispose()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite has one writer: nothing to wait for
def test_a_refresh_never_waits_for_a_mark_a_writer_holds(db_url, recorder):
    """A writer renewing two days' marks holds both rows until it commits; a refresh that waited for one of them
    while holding the other could deadlock with it, and PostgreSQL would abort one side (perhaps a resolve)."""
    import threading

    container = make_container(db_url, recorder, clock=lambda: NOW)
    table = Incident.__table__
    try:
        with session_scope(container.engine) as session:
            for number, day in enumerate([NOW - timedelta(days=3), NOW - timedelta(days=1)], start=1):
                session.add(Incident(id=number, title="t", severity=2, declared_by="U1", declared_at=day))
        with container.engine.connect() as writer:  # a writer mid-transaction holds the first day's mark
            held = writer.begin()
            writer.execute(update(table).where(table.c.id == 1).values(severity=1))
            done = threading.Event()
            threading.Thread(target=lambda: (rollup.refresh(container.engine), done.set()), daemon=True).start()
            assert done.wait(10), "the refresh waited for the writer's mark"
            held.commit()
        with container.engine.connect() as connection:  # the renewed mark stayed for the next read
            days = connection.execute(select(InsightDirty.__table__.c.day)).scalars().all()
        assert days == [(NOW - timedelta(days=3)).date().isoformat()]
    finally:
        container.engine.dispose()
