"""The response clock's intervals come from the SEV table, overridable in settings, and a drill can run it fast."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.features.pagerduty import response_clock as pd_clock
from bot.core.settings import SettingsError, load_settings
from tests.support.factories import make_settings
from tests.support.pagerduty import build, escalations, harness, incident_posts, install_clients

CHANNEL = "CINC0001"


def test_targets_come_from_the_sev_table_unless_settings_say_otherwise():
    table = make_settings("sqlite://")
    assert pd_clock.ack_target(1, table) == timedelta(minutes=15)
    assert pd_clock.ack_target(2, table) == timedelta(minutes=15)  # paged: the on-call rule, SEV1's time
    assert pd_clock.ack_target(3, table) == timedelta(hours=4)
    assert pd_clock.ack_target(4, table) is None  # next business day: no timer
    mine = make_settings("sqlite://", sev_response_minutes="1=10, 2=45, 3=120, 4=")
    assert pd_clock.ack_target(1, mine) == timedelta(minutes=10)
    assert pd_clock.ack_target(2, mine) == timedelta(minutes=10)
    assert pd_clock.ack_target(3, mine) == timedelta(hours=2)
    assert pd_clock.ack_target(4, mine) is None
    assert mine.sev_response(2) == timedelta(minutes=45)
    partial = make_settings("sqlite://", sev_response_minutes="3=60")  # the rest stays as the table says
    assert pd_clock.ack_target(1, partial) == timedelta(minutes=15)
    assert pd_clock.ack_target(3, partial) == timedelta(hours=1)


@pytest.mark.parametrize("value, said", [
    ("1=abc", "SEV_RESPONSE_MINUTES"), ("5=10", "SEV1 to SEV4"), ("1=0", "at least 1"), ("1:15", "1=15"),
])
def test_bad_response_minutes_are_refused_with_what_to_write(value, said):
    with pytest.raises(SettingsError) as caught:
        load_settings(database_url="sqlite://", sev_response_minutes=value, _env_file=None)
    assert said in str(caught.value)


def test_bad_speed_is_refused():
    with pytest.raises(SettingsError) as caught:
        load_settings(database_url="sqlite://", response_clock_speed=0, _env_file=None)
    assert "RESPONSE_CLOCK_SPEED" in str(caught.value)


def test_a_drill_runs_the_clock_fast(sqlite_url, recorder, clock, pd):
    """RESPONSE_CLOCK_SPEED=60: the 15-minute escalation comes after 15 seconds, and says it is a drill."""
    from tests.support.pagerduty import REST_SETTINGS

    container = build(sqlite_url, recorder, clock, response_clock_speed=60, **REST_SETTINGS)
    install_clients(container)
    with harness(container, recorder) as slack:
        slack.command("declare Site is down sev1")
        clock.advance(seconds=14)
        slack.run_jobs()
        assert escalations(pd) == []
        clock.advance(seconds=1)
        slack.run_jobs()
        assert escalations(pd) == [2]
        [announced] = incident_posts(recorder, "is not acknowledged")
        assert "not acknowledged* 15m after the page" in announced and "drill" in announced
        clock.advance(seconds=16)  # the SEV1 update nudge: 30 min -> 30 s (31 s since the declaration)
        slack.run_jobs()
        [nudge] = incident_posts(recorder, "has had no status update")
        # the drill's seconds, what they stand for, and that it is a drill (it read "for 31s." alone)
        assert "no status update for 31s (= 31m at 1x). [drill: the clock runs 60x fast]" in nudge, nudge
    container.engine.dispose()


def test_overridden_sev3_time_moves_the_reminder_and_its_words(sqlite_url, recorder, clock, pd):
    container = build(sqlite_url, recorder, clock, sev_response_minutes="3=90")
    with harness(container, recorder) as slack:
        slack.command("declare Slow dashboard sev3")
        clock.advance(minutes=89)
        slack.run_jobs()
        assert incident_posts(recorder, "has not been acknowledged") == []
        clock.advance(minutes=1)
        slack.run_jobs()
        [reminder] = incident_posts(recorder, "has not been acknowledged")
        assert "in 1 h 30 min" in reminder
    container.engine.dispose()


def test_cards_and_messages_print_the_configured_response_times(sqlite_url, recorder, clock):
    """SEV_RESPONSE_MINUTES moved the clock and the insights, but the cards still printed the guide's `< 15 min`."""
    from bot.adapters.slack.modals import sev_option

    container = build(sqlite_url, recorder, clock, sev_response_minutes="1=10,2=45,3=120")
    with harness(container, recorder) as slack:
        slack.command("declare Site is down sev1")
        assert "Declared #1 SEV1 (Complete outage, respond < 10 min)" in slack.reply_text().replace("*", "")
        cards = [c.text() for c in recorder.of("chat.postMessage") if "Complete outage" in c.text()]
        assert len(cards) == 2  # the channel's card and #incidents'
        assert all("SEV1: Complete outage (respond < 10 min)" in card and "15 min" not in card for card in cards)
        slack.command("sev 2", channel_id=CHANNEL)
        assert "#1 is now SEV2 (Major degradation, respond < 45 min) (was SEV1)" in slack.reply_text()
        updated = recorder.of("chat.update")[-1].text()
        assert "SEV2: Major degradation (respond < 45 min)" in updated and "1 hour" not in updated
        slack.command("catchup", channel_id=CHANNEL)
        assert "SEV2 (Major degradation, respond < 45 min)" in slack.reply_text()
    assert sev_option(3, container.settings)["text"]["text"] == "SEV3: Minor issue (respond < 2 hours)"
    assert sev_option(4, container.settings)["text"]["text"] == "SEV4: Cosmetic/Low priority (respond by the next " \
        "business day)"
    container.engine.dispose()


def test_a_drill_incidents_nudge_says_drill_at_any_speed(sqlite_url, recorder, clock):
    """A game-day drill's incident (marked as bot.adapters.drill.py marks it) is named a drill by the nudge at 1x too."""
    from sqlalchemy import update

    from bot.store.db import session_scope
    from bot.store.models import Incident

    container = build(sqlite_url, recorder, clock)
    with harness(container, recorder) as slack:
        slack.command("declare [DRILL] Site is down sev1")
        with session_scope(container.engine) as session:
            session.execute(update(Incident).where(Incident.id == 1).values(drill=True))
        clock.advance(minutes=31)
        slack.run_jobs()
        [nudge] = incident_posts(recorder, "has had no status update")
        assert "no status update for 31m. [drill]" in nudge, nudge
    container.engine.dispose()
