"""The SEV1 checklist: one shared message of Slack checkboxes, ticked in place, through the real Bolt app."""

from __future__ import annotations

import copy
import io
import json
import urllib.parse

from sqlmodel import Session, select

from bot.adapters.console import Console
from bot.core.clock import as_utc
from bot.service.incidents import Actions
from bot.store.models import TimelineEvent
from bot.store.models.checklist import ChecklistMessage, ChecklistTick
from tests.support.paths import REPO

PAYLOAD = REPO / "tests" / "data" / "slack" / "block_actions_checkboxes.json"
CHANNEL = "CINC0001"


def checklist_events(container) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        return list(session.exec(select(TimelineEvent).where(TimelineEvent.kind == "checklist")
                                 .order_by(TimelineEvent.id)).all())


def ticked(container) -> dict[str, str]:
    with Session(container.engine) as session:
        return {row.step: row.ticked_by for row in session.exec(select(ChecklistTick)).all()}


def posted_ts(container) -> str:
    with Session(container.engine) as session:
        [row] = session.exec(select(ChecklistMessage)).all()
        return row.ts


def latest_checklist(recorder) -> list[dict]:
    """The checklist's blocks as Slack now shows them: its post, or the latest edit of it."""
    calls = [c for c in recorder.calls if c.method in ("chat.postMessage", "chat.update")
             and "SEV1 playbook" in str(c.data.get("text", ""))]
    blocks = calls[-1].data["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def boxes(blocks: list[dict]) -> tuple[dict, dict]:
    """The checklist's actions block and its checkboxes element."""
    block = next(b for b in blocks if b["type"] == "actions" and b["elements"][0]["type"] == "checkboxes")
    return block, block["elements"][0]


def click(slack, blocks: list[dict], message_ts: str, selected: list[str], *, user_id: str = "U0CHEN",
          action_ts: str = "1700000010.123456"):
    """Tick or untick as Slack reports it: the documented payload with this message's blocks and ids."""
    payload = json.loads(PAYLOAD.read_text(encoding="utf-8"))
    block, element = boxes(blocks)
    options = {o["value"]: o for o in element["options"]}
    payload["user"]["id"] = user_id
    payload["container"]["message_ts"] = payload["message"]["ts"] = message_ts
    payload["message"]["blocks"] = copy.deepcopy(blocks)
    payload["response_url"] = slack.recorder.response_url("action")
    action = payload["actions"][0]
    action.update(block_id=block["block_id"], action_id=element["action_id"], action_ts=action_ts,
                  selected_options=[{"text": options[v]["text"], "value": v} for v in selected])
    response = slack.post(urllib.parse.urlencode({"payload": json.dumps(payload)}),
                          "application/x-www-form-urlencoded")
    assert response.status_code == 200
    slack.run_jobs()


def test_show_playbook_posts_the_checklist_once_in_the_incident_channel(slack):
    slack.command("declare Site is down sev1")
    slack.press(Actions.PLAYBOOK, "1", action_ts="1.1")  # from the card in #incidents
    [posted] = [c for c in slack.recorder.of("chat.postMessage") if "SEV1 playbook" in c.data["text"]]
    assert posted.data["channel"] == CHANNEL
    _, element = boxes(latest_checklist(slack.recorder))
    assert len(element["options"]) == 10 and "initial_options" not in element
    assert element["options"][1]["text"] == {"type": "mrkdwn",
                                             "text": "*Investigate*: Fly.io status page (is it them?)"}
    assert "Posted the SEV1 checklist of #1 in <#CINC0001|" in slack.reply_text()
    assert slack.recorder.responses()[-1].data["response_type"] == "ephemeral"

    slack.press(Actions.PLAYBOOK, "1", action_ts="1.2")  # a second press, or a double click
    assert len([c for c in slack.recorder.of("chat.postMessage") if "SEV1 playbook" in c.data["text"]]) == 1
    assert "already posted in <#CINC0001|" in slack.reply_text() and "open it" in slack.reply_text()


def test_a_tick_is_stored_once_shown_by_name_and_edits_the_same_message(slack):
    slack.recorder.names["U0CHEN"] = "Chen Li"
    slack.command("declare Site is down sev1")
    slack.press(Actions.PLAYBOOK, "1", channel_id=CHANNEL)
    blocks = latest_checklist(slack.recorder)
    message_ts = posted_ts(slack.container)
    click(slack, blocks, message_ts, ["1:2"], action_ts="10.1")
    click(slack, blocks, message_ts, ["1:2"], action_ts="10.2")  # a double click: the same state again
    assert ticked(slack.container) == {"fly-status-page": "U0CHEN"}
    [event] = checklist_events(slack.container)
    assert event.data == {"step": "fly-status-page", "checked": True} and event.actor == "U0CHEN"

    edits = [e for e in slack.recorder.of("chat.update") if "SEV1 playbook" in e.data["text"]]
    assert edits and {e.data["channel"] for e in edits} == {CHANNEL}
    assert {e.data["ts"] for e in edits} == {message_ts}  # every edit is of the one posted message
    blocks = latest_checklist(slack.recorder)
    block, element = boxes(blocks)
    assert [o["value"] for o in element["initial_options"]] == ["1:2"]
    [option] = [o for o in element["options"] if o["value"] == "1:2"]
    assert option["description"]["text"].startswith("ticked by Chen Li at ")
    assert "U0CHEN" not in json.dumps(element)  # by name, not by Slack id

    click(slack, blocks, message_ts, [], action_ts="11.1")  # unticked from the edited message
    assert ticked(slack.container) == {}
    assert [e.data["checked"] for e in checklist_events(slack.container)] == [True, False]
    again = latest_checklist(slack.recorder)
    new_block, new_element = boxes(again)
    assert "initial_options" not in new_element and new_block["block_id"] != block["block_id"]
    assert not [r for r in slack.recorder.responses() if "SEV1 playbook" in str(r.data.get("text"))]  # never ephemeral


def test_acknowledge_ticks_the_first_step(slack):
    slack.recorder.names["U0CHEN"] = "Chen Li"
    slack.command("declare Site is down sev1")
    slack.press(Actions.PLAYBOOK, "1", channel_id=CHANNEL)
    slack.press(Actions.ACK + "~0", "1", user_id="U0CHEN", action_ts="2.1")
    assert ticked(slack.container) == {"acknowledge": "U0CHEN"}
    blocks = latest_checklist(slack.recorder)
    _, element = boxes(blocks)
    assert [o["value"] for o in element["initial_options"]] == ["1:1"]
    assert element["options"][0]["text"]["text"] == "*Acknowledge*: Post in #incidents Slack channel"
    assert element["options"][0]["description"]["text"].startswith("ticked by Chen Li")


def test_a_check_button_from_before_the_checkboxes_still_flips_its_step(slack):
    slack.command("declare Site is down sev1")
    slack.press(Actions.CHECK, "1:3", action_ts="3.1")
    slack.press(Actions.CHECK, "1:3", action_ts="3.2")
    assert [e.data["checked"] for e in checklist_events(slack.container)] == [True, False]


def test_the_console_ticks_with_bang_tick(sqlite_container):
    out = io.StringIO()
    console = Console(sqlite_container, out)
    console.run_line("/incident declare Site is down sev1")
    console.run_line("!Show playbook")
    shown = out.getvalue()
    assert "[ ] 2. Investigate: Fly.io status page (is it them?)" in shown and "!tick N" in shown
    console.run_line("!tick 2")
    assert "[x] 2. Investigate: Fly.io status page (is it them?) (ticked by " in out.getvalue()
    console.run_line("/incident ack")
    tail = out.getvalue()
    console.run_line("!tick 2")  # the newest list shows 2 ticked: this unticks it
    assert "[ ] 2. Investigate" in out.getvalue()[len(tail):]
    assert ticked(sqlite_container) == {"acknowledge": sqlite_container.settings.console_user}


def test_a_private_incident_without_a_channel_never_posts_its_checklist_where_it_was_pressed(slack):
    """Slack could not make the channel, so a member shows the card in #general: the checklist, private title
    in its header, goes to them alone, never into #general where non-members read."""
    slack.recorder.fail("conversations.create", "restricted_action", times=5)
    slack.command("declare --private Payroll export leaks salaries sev1", user_id="U0LEAD")
    slack.recorder.reset()
    slack.press(Actions.PLAYBOOK, "1", user_id="U0LEAD", channel_id="CGENERAL", action_ts="1.1")
    assert [c for c in slack.recorder.of("chat.postMessage") if "SEV1 playbook" in str(c.data.get("text"))] == []
    [answer] = [r for r in slack.recorder.responses() if "SEV1 playbook" in r.text()]
    assert answer.data["response_type"] == "ephemeral"
    with Session(slack.container.engine) as session:
        assert session.exec(select(ChecklistMessage)).all() == []


def test_a_claim_left_without_a_post_is_taken_over_after_the_timeout(slack):
    """A crash between claiming the post (a row with no ts) and Slack's answer left the row empty: every later
    Show playbook said "already posted" and nothing was ever posted. A claim older than CLAIM_TIMEOUT is taken."""
    from datetime import timedelta

    from sqlalchemy import update

    from bot.features.incident.checklist import CLAIM_TIMEOUT

    slack.command("declare Site is down sev1")
    container = slack.container
    now = container.clock()
    with Session(container.engine) as session:  # what the crashed press left: claimed, never posted
        session.add(ChecklistMessage(incident_id=1, channel=CHANNEL, ts=""))
        session.commit()
        session.execute(update(ChecklistMessage).values(claimed_at=now - CLAIM_TIMEOUT + timedelta(seconds=30)))
        session.commit()

    def posts() -> int:
        return len([c for c in slack.recorder.of("chat.postMessage") if "SEV1 playbook" in c.data["text"]])

    slack.press(Actions.PLAYBOOK, "1", action_ts="1.1")  # a post may still be on its way: not taken
    assert posts() == 0 and "already posted" in slack.reply_text()
    with Session(container.engine) as session:
        session.execute(update(ChecklistMessage).values(claimed_at=now - CLAIM_TIMEOUT - timedelta(seconds=1)))
        session.commit()
    slack.press(Actions.PLAYBOOK, "1", action_ts="1.2")
    assert posts() == 1 and posted_ts(container)
    slack.press(Actions.PLAYBOOK, "1", action_ts="1.3")
    assert posts() == 1 and "already posted" in slack.reply_text()


def test_a_post_that_fails_after_its_claim_was_taken_over_leaves_the_new_claim_alone(slack, monkeypatch):
    """A press whose post outlived CLAIM_TIMEOUT may have lost its claim to a later press: its failure then deleted
    that press's row, so the later press's message was never recorded and a third press posted a third copy."""
    from datetime import timedelta

    from sqlalchemy import update

    from bot.features.incident import checklist

    slack.command("declare Site is down sev1")
    container = slack.container
    taken_over = container.clock() + timedelta(minutes=5)
    real_reply = checklist.checklist_reply

    def reply_while_another_press_takes_over(ctx, incident_id):
        with Session(container.engine) as session:  # meanwhile, another press took the stale claim
            session.execute(update(ChecklistMessage).values(claimed_at=taken_over))
            session.commit()
        return real_reply(ctx, incident_id)

    monkeypatch.setattr(checklist, "checklist_reply", reply_while_another_press_takes_over)
    slack.recorder.fail("chat.postMessage", "ratelimited")  # and this press's own post fails
    slack.press(Actions.PLAYBOOK, "1", action_ts="1.1")
    with Session(container.engine) as session:
        [row] = session.exec(select(ChecklistMessage)).all()
    assert row.ts == "" and as_utc(row.claimed_at) == taken_over  # the other press's claim stands
