"""What readers see of incidents made through the front ends (tests/support/real_run.py), not of rows
written by hand: the team pages, the stored steps of a playbook run, the postmortem, App Home and `fireline report`."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, col, select

from bot.store.models import PlaybookExecution, Postmortem, TimelineEvent
from bot.service import incidents as svc
from tests.support.real_run import PUBLIC_TEXT, make_incident, real_site, team_client


@pytest.fixture
def site(db_url, recorder, clock, fake_fly, pd):
    with real_site(db_url, recorder, clock, fake_fly, pd) as slack:
        yield slack


def shown(html: str) -> str:
    """The page's text without its tags, spaces squeezed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def events(container, number: int, kind: str) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        return [e for e in svc.timeline(session, number) if e.kind == kind]


def test_an_incident_whose_playbook_was_confirmed_has_its_page(site, clock):
    """The Confirm's timeline event stored its steps as strings and the page read `s.status` of each: a 500
    for every incident whose playbook was confirmed. Now every event stores {title, status, summary}."""
    run = make_incident(site, clock, "Checkout returns 502")
    [confirmed] = events(site.container, run.number, "playbook_confirmed")
    assert confirmed.data["steps"][0] == {"title": "Batch 1: Restart m1aaaaaaaaaaaa (iad)", "status": "planned",
                                          "summary": ""}
    [finished] = events(site.container, run.number, "playbook_finished")
    assert [s["status"] for s in finished.data["steps"]] == ["ok"] * 4
    page = team_client(site).get(f"/team/incidents/{run.number}")
    assert page.status_code == 200, page.text[-500:]
    text = shown(page.text)
    assert "Batch 1: Restart m1aaaaaaaaaaaa (iad): planned" in text
    assert "Batch 1: Restart m1aaaaaaaaaaaa (iad): ok (m1aaaaaaaaaaaa started" in text


def test_steps_stored_as_strings_before_are_read_as_planned_steps(site, clock):
    """Rows the old Confirm stored (`"1. Restart ..."` strings) stay readable, nothing dropped: the page shows
    them as planned steps and the postmortem lists the run once, with the finished event's results."""
    run = make_incident(site, clock, "Checkout returns 502")
    with Session(site.container.engine) as session:
        [confirmed] = [e for e in svc.timeline(session, run.number) if e.kind == "playbook_confirmed"]
        confirmed.data = {**confirmed.data, "steps": ["1. Batch 1: Restart m1aaaaaaaaaaaa (iad)",
                                                      "2. Batch 2: Restart m3cccccccccccc (lhr)", 7, None]}
        session.add(confirmed)
        session.commit()
    page = team_client(site).get(f"/team/incidents/{run.number}")
    assert page.status_code == 200, page.text[-500:]
    text = shown(page.text)
    assert "Batch 1: Restart m1aaaaaaaaaaaa (iad): planned" in text
    assert "Batch 2: Restart m3cccccccccccc (lhr): planned" in text
    site.command("", command="/postmortem", channel_id=run.channel)
    with Session(site.container.engine) as session:
        markdown = session.exec(select(Postmortem).where(Postmortem.incident_id == run.number)).one().markdown
    assert markdown.count("Batch 1: Restart m1aaaaaaaaaaaa (iad)") == 1  # the finished run's line, with its result
    assert "Batch 1: Restart m1aaaaaaaaaaaa (iad): ok" in markdown and ": planned" not in markdown
    with Session(site.container.engine) as session:
        [execution] = session.exec(select(PlaybookExecution).order_by(col(PlaybookExecution.id))).all()
    assert execution.status == "succeeded"


def _report(db_url, monkeypatch, capsys, *args: str) -> str:
    import logging

    from bot.app.cli import main

    root = logging.getLogger()  # `main` sets up logging for the process: put it back for the tests after this one
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setenv("DATABASE_URL", db_url)
    for name in ("SLACK_BOT_TOKEN", "PAGERDUTY_API_TOKEN", "FLY_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    capsys.readouterr()
    assert main(["report", "--since", "3650d", *args]) == 0
    return capsys.readouterr().out


def test_fireline_report_leaves_private_incidents_out_like_the_page_and_says_so(site, clock, db_url, monkeypatch,
                                                                               capsys, tmp_path):
    """`fireline report` counted private incidents that the insights page hides from a non-member, without a word.
    Now it leaves them out by default and says so with the count; `--include-private` counts them, and says that."""
    import csv
    import io

    make_incident(site, clock, "Checkout returns 502")
    make_incident(site, clock, "Payroll export leaks salaries", private=True, playbook=False, publish=False)
    monkeypatch.chdir(tmp_path)

    default = _report(db_url, monkeypatch, capsys)
    assert "Private incidents: excluded (1 private incident in this period left out" in default
    assert "| 2026-11 | SEV1 | 1 | 15 | 6.0 | 6.0 | 100% |" in default  # the public incident alone
    assert "| Chen Li | 1 |" in default and "| restart | 1 | 0 | 0% |" in default
    page = team_client(site, "U0BEN").get("/team/insights?since=3650d")
    assert "Payroll" not in page.text and "<td>SEV1</td><td>1</td>" in page.text.replace("\n", "")

    counted = _report(db_url, monkeypatch, capsys, "--include-private")
    assert "Private incidents: included (1 private incident in this period counted)." in counted
    assert "| 2026-11 | SEV1 | 2 | 15 | 6.0 | 6.0 | 100% |" in counted and "| Chen Li | 2 |" in counted

    rows = list(csv.reader(io.StringIO(_report(db_url, monkeypatch, capsys, "--format", "csv"))))
    assert rows[:2] == [["table", "private_incidents", "in_period"], ["Private incidents", "excluded", "1"]]
    assert ["Response by severity and month", "2026-11", "SEV1", "1", "15", "6.0", "6.0", "100%", "20.0", "35.0"] \
        in rows
    from bot.app.cli import main

    assert main(["report", "--since", "soon"]) == 2
    assert "expected a period such as 90d" in capsys.readouterr().err


def test_app_home_of_real_runs_by_name_without_the_private_one_for_non_members(site, clock):
    """App Home after real runs: open incidents by severity with who holds each role (names), who is on call (the
    cache `/oncall` filled from PagerDuty), follow-ups, the postmortems a lead owes; a private incident only for
    its members."""
    import json

    site.container.settings.pagerduty_escalation_policy_id = "PPOL001"
    site.command("", command="/oncall", user_id="U0BEN")
    done = make_incident(site, clock, "Checkout returns 502")  # resolved: Dana owes its postmortem
    make_incident(site, clock, "Search is slow", severity=2, declarer="U0BEN", playbook=False, publish=False,
                  resolve=False)
    make_incident(site, clock, "Payroll export leaks salaries", declarer="U0AISHA", private=True, playbook=False,
                  publish=False, resolve=False)
    site.recorder.reset()
    for n, user in enumerate(("U0BEN", "U0AISHA", "U0LEAD")):
        site.event({"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"}, event_id=f"EvHome{n}")
    homes = {}
    for call in site.recorder.of("views.publish"):
        view = call.data["view"]
        assert (json.loads(view) if isinstance(view, str) else view)["type"] == "home"
        homes[call.data["user_id"]] = call.text()
    ben, aisha, dana = homes["U0BEN"], homes["U0AISHA"], homes["U0LEAD"]
    assert "SEV2: Major degradation" in ben and "Search is slow" in ben and "Lead Ben Ortiz" in ben
    assert "Payroll" not in ben and "Checkout returns 502" not in ben.split("On call now")[0]  # resolved: not open
    assert "Level 1: Chen Li" in ben and "Level 2: Marcus Webb" in ben
    assert "Payroll export leaks salaries" in aisha and "Lead Aisha Khan" in aisha
    assert aisha.index("SEV1: Complete outage") < aisha.index("SEV2: Major degradation")
    owed = dana.split("Postmortems I owe", 1)[1]
    assert f"#{done.number} Checkout returns 502: due" in owed
    assert f"#{done.number}: {done.followup}" in ben.split("My follow-ups", 1)[1]  # Ben owns each run's follow-up
    assert "Canary stage" not in dana and "Canary stage" not in aisha
    for text in homes.values():
        assert not any(uid in text for uid in ("U0BEN", "U0AISHA", "U0LEAD", "U0CHEN"))  # names, not ids


def test_the_postmortem_of_a_real_run(site, clock):
    """The draft resolve made, from what the run stored: names, the restart's steps with their results (once), the
    page, the published words, the figures against the SEV table, the follow-up and its owner."""
    run = make_incident(site, clock, "Checkout returns 502")
    with Session(site.container.engine) as session:
        row = session.exec(select(Postmortem).where(Postmortem.incident_id == run.number)).one()
    markdown = row.markdown
    for expected in ("| Time to acknowledge | 6m | SEV1: < 15 min | met |",
                     "| 2026-11-25 14:06:00 | T+00:06 | Chen Li | Acknowledged after 6m |",
                     "assigned to Chen Li", "Confirmed: Rolling restart of 4 machines of cgraph-api",
                     "Batch 4: Restart m4dddddddddddd (lhr): ok (m4dddddddddddd started",
                     f"| Dana Lead | Investigating | API: major outage | {PUBLIC_TEXT} |",
                     f"| 1 | {run.followup} | Ben Ortiz | open |", "Dana Lead: declared, lead, ran playbooks",
                     run.update):
        assert expected in markdown, expected
    assert markdown.count("Batch 1: Restart m1aaaaaaaaaaaa (iad)") == 1
    assert not any(uid in markdown for uid in ("U0LEAD", "U0CHEN", "U0BEN"))
    assert row.due_at is not None and (row.due_at - row.generated_at).total_seconds() == 48 * 3600
    # the same document where it was posted: as a file in the incident channel
    [upload] = site.recorder.of("file_upload")
    assert upload.data["content"] == markdown


def test_configured_response_times_are_what_every_reader_sees(db_url, recorder, clock, fake_fly, pd):
    """SEV_RESPONSE_MINUTES=1=5: the card, the incident page and the postmortem judge a 6-minute acknowledgement
    against 5 minutes (the postmortem judged it against the guide's 15 and called it met)."""
    with real_site(db_url, recorder, clock, fake_fly, pd, sev_response_minutes="1=5") as slack:
        run = make_incident(slack, clock, "Checkout returns 502")
        cards = [c.text() for c in recorder.of("chat.update") if "Complete outage" in c.text()]
        assert cards and all("respond < 5 min" in card and "15 min" not in card for card in cards)
        assert "target 5 min" in team_client(slack).get(f"/team/incidents/{run.number}").text
        with Session(slack.container.engine) as session:
            markdown = session.exec(select(Postmortem).where(Postmortem.incident_id == run.number)).one().markdown
    assert "| Time to acknowledge | 6m | SEV1: < 5 min | missed |" in markdown
    assert "Declared as SEV1 (Complete outage, respond < 5 min)" in markdown
