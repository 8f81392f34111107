"""Is it them? The providers' Statuspage summary.json, read from a loopback server, in /diagnose and on cards."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from bot.features.providers import service as providers
from tests.support.quiet_server import QuietHTTPServer

OPERATIONAL = {"page": {"id": "x", "name": "Cloudflare"}, "status": {"indicator": "none",
               "description": "All Systems Operational"},
               "components": [{"name": "CDN", "status": "operational", "group": False}], "incidents": []}


def degraded(started: str) -> dict:
    return {"page": {"id": "y", "name": "Fly.io"},
            "status": {"indicator": "major", "description": "Partial System Outage"},
            "components": [{"name": "Machines API", "status": "partial_outage", "group": False},
                           {"name": "Regions", "status": "degraded_performance", "group": True},
                           {"name": "Dashboard", "status": "operational", "group": False}],
            "incidents": [{"name": "Elevated errors <!channel> creating machines", "status": "identified",
                           "impact": "major", "started_at": started, "created_at": started,
                           "shortlink": "https://stspg.io/abc",
                           "incident_updates": [
                               {"body": "We are investigating.", "created_at": "2026-11-25T13:52:00.000Z"},
                               {"body": "A fix is being deployed to iad.", "created_at": "2026-11-25T13:58:00.000Z"}]},
                          {"name": "Old one", "status": "resolved", "impact": "minor", "incident_updates": []}]}


class Pages:
    """A loopback stand-in for providers' status pages: path prefix -> (status, body, delay)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, float]] = {}
        self.hits: list[str] = []
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                pages.hits.append(self.path)
                prefix = self.path.split("/api/v2/")[0]
                status, body, delay = pages.routes.get(prefix, (404, b"{}", 0))
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, prefix: str, body: object, status: int = 200, delay: float = 0) -> str:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[prefix] = (status, raw, delay)
        return f"{self.url}{prefix}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pages():
    stand_in = Pages()
    yield stand_in
    stand_in.close()


class App:
    """What providers.read_all reads of a container: settings, clock and its parts (the reports' cache)."""

    def __init__(self, settings, clock) -> None:
        from bot.core.container import Parts

        self.settings, self.clock, self.parts = settings, clock, Parts(self)


def test_reports_say_fine_degraded_and_could_not_read_never_fine(pages, clock, monkeypatch):
    from tests.support.factories import make_settings

    monkeypatch.setattr(providers, "TIMEOUT", 0.5)
    listed = ",".join([f"Cloudflare={pages.serve('/cf', OPERATIONAL)}",
                       f"Fly.io={pages.serve('/fly', degraded('2026-11-25T13:50:00.000Z'))}",
                       f"Stripe={pages.serve('/stripe', {'error': 'nope'}, status=503)}",
                       f"Resend={pages.serve('/resend', b'<html>hi</html>')}",
                       f"Slow={pages.serve('/slow', OPERATIONAL, delay=1.5)}",
                       f"Odd={pages.serve('/odd', {'status': 'fine'})}",
                       "Gone=http://127.0.0.1:9"])
    app = App(make_settings("sqlite://", provider_status_pages=listed), clock)
    reports = providers.read_all(app)
    assert [r.name for r in reports] == ["Cloudflare", "Fly.io", "Stripe", "Resend", "Slow", "Odd", "Gone"]
    assert [r.fine for r in reports] == [True, False, False, False, False, False, False]
    lines = providers.report_lines(reports, started=clock())
    text = "\n".join(lines)
    assert lines[0] == ":white_check_mark: *Cloudflare*: all operational"
    assert ":warning: *Fly.io*: Partial System Outage; degraded: Machines API (partial outage)" in text
    assert "Regions" not in text and "Dashboard" not in text and "Old one" not in text
    assert ("Elevated errors &lt;!channel&gt; creating machines (identified, major impact, started 2026-11-25 "
            "13:50 UTC): A fix is being deployed to iad. <https://stspg.io/abc|link> :point_right: it started "
            "10 min before this incident") in text
    for name, why in (("Stripe", "it answered HTTP 503"), ("Resend", "its answer was not JSON"),
                      ("Slow", "no answer within 0.5 s"),
                      ("Odd", "the page did not answer in Statuspage's summary.json shape"),
                      ("Gone", "could not connect")):
        assert f":grey_question: *{name}*: could not read its status page ({why}" in text
        assert "this is not an all-clear" in [line for line in lines if f"*{name}*" in line][0]
    assert providers.card_value(reports[:3]) == ("Cloudflare: all operational · Fly.io: Partial System Outage "
                                                 "(1 open incident) · Stripe: could not read")
    # cached for a minute: no second request; after it, read again
    hits = len(pages.hits)
    providers.read_all(app)
    assert len(pages.hits) == hits
    clock.advance(minutes=2)
    providers.read_all(app)
    assert len(pages.hits) == hits + 6  # Gone refuses the connection, so it is never a hit


def test_provider_incident_long_before_ours_is_not_pointed_out(pages, clock):
    from tests.support.factories import make_settings

    app = App(make_settings("sqlite://", provider_status_pages=
                            f"Fly.io={pages.serve('/fly', degraded('2026-11-24T08:00:00.000Z'))}"), clock)
    text = "\n".join(providers.report_lines(providers.read_all(app), started=clock()))
    assert "Elevated errors" in text and "point_right" not in text


@pytest.fixture
def provider_slack(db_url, recorder, clock, pages):
    from tests.support.factories import make_container, slack_harness

    listed = (f"Fly.io={pages.serve('/fly', degraded('2026-11-25T13:55:00.000Z'))},"
              f"Cloudflare={pages.serve('/cf', OPERATIONAL)}")
    container = make_container(db_url, recorder, provider_status_pages=listed, clock=clock)
    yield from slack_harness(container, recorder)
    container.engine.dispose()


def test_sev1_card_shows_providers_and_the_channel_hears_which_is_not_fine(provider_slack, clock):
    slack = provider_slack
    slack.command("declare Machines will not start sev1")
    cards = [c.text() for c in slack.recorder.of("chat.update")]
    assert any("Fly.io: Partial System Outage (1 open incident) · Cloudflare: all operational" in c for c in cards)
    said = [c.text() for c in slack.recorder.of("chat.postMessage") if "Is it them?" in c.text()]
    assert len(said) == 1 and "5 min before this incident" in said[0] and "Machines API (partial outage)" in said[0]
    assert ":white_check_mark: *Cloudflare*: all operational" in said[0]
    [message] = [c for c in slack.recorder.of("chat.postMessage") if "Is it them?" in c.text()]
    [button] = [b for block in message.data["blocks"] if block.get("type") == "actions"
                for b in block["elements"]]
    assert button["text"]["text"] == "Add Fly.io incident to timeline"
    for _ in range(2):  # the second press adds nothing
        slack.press(button["action_id"], button["value"], channel_id="CINC0001")
    from sqlmodel import Session, select

    from bot.store.models import TimelineEvent

    with Session(slack.container.engine) as session:
        pinned = [e for e in session.exec(select(TimelineEvent)) if e.kind == "provider_incident"]
    assert len(pinned) == 1 and "https://stspg.io/abc" in pinned[0].text and "already in the timeline" in \
        slack.reply_text()
    slack.press(button["action_id"], '{"i": 1, "p": "x", "n": "y", "l": "javascript:alert(1)"}')
    assert "does not name a provider incident" in slack.reply_text()
    slack.command("", command="/diagnose", channel_id="CINC0001")
    text = slack.recorder.responses()[-1].text()
    assert "Is it them?" in text and "A fix is being deployed to iad." in text and "5 min before" in text


def test_sev3_card_reads_no_provider(provider_slack, pages):
    slack = provider_slack
    slack.command("declare Typo on the pricing page sev3")
    assert pages.hits == []
    assert not any("Providers" in c.text() for c in slack.recorder.of("chat.postMessage"))
    asked = [c.text() for c in slack.recorder.of("chat.postMessage") if "Is it them?" in c.text()]
    assert asked == []


def test_is_it_them_is_posted_once_per_incident_whatever_the_raises(provider_slack, clock):
    """Posted the first time an incident reaches SEV1/SEV2; later raises refresh the card but do not repost."""
    from sqlmodel import Session, select

    from bot.store.models import TimelineEvent

    slack = provider_slack

    def posts(incident: int) -> int:
        return sum(c.data["channel"] == f"CINC000{incident}"
                   for c in slack.recorder.of("chat.postMessage") if "Is it them?" in c.text())

    slack.command("declare Machines will not start sev2")
    assert posts(1) == 1
    for level in (3, 2, 1):  # down, back up to where it was posted, then higher
        clock.advance(minutes=2)  # past the one-minute cache: each raise reads the pages again
        slack.command(f"sev {level}", channel_id="CINC0001")
    assert posts(1) == 1
    cards = [c.text() for c in slack.recorder.of("chat.update")]
    assert sum("Fly.io: Partial System Outage" in c for c in cards) >= 2  # the card was refreshed on the raises
    with Session(slack.container.engine) as session:
        claims = [e for e in session.exec(select(TimelineEvent)) if e.kind == "providers_checked"]
    assert [(e.incident_id, e.data["not_fine"], e.data["severity"]) for e in claims] == [(1, ["Fly.io"], 2)]
    # another incident declared at SEV3 posts when it first reaches SEV2, once
    slack.command("declare Checkout is slow sev3")
    assert posts(2) == 0
    slack.command("sev 2", channel_id="CINC0002")
    slack.command("sev 1", channel_id="CINC0002")
    assert posts(2) == 1
