"""Confirmed public updates also go to a hosted Statuspage: through Prism (the official spec), respx for failures."""

from __future__ import annotations

import io

import httpx
import pytest
import respx
from sqlmodel import Session, select

from bot.adapters.console import run_console
from bot.core.errors import IntegrationError
from bot.store.models import TimelineEvent
from bot.clients import statuspage as statuspage_client
from bot.features.status import sync
from bot.features.status.service import publish_value
from bot.clients.statuspage import StatuspageClient
from tests.support.factories import make_container, make_settings

KEY = "sp-test-key-0123456789abcdef"
BASE = "http://statuspage.test/v1"


def events(container, kind_prefix: str) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        return [e for e in session.exec(select(TimelineEvent).order_by(TimelineEvent.id))
                if e.kind.startswith(kind_prefix)]


def walkthrough(container) -> str:
    out = io.StringIO()
    run_console(container, io.StringIO("\n".join([
        "/incident declare Checkout returns 502 sev1",
        "/incident statuspage API, Payments",
        "!Publish",
        "/incident resolve bad deploy",
        "!Publish",
    ]) + "\n"), out)
    return out.getvalue()


@pytest.mark.prism
def test_published_updates_reach_statuspage_through_the_official_spec(prism, sqlite_url, clock):
    url = prism("statuspage")
    container = make_container(
        sqlite_url, statuspage_api_url=url, statuspage_api_key=KEY, statuspage_page_id="pg1abc",
        statuspage_components="API=cmpapi01,Payments=cmppay02", clock=clock)
    container.parts.put(sync.CLIENT_FACTORY, lambda s: StatuspageClient(
        s.statuspage_api_url, s.statuspage_api_key.get_secret_value(), s.statuspage_page_id, sleep=lambda _: None))
    out = walkthrough(container)
    assert "Traceback" not in out and "not on Statuspage" not in out, out
    synced = events(container, "statuspage")
    assert [e.kind for e in synced] == ["statuspage_synced", "statuspage_synced"], [e.text for e in synced]
    assert 'did create the Statuspage incident "Outage: API and Payments" (investigating) with API: major_outage, ' \
           "Payments: major_outage" in synced[0].text
    assert "did update the Statuspage incident" in synced[1].text and "(resolved)" in synced[1].text
    assert KEY not in out and all(KEY not in e.text for e in synced)


def test_without_a_key_it_is_a_dry_run_that_says_what_it_would_send(sqlite_url, clock):
    container = make_container(sqlite_url, statuspage_page_id="pg1abc",
                                              statuspage_components="API=cmpapi01", clock=clock)
    walkthrough(container)
    dry = events(container, "statuspage")
    assert [e.kind for e in dry] == ["statuspage_dry_run", "statuspage_dry_run"]
    assert "dry run, STATUSPAGE_API_KEY not set): would create the Statuspage incident" in dry[0].text
    assert "API: major_outage" in dry[0].text and "not mapped in STATUSPAGE_COMPONENTS: Payments" in dry[0].text


def test_nothing_is_sent_or_recorded_when_statuspage_is_not_configured(sqlite_url, clock):
    container = make_container(sqlite_url, clock=clock)
    walkthrough(container)
    assert events(container, "statuspage") == []


class Clock:
    def __init__(self) -> None:
        self.now, self.slept = 100.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 2))
        self.now += seconds


@pytest.fixture
def client():
    statuspage_client._next_slot.clear()
    fake = Clock()
    made = StatuspageClient(BASE, KEY, "pg1", sleep=fake.sleep, monotonic=fake.monotonic)
    made.fake = fake
    yield made
    made.close()


@respx.mock
def test_one_request_a_second_per_token(client):
    route = respx.patch(f"{BASE}/pages/pg1/components/c1").respond(200, json={"id": "c1"})
    client.set_component("c1", "major_outage")
    client.set_component("c1", "operational")
    client.set_component("c1", "operational")
    assert route.call_count == 3 and client.fake.slept == [1.0, 1.0]
    assert route.calls[0].request.headers["Authorization"] == f"OAuth {KEY}"


@respx.mock
@pytest.mark.parametrize("code", [420, 429])
def test_rate_limited_waits_retry_after_then_succeeds(client, code):
    route = respx.post(f"{BASE}/pages/pg1/incidents").mock(side_effect=[
        httpx.Response(code, headers={"Retry-After": "3"}, json={"error": "rate limited"}),
        httpx.Response(201, json={"id": "inc123"})])
    assert client.create_incident("Outage: API", "investigating", "API is down.", {"c1": "major_outage"}) == "inc123"
    assert route.call_count == 2 and 3.0 in client.fake.slept


@respx.mock
def test_rate_limited_for_good_is_an_error_in_words(client):
    respx.patch(f"{BASE}/pages/pg1/incidents/inc1").respond(429, json={"error": "slow down"})
    with pytest.raises(IntegrationError) as caught:
        client.update_incident("inc1", "monitoring", "Fixed.", {})
    assert "kept rate limiting Fireline" in str(caught.value) and KEY not in str(caught.value)


@respx.mock
def test_5xx_is_retried_on_patch_but_never_on_post(client):
    patch = respx.patch(f"{BASE}/pages/pg1/incidents/inc1").mock(side_effect=[
        httpx.Response(503), httpx.Response(200, json={"id": "inc1"})])
    client.update_incident("inc1", "resolved", "All good.", {"c1": "operational"})
    assert patch.call_count == 2
    post = respx.post(f"{BASE}/pages/pg1/incidents").respond(500)
    with pytest.raises(IntegrationError) as caught:
        client.create_incident("Outage", "investigating", "Down.", {})
    assert post.call_count == 1 and "not repeated" in str(caught.value)


@respx.mock
def test_refusals_say_which_setting_to_check(client):
    respx.patch(f"{BASE}/pages/pg1/components/c9").respond(404, json={"error": "not found"})
    respx.patch(f"{BASE}/pages/pg1/components/c8").respond(401, json={"error": "bad key"})
    respx.patch(f"{BASE}/pages/pg1/components/c7").respond(422, json={"error": ["status is invalid"]})
    for component, words in (("c9", "STATUSPAGE_COMPONENTS"), ("c8", "STATUSPAGE_API_KEY"),
                             ("c7", "status is invalid")):
        with pytest.raises(IntegrationError) as caught:
            client.set_component(component, "operational")
        assert words in str(caught.value) and KEY not in str(caught.value)


def test_a_failed_sync_is_said_in_the_channel_and_the_page_keeps_the_update(sqlite_url, clock):
    container = make_container(
        sqlite_url, statuspage_api_url=BASE, statuspage_api_key=KEY, statuspage_page_id="pg1",
        statuspage_components="API=c1,Payments=c2", clock=clock)
    container.parts.put(sync.CLIENT_FACTORY, lambda s: StatuspageClient(BASE, KEY, "pg1", sleep=lambda _: None))
    statuspage_client._next_slot.clear()
    with respx.mock:
        respx.post(f"{BASE}/pages/pg1/incidents").respond(500)
        out = io.StringIO()
        run_console(container, io.StringIO("/incident declare Checkout returns 502 sev1\n"
                                           "/incident statuspage API\n!Publish\n"), out)
    assert "on Fireline's status page but not on Statuspage" in out.getvalue()
    assert [e.kind for e in events(container, "statuspage")] == ["statuspage_failed"]
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    page = TestClient(build_http_app(container, build_bolt_app(container)))
    assert page.get("/api/v2/status.json").json()["status"]["indicator"] == "critical"


def check_lines(url: str, **overrides) -> dict[str, tuple[str, str]]:
    from bot.app.cli import cli_registry

    checks = cli_registry(None).checks
    settings = make_settings(url, **overrides)
    return {name: (status.state, status.detail) for name in ("status-page", "providers", "statuspage")
            for status in [checks[name](settings)]}


def test_check_reports_each_status_page_setting(sqlite_url):
    """A "live" line has asked the service: the providers' pages are read now (here from a loopback stand-in)."""
    from tests.features.providers.test_providers import OPERATIONAL, Pages, degraded

    pages = Pages()
    try:
        minor = dict(degraded("2026-11-25T13:50:00.000Z"), status={"indicator": "minor", "description": "Minor"},
                     incidents=[])
        minor["components"] = [*minor["components"], {"name": "DNS", "status": "degraded_performance",
                                                      "group": False}]
        listed = f"Fly.io={pages.serve('/fly', OPERATIONAL)},Cloudflare={pages.serve('/cf', minor)}"
        default = check_lines(sqlite_url, provider_status_pages=listed)
        assert sorted(pages.hits) == ["/cf/api/v2/summary.json", "/fly/api/v2/summary.json"]
        assert default["status-page"][0] == "live"
        assert "5 components: API, Web app, Realtime" in default["status-page"][1]
        assert default["providers"] == ("live", "Fly.io: all operational; Cloudflare: minor (2 components degraded)")
        assert default["statuspage"][0] == "off"

        broken = check_lines(sqlite_url, provider_status_pages=f"{listed},Stripe={pages.url}/stripe")
        assert broken["providers"] == (
            "error", f"could not read Stripe's status page ({pages.url}/stripe/api/v2/summary.json): it answered "
                     "HTTP 404; fix PROVIDER_STATUS_PAGES (Name=https://status page, comma-separated) or this "
                     "machine's network. Read: Fly.io: all operational; Cloudflare: minor (2 components degraded)")
    finally:
        pages.close()
    gone = check_lines(sqlite_url, provider_status_pages="Gone=http://127.0.0.1:9")["providers"]
    assert gone[0] == "error" and "Gone's status page (http://127.0.0.1:9/api/v2/summary.json): could not " \
                                  "connect (ConnectError)" in gone[1]
    assert check_lines(sqlite_url)["providers"][0] == "off"
    assert check_lines(sqlite_url, statuspage_page_id="pg1")["statuspage"][0] == "dry-run"
    assert check_lines(sqlite_url, statuspage_api_key=KEY)["statuspage"][0] == "error"
    wrong = check_lines(sqlite_url, statuspage_page_id="pg1", statuspage_components="Billing=c1")["statuspage"]
    assert wrong[0] == "error" and "Billing" in wrong[1]
    assert check_lines(sqlite_url, status_components=" , ")["status-page"][0] == "error"


@pytest.mark.prism
def test_check_asks_statuspage_for_the_page(prism, sqlite_url):
    """With a key, "live" names the page Statuspage answered with (the official spec's example page)."""
    url = prism("statuspage")
    line = check_lines(sqlite_url, statuspage_api_url=url, statuspage_page_id="pg1", statuspage_api_key=KEY,
                       statuspage_components="API=c1")["statuspage"]
    assert line == ("live", f'"My Company Status" (page pg1) at {url}; 1 component(s) mapped')


@pytest.mark.parametrize("status, words", [
    (401, "Statuspage refused STATUSPAGE_API_KEY (HTTP 401): check the key under API info in Statuspage."),
    (404, "Statuspage does not know that page or item (HTTP 404) while trying to read the page: check "
          "STATUSPAGE_PAGE_ID and STATUSPAGE_COMPONENTS."),
])
def test_check_says_why_statuspage_refused(sqlite_url, status, words):
    base = "http://127.0.0.1:9/v1"
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{base}/pages/pg1").respond(status, json={"error": f"bad key {KEY}"})
        line = check_lines(sqlite_url, statuspage_api_url=base, statuspage_page_id="pg1",
                           statuspage_api_key=KEY + str(status))["statuspage"]
    assert line == ("error", words)
    assert KEY not in line[1]


def test_check_never_prints_the_statuspage_key(sqlite_url):
    base = "http://127.0.0.1:9/v1"
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{base}/pages/pg1").respond(422, json={"error": f"no such key {KEY}x"})
        line = check_lines(sqlite_url, statuspage_api_url=base, statuspage_page_id="pg1",
                           statuspage_api_key=KEY + "x")["statuspage"]
    assert line[0] == "error" and "HTTP 422" in line[1] and KEY not in line[1] and "[redacted]" in line[1]
    unreachable = check_lines(sqlite_url, statuspage_api_url="http://127.0.0.1:9/v1", statuspage_page_id="pg1",
                              statuspage_api_key=KEY + "y")["statuspage"]
    assert unreachable == ("error", "Could not reach Statuspage to read the page (ConnectError). Check "
                                    "STATUSPAGE_API_URL (http://127.0.0.1:9/v1; default "
                                    "https://api.statuspage.io/v1) and that this machine can reach it")


@pytest.mark.prism
def test_from_signed_slack_requests_the_update_reaches_statuspage(prism, sqlite_url, recorder, clock):
    from tests.support.factories import slack_harness

    container = make_container(
        sqlite_url, recorder, responders="U0LEAD", statuspage_api_url=prism("statuspage"), statuspage_api_key=KEY,
        statuspage_page_id="pg1abc", statuspage_components="API=cmpapi01,Web app=cmpweb02", clock=clock)
    container.parts.put(sync.CLIENT_FACTORY, lambda s: StatuspageClient(
        s.statuspage_api_url, s.statuspage_api_key.get_secret_value(), s.statuspage_page_id, sleep=lambda _: None))
    for slack in slack_harness(container, recorder):
        slack.command("declare Login fails for everyone sev1")
        slack.command('statuspage API, "Web app"', channel_id="CINC0001")
        from bot.store.models.status import StatusUpdate

        with Session(container.engine) as session:
            [draft] = session.exec(select(StatusUpdate)).all()
        slack.press("status_publish", publish_value(draft), channel_id="CINC0001")
        summary = slack.client.get("/api/v2/summary.json").json()
        assert summary["status"]["indicator"] == "critical"
        [synced] = events(container, "statuspage")
        assert synced.kind == "statuspage_synced" and "API: major_outage, Web app: major_outage" in synced.text
        with Session(container.engine) as session:
            assert session.get(StatusUpdate, draft.id).external_id
    container.engine.dispose()
