"""Who may see the team pages: Sign in with Slack through a local OIDC stand-in, one-time links, cookies, CSRF.

Forged, expired and replayed links, codes and cookies are each refused with words and no session.
"""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.app.assembly import build_container
from bot.store.db import session_scope
from bot.store.models import WebLoginLink
from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from bot.adapters.web import auth
from tests.support.factories import make_container, make_settings
from tests.support.harness import SlackHarness
from tests.support.oidc import oidc_settings, oidc_stand_in


@pytest.fixture
def stand_in():
    with oidc_stand_in() as (server, url):
        yield server, url


def _web(url, recorder, clock, **overrides):
    container = make_container(url, recorder, **overrides, clock=clock)
    client = TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False,
                        follow_redirects=False)
    return container, client


@pytest.fixture
def web(db_url, recorder, clock, stand_in):
    container, client = _web(db_url, recorder, clock, **oidc_settings(stand_in[1]))
    with client:
        yield container, client
    container.engine.dispose()


def sign_in_with_slack(client, name="Aisha Khan", next_path="/team/"):
    """Walk the real flow: our redirect, the stand-in's page and form, our callback. Returns the callback answer."""
    start = client.get("/team/login/slack", params={"next": next_path})
    assert start.status_code == 303
    authorize = start.headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlparse(authorize).query).items()}
    assert query["scope"] == "openid profile" and query["response_type"] == "code"
    assert httpx.get(authorize).status_code == 200  # the stand-in's sign-in page
    back = httpx.post(authorize.split("?")[0], data={**query, "name": name})
    assert back.status_code == 303
    callback = urlparse(back.headers["location"])
    return client.get(f"{callback.path}?{callback.query}")


def test_unsigned_readers_are_sent_to_sign_in(web):
    _, client = web
    for path in ("/team/", "/team/incidents/1", "/team/postmortems", "/team/insights"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/team/login?next=")
    page = client.get("/team/login")
    assert page.status_code == 200 and "Sign in with Slack" in page.text
    assert "no-store" in page.headers["cache-control"] and "script-src" not in page.headers["content-security-policy"]


def test_sign_in_with_slack_through_the_stand_in(web):
    _, client = web
    answer = sign_in_with_slack(client, next_path="/team/insights")
    assert answer.status_code == 303 and answer.headers["location"] == "/team/insights"
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("fireline_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Max-Age=43200" in cookie
    page = client.get("/team/")
    assert page.status_code == 200 and "Aisha Khan" in page.text and "Incidents" in page.text


def test_another_workspace_is_refused(web, stand_in):
    _, client = web
    stand_in[0].foreign_team = True
    answer = sign_in_with_slack(client)
    assert answer.status_code == 403 and "not in this workspace" in answer.text
    assert "fireline_session" not in client.cookies
    assert client.get("/team/").status_code == 303


def test_forged_state_missing_flow_and_replayed_code_are_refused(web, stand_in):
    container, client = web
    start = client.get("/team/login/slack")
    query = {k: v[0] for k, v in parse_qs(urlparse(start.headers["location"]).query).items()}
    back = httpx.post(f"{stand_in[1]}/authorize", data={**query, "name": "Mallory"})
    code = parse_qs(urlparse(back.headers["location"]).query)["code"][0]
    forged = client.get("/team/auth/callback", params={"code": code, "state": "forged-state"})
    assert forged.status_code == 403 and "does not match" in forged.text
    fresh = TestClient(client.app, raise_server_exceptions=False, follow_redirects=False)  # no flow cookie
    assert "not started here" in fresh.get("/team/auth/callback", params={"code": code, "state": query["state"]}).text
    assert "fireline_session" not in client.cookies
    first = client.get("/team/auth/callback", params={"code": code, "state": query["state"]})
    assert first.status_code == 303  # the real one still works: refusals above spent nothing
    replayed = client.get("/team/auth/callback", params={"code": code, "state": query["state"]})
    assert replayed.status_code == 403 and "not started here" in replayed.text  # the flow cookie is gone
    again = client.get("/team/login/slack")  # a new flow, the old code: Slack (the stand-in) refuses it
    state = parse_qs(urlparse(again.headers["location"]).query)["state"][0]
    reused = client.get("/team/auth/callback", params={"code": code, "state": state})
    assert reused.status_code == 403 and "did not accept" in reused.text


def test_forged_expired_and_misused_cookies_are_refused(web):
    container, client = web
    settings = container.settings
    _, good = auth.new_session(settings, "U0AISHA", "TFIRELINE1", "Aisha Khan")
    body, mac = good.split(".")
    tampered_body = auth._b64(auth._unb64(body).replace(b"Aisha Khan", b"Admin Evil"))
    _, expired = auth.new_session(settings, "U0AISHA", "TFIRELINE1", "Aisha Khan", now=time.time() - 13 * 3600)
    other_key = make_settings("sqlite://", web_session_secret="another-secret-entirely-0123456789")
    _, foreign = auth.new_session(other_key, "U0AISHA", "TFIRELINE1", "Aisha Khan")
    flow = auth.sign(settings, "oidc-flow", {"u": "U0AISHA", "t": "T", "n": "x", "c": "c",
                                             "exp": int(time.time()) + 60})
    for value in (f"{tampered_body}.{mac}", expired, foreign, flow, "garbage", good + "x", "a.b.c"):
        client.cookies.set("fireline_session", value, path="/team")
        assert client.get("/team/").status_code == 303, value
        client.cookies.clear()
    client.cookies.set("fireline_session", good, path="/team")
    assert client.get("/team/").status_code == 200


def test_sign_out_needs_the_csrf_token(web):
    container, client = web
    reader, value = auth.new_session(container.settings, "U0AISHA", "TFIRELINE1", "Aisha Khan")
    client.cookies.set("fireline_session", value, path="/team")
    page = client.get("/team/")
    assert f'name="csrf" value="{reader.csrf}"' in page.text
    refused = client.post("/team/logout", data={"csrf": "guessed"})
    assert refused.status_code == 403 and "nothing was done" in refused.text
    assert client.post("/team/logout", data={}).status_code == 403
    done = client.post("/team/logout", data={"csrf": reader.csrf})
    assert done.status_code == 303 and 'fireline_session=""' in done.headers["set-cookie"]


def test_next_never_leaves_the_team_pages(web):
    _, client = web
    answer = sign_in_with_slack(client, next_path="//evil.example/steal")
    assert answer.headers["location"] == "/team/"


# -- one-time links --------------------------------------------------------------------------------------
@pytest.fixture
def linked(db_url, recorder, clock):
    container, client = _web(db_url, recorder, clock, web_base_url="https://fireline.example.com",
                             web_link_minutes=5)
    with client:
        yield SlackHarness(container, recorder, client), client
    container.engine.dispose()


def _link_from_dm(harness) -> str:
    harness.command("web", user_id="U0AISHA")
    dms = [c for c in harness.recorder.of("chat.postMessage") if c.data.get("channel") == "U0AISHA"]
    assert dms, harness.recorder.methods()
    text = dms[-1].text()
    start = text.index("https://fireline.example.com/team/login/link?t=")
    return text[start:].split()[0].rstrip(">|")


def test_incident_web_dms_a_one_time_link_stored_hashed(linked):
    harness, client = linked
    url = _link_from_dm(harness)
    assert "DM" in harness.reply_text() and "/team/login/link" not in harness.reply_text()
    token = parse_qs(urlparse(url).query)["t"][0]
    with session_scope(harness.container.engine) as session:
        stored = session.execute(select(WebLoginLink)).scalars().all()
    assert len(stored) == 1 and stored[0].token_hash != token and token not in stored[0].token_hash
    shown = client.get(f"/team/login/link?t={token}")
    assert shown.status_code == 200 and "Continue" in shown.text  # a link preview's GET spends nothing
    signed = client.post("/team/login/link", data={"t": token})
    assert signed.status_code == 303 and "fireline_session" in signed.headers["set-cookie"]
    assert "Secure" in signed.headers["set-cookie"]  # WEB_BASE_URL is https
    client.cookies.clear()
    replayed = client.post("/team/login/link", data={"t": token})
    assert replayed.status_code == 403 and "already used" in replayed.text
    assert "set-cookie" not in replayed.headers


def test_expired_and_forged_links_are_refused(linked, clock):
    harness, client = linked
    token = parse_qs(urlparse(_link_from_dm(harness)).query)["t"][0]
    clock.advance(minutes=6)
    expired = client.post("/team/login/link", data={"t": token})
    assert expired.status_code == 403 and "expired" in expired.text and "set-cookie" not in expired.headers
    for forged in ("", "x" * 500, token[:-1] + ("A" if token[-1] != "A" else "B")):
        answer = client.post("/team/login/link", data={"t": forged})
        assert answer.status_code == 403 and "not a sign-in link" in answer.text


def test_a_link_is_spent_once_even_when_raced(db_url, recorder, clock):
    container = make_container(db_url, recorder, clock=clock)
    try:
        token = auth.issue_link(container.engine, container.settings, "U1", "Ana", clock())
        results = [auth.redeem_link(container.engine, token, clock()) for _ in range(3)]
        assert [r is not None for r in results] == [True, False, False]
        assert auth.redeem_link(container.engine, token, clock() + timedelta(minutes=1)) is None
    finally:
        container.engine.dispose()


def test_without_oidc_the_sign_in_page_says_what_to_type(linked):
    _, client = linked
    page = client.get("/team/login")
    assert "/incident web" in page.text and "Sign in with Slack" not in page.text
    assert client.get("/team/login/slack").status_code == 400


# -- `fireline web --dev` ---------------------------------------------------------------------------------
def test_fireline_web_dev_signs_in_through_its_stand_in_on_loopback(sqlite_url, recorder):
    from bot.app.assembly import assemble
    from bot.adapters.web.dev import dev_app
    from tests.support.oidc import free_port, serve_app

    port = free_port()
    settings = make_settings(sqlite_url, recorder)
    app, container = dev_app(settings, assemble(settings), port)
    try:
        with serve_app(app, port) as base, httpx.Client(base_url=base, follow_redirects=True) as browser:
            status = browser.get("/")  # the public status page, as `fireline serve` answers it
            assert status.status_code == 200 and "All Systems Operational" in status.text
            assert browser.get("/history.atom").headers["content-type"].startswith("application/atom+xml")
            login = browser.get("/team/")
            assert login.url.path == "/team/login" and "Sign in with Slack" in login.text
            authorize = browser.get("/team/login/slack")
            assert "Development sign-in" in authorize.text and "development only" in authorize.text
            assert "value='console'" in authorize.text and "the console's user" in authorize.text
            query = dict(authorize.url.params)
            landed = browser.post("/team/dev-oidc/authorize", data={**query, "name": "New Person"})
            assert landed.url.path == "/team/" and "New Person" in landed.text and "Incidents" in landed.text
    finally:
        container.engine.dispose()


def test_fireline_web_refuses_other_hosts_and_says_what_to_run(sqlite_url, monkeypatch, capsys):
    import logging

    from bot.app.cli import main

    root = logging.getLogger()  # `main` sets up logging for the process: put it back for the tests after this one
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["web", "--dev", "--host", "0.0.0.0"]) == 2
    assert "loopback only" in capsys.readouterr().err
    assert main(["web"]) == 2
    assert "fireline web --dev" in capsys.readouterr().err


def test_the_manifest_asks_what_sign_in_with_slack_needs():
    """Sign in with Slack needs the `openid` and `profile` user scopes and the callback among the redirect URLs."""
    from pathlib import Path

    import yaml

    manifest = yaml.safe_load((Path(__file__).resolve().parents[3] / "slack-manifest.yml").read_text())
    assert {"openid", "profile"} <= set(manifest["oauth_config"]["scopes"]["user"])
    assert any(url.endswith("/team/auth/callback") for url in manifest["oauth_config"]["redirect_urls"])


def test_the_link_names_the_port_fireline_serve_listens_on(sqlite_url, recorder):
    """`fireline serve --port 3999` without PORT sent links to port 3000, where nothing listened. A real serve
    (its worker a forked child) answers `/incident web` with a link to the port it serves, and its page opens."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    from tests.support.oidc import free_port
    from tests.support.signing import SIGNING_SECRET, sign, slash_body
    from tests.app.test_worker import wait_for

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "WEB_BASE_URL")}
    env.update(DATABASE_URL=sqlite_url, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_BOT_TOKEN="xoxb-test",
               SLACK_API_URL=recorder.api_url, LOG_LEVEL="WARNING", PROVIDER_STATUS_PAGES="")
    server = subprocess.Popen([sys.executable, "-m", "bot.app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=Path(__file__).resolve().parents[3], env=env, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        if not wait_for(ready, 90):  # as long as the benches' and replicas' wait_up: CI's machine may be loaded
            server.terminate()
            pytest.fail(f"fireline serve did not become ready: {server.communicate(timeout=15)[1].decode()[-3000:]}")
        body = slash_body("web", user_id="U0AISHA", response_url=recorder.response_url())
        answer = httpx.post(f"{base}/slack/events", content=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
        assert answer.status_code == 200

        def dm() -> str:
            return next((c.text() for c in recorder.of("chat.postMessage") if c.data.get("channel") == "U0AISHA"), "")

        assert wait_for(lambda: "/team/login/link?t=" in dm(), 30), recorder.methods()
        link = dm()[dm().index("http"):].split()[0].rstrip(">|")
        assert link.startswith(f"{base}/team/login/link?t="), link
        assert httpx.get(link, timeout=5).status_code == 200  # the link opens where it says
    finally:
        server.terminate()
        server.wait(10)


# -- sessions end, forms come from here, a sign-in works once ------------------------------------------
def test_sign_out_ends_the_session_and_every_copy_of_its_cookie(web):
    container, client = web
    reader, value = auth.new_session(container.settings, "U0AISHA", "TFIRELINE1", "Aisha Khan")
    _, other_browser = auth.new_session(container.settings, "U0AISHA", "TFIRELINE1", "Aisha Khan")
    client.cookies.set("fireline_session", value, path="/team")
    assert client.get("/team/").status_code == 200
    assert client.post("/team/logout", data={"csrf": reader.csrf}).status_code == 303
    for kept in (value, other_browser):  # a copied cookie, and the same person's other browser
        client.cookies.set("fireline_session", kept, path="/team")
        assert client.get("/team/").status_code == 303
        client.cookies.clear()
    answer = sign_in_with_slack(client)  # signing in again works, in the new generation
    assert answer.status_code == 303 and client.get("/team/").status_code == 200


def test_another_sites_form_cannot_sign_a_browser_in_with_a_link(linked):
    harness, client = linked
    token = parse_qs(urlparse(_link_from_dm(harness)).query)["t"][0]
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "same-site", "Origin": "https://other.fireline.example.com"}):
        answer = client.post("/team/login/link", data={"t": token}, headers=headers)
        assert answer.status_code == 403 and "not from this site" in answer.text, headers
        assert "set-cookie" not in answer.headers
    ours = client.post("/team/login/link", data={"t": token},
                       headers={"Origin": "https://fireline.example.com", "Sec-Fetch-Site": "same-origin"})
    assert ours.status_code == 303 and "fireline_session" in ours.headers["set-cookie"]  # the link was unspent


def test_a_sign_in_state_and_its_flow_cookie_work_once(web, stand_in):
    _, client = web
    start = client.get("/team/login/slack")
    flow = client.cookies.get("fireline_signin")
    query = {k: v[0] for k, v in parse_qs(urlparse(start.headers["location"]).query).items()}
    codes = [parse_qs(urlparse(httpx.post(f"{stand_in[1]}/authorize", data={**query, "name": "Aisha Khan"})
                                .headers["location"]).query)["code"][0] for _ in range(2)]
    assert client.get("/team/auth/callback", params={"code": codes[0], "state": query["state"]}).status_code == 303
    client.cookies.clear()
    client.cookies.set("fireline_signin", flow, path="/team/auth")  # kept by whoever saw it
    replayed = client.get("/team/auth/callback", params={"code": codes[1], "state": query["state"]})
    assert replayed.status_code == 403 and "already used" in replayed.text
    assert "fireline_session" not in client.cookies


@pytest.mark.parametrize("changes", [{"nonce": "someone-elses-nonce"}, {"nonce": None}, {"iss": "https://evil.example"},
                                     {"aud": "another-app"}, {"exp": int(time.time()) - 5}, {"sub": "U0MALLORY"}],
                         ids=["nonce", "no-nonce", "issuer", "audience", "expired", "subject"])
def test_the_id_token_must_carry_our_nonce_slacks_issuer_our_audience_and_a_future_expiry(web, stand_in, changes):
    _, client = web
    stand_in[0].id_token_changes = changes
    answer = sign_in_with_slack(client)
    assert answer.status_code == 403 and "Start again" in answer.text
    assert "fireline_session" not in client.cookies and client.get("/team/").status_code == 303


def test_cookies_are_secure_under_fireline_serve_even_behind_plain_http(sqlite_url, recorder, clock, stand_in):
    from bot.core.container import Mode

    container = build_container(make_settings(sqlite_url, recorder, **oidc_settings(stand_in[1])), clock=clock,
                                mode=Mode.SERVE)
    client = TestClient(build_http_app(container, build_bolt_app(container)), follow_redirects=False)
    try:
        flow = client.get("/team/login/slack")
        assert "Secure" in flow.headers["set-cookie"]
        token = auth.issue_link(container.engine, container.settings, "U0AISHA", "Aisha Khan", clock())
        signed = client.post("/team/login/link", data={"t": token})
        assert signed.status_code == 303 and "Secure" in signed.headers["set-cookie"]
    finally:
        container.engine.dispose()
