"""The team pages as a signed-in person reads them: the list and its filters, an incident, postmortems, insights.

Real HTTP app, real database (SQLite and PostgreSQL); people by name (users.info from the recorder).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from bot.assembly import build_container
from bot.db import session_scope
from bot.insights import figures
from bot.models import FollowUp, Incident, PagerDutyLink, PlaybookExecution, Postmortem, StatusUpdate, TimelineEvent
from bot.server import build_http_app
from bot.slack.app import build_bolt_app
from bot.web import auth
from tests.conftest import make_settings

PM = """# Postmortem: Checkout down

Summary with **bold** and <script>alert('x')</script> from a pasted log.

[click me](javascript:alert(1)) and [runbook](https://runbooks.example.com/checkout)
"""


def seed(container, clock):
    now = clock()
    with session_scope(container.engine) as session:
        session.add(Incident(id=1, title="Checkout down", severity=1, status="resolved", declared_by="U0AISHA",
                             lead_id="U0AISHA", declared_at=now - timedelta(days=3),
                             acknowledged_at=now - timedelta(days=3) + timedelta(minutes=6),
                             mitigated_at=now - timedelta(days=3) + timedelta(minutes=40),
                             resolved_at=now - timedelta(days=3) + timedelta(hours=2), summary="bad deploy"))
        session.add(Incident(id=2, title="Slow search", severity=3, status="investigating", declared_by="U0BEN",
                             lead_id="U0BEN", declared_at=now - timedelta(days=1)))
        session.add(Incident(id=3, title="Typo on pricing page", severity=4, status="declared", declared_by="U0BEN",
                             declared_at=now - timedelta(hours=2)))
        session.flush()
        at = now - timedelta(days=3)
        session.add(TimelineEvent(incident_id=1, at=at, kind="declared", actor="U0AISHA", text="Declared SEV1"))
        session.add(TimelineEvent(incident_id=1, at=at + timedelta(minutes=10), kind="pinned", actor="U0BEN",
                                  text="Error rate 40% on /checkout"))
        session.add(TimelineEvent(incident_id=1, at=at + timedelta(minutes=30), kind="playbook_finished",
                                  actor="U0AISHA", text="Roll back checkout succeeded.",
                                  data={"steps": [{"title": "Deploy previous image", "status": "ok",
                                                   "summary": "v41"}], "request_ids": ["01JFLYREQ123"]}))
        session.add(PlaybookExecution(playbook="rollback", app="checkout", incident_id=1, status="succeeded",
                                      nonce="n", proposed_by="U0AISHA", confirmed_by="U0BEN", proposed_at=at,
                                      results=[{"title": "Deploy previous image", "status": "ok",
                                                "calls": [{"request_id": "01JFLYREQ123"}]}]))
        session.add(PagerDutyLink(incident_id=1, incident_key="fireline-1", mode="rest", status="acknowledged",
                                  paged_at=at, assignees=["Aisha Khan"]))
        session.add(StatusUpdate(incident_id=1, public_id="pub1", update_key="u1", state="published",
                                 stage="investigating", title="Checkout errors", body="We are looking into it.",
                                 drafted_by="U0AISHA", published_by="U0AISHA", published_at=at))
        session.add(FollowUp(incident_id=1, text="Canary stage before rollout", owner="U0BEN", created_by="U0AISHA"))
        session.add(Postmortem(incident_id=1, markdown=PM, due_at=at + timedelta(hours=50)))
        session.add(Postmortem(incident_id=2, markdown="draft", due_at=now + timedelta(hours=10)))


@pytest.fixture
def site(db_url, recorder, clock):
    recorder.names.update({"U0AISHA": "Aisha Khan", "U0BEN": "Ben Ortiz"})
    container = build_container(make_settings(db_url, recorder, web_session_secret="pages-secret-0123456789abcdef"),
                                clock=clock)
    seed(container, clock)
    client = TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False,
                        follow_redirects=False)
    _, value = auth.new_session(container.settings, "U0BEN", "T1", "Ben Ortiz")
    client.cookies.set(auth.SESSION_COOKIE, value, path="/team")
    with client:
        yield container, client
    container.engine.dispose()


def numbers(html: str) -> list[str]:
    return re.findall(r'href="/team/incidents/(\d+)">#', html)


def test_the_list_and_its_filters(site):
    _, client = site
    assert numbers(client.get("/team/").text) == ["3", "2", "1"]
    assert numbers(client.get("/team/?state=open").text) == ["3", "2"]
    assert numbers(client.get("/team/?state=resolved").text) == ["1"]
    assert numbers(client.get("/team/?severity=1").text) == ["1"]
    assert numbers(client.get("/team/?lead=me").text) == ["2"]  # Ben leads #2
    assert numbers(client.get("/team/?q=CHECKOUT").text) == ["1"]
    assert numbers(client.get("/team/?q=deploy").text) == ["1"]  # the summary is searched too
    assert numbers(client.get("/team/?q=100%25").text) == []  # % is a character, not a wildcard
    assert numbers(client.get("/team/?since=2026-11-24").text) == ["3", "2"]
    assert numbers(client.get("/team/?until=2026-11-23").text) == ["1"]
    page = client.get("/team/")
    assert "Aisha Khan" in page.text and "U0AISHA" not in page.text


@pytest.mark.parametrize("query,words", [("state=closed", "State is one of"), ("severity=9", "Severity is 1 to 4"),
                                         ("since=yesterday", "Dates are written 2026-11-25")])
def test_bad_filters_say_what_to_write(site, query, words):
    _, client = site
    page = client.get(f"/team/?{query}")
    assert page.status_code == 200 and words in page.text and numbers(page.text) == ["3", "2", "1"]


def test_the_list_pages_fifty_at_a_time(site, clock):
    container, client = site
    with session_scope(container.engine) as session:
        for i in range(4, 60):
            session.add(Incident(id=i, title=f"Noise {i}", severity=4, declared_by="U0BEN", declared_at=clock()))
    first = client.get("/team/")
    assert len(numbers(first.text)) == 50 and numbers(first.text)[0] == "59"
    older = re.search(r'href="(/team/\?[^"]*before=\d+)"', first.text).group(1).replace("&amp;", "&")
    assert numbers(client.get(older).text) == [str(i) for i in range(9, 0, -1)]


def test_an_incident_page_shows_everything_by_name(site):
    _, client = site
    page = client.get("/team/incidents/1")
    text = page.text
    assert page.status_code == 200
    for expected in ("Checkout down", "SEV1", "Aisha Khan", "6 min after declaring", "target 15 min",
                     "Error rate 40% on /checkout", "pinned", "01JFLYREQ123", "Deploy previous image",
                     "confirmed by Ben Ortiz", "Paged", "acknowledged", "We are looking into it.",
                     "Canary stage before rollout", "<strong>bold</strong>",
                     'href="https://runbooks.example.com/checkout"'):
        assert expected in text, expected
    assert "U0AISHA" not in text and "U0BEN" not in text
    assert "<script>" not in text and "&lt;script&gt;" in text  # the postmortem's HTML is text
    assert "href=\"javascript:" not in text and "[click me](javascript:alert(1))" in text  # shown, not a link


@pytest.mark.parametrize("path", ["/team/incidents/999", "/team/incidents/abc", "/team/incidents/١"])
def test_an_unknown_incident_is_a_404_in_words(site, path):
    _, client = site
    page = client.get(path)
    assert page.status_code == 404 and "no incident" in page.text


def test_postmortems_due_and_overdue(site):
    _, client = site
    page = client.get("/team/postmortems").text
    assert page.index("#1") < page.index("#2")  # overdue first
    assert "overdue" in page and ">due<" in page


def test_insights_page_shows_charts_beside_the_same_numbers_as_the_report(site, clock):
    container, client = site
    page = client.get("/team/insights?since=30d")
    assert page.status_code == 200
    assert page.text.count("<svg") == 6 and "<script" not in page.text
    found = figures(container, clock() - timedelta(days=30))
    sev1 = next(r for r in found.rows if r.severity == 1)
    assert sev1.tta_median == 6.0
    assert "<td>6.0</td>" in page.text and "<td>100%</td>" in page.text
    assert 'class="value">6.0 min</text>' in page.text  # the chart's bar reads as the table's cell
    assert "Aisha Khan" in page.text  # pages per person
    assert "rollback" in page.text
    bad = client.get("/team/insights?since=forever")
    assert bad.status_code == 200 and "expected a period such as 90d" in bad.text


def test_a_chart_labels_its_bars_as_the_tables_do():
    from bot.web.charts import bars

    svg = bars("t", [("SEV1", 49 / 60_000), ("SEV2", 12.345)], unit=" min")  # a 49 ms acknowledgement
    assert 'class="value">0.0 min</text>' in svg and 'class="value">12.3 min</text>' in svg
    assert "0.000816" not in svg
    assert 'class="value">3</text>' in bars("t", [("2026-W49", 3)])  # counts stay whole


def test_a_private_incident_is_only_on_its_members_pages(site, clock):
    """Private incidents (bot/service/lookups.py's rule) on the team pages: members see them; for anyone else
    the list, the incident's page, the postmortems and the insights figures behave as if it did not exist."""
    from bot.models import IncidentMember

    container, client = site
    now = clock()
    with session_scope(container.engine) as session:
        session.add(Incident(id=4, title="Payroll export leaks salaries", severity=1, status="investigating",
                             declared_by="U0AISHA", lead_id="U0AISHA", declared_at=now - timedelta(hours=1),
                             private=True))
        session.flush()
        session.add(IncidentMember(incident_id=4, user_id="U0AISHA"))
        session.add(Postmortem(incident_id=4, markdown="# Payroll export leaks salaries", due_at=now))
    for path in ("/team/", "/team/postmortems", "/team/insights?since=7d"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Payroll" not in response.text, path
    assert client.get("/team/incidents/4").status_code == 404
    since = now - timedelta(days=7)
    ben = auth.visible_to(auth.Reader("U0BEN", "T1", "Ben Ortiz", "x", 0), container.engine)
    aisha = auth.visible_to(auth.Reader("U0AISHA", "T1", "Aisha Khan", "x", 0), container.engine)
    assert 4 not in ben and 4 in aisha and 2 in ben
    counted = {who: sum(n for _, n in figures(container, since, visible=seen).incidents_per_week)
               for who, seen in (("ben", ben), ("aisha", aisha))}
    assert counted["aisha"] == counted["ben"] + 1  # the private SEV1 counts only in its member's figures

    _, member = auth.new_session(container.settings, "U0AISHA", "T1", "Aisha Khan")
    client.cookies.set(auth.SESSION_COOKIE, member, path="/team")
    assert "Payroll export leaks salaries" in client.get("/team/").text
    assert client.get("/team/incidents/4").status_code == 200
