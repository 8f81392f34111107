"""What gets stored and shown from odd but signed input: NUL bytes, invisible and bidi characters,
time travel on the timeline, alert titles that fake lines or lose channel references, digits from other scripts.

Everything goes through a real front end: signed Slack requests into the real Bolt/HTTP app, the alert
webhook, or the console, on SQLite and on the real PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from bot.store.models import TimelineEvent
from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from tests.support.factories import make_container
from tests.support.alerts import ALERT_SECRET, ALERTS_CHANNEL, incidents
from tests.support.harness import SlackHarness


@pytest.fixture
def alerting(db_url, recorder, clock):
    """The app with alert intake on (ALERTS_WEBHOOK_SECRET); `.clock` moves paced jobs along."""
    container = make_container(db_url, recorder, alerts_webhook_secret=ALERT_SECRET,
                                              alerts_channel=ALERTS_CHANNEL, clock=clock)
    with TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False) as client:
        harness = SlackHarness(container, recorder, client)
        harness.clock = clock  # type: ignore[attr-defined]
        yield harness
    container.engine.dispose()


def events(container, incident_id: int, kind: str | None = None) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        query = select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
        if kind:
            query = query.where(TimelineEvent.kind == kind)
        return list(session.exec(query.order_by(TimelineEvent.id)).all())


# -- 1. NUL bytes: PostgreSQL refuses them in text, so no front end lets one through ------------------------------
def test_a_nul_byte_in_a_title_or_note_is_stripped_not_try_again_forever(slack):
    slack.command("declare Checkout\x00 returns 502 sev2")
    reply = slack.reply_text()
    assert "try again" not in reply.lower() and "went wrong" not in reply.lower(), reply
    [incident] = incidents(slack.container)
    assert incident.title == "Checkout returns 502"
    slack.command("note seen\x00 in logs", channel_id=incident.channel_id)
    slack.command("update\x00 rolled back", channel_id=incident.channel_id)
    slack.command("timeline -5m deploy\x00 v42", channel_id=incident.channel_id)
    texts = [e.text for e in events(slack.container, incident.id)]
    assert "seen in logs" in texts and "deploy v42" in texts
    assert not any("\x00" in (t or "") for t in texts)


def test_nul_and_lone_surrogates_from_the_alert_webhook_are_stored_cleaned(alerting):
    from tests.support.alerts import alerts, post_alert

    raw = b'{"title": "CPU \\u0000high \\ud800 on api", "text": "load\\u0000 15", "source": "grafana"}'
    response = post_alert(alerting.client, None, raw=raw)
    assert response.status_code == 202, response.text
    [alert] = alerts(alerting.container)
    assert alert.title == "CPU high \ufffd on api" and alert.text == "load 15"


def test_a_nul_byte_in_a_pagerduty_note_is_stripped(db_url, recorder, clock, pd):
    from datetime import timedelta

    from tests.support.pagerduty import note_data, post_webhook, rest_harness, webhook

    with rest_harness(db_url, recorder, clock) as slack:
        slack.command("declare Site is down sev1")
        post_webhook(slack, webhook("incident.annotated", note_data("PINC101", "Support\x00 sees it \ud800too"),
                                    occurred_at=clock() + timedelta(minutes=1)))
        [note] = events(slack.container, 1, "pagerduty_annotated")
        assert note.text.endswith("Support sees it \ufffdtoo")


# -- 2. the timeline takes times around the incident, not from the year 1 -----------------------------------------
@pytest.mark.parametrize("typed, expected", [
    ("0001-01-01 00:00 x", "more than 7 days before #1 was declared"),
    ("2026-11-18 13:59 x", "more than 7 days before #1 was declared"),
    ("-8d x", "more than 7 days before #1 was declared"),
    ("9999-12-31 23:59 x", "is in the future"),
    ("2026-11-25 14:02 x", "is in the future"),
])
def test_timeline_times_far_from_the_incident_are_refused_saying_what_to_type(slack, clock, typed, expected):
    slack.command("declare Site is down sev1")
    slack.command(f"timeline {typed}", channel_id="CINC0001")
    text = slack.reply_text()
    assert expected in text, text
    assert "/incident timeline" in text  # what to type instead
    assert [e.kind for e in events(slack.container, 1)] == ["declared"]


@pytest.mark.parametrize("typed", ["2026-11-18 14:00 x", "-6d x", "2026-11-25 14:01 x"])
def test_timeline_times_within_the_bounds_are_taken(slack, typed):
    slack.command("declare Site is down sev1")
    slack.command(f"timeline {typed}", channel_id="CINC0001")
    assert "Added to the timeline of #1" in slack.reply_text(), slack.reply_text()


# -- 3. invisible (format) characters count as space ---------------------------------------------------------------
@pytest.mark.parametrize("title", ["\u200b\u200b\u200b", "\u200b \ufeff \u2060", "\u200d\u202e\u00ad", "\u3000\u200b"])
def test_a_title_of_invisible_characters_is_empty_and_refused(slack, title):
    slack.command(f"declare {title} sev2")
    assert "A title is needed to declare an incident." in slack.reply_text(), slack.reply_text()
    assert incidents(slack.container) == []


def test_invisible_characters_at_word_edges_go_but_joiners_inside_words_stay(slack):
    slack.command("declare \u200bCheckout\u200b \ufeffdown\u3000for \U0001F469\u200d\U0001F4BB users \u200b sev2")
    [incident] = incidents(slack.container)
    assert incident.title == "Checkout down for \U0001F469\u200d\U0001F4BB users"
    assert incident.severity == 2
    slack.command("note \u200b \u2060", channel_id=incident.channel_id)
    assert "note" not in [e.kind for e in events(slack.container, incident.id)]


def test_an_alert_title_of_invisible_characters_is_refused(alerting):
    from tests.support.alerts import post_alert

    response = post_alert(alerting.client, {"title": "\u200b\u200b", "source": "grafana"})
    assert response.status_code == 422 and "needs a `title` or a `text`" in response.json()["error"]


# -- 4. bidi controls are stored as typed and neutralised wherever text is shown -----------------------------------
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def shown_texts(recorder) -> list[str]:
    import json

    return [json.dumps(call.data, ensure_ascii=False) for call in recorder.calls]


def test_an_rtl_override_is_stored_but_never_shown_raw(slack):
    title = "Checkout\u202egnp.exe 502\u2066x\u2069 \u200fdown\u061c sev2"
    slack.command(f"declare {title}")
    [incident] = incidents(slack.container)
    assert "\u202e" in incident.title and "\u2066" in incident.title  # stored as typed
    slack.command("note see\u202eevil", channel_id=incident.channel_id)
    slack.command("show", channel_id=incident.channel_id)
    slack.command("list")
    texts = shown_texts(slack.recorder)
    assert any("Checkoutgnp.exe" in t for t in texts)
    for text in texts:
        assert not set(text) & set(BIDI), f"a bidi control was shown: {text[:300]!r}"


def test_the_console_shows_no_bidi_controls(container):
    import io

    from bot.adapters.console import run_console

    out = io.StringIO()
    run_console(container, io.StringIO("/incident declare Disk\u202efull\u2067 now sev3\n/incident show\n"
                                       "/alert CPU\u202ehigh on api\n"), out)
    shown = out.getvalue()
    assert "Diskfull now" in shown, shown
    assert not set(shown) & set(BIDI), repr(shown)


# -- 5. an alert title is one line ---------------------------------------------------------------------------------
FAKE = "CPU high\n:white_check_mark: Resolved by Chen\r\n\tNo action needed\u2028really"


def test_a_newline_in_an_alert_title_cannot_fake_lines_in_the_thread(alerting):
    from tests.support.alerts import alerts, post_alert, run_all

    assert post_alert(alerting.client, {"title": FAKE, "source": "grafana"}).status_code == 202
    run_all(alerting, alerting.clock)
    [alert] = alerts(alerting.container)
    assert alert.title == "CPU high :white_check_mark: Resolved by Chen No action needed really"
    post = alerting.recorder.of("chat.postMessage")[0]
    section = post.data["blocks"][0]["text"]["text"]
    lines = section.split("\n")
    assert "Alert from" in lines[0] and "Resolved by Chen" in lines[0], section
    assert "\n" not in post.data["text"]
    assert not any(line.startswith(":white_check_mark:") for line in lines)


# -- 6. a channel reference in a title stays, as text ------------------------------------------------------------
def test_a_channel_reference_in_a_title_is_kept_as_text(slack):
    slack.command("declare DB down, see <#C0000001> and <#C0000002|ops-db> sev2")
    [incident] = incidents(slack.container)
    assert incident.title == "DB down, see #C0000001 and #ops-db"
    assert "DB down, see #C0000001 and #ops-db" in slack.reply_text()


def test_a_channel_reference_inside_an_update_is_words_not_a_target(slack):
    slack.command("declare Site is down sev1")
    slack.command("declare Login broken sev2")
    first, second = incidents(slack.container)
    slack.command(f"update moved to <#{second.channel_id}|{second.channel_name}>", channel_id=first.channel_id)
    assert [e.text for e in events(slack.container, first.id, "update")] == [f"moved to #{second.channel_name}"]
    assert events(slack.container, second.id, "update") == []
    # as the first word it names the incident (from any channel), as `#N` does
    slack.command(f"update <#{second.channel_id}|{second.channel_name}> rolled back")
    assert [e.text for e in events(slack.container, second.id, "update")] == ["rolled back"]


def test_an_integration_message_keeps_channel_references_as_text(alerting):
    from tests.support.alerts import alerts, run_all

    event = {"type": "message", "subtype": "bot_message", "bot_id": "BCI", "username": "CI", "channel": ALERTS_CHANNEL,
             "ts": "1700001999.000100", "text": "Deploy failed in <#C0000001|prod-deploys> and <#C0000002>, "
             "cc <@U0CHEN|chen> <!here>", "event_ts": "1700001999.000100", "channel_type": "channel"}
    assert alerting.event(event, event_id="EvCI1").status_code == 200
    run_all(alerting, alerting.clock)
    [alert] = alerts(alerting.container)
    assert alert.title == "Deploy failed in #prod-deploys and #C0000002, cc @chen @here"


# -- 7. digits: full-width digits are digits everywhere; anything else that only looks like one is refused ------------
def test_full_width_digits_are_digits_in_incident_refs_severities_and_counts(slack):
    slack.command("declare Site is down sev１")
    slack.command("declare Login broken sev\uff12")
    first, second = incidents(slack.container)
    assert (first.severity, second.severity) == (1, 2)
    slack.command("sev ３", channel_id=first.channel_id)
    slack.command("update #２ rolled back")
    slack.command("followup Add a canary", channel_id=first.channel_id)
    slack.command("followups done １", channel_id=first.channel_id)
    slack.command("timeline -２０m deploy v42", channel_id=first.channel_id)
    assert incidents(slack.container)[0].severity == 3
    assert [e.text for e in events(slack.container, 2, "update")] == ["rolled back"]
    assert "Follow-up 1 of #1 is done" in slack.recorder.responses()[-2].text()
    assert [e.text for e in events(slack.container, 1, "timeline")] == ["deploy v42"]


@pytest.mark.parametrize("typed, expected", [
    ("sev ²", "Say which severity, 1 to 4."),
    ("sev ٢", "Say which severity, 1 to 4."),
    ("followups done ²", "Say which follow-up, by number."),
    ("timeline -٢٠m deploy", "is not a time"),
    ("timeline １４:٠٥ deploy", "is not a time"),
])
def test_other_digit_forms_are_refused_saying_what_to_type(slack, typed, expected):
    slack.command("declare Site is down sev2")
    slack.command(typed, channel_id="CINC0001")
    assert expected in slack.reply_text(), slack.reply_text()
    assert incidents(slack.container)[0].severity == 2
    assert [e.kind for e in events(slack.container, 1)] == ["declared"]


def test_superscripts_and_other_scripts_name_no_incident(slack):
    slack.command("declare Site is down sev2")
    for ref in ("#²", "#١"):
        slack.command(f"update {ref} rolled back")
        assert "say which incident you mean" in slack.reply_text(), slack.reply_text()
    assert events(slack.container, 1, "update") == []


def test_scale_takes_full_width_counts_and_batches_and_refuses_superscripts(fly_slack):
    slack = fly_slack
    slack.command("count ６", command="/scale")
    assert "Plan: Scale cgraph-api from 4 to 6 machines" in slack.recorder.responses()[-1].text()
    slack.command("vm shared-cpu-2x --batch ２", command="/scale")
    assert "Plan:" in slack.recorder.responses()[-1].text(), slack.recorder.responses()[-1].text()
    slack.command("count ⁶", command="/scale")
    assert "Plan:" not in slack.recorder.responses()[-1].text()
    slack.command("vm shared-cpu-2x --batch ²", command="/scale")
    assert "is not a batch size" in slack.recorder.responses()[-1].text()


@pytest.mark.parametrize("word", ["26", "２６", "2６", "²", "٢٦", "२", "①", "2²", "", "-1", "1.5", " 2", "0", "１" * 7])
def test_the_playbooks_copy_of_the_digits_rule_agrees_with_bot_text(word):
    from bot.core.text import whole_number
    from playbooks.params import whole_number as playbook_number

    assert whole_number(word, 6) == playbook_number(word, 6)


def test_a_forged_superscript_in_a_button_value_is_refused_not_a_crash(db_url, recorder, clock, pd):
    from bot.features.pagerduty import response_clock as pd_clock
    from tests.support.pagerduty import rest_harness

    with rest_harness(db_url, recorder, clock) as slack:
        slack.press(pd_clock.UPDATE_ACTION, "²")
        assert "That button does not name an incident" in slack.reply_text(), slack.reply_text()
        slack.press(pd_clock.UPDATE_ACTION, "２")
        assert "Post the update for #2" in slack.reply_text(), slack.reply_text()


# -- 8. the worker backs off during a database outage instead of logging twice a second ------------------------------
class SimulatedTime:
    """Stands in for the worker's two events: every wait moves simulated time instead of sleeping."""

    def __init__(self, until: float) -> None:
        self.now, self.until, self.waits = 0.0, until, []

    def event(self):
        sim = self

        class Event:
            flag = False

            def wait(self, timeout=None):
                sim.waits.append(timeout)
                sim.now += timeout or 0
                return self.flag

            def set(self):
                self.flag = True

            def clear(self):
                self.flag = False

            def is_set(self):
                return self.flag or sim.now >= sim.until

        return Event()


def test_the_worker_backs_off_exponentially_and_logs_once_per_step(sqlite_container, monkeypatch, caplog):
    import logging

    from sqlalchemy.exc import OperationalError

    from bot.service import jobs

    outage = {"down": True, "calls": 0}
    real_scope = jobs.session_scope

    def session_scope(*args, **kwargs):  # every read and claim of the worker opens one: the database is down
        if outage["down"]:
            outage["calls"] += 1
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real_scope(*args, **kwargs)

    monkeypatch.setattr("bot.service.jobs.session_scope", session_scope)
    worker = jobs.Worker(sqlite_container, threads=1)
    sim = SimulatedTime(until=300)  # five minutes of outage
    worker._wake, worker._stop = sim.event(), sim.event()
    with caplog.at_level(logging.INFO, logger="bot.service.jobs"):
        worker._loop()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    # 0.5 s doubling to the 30 s cap: 0.5, 1, 2, 4, 8, 16, 30, 30, ... -> about 15 tries in five minutes, not 600
    assert sim.waits[:8] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert outage["calls"] <= 16 and len(warnings) == outage["calls"]  # one line per back-off step at most
    assert "database unavailable" in warnings[0].getMessage()
    # back up: the back-off resets, and the first failure after it waits 0.5 s again
    outage["down"] = False
    sim.until, sim.waits = sim.now + 2, []
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.service.jobs"):
        worker._loop()
    assert any("available again" in r.getMessage() for r in caplog.records)
    outage["down"] = True
    sim.until, sim.waits = sim.now + 1, []
    worker._loop()
    assert sim.waits[0] == 0.5
