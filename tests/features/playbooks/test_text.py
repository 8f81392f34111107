"""Playbooks write plain text; each front end renders it: escaped for Slack, as it is in the terminal.

What Fly reports (a release author, a machine's region) is text nobody at Fireline wrote. In Slack it
must never ping or format (`<!channel>` shows as typed); in the console and in the stored timeline it
stays the text Fly sent, so nothing downstream sees Slack's `&lt;` entities.
"""

from __future__ import annotations

import io

from sqlmodel import Session, select

from bot.adapters.console import run_console
from bot.store.models import Postmortem
from tests.support.fly_fixtures import fly_container
from tests.support.playbook_harness import newest_button, timeline
from tests.support.slack_recorder import strings

M1 = "m1aaaaaaaaaaaa"
HOSTILE = "<!channel> & ops"
RAW = ["<!channel>", "<!here>"]


def hostile_fleet(fake) -> None:
    """The newest release was made by `<!channel> & ops`, and one machine says its region is `<!channel>`."""
    fake.releases[0]["user"] = {"email": HOSTILE}
    fake.machine(M1)["region"] = "<!channel>"


def test_fly_text_in_a_plan_is_escaped_in_slack_and_plain_in_the_timeline_and_postmortem(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    hostile_fleet(fake)
    slack.command("declare Checkout returns 502 sev1")
    slack.command("", command="/rollback", channel_id="CINC0001")
    plan = slack.recorder.responses()[-1].text()
    assert "Plan: Roll back cgraph-api to v41" in plan
    assert "40 min ago, &lt;!channel&gt; &amp; ops (current)" in plan  # the release author, shown as typed
    assert f"{M1} (&lt;!channel&gt;)" in plan  # the machine's label in a step title
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="1.1", channel_id="CINC0001")
    slack.command("resolve rolled back", channel_id="CINC0001")
    shown = [text for call in slack.recorder.calls
             if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url")
             for text in strings(call.data)]
    assert any(f"{M1} (&lt;!channel&gt;)" in text for text in shown)  # the progress message, too
    for text in shown:
        for raw in RAW:
            assert raw not in text, f"{raw} reached Slack unescaped: {text[:300]}"
    finished = [e for e in timeline(slack.container, 1) if e.kind == "playbook_finished"][-1]
    assert any(step["title"].endswith(f"{M1} (<!channel>)") for step in finished.data["steps"])  # stored plain
    with Session(slack.container.engine) as session:
        markdown = session.exec(select(Postmortem)).one().markdown
    assert f"update {M1} (@channel)" in markdown  # read as text, not as Slack's `&lt;` entities or a ping
    assert "&lt;!channel" not in markdown and "&amp;" not in markdown


def test_fly_text_in_a_plan_is_shown_as_it_is_in_the_console(db_url, recorder, clock, fake_fly):
    hostile_fleet(fake_fly)
    container = fly_container(db_url, recorder, clock, fake_fly)
    out = io.StringIO()
    run_console(container, io.StringIO("declare Checkout returns 502 sev1\n/rollback\n"), out)
    text = out.getvalue()
    assert "Plan: Roll back cgraph-api to v41" in text
    assert f"40 min ago, {HOSTILE} (current)" in text
    assert f"{M1} (<!channel>)" in text
    assert "&lt;" not in text and "&amp;" not in text
    container.engine.dispose()


def test_a_playbook_refusal_quoting_what_was_typed_is_escaped_once_in_slack(fly_slack):
    slack = fly_slack
    slack.command("count &lt;!channel&gt;&amp;1", command="/scale")  # Slack's form of a typed "<!channel>&1"
    refusal = slack.recorder.responses()[-1].text()
    assert "`&lt;!channel&gt;&amp;1` is not a number of machines" in refusal and "<!channel>" not in refusal
    slack.command("v41 &lt;!here&gt;", command="/rollback")
    refusal = slack.recorder.responses()[-1].text()
    assert "does not understand `&lt;!here&gt;`" in refusal and "<!here>" not in refusal
    assert "--with-db-restore &lt;time&gt;" in refusal  # the usage hint is the playbook's plain text, escaped once


def test_a_playbook_refusal_is_plain_in_the_console(container):
    out = io.StringIO()
    run_console(container, io.StringIO("/scale count <!channel>&1\n/rollback v41 <!here>\n"), out)
    text = out.getvalue()
    assert "`<!channel>&1` is not a number of machines" in text
    assert "does not understand `<!here>`" in text and "--with-db-restore <time>" in text
