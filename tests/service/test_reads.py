"""The front ends' read functions (bot/service/reads.py) on incidents made through the front ends
(tests/support/real_run.py): a private incident is absent for a non-member on every read that takes a viewer,
present for a member, and present for the view of everything (None: the console's operator)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from bot.service import reads
from tests.support.real_run import make_incident, real_site

MEMBER = "U0LEAD"  # declared it (and leads it)
OUTSIDER = "U0EVE"  # never joined


@pytest.fixture
def made(db_url, recorder, clock, fake_fly, pd):
    with real_site(db_url, recorder, clock, fake_fly, pd) as slack:
        public = make_incident(slack, clock, "Checkout returns 502", playbook=False, publish=False)
        private = make_incident(slack, clock, "Payroll export leaks salaries", private=True, playbook=False,
                                publish=False)
        with Session(slack.container.engine) as session:
            yield session, public, private


def _numbers(rows) -> set[int]:
    return {row.id for row in rows}


def test_each_read_leaves_a_private_incident_out_for_a_non_member_only(made):
    session, public, private = made
    seen = {}
    for who in (OUTSIDER, MEMBER, None):
        seen[who] = {
            "visible": private.number in reads.visible(session, who),
            "sees_number": reads.sees_number(session, who, private.number),
            "incidents_for": private.number in _numbers(reads.incidents_for(session, who, limit=50)),
            "incidents_for text": private.number in _numbers(reads.incidents_for(session, who, limit=50,
                                                                               text="payroll")),
            "incident_record": reads.incident_record(session, who, private.number, timeline_limit=100) is not None,
            "postmortems_for": private.number in {r.incident_id for r in reads.postmortems_for(session, who)},
            "open_followups_of": private.number in {f.incident_id for f in
                                                    reads.open_followups_of(session, "U0BEN", viewer=who)},
            "postmortems_owed": private.number in {i.id for _, i in
                                                   reads.postmortems_owed(session, MEMBER, viewer=who)},
            "incident_channels": private.channel in {c for c, _ in reads.incident_channels(session, who)},
        }
        # the public incident is there for everyone, on the same reads
        assert public.number in reads.visible(session, who)
        assert public.number in _numbers(reads.incidents_for(session, who, limit=50))
        assert reads.incident_record(session, who, public.number, timeline_limit=100) is not None
        assert public.number in {r.incident_id for r in reads.postmortems_for(session, who)}
        assert public.channel in {c for c, _ in reads.incident_channels(session, who)}
    assert not any(seen[OUTSIDER].values()), seen[OUTSIDER]
    assert all(seen[MEMBER].values()), seen[MEMBER]
    assert all(seen[None].values()), seen[None]


def test_a_missing_number_and_a_hidden_one_read_alike(made):
    session, _public, private = made
    assert reads.incident_record(session, OUTSIDER, private.number, timeline_limit=100) is None
    assert reads.incident_record(session, OUTSIDER, 4242, timeline_limit=100) is None
    assert reads.sees_number(session, OUTSIDER, 4242) is False
