"""Slack's own text (escaped, marked up) is stored as the person typed it and escaped once by each front end.

Every test drives the real app with signed Slack requests, as Slack sends them: `&` `<` `>` as entities,
links, mentions and broadcasts as markup (bot/adapters/slack/text.py).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.store.models import Incident, TimelineEvent
from bot.adapters.slack.text import from_slack
from bot.adapters.web import auth
from tests.support.pagerduty import rest_harness

CHANNEL = "CINC0001"
# What Slack sends for: Checkout & payments fail <3 for @Chen Li, see cgraph status (a link)
TYPED_TITLE = ("Checkout &amp; payments fail &lt;3 for <@U0CHEN|chen>, "
               "see <https://cgraph.io/status?a=1&amp;b=2|cgraph status>")
STORED_TITLE = "Checkout & payments fail <3 for @Chen Li, see cgraph status"
SHOWN_TITLE = "Checkout &amp; payments fail &lt;3 for @Chen Li, see cgraph status"  # mrkdwn, escaped once


def incident(container, number: int = 1) -> Incident:
    with Session(container.engine) as session:
        return session.get(Incident, number)


def events(container, number: int = 1) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        return list(session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == number)
                                 .order_by(TimelineEvent.id)).all())


@pytest.mark.parametrize(("sent", "typed"), [
    ("a &amp;lt; b", "a &lt; b"),  # a typed entity stays what was typed
    ("<https://x.io/a?b=1&amp;c=2>", "https://x.io/a?b=1&c=2"),
    ("<mailto:ops@x.io|ops@x.io>", "ops@x.io"),
    ("<@U1> and <@U2|bob> and <@U3>", "@Ana Souza and @bob and @U3"),
    ("<#C1|inc-4-db> <#C2>", "#inc-4-db #C2"),
    ("<!here> <!channel> <!everyone> <!subteam^S1|@oncall> <!subteam^S2>", "@here @channel @everyone @oncall @S2"),
    ("<!date^1392734382^{date_num}|2014-02-18 6:39 AM>", "2014-02-18 6:39 AM"),
    ("&lt;@U1&gt; &lt;!here&gt;", "<@U1> <!here>"),  # typed markup is text, not a mention
    ("plain text, no markup", "plain text, no markup"),
])
def test_the_inbound_rule(sent, typed):
    assert from_slack(sent, {"U1": "Ana Souza"}.get) == typed


def test_the_card_the_channel_name_and_the_answer_show_the_title_as_typed(slack):
    slack.recorder.names["U0CHEN"] = "Chen Li"
    slack.command(f"declare {TYPED_TITLE} sev2")
    assert incident(slack.container).title == STORED_TITLE
    assert incident(slack.container).channel_name == "inc-1-checkout-payments-fail-3-for-chen-li-see"  # not https
    cards = [c.text() for c in slack.recorder.of("chat.postMessage") if "Incident #1" in c.text()]
    assert cards and all(SHOWN_TITLE in card for card in cards)
    assert "&amp;amp;" not in json.dumps([c.data for c in slack.recorder.calls])
    assert SHOWN_TITLE in slack.reply_text()


def test_a_note_keeps_angle_brackets_and_double_quotes(slack):
    slack.command("declare Postgres slow sev3")
    slack.command('note checked &lt;your-postgres-app&gt; and "fly pg restart" said &amp; done', channel_id=CHANNEL)
    [note] = [e for e in events(slack.container) if e.kind == "note"]
    assert note.text == 'checked <your-postgres-app> and "fly pg restart" said & done'
    slack.command("show", channel_id=CHANNEL)
    assert 'checked &lt;your-postgres-app&gt; and "fly pg restart" said &amp; done' in slack.reply_text()


def test_the_web_timeline_shows_the_note_as_typed(slack):
    slack.recorder.names["U0LEAD"] = "Dana Lead"
    slack.command("declare Postgres &amp; Redis slow sev3")
    slack.command('note checked &lt;your-postgres-app&gt; and "fly pg restart"', channel_id=CHANNEL)
    _, cookie = auth.new_session(slack.container.settings, "U0LEAD", "T1", "Dana Lead")
    slack.client.cookies.set(auth.SESSION_COOKIE, cookie, path="/team")
    page = slack.client.get("/team/incidents/1")
    assert page.status_code == 200
    assert "checked &lt;your-postgres-app&gt; and &#34;fly pg restart&#34;" in page.text
    assert "Postgres &amp; Redis slow" in page.text
    assert "&amp;lt;" not in page.text and "&amp;amp;" not in page.text


@pytest.fixture
def rest_slack(db_url, recorder, clock, pd):
    with rest_harness(db_url, recorder, clock) as harness:
        yield harness


def test_pagerduty_gets_the_title_and_notes_as_typed(rest_slack, pd):
    rest_slack.recorder.names["U0CHEN"] = "Chen Li"
    rest_slack.command(f"declare {TYPED_TITLE} sev1")
    [created] = pd.calls("POST", "/incidents")
    assert pd.body(created)["incident"]["title"] == f"[Fireline #1] SEV1: {STORED_TITLE}"
    rest_slack.command('note checked &lt;your-postgres-app&gt; said "restart"', channel_id=CHANNEL)
    assert any(content.endswith(': checked <your-postgres-app> said "restart"') for _, content in pd.notes)
    assert pd.violations == []


def test_app_home_shows_the_title_as_typed(slack):
    slack.recorder.names["U0CHEN"] = "Chen Li"
    slack.command(f"declare {TYPED_TITLE} sev2")
    slack.recorder.reset()
    slack.event({"type": "app_home_opened", "user": "U0LEAD", "channel": "D1", "tab": "home"}, event_id="EvHome")
    [home] = slack.recorder.of("views.publish")
    assert SHOWN_TITLE in home.text() and "&amp;amp;" not in home.text()


def test_the_handoff_dm_shows_the_title_as_typed(db_url, recorder, clock, pd):
    from tests.features.pagerduty.test_handoff import BOUNDARY, _refresh, _shift_changes

    with rest_harness(db_url, recorder, clock) as slack:
        recorder.names["U0CHEN"] = "Chen Li"
        slack.command(f"declare {TYPED_TITLE} sev3")
        _refresh(slack.container)
        _shift_changes(pd)
        clock.now = BOUNDARY + timedelta(seconds=1)
        slack.recorder.reset()
        slack.run_jobs()
        [digest] = [c for c in slack.recorder.of("chat.postMessage") if "On-call handoff" in c.text()]
        assert SHOWN_TITLE in digest.text() and "&amp;amp;" not in digest.text()


def test_a_long_cjk_message_opens_the_shortcut_modal_and_is_pinned_whole(slack):
    from tests.adapters.slack.test_declare_modal import shortcut, submission, values, view_of

    text = "数据库连接失败" * 357 + "停机"  # 2,501 characters; JSON-escaped 15,006
    slack.recorder.add_message("CGENERAL", "1764900000.000100", text)
    response = slack.post(shortcut(text), "application/x-www-form-urlencoded")
    assert response.status_code == 200
    [opened] = slack.recorder.of("views.open")
    view = view_of(opened)
    assert len(view["private_metadata"]) <= 3000
    assert text[:200] == {b.get("block_id"): b for b in view["blocks"]}["title"]["element"]["initial_value"]
    slack.post(submission(view, values(text[:200], sev="2")), "application/x-www-form-urlencoded")
    slack.run_jobs()
    pinned = [e for e in events(slack.container) if e.kind == "pinned"]
    assert [e.text for e in pinned] == [text]


def test_the_shortcut_stores_the_message_as_typed(slack):
    from tests.adapters.slack.test_declare_modal import shortcut, submission, values, view_of

    slack.recorder.names["U0AISHA"] = "Aisha Khan"
    sent = "Deploy &amp; rollback of <https://cgraph.io/d/1|v42> broke <#C1|payments>, ask <@U0AISHA>"
    slack.recorder.add_message("CGENERAL", "1764900000.000100", sent)
    slack.post(shortcut(sent), "application/x-www-form-urlencoded")
    view = view_of(slack.recorder.of("views.open")[0])
    title = {b.get("block_id"): b for b in view["blocks"]}["title"]["element"]["initial_value"]
    assert title == "Deploy & rollback of v42 broke #payments, ask @Aisha Khan"
    slack.post(submission(view, values(title, sev="2")), "application/x-www-form-urlencoded")
    slack.run_jobs()
    assert incident(slack.container).title == title
    [pinned] = [e for e in events(slack.container) if e.kind == "pinned"]
    assert pinned.text == title


def test_the_console_takes_text_as_typed(db_url, clock):
    import io

    from bot.adapters.console import run_console
    from tests.support.factories import make_container

    container = make_container(db_url, clock=clock)
    out = io.StringIO()
    run_console(container, io.StringIO('/incident declare Fix &amp; <b> "now" sev3\n'), out)
    assert incident(container).title == 'Fix &amp; <b> "now"'
    container.engine.dispose()


def test_the_slack_stand_in_refuses_what_slack_would_and_says_why():
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from tests.support.slack_recorder import SlackRecorder

    recorder = SlackRecorder()
    try:
        client = WebClient(token="xoxb-test", base_url=recorder.api_url)
        too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel="C1", text="fallback", blocks=too_long)
        assert refused.value.response["error"] == "invalid_blocks"
        client.views_open(trigger_id="t", view={"type": "modal", "title": {"type": "plain_text", "text": "ok"},
                                                "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                                                         "text": "fine"}}]})
        with pytest.raises(AssertionError) as failed:
            recorder.assert_valid()
        assert "chat.postMessage.blocks[0].text of a section: 3001 characters, Slack allows 3000" in str(failed.value)
        assert "views.open" not in str(failed.value)
        recorder.assert_valid()  # said once
    finally:
        recorder.close()


def test_a_long_answer_stays_within_slacks_fifty_blocks(slack):
    from bot.store.db import session_scope
    from bot.store.models import FollowUp

    slack.command("declare Checkout slow sev3")
    with session_scope(slack.container.engine) as session:
        for n in range(200):
            session.add(FollowUp(incident_id=1, text=f"{n} " + "x" * 990, owner="U0LEAD", created_by="U0LEAD"))
    slack.command("followups", channel_id=CHANNEL)
    [answer] = slack.recorder.responses()[-1:]
    assert slack.recorder.problems == []
    assert len(answer.data["blocks"]) == 50 and "more sections, not shown" in answer.text()
