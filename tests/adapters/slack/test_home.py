"""The App Home tab, published through the recording stub, rate limited, and `/incident home`."""

from __future__ import annotations

import io
import json

from bot.adapters.console import run_console
from tests.support.factories import make_container

CHANNEL = "CINC0001"


def home_opened(slack, user: str = "U0ANA", event_id: str = "EvHome1"):
    return slack.event({"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"}, event_id=event_id)


def published(slack) -> list[dict]:
    out = []
    for call in slack.recorder.of("views.publish"):
        view = call.data["view"]
        out.append({"user_id": call.data["user_id"], "view": json.loads(view) if isinstance(view, str) else view,
                     "text": call.text()})
    return out


def test_home_shows_incidents_by_severity_with_names_oncall_followups_and_owed_postmortems(db_url, recorder, clock,
                                                                                           pd):
    """Who is on call comes from the cache `/oncall` fills from PagerDuty (the scripted one), not a row by hand."""
    from tests.support.pagerduty import rest_harness

    names = {"U0LEAD": "Dana Lead", "U0ANA": "Ana Souza", "U0CHEN": "Chen Li"}
    recorder.names.update(names)
    with rest_harness(db_url, recorder, clock) as slack:
        _home_by_severity(slack)


def _home_by_severity(slack) -> None:
    slack.command("", command="/oncall", user_id="U0ANA")
    slack.command("declare Checkout returns 502 sev2")
    slack.command("declare Site is down sev1", user_id="U0ANA")
    slack.command("role comms <@U0CHEN|chen>", channel_id=CHANNEL)
    slack.command("followup Add a synthetic checkout probe <@U0ANA|ana>", channel_id=CHANNEL)
    slack.command("declare Typo on pricing sev4", user_id="U0ANA")
    slack.command("resolve", channel_id="CINC0003", user_id="U0ANA")
    slack.recorder.reset()
    assert home_opened(slack).status_code == 200
    [home] = published(slack)
    assert home["user_id"] == "U0ANA" and home["view"]["type"] == "home"
    text = home["text"]
    assert text.index("SEV1: Complete outage") < text.index("SEV2: Major degradation")
    assert "Lead Dana Lead, Communications Chen Li" in text and "Lead Ana Souza" in text
    assert "U0LEAD" not in text and "U0CHEN" not in text  # names, not ids
    assert "Level 1: Chen Li" in text and "Level 2: Marcus Webb" in text
    assert "#1: Add a synthetic checkout probe" in text
    assert "#3 Typo on pricing: due" not in text  # SEV4 owes no postmortem
    assert "Typo on pricing" not in text.split("My follow-ups")[0]  # resolved: not among open incidents


def test_home_refresh_on_change_is_rate_limited_and_never_a_minute_stale(slack, clock):
    home_opened(slack)
    assert len(published(slack)) == 1
    home_opened(slack, event_id="EvHome2")  # opened again at once: same slot, no second publish yet
    slack.command("declare Checkout returns 502 sev2")
    assert len(published(slack)) == 1
    clock.advance(seconds=20)  # HOME_REFRESH_SECONDS
    slack.run_jobs()
    pubs = published(slack)
    assert len(pubs) == 2 and "Checkout returns 502" in pubs[-1]["text"]
    slack.command("ack", channel_id=CHANNEL)
    slack.command("sev 1", channel_id=CHANNEL)
    assert len(published(slack)) == 2  # within N seconds of the last publish
    clock.advance(seconds=20)
    slack.run_jobs()
    clock.advance(seconds=20)
    slack.run_jobs()
    pubs = published(slack)
    assert len(pubs) == 3 and "SEV1: Complete outage" in pubs[-1]["text"] and "investigating" in pubs[-1]["text"]


def test_console_home(db_url, clock):
    container = make_container(db_url, clock=clock)
    out = io.StringIO()
    assert run_console(container, io.StringIO("/incident declare Site is down sev1\n/incident home\n"), out) == 0
    text = out.getvalue().split("Fireline home", 1)[1]
    assert "SEV1: Complete outage" in text and "Site is down in #inc-1-site-is-down: declared" in text
    assert "On call now" in text and "My follow-ups" in text and "Postmortems I owe" in text
    container.engine.dispose()


def test_home_lists_the_postmortems_i_owe(slack):
    slack.command("declare Checkout returns 502 sev2")
    slack.command("resolve", channel_id=CHANNEL)
    slack.recorder.reset()
    home_opened(slack, user="U0LEAD")
    [home] = published(slack)
    owed = home["text"].split("Postmortems I owe", 1)[1]
    assert "#1 Checkout returns 502: due 2026-11-27 14:00 UTC" in owed
    home_opened(slack, user="U0ANA", event_id="EvHome9")
    assert "None." in published(slack)[-1]["text"].split("Postmortems I owe", 1)[1]


def test_home_declare_button_opens_the_modal_and_answers_by_dm(slack):
    import urllib.parse

    from tests.adapters.slack.test_declare_modal import submission, values, view_of

    home_opened(slack)
    [home] = published(slack)
    [button] = home["view"]["blocks"][0]["elements"]
    assert (button["action_id"], button["text"]["text"]) == ("declare_open", "Declare incident")
    payload = {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U0ANA", "name": "ana"},
               "api_app_id": "A1", "token": "legacy", "trigger_id": "3.t", "container": {"type": "view"},
               "view": {"type": "home", "id": "VHOME", "callback_id": ""},
               "actions": [{"type": "button", "action_id": "declare_open", "block_id": "b", "action_ts": "1"}]}
    slack.post(urllib.parse.urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    [opened] = slack.recorder.of("views.open")
    assert opened.data["trigger_id"] == "3.t" and view_of(opened)["callback_id"] == "declare_modal"
    slack.post(submission(view_of(opened), values("Uploads fail for large files", sev="3"), user_id="U0ANA"),
               "application/x-www-form-urlencoded")
    slack.run_jobs()
    dm = [c for c in slack.recorder.of("chat.postMessage") if c.data.get("channel") == "U0ANA"]
    assert dm and "Declared #1" in dm[-1].text().replace("*", "")
    assert slack.recorder.of("chat.postEphemeral") == [] or all(
        "Declared" not in c.text() for c in slack.recorder.of("chat.postEphemeral"))


def test_home_shows_a_private_incident_to_its_members_only(slack):
    """Private incidents never appear where non-members can read: App Home lists them for their members."""
    slack.command("declare --private Payroll export leaks salaries sev1")  # U0LEAD declares: a member
    slack.command("declare Checkout returns 502 sev2", user_id="U0ANA")
    slack.recorder.reset()
    assert home_opened(slack, user="U0ANA", event_id="EvHomeAna").status_code == 200
    assert home_opened(slack, user="U0LEAD", event_id="EvHomeLead").status_code == 200
    shown = {home["user_id"]: home["text"] for home in published(slack)}
    assert "Checkout returns 502" in shown["U0ANA"] and "Payroll" not in shown["U0ANA"]
    assert "Payroll export leaks salaries" in shown["U0LEAD"]
