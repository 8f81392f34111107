"""What readers see of incidents made through the front ends (tests/support/real_run.py), not of rows
written by hand: the team pages, the stored steps of a playbook run, the postmortem, App Home and `fireline report`."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, col, select

from bot.models import PlaybookExecution, Postmortem, TimelineEvent
from bot.service import incidents as svc
from tests.support.real_run import make_incident, real_site, team_client


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

    from bot.cli import main

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
    assert "Private incidents: included (1 private incident in this period are counted)." in counted
    assert "| 2026-11 | SEV1 | 2 | 15 | 6.0 | 6.0 | 100% |" in counted and "| Chen Li | 2 |" in counted

    rows = list(csv.reader(io.StringIO(_report(db_url, monkeypatch, capsys, "--format", "csv"))))
    assert rows[:2] == [["table", "private_incidents", "in_period"], ["Private incidents", "excluded", "1"]]
    assert ["Response by severity and month", "2026-11", "SEV1", "1", "15", "6.0", "6.0", "100%", "20.0", "35.0"] \
        in rows
