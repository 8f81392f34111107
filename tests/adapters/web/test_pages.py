"""The team pages as a signed-in person reads them: the list and its filters, an incident, postmortems, insights.

Real HTTP app, real database (SQLite and PostgreSQL); people by name (users.info from the recorder). The
incidents are made through the front ends (tests/support/real_run.py), never written as rows by hand, so the
pages read what the service stores in the shape it stores it.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import NamedTuple

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from bot.adapters.console import run_console
from bot.core.container import Container
from bot.features.insights.feature import figures
from bot.store.models import PlaybookExecution
from bot.adapters.web import auth
from tests.support.harness import SlackHarness
from tests.support.real_run import PUBLIC_TEXT, make_incident, real_site, team_client

HOSTILE = ("Pasted from the log: &lt;script&gt;alert('x')&lt;/script&gt; see "
           "[runbook](https://runbooks.example.com/checkout), not [click me](javascript:alert(1))")


def seed(slack, clock):
    """Three incidents as a team makes them (tests/support/real_run.py), days apart: #1 a SEV1 led by Aisha with a
    restart, a page, a published update, a pinned message and a pasted log line, resolved (its postmortem overdue
    now); #2 a SEV2 Ben led and resolved yesterday (postmortem due); #3 a SEV4 nobody has picked up yet."""
    now = clock()
    clock.now = now - timedelta(days=3)
    first = make_incident(slack, clock, "Checkout down", declarer="U0AISHA")
    ts = f"{int((now - timedelta(days=3) + timedelta(minutes=10)).timestamp())}.000100"  # said 10 min in
    slack.recorder.add_message(first.channel, ts, "Error rate 40% on /checkout", user="U0BEN")
    slack.event({"type": "reaction_added", "user": "U0AISHA", "reaction": "pushpin", "item_user": "U0BEN",
                 "item": {"type": "message", "channel": first.channel, "ts": ts}, "event_ts": "1.1"},
                event_id="EvPinSeed")
    slack.command(f"note {HOSTILE}", user_id="U0AISHA", channel_id=first.channel)
    slack.command("", command="/postmortem", user_id="U0AISHA", channel_id=first.channel)  # the draft, with the note
    clock.now = now - timedelta(days=1)
    make_incident(slack, clock, "Slow search", severity=2, declarer="U0BEN", playbook=False, publish=False,
                  summary="Index rebuilt")
    clock.now = now - timedelta(hours=2)
    make_incident(slack, clock, "Typo on pricing page", severity=4, declarer="U0AISHA", ack=False)


class Site(NamedTuple):
    container: Container
    client: TestClient  # signed in as Ben Ortiz
    slack: SlackHarness  # the front end that made the incidents


@pytest.fixture
def site(db_url, recorder, clock, fake_fly, pd):
    with real_site(db_url, recorder, clock, fake_fly, pd) as slack:
        seed(slack, clock)
        yield Site(slack.container, team_client(slack, "U0BEN"), slack)


def numbers(html: str) -> list[str]:
    return re.findall(r'href="/team/incidents/(\d+)">#', html)


def test_the_list_and_its_filters(site):
    client = site.client
    assert numbers(client.get("/team/").text) == ["3", "2", "1"]
    assert numbers(client.get("/team/?state=open").text) == ["3"]
    assert numbers(client.get("/team/?state=resolved").text) == ["2", "1"]
    assert numbers(client.get("/team/?severity=1").text) == ["1"]
    assert numbers(client.get("/team/?lead=me").text) == ["2"]  # Ben leads #2
    assert numbers(client.get("/team/?q=CHECKOUT").text) == ["1"]
    assert numbers(client.get("/team/?q=deploy").text) == ["1"]  # the summary is searched too
    assert numbers(client.get("/team/?q=100%25").text) == []  # % is a character, not a wildcard
    assert numbers(client.get("/team/?since=2026-11-24").text) == ["3", "2"]
    assert numbers(client.get("/team/?until=2026-11-23").text) == ["1"]
    page = client.get("/team/")
    assert "Aisha Khan" in page.text and "U0AISHA" not in page.text


def test_bad_filters_say_what_to_write(site):
    for query, words in (("state=closed", "State is one of"), ("severity=9", "Severity is 1 to 4"),
                         ("since=yesterday", "Dates are written 2026-11-25")):
        page = site.client.get(f"/team/?{query}")
        assert page.status_code == 200 and words in page.text and numbers(page.text) == ["3", "2", "1"], query


def declare_in_console(site, *titles: str) -> None:
    """Declare incidents in `fireline console` (a front end on the same database), e.g. "Disk full sev2"."""
    from bot.app.assembly import build_container

    console = build_container(site.container.settings, clock=site.container.clock)
    out = io.StringIO()
    lines = "".join(f"/incident declare {title}\n:channel incidents\n" for title in titles)
    assert run_console(console, io.StringIO(lines), out) == 0 and "Declared #" in out.getvalue(), out.getvalue()
    console.engine.dispose()


def test_the_list_pages_fifty_at_a_time(site):
    """56 more declared in `fireline console`: 59 in all. The 57 open ones are all at the top of the first page
    (most severe first: all SEV4 here, so newest first); the resolved ones page 50 incidents at a time."""
    declare_in_console(site, *(f"Noise {i} sev4" for i in range(4, 60)))
    first = site.client.get("/team/")
    assert numbers(first.text) == [str(i) for i in range(59, 2, -1)]
    older = re.search(r'href="(/team/\?[^"]*before=\d+)"', first.text).group(1).replace("&amp;", "&")
    assert older.endswith("before=10")
    assert numbers(site.client.get(older).text) == ["2", "1"]  # open ones are not repeated below


def test_the_list_puts_open_incidents_first_most_severe_first(site):
    """An open SEV2 declared after the SEV4 comes first; the resolved follow, newest first; each row has its state
    as a badge and its date with the year."""
    declare_in_console(site, "Disk full on db-2 sev2")
    page = site.client.get("/team/").text
    assert numbers(page) == ["4", "3", "2", "1"]
    open_part, resolved_part = page.split('id="resolved"')
    assert 'id="open">Open (2)' in open_part and numbers(open_part) == ["4", "3"]
    assert numbers(resolved_part) == ["2", "1"]
    assert 'class="pill sev2"' in open_part and 'class="pill state-open" title="State">declared<' in open_part
    assert 'class="pill state-resolved" title="State">resolved<' in resolved_part
    assert "22 Nov 2026, 14:00" in resolved_part  # #1, declared three days ago: the year is there
    assert "<details" in page and "<details class=\"filters\" open" not in page  # filters folded away
    assert '<details class="filters" open' in site.client.get("/team/?severity=2").text  # unless in use


def test_an_incident_page_shows_everything_by_name(site):
    page = site.client.get("/team/incidents/1")
    text = page.text
    assert page.status_code == 200
    with Session(site.container.engine) as session:
        [run] = session.exec(select(PlaybookExecution).where(PlaybookExecution.incident_id == 1)).all()
    request_id = next(c["request_id"] for c in run.results[0]["calls"] if c.get("request_id"))
    for expected in ("Checkout down", "SEV1", "Aisha Khan", "6 min after declaring", "target 15 min",
                     "Error rate 40% on /checkout", "pinned", request_id, "Batch 1: Restart m1aaaaaaaaaaaa (iad)",
                     "confirmed by Aisha Khan", "Paged", "to Chen Li", PUBLIC_TEXT, "Canary stage before every rollout",
                     "Ben Ortiz", "<h1>Postmortem", 'href="https://runbooks.example.com/checkout"'):
        assert expected in text, expected
    assert "U0AISHA" not in text and "U0BEN" not in text and "U0CHEN" not in text
    assert "<script>" not in text  # the pasted log line and the postmortem's copy of it are text
    assert "href=\"javascript:" not in text and "[click me](javascript:alert(1))" in text  # shown, not a link


def test_an_unknown_incident_is_a_404_in_words(site):
    for path in ("/team/incidents/999", "/team/incidents/abc", "/team/incidents/١", "/team/incidents/0"):
        page = site.client.get(path)
        assert page.status_code == 404 and "no incident" in page.text, path


def test_postmortems_due_and_overdue(site):
    client = site.client
    page = client.get("/team/postmortems").text
    assert page.index("#1") < page.index("#2")  # overdue first
    assert "overdue" in page and ">due<" in page


def test_insights_page_shows_charts_beside_the_same_numbers_as_the_report(site, clock):
    container, client = site.container, site.client
    page = client.get("/team/insights?since=30d")
    assert page.status_code == 200
    assert page.text.count("<svg") == 6 and "<script" not in page.text
    found = figures(container, clock() - timedelta(days=30))
    sev1 = next(r for r in found.rows if r.severity == 1)
    assert sev1.tta_median == 6.0
    assert "<td>6.0 min</td>" in page.text and "<td>100% (1 of 1)</td>" in page.text
    assert 'class="value">6.0 min</text>' in page.text  # the chart's bar reads as the table's cell
    # headers in words, the median beside the p90, and the chart's caption and legend in the page's HTML
    for words in ("Time to acknowledge", "Median", "90th percentile", "Within target", "Median time to",
                  "Mitigate", "Resolve", "<figcaption>Minutes to acknowledge", "SEV target</li>"):
        assert words in page.text, words
    for jargon in ("tta", "ttm", "ttr", "_min"):
        assert jargon not in page.text.split("fireline report --since 30d</code>")[1], jargon
    assert "Chen Li" in page.text  # pages per person: PagerDuty assigned both pages to Chen
    assert "restart" in page.text
    bad = client.get("/team/insights?since=forever")
    assert bad.status_code == 200 and "expected a period such as 90d" in bad.text


def test_a_chart_labels_its_bars_as_the_tables_do():
    from bot.adapters.web.charts import bars

    svg = bars("t", [("SEV1", 49 / 60_000), ("SEV2", 12.345)], unit=" min")  # a 49 ms acknowledgement
    assert 'class="value">0.0 min</text>' in svg and 'class="value">12.3 min</text>' in svg
    assert "0.000816" not in svg
    assert 'class="value">3</text>' in bars("t", [("2026-W49", 3)])  # counts stay whole


def test_a_private_incident_is_only_on_its_members_pages(site, clock):
    """Private incidents (bot/service/lookups.py's rule) on the team pages: members see them; for anyone else
    the list, the incident's page, the postmortems and the insights figures behave as if it did not exist."""
    container, client = site.container, site.client
    run = make_incident(site.slack, clock, "Payroll export leaks salaries", declarer="U0AISHA", private=True,
                        publish=False)
    assert run.number == 4
    for path in ("/team/", "/team/postmortems", "/team/insights?since=7d"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Payroll" not in response.text, path
    assert client.get("/team/incidents/4").status_code == 404
    since = clock() - timedelta(days=7)
    ben = auth.visible_to(auth.Reader("U0BEN", "T1", "Ben Ortiz", "x", 0), container.engine)
    aisha = auth.visible_to(auth.Reader("U0AISHA", "T1", "Aisha Khan", "x", 0), container.engine)
    assert 4 not in ben and 4 in aisha and 2 in ben
    counted = {who: sum(n for _, n in figures(container, since, visible=seen).incidents_per_week)
               for who, seen in (("ben", ben), ("aisha", aisha))}
    assert counted["aisha"] == counted["ben"] + 1  # the private SEV1 counts only in its member's figures

    member = team_client(site.slack, "U0AISHA")
    assert "Payroll export leaks salaries" in member.get("/team/").text
    page = member.get("/team/incidents/4")
    assert page.status_code == 200 and "Batch 1: Restart m1aaaaaaaaaaaa (iad): planned" in page.text
    assert "Payroll export leaks salaries" in member.get("/team/postmortems").text


def test_the_timeline_says_each_event_in_words_with_its_day_and_clickable_links(site):
    page = site.client.get("/team/incidents/1").text
    timeline = page[page.index("<h2>Timeline</h2>"):page.index("<h2>Playbooks</h2>")]
    for raw in ("status_changed", "status changed", "playbook_confirmed", "public_update", ">note<"):
        assert raw not in timeline, raw
    assert "State changed from investigating to mitigating" in timeline
    assert '<time datetime="2026-11-22T14:06:00+00:00">22 Nov 2026, 14:06</time>' in timeline  # not today: dated
    assert "<b>Chen Li</b> · Acknowledged after 6m" in timeline
    assert ('<span class="lead-in">Note:</span> Pasted from the log: &lt;script&gt;' in timeline)
    assert '<a href="https://runbooks.example.com/checkout" rel="noopener">https://runbooks.example.com/checkout</a>)' \
        in timeline  # the `)` closing the Markdown link stays outside the address
    assert '<a href="https://acme.pagerduty.com/incidents/PINC101" rel="noopener">' in timeline
    assert 'href="javascript:' not in page
    assert '<p class="pills"><span class="pill sev1" title="Severity">SEV1</span> ' \
           '<span class="pill state-resolved" title="State">resolved</span></p>' in page


def test_links_are_made_of_http_urls_only_and_escaped():
    from bot.adapters.web.team_views import linkify

    assert linkify('see https://x.example/a?b=1&c="2" now.') == (
        'see <a href="https://x.example/a?b=1&amp;c=" rel="noopener">https://x.example/a?b=1&amp;c=</a>&#34;2&#34; now.')
    assert linkify("javascript:alert(1) data:text/html,x ftp://f.example") == \
        "javascript:alert(1) data:text/html,x ftp://f.example"
    assert linkify("(https://en.example/wiki/A_(b))") == \
        '(<a href="https://en.example/wiki/A_(b)" rel="noopener">https://en.example/wiki/A_(b)</a>)'
    assert linkify("http:// and <b>") == "http:// and &lt;b&gt;"


def test_a_postmortem_shows_its_tables_as_tables(site):
    """The draft a resolve made (through the front ends) is Markdown with GFM tables: the web shows tables."""
    for path in ("/team/incidents/1", "/team/incidents/1/postmortem"):
        page = site.client.get(path)
        assert page.status_code == 200, path
        html = page.text[page.text.index('<div class="postmortem">'):]
        assert "| --- |" not in html and "|---|" not in html, path
        for heading, first_header in (("Impact", "Point"), ("Timeline", "Time (UTC)"),
                                      ("Response against the SEV targets", "Measure")):
            section = html[html.index(f"<h2>{heading}</h2>"):]
            assert section.index("<table>") < section.index(f"<th>{first_header}</th>") < section.index("</table>")
        assert "<td>Time to acknowledge</td>" in html and "&lt;script&gt;" in html and "<script>" not in html
    assert site.client.get("/team/incidents/3/postmortem").status_code == 404  # open: no draft yet


def test_a_failing_page_is_the_sites_error_page_without_a_traceback(site, monkeypatch, caplog):
    from bot.adapters.web import team_views

    def broken(*args, **kwargs):
        raise RuntimeError("database exploded: secret-detail")

    monkeypatch.setattr(team_views, "incident_page", broken)
    page = site.client.get("/team/incidents/1")
    assert page.status_code == 500
    assert "Something went wrong" in page.text and "What to do" in page.text and "<header>" in page.text
    assert "Traceback" not in page.text and "secret-detail" not in page.text and "RuntimeError" not in page.text
    reference = re.search(r"<code>([0-9a-f]{8})</code>", page.text).group(1)
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)  # findable in the log
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


def test_an_address_under_team_that_is_no_page_is_the_sites_404(site):
    page = site.client.get("/team/no/such/page")
    assert page.status_code == 404 and "Not found" in page.text and "What to do" in page.text
    assert "Ben Ortiz" in page.text  # in the layout, signed in
