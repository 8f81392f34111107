"""The Fly client: every request accepted by the official spec (Prism), failure paths with respx."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx
from pydantic import SecretStr

from bot.clients.fly.client import FlyClient
from bot.clients.fly.health import HealthProbe
from bot.clients.fly.http import FlyError, retry_after_seconds
from bot.clients.fly.models import Machine, ulid_time
from bot.clients.fly.releases import FlyGraphQL, ReleaseHistory

TOKEN = "fo1_test-token-SECRET-123456"
BASE = "http://fly.test"
APP = "cgraph-api"
CONFIG = {
    "image": "registry.fly.io/cgraph-api:deployment-01HABC",
    "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 1024},
    "env": {"PHX_HOST": "api.cgraph.org", "PORT": "8080"},
    "metadata": {"fly_process_group": "app"},
    "services": [{"protocol": "tcp", "internal_port": 8080, "autostart": True, "autostop": "off",
                  "min_machines_running": 2,
                  "ports": [{"port": 443, "handlers": ["tls", "http"]}, {"port": 80, "handlers": ["http"]}]}],
}


def client(base: str = BASE, **kwargs) -> tuple[FlyClient, list[float]]:
    sleeps: list[float] = []
    kwargs.setdefault("sleep", sleeps.append)
    return FlyClient(base, SecretStr(TOKEN), APP, **kwargs), sleeps


# -- against the official spec ------------------------------------------------------------------------
@pytest.mark.prism
def test_every_call_is_accepted_by_the_official_spec(prism):
    fly, sleeps = client(prism("fly"), retries=0)
    machine_id = "3d8d9e5f1e2e89"
    with fly:
        assert isinstance(fly.list_machines(), list)
        fly.list_machines(region="iad")
        assert isinstance(fly.get_machine(machine_id), Machine)
        fly.events(machine_id, limit=5)
        fly.versions(machine_id)
        fly.wait(machine_id, "started", timeout_s=30)
        fly.wait(machine_id, "stopped", timeout_s=10, version="01HABCDEFGHJKMNPQRSTVWXYZ0")
        fly.wait(machine_id, "started", from_event_id="01HABCDEFGHJKMNPQRSTVWXYZ1")
        lease = fly.acquire_lease(machine_id, ttl=120, description="fireline: restart for #12")
        fly.get_lease(machine_id)
        fly.restart(machine_id, lease_nonce="nonce-1")
        fly.stop(machine_id, signal="SIGTERM", timeout="30s", lease_nonce="nonce-1")
        fly.stop(machine_id)
        fly.start(machine_id, lease_nonce="nonce-1")
        fly.cordon(machine_id)
        fly.uncordon(machine_id)
        fly.update(machine_id, CONFIG, current_version="01HABCDEFGHJKMNPQRSTVWXYZ0", skip_launch=True,
                   lease_nonce="nonce-1")
        fly.update(machine_id, CONFIG)
        fly.create(CONFIG, region="lhr")
        fly.create(CONFIG, region="iad", name="app-clone-1", skip_launch=True)
        fly.release_lease(machine_id, lease.nonce or "nonce-1")
        fly.destroy(machine_id, force=True)
        fly.destroy(machine_id)
        assert all(call.status and 200 <= call.status < 300 for call in fly.journal), fly.journal
        assert len(fly.journal) == 23 and sleeps == []


# -- retries ------------------------------------------------------------------------------------------
@respx.mock
def test_429_with_retry_after_is_honoured_then_succeeds():
    route = respx.get(f"{BASE}/v1/apps/{APP}/machines").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "rate limited"}),
        httpx.Response(200, json=[{"id": "m1", "state": "started", "region": "iad"}],
                       headers={"fly-request-id": "req-2"})])
    fly, sleeps = client()
    machines = fly.list_machines()
    assert [m.id for m in machines] == ["m1"]
    assert sleeps == [2.0]
    assert route.call_count == 2
    assert [c.status for c in fly.journal] == [429, 200] and fly.journal[-1].request_id == "req-2"


@respx.mock
def test_retry_after_longer_than_the_bound_gives_up_and_says_so():
    respx.post(f"{BASE}/v1/apps/{APP}/machines/m1/restart").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "600"}, json={"error": "slow down"}))
    fly, sleeps = client(max_retry_after=30)
    with pytest.raises(FlyError) as caught:
        fly.restart("m1")
    assert sleeps == []
    assert "wait 600 s" in str(caught.value) and "restart machine m1" in str(caught.value)


@respx.mock
def test_500_then_success_retries_with_backoff():
    route = respx.post(f"{BASE}/v1/apps/{APP}/machines/m1/restart").mock(side_effect=[
        httpx.Response(500, json={"error": "internal"}), httpx.Response(503, text="busy"), httpx.Response(200)])
    fly, sleeps = client(backoff=0.5)
    fly.restart("m1")
    assert route.call_count == 3 and sleeps == [0.5, 1.0]


@respx.mock
def test_5xx_every_time_gives_a_sentence_with_call_machine_and_fly_words():
    respx.post(f"{BASE}/v1/apps/{APP}/machines/m1/start").mock(
        return_value=httpx.Response(502, json={"error": "upstream flyd unavailable"},
                                    headers={"fly-request-id": "01REQ"}))
    fly, sleeps = client(retries=2)
    with pytest.raises(FlyError) as caught:
        fly.start("m1")
    message = str(caught.value)
    assert "Could not start machine m1" in message and "answered 502 (after 3 attempts)" in message
    assert "upstream flyd unavailable" in message and "request id 01REQ" in message
    assert "POST /v1/apps/cgraph-api/machines/m1/start" in message and "status.flyio.net" in message
    assert caught.value.status == 502 and caught.value.machine_id == "m1" and len(sleeps) == 2


@respx.mock
def test_timeouts_are_retried_for_safe_calls_and_reported():
    route = respx.get(f"{BASE}/v1/apps/{APP}/machines/m1").mock(side_effect=httpx.ReadTimeout("slow"))
    fly, sleeps = client(retries=3)
    with pytest.raises(FlyError) as caught:
        fly.get_machine("m1")
    assert route.call_count == 4 and len(sleeps) == 3
    assert "did not answer in time" in str(caught.value) and "after 4 attempts" in str(caught.value)


@respx.mock
def test_timeout_then_success():
    respx.get(f"{BASE}/v1/apps/{APP}/machines/m1").mock(side_effect=[
        httpx.ConnectTimeout("connect"), httpx.Response(200, json={"id": "m1", "state": "started"})])
    fly, sleeps = client()
    assert fly.get_machine("m1").state == "started" and len(sleeps) == 1


@respx.mock
def test_create_is_not_retried_when_fly_may_have_acted():
    route = respx.post(f"{BASE}/v1/apps/{APP}/machines").mock(side_effect=[httpx.ReadTimeout("slow"),
                                                                          httpx.Response(200, json={"id": "m2"})])
    fly, sleeps = client()
    with pytest.raises(FlyError):
        fly.create(CONFIG, region="iad")
    assert route.call_count == 1 and sleeps == []


@respx.mock
def test_create_is_retried_when_nothing_was_sent_or_rate_limited():
    route = respx.post(f"{BASE}/v1/apps/{APP}/machines").mock(side_effect=[
        httpx.ConnectError("refused"), httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(200, json={"id": "m2", "state": "created", "region": "iad"})])
    fly, sleeps = client()
    assert fly.create(CONFIG, region="iad").id == "m2"
    assert route.call_count == 3 and sleeps == [0.5, 1.0]


@respx.mock
def test_connection_refused_says_where_it_tried():
    respx.get(f"{BASE}/v1/apps/{APP}/machines").mock(side_effect=httpx.ConnectError("refused"))
    fly, _ = client(retries=1)
    with pytest.raises(FlyError) as caught:
        fly.list_machines()
    assert "could not reach Fly Machines API at http://fly.test" in str(caught.value)


# -- errors and secrets ---------------------------------------------------------------------------------
@respx.mock
def test_token_is_sent_but_never_shown(caplog):
    caplog.set_level(logging.DEBUG)
    route = respx.post(f"{BASE}/v1/apps/{APP}/machines/m1/restart").mock(return_value=httpx.Response(
        401, json={"error": f"token {TOKEN} is not valid"}))
    fly, _ = client()
    with pytest.raises(FlyError) as caught:
        fly.restart("m1")
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    text = str(caught.value) + repr(caught.value) + caplog.text + repr(fly.journal) + repr(fly.__dict__)
    assert TOKEN not in text
    assert "[redacted]" in str(caught.value) and "FLY_API_TOKEN" in str(caught.value)


@respx.mock
def test_flyv1_tokens_go_as_they_are():
    route = respx.get(f"{BASE}/v1/apps/{APP}/machines").mock(return_value=httpx.Response(200, json=[]))
    fly = FlyClient(BASE, SecretStr("FlyV1 fm2_abc,def"), APP, sleep=lambda s: None)
    fly.list_machines()
    assert route.calls[0].request.headers["Authorization"] == "FlyV1 fm2_abc,def"


@respx.mock
def test_404_names_the_machine_and_the_fix():
    respx.get(f"{BASE}/v1/apps/{APP}/machines/nope").mock(return_value=httpx.Response(
        404, json={"error": "machine not found"}, headers={"fly-request-id": "r404"}))
    fly, sleeps = client()
    with pytest.raises(FlyError) as caught:
        fly.get_machine("nope")
    message = str(caught.value)
    assert message.startswith("Could not read machine nope: Fly Machines API answered 404: machine not found.")
    assert "check FLY_APP" in message and sleeps == []


def test_no_app_is_a_clear_error():
    fly = FlyClient(BASE, SecretStr(TOKEN), "", sleep=lambda s: None)
    with pytest.raises(FlyError, match="set FLY_APP"):
        fly.list_machines()


def test_retry_after_parsing():
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:05 GMT", now) == 5.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


# -- wait, leases, parsing --------------------------------------------------------------------------------
@respx.mock
def test_wait_returns_false_when_fly_times_out():
    route = respx.get(f"{BASE}/v1/apps/{APP}/machines/m1/wait").mock(side_effect=[
        httpx.Response(408, json={"error": "deadline_exceeded"}), httpx.Response(200, json={"ok": True})])
    fly, _ = client()
    assert fly.wait("m1", "started", timeout_s=90, version="v1") is False
    assert fly.wait("m1", "started") is True
    params = dict(route.calls[0].request.url.params)
    assert params == {"state": "started", "timeout": "60", "version": "v1"}


@respx.mock
def test_lease_is_read_from_fly_wrapped_answer_and_sent_on_changes():
    respx.post(f"{BASE}/v1/apps/{APP}/machines/m1/lease").mock(return_value=httpx.Response(
        201, json={"status": "success", "data": {"nonce": "n1", "owner": "me@x", "expires_at": 1}}))
    restart = respx.post(f"{BASE}/v1/apps/{APP}/machines/m1/restart").mock(return_value=httpx.Response(200))
    fly, _ = client()
    lease = fly.acquire_lease("m1", ttl=60)
    assert lease.nonce == "n1" and lease.owner == "me@x"
    fly.restart("m1", lease_nonce=lease.nonce)
    assert restart.calls[0].request.headers["fly-machine-lease-nonce"] == "n1"


def test_machine_parsing_reads_what_playbooks_need():
    machine = Machine.from_api({
        "id": "148ed193b95389", "state": "started", "region": "lhr", "instance_id": "01HV",
        "config": CONFIG, "checks": [{"name": "http", "status": "passing"}, {"name": "tcp", "status": "critical"}],
        "events": [{"id": "e1", "type": "exit", "status": "stopped", "source": "flyd", "timestamp": 1700000000000,
                    "request": {"exit_event": {"exit_code": 137, "oom_killed": True}, "restart_count": 4}}],
        "created_at": "2024-01-15T14:30:00.123456789Z"})
    assert (machine.size, machine.memory_mb, machine.process_group) == ("shared-cpu-1x", 1024, "app")
    assert machine.version == "01HV" and not machine.checks_passing
    assert machine.events[0].is_crash and machine.events[0].restart_count == 4
    assert machine.created_at.year == 2024 and machine.image.endswith("deployment-01HABC")


def test_ulid_time():
    assert ulid_time("01ARZ3NDEKTSV4RRFFQ69G5FAV").year == 2016
    assert ulid_time("bad!") is None


# -- releases -----------------------------------------------------------------------------------------------
GRAPHQL = "http://fly.test/graphql"


@respx.mock
def test_releases_come_from_graphql_newest_first():
    route = respx.post(GRAPHQL).mock(return_value=httpx.Response(200, json={"data": {"app": {"releases": {"nodes": [
        {"id": "r41", "version": 41, "status": "complete", "imageRef": "registry.fly.io/cgraph-api:aaa",
         "createdAt": "2026-11-25T10:00:00Z", "user": {"email": "chen@cgraph.org"}},
        {"id": "r42", "version": 42, "status": "complete", "imageRef": "registry.fly.io/cgraph-api:bbb",
         "createdAt": "2026-11-25T13:40:00Z", "user": {"email": "marcus@cgraph.org"}}]}}}}))
    graphql = FlyGraphQL(GRAPHQL, SecretStr(TOKEN), sleep=lambda s: None)
    releases = graphql.releases(APP, limit=5)
    assert [r.label for r in releases] == ["v42", "v41"] and releases[0].author == "marcus@cgraph.org"
    sent = route.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert b"releasesUnprocessed" in sent.content and b'"appName":"cgraph-api"' in sent.content.replace(b" ", b"")


@respx.mock
def test_releases_fall_back_to_machine_versions_when_graphql_fails():
    respx.post(GRAPHQL).mock(return_value=httpx.Response(200, json={"errors": [{"message": "Could not find App"}]}))
    respx.get(f"{BASE}/v1/apps/{APP}/machines/m1/versions").mock(return_value=httpx.Response(200, json=[
        {"version": "01JA0000000000000000000000", "user_config": {"image": "img:old"}},
        {"version": "01JC0000000000000000000000", "user_config": {"image": "img:new"}},
        {"version": "01JB0000000000000000000000", "user_config": {"image": "img:new"}}]))
    fly, _ = client()
    history = ReleaseHistory(FlyGraphQL(GRAPHQL, SecretStr(TOKEN), sleep=lambda s: None), fly)
    releases = history.recent(APP, machine_id="m1")
    assert [r.image for r in releases] == ["img:new", "img:old"]
    assert releases[0].ref.startswith("01JB")  # when img:new first went out
    assert "Could not find App" in history.note and "version history" in history.note


# -- health -------------------------------------------------------------------------------------------------
@respx.mock
def test_health_probe_reports_status_and_latency():
    respx.get("https://api.cgraph.org/api/health").mock(return_value=httpx.Response(200, text="ok"))
    respx.get("https://origin.cgraph.org/api/health").mock(return_value=httpx.Response(503))
    respx.get("https://down.cgraph.org/api/health").mock(side_effect=httpx.ConnectError("refused"))
    ticks = iter([1.0, 1.085, 2.0, 2.5, 3.0])
    probe = HealthProbe(timer=lambda: next(ticks))
    good = probe.check("https://api.cgraph.org/api/health")
    assert good.ok and good.status == 200 and round(good.latency_ms) == 85 and good.describe() == "HTTP 200 in 85 ms"
    bad = probe.check("https://origin.cgraph.org/api/health")
    assert not bad.ok and bad.status == 503
    down = probe.check("https://down.cgraph.org/api/health")
    assert not down.ok and down.status is None and "ConnectError" in down.describe()


@respx.mock
def test_a_refused_request_says_what_fly_said_and_what_to_do():
    respx.post(f"{BASE}/v1/apps/{APP}/machines/m1").mock(
        return_value=httpx.Response(400, json={"error": "image registry.fly.io/x:gone: manifest unknown"}))
    fly, sleeps = client()
    with pytest.raises(FlyError) as caught:
        fly.update("m1", CONFIG)
    message = str(caught.value)
    assert "answered 400: image registry.fly.io/x:gone: manifest unknown" in message
    assert "Fly refused the request as invalid" in message and "an image the registry does not have" in message
    assert sleeps == [] and TOKEN not in message


@respx.mock
@pytest.mark.parametrize("answer", [httpx.ReadTimeout("slow"), httpx.Response(502, json={"error": "bad gateway"})])
def test_a_create_whose_answer_was_lost_says_it_may_have_happened(answer):
    route = respx.post(f"{BASE}/v1/apps/{APP}/machines").mock(side_effect=[answer, httpx.Response(200, json={})])
    fly, sleeps = client()
    with pytest.raises(FlyError) as caught:
        fly.create(CONFIG, region="iad")
    assert route.call_count == 1 and sleeps == []
    assert "Fly may have done it anyway: check `fly machines list` before trying again." in str(caught.value)


@respx.mock
def test_a_refused_create_is_not_said_to_have_maybe_happened():
    respx.post(f"{BASE}/v1/apps/{APP}/machines").mock(return_value=httpx.Response(422, json={"error": "bad region"}))
    fly, _ = client()
    with pytest.raises(FlyError) as caught:
        fly.create(CONFIG, region="xyz")
    assert "may have done it" not in str(caught.value) and "bad region" in str(caught.value)
