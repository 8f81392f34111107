"""Web pages never hold Slack's acks: their work runs in their own threads; the status page renders once.

Asserted on the work done and on what answered while the pages were held, never on wall time (the
figures are in bench/web_load.py).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import Session

from bot.store.models.status import StatusUpdate
from bot.features.status import service as status_service
from bot.adapters.web import auth, team_views

HELD = 60  # more page requests than Starlette's shared pool has threads (40)


def test_a_slack_ack_answers_while_a_crowd_of_team_pages_is_held(slack, monkeypatch):
    """60 team-page requests stuck in their query must not keep a lone Slack request from its answer."""
    release, entered = threading.Event(), threading.Semaphore(0)
    real = team_views.incident_list

    def stuck(*args, **kwargs):
        entered.release()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(team_views, "incident_list", stuck)
    _, cookie = auth.new_session(slack.container.settings, "U0BEN", "T1", "Ben Ortiz")
    slack.client.cookies.set(auth.SESSION_COOKIE, cookie, path="/team")
    watchdog = threading.Timer(20, release.set)  # on code that holds the ack, the test ends instead of hanging
    watchdog.start()
    try:
        with ThreadPoolExecutor(HELD) as crowd:
            pages = [crowd.submit(slack.client.get, "/team/") for _ in range(HELD)]
            assert entered.acquire(timeout=10)  # the crowd is in its queries
            ack = slack.command("help", run=False)  # through Bolt's dispatch, which needs a pool thread
            answered_while_held = not release.is_set()
            release.set()
            statuses = [page.result(timeout=30).status_code for page in pages]
    finally:
        watchdog.cancel()
        release.set()
    assert ack.status_code == 200 and "/incident" in ack.text
    assert answered_while_held, "the Slack request waited for the page requests"
    assert statuses == [200] * HELD


def test_the_status_page_renders_once_whatever_the_query_string(slack, monkeypatch, clock):
    """Cache-busting query strings (`/?x=1`, `/?x=2`, ...) are served the one cached render."""
    calls = []
    real = status_service.page_state

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(status_service, "page_state", counted)
    bodies = {slack.client.get(f"/?x={n}").text for n in range(50)}
    bodies |= {slack.client.get(f"/?x={n}&y={n}").text for n in range(50)}
    assert len(bodies) == 1 and "All Systems Operational" in bodies.pop()
    assert len(calls) == 1
    # a published update is on the very next request (the cache checks what is published, not a timer)
    slack.command("declare Checkout returns 502 sev1")
    with Session(slack.container.engine) as session:
        session.add(StatusUpdate(incident_id=1, public_id="p1", update_key="u1", state="published",
                                 stage="investigating", title="Checkout errors", body="Some checkouts fail.",
                                 components={"Payments": "major_outage"}, drafted_by="U0LEAD", published_by="U0LEAD",
                                 published_at=clock()))
        session.commit()
    assert "Some checkouts fail." in slack.client.get("/?x=999").text and len(calls) == 2
    assert "Some checkouts fail." in slack.client.get("/?x=1000").text and len(calls) == 2
