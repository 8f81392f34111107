"""`fireline check` for Fly, the health endpoints and RESPONDERS."""

from __future__ import annotations

from bot.clients.fly.check import check_fly, check_health, check_responders
from tests.support.factories import make_settings
from tests.support.fly_fixtures import fly_settings


def test_without_a_token_fly_is_a_dry_run(sqlite_url):
    status = check_fly(make_settings(sqlite_url))
    assert status.state == "dry-run" and "FLY_API_TOKEN not set" in status.detail


def test_token_without_app_is_an_error(sqlite_url):
    status = check_fly(make_settings(sqlite_url, fly_api_token="t0ken-123456"))
    assert status.state == "error" and "FLY_APP is empty" in status.detail


def test_live_fly_and_health(sqlite_url, recorder, fake_fly):
    settings = fly_settings(sqlite_url, recorder, fake_fly)
    status = check_fly(settings)
    assert status.state == "live" and "cgraph-api: 4 machines, 4 started (min 2, max 20)" in status.detail
    assert "Postgres app cgraph-db" in status.detail
    health = check_health(settings)
    assert health.state == "live" and "HTTP 200" in health.detail
    fake_fly.health_status = 503
    assert check_health(settings).state == "error"


def test_rejected_token_is_an_error_that_never_shows_it(sqlite_url, recorder, fake_fly):
    fake_fly.script("GET", r"/machines$", (401, {"error": "token is not valid"}))
    settings = fly_settings(sqlite_url, recorder, fake_fly)
    status = check_fly(settings)
    assert status.state == "error" and "FLY_API_TOKEN" in status.detail and "401" in status.detail
    assert settings.fly_api_token.get_secret_value() not in status.detail


def test_responders(sqlite_url):
    assert check_responders(make_settings(sqlite_url)).state == "off"
    status = check_responders(make_settings(sqlite_url, responders="U0LEAD,@oncall"))
    assert status.state == "live" and "U0LEAD, @oncall" in status.detail


def test_minimum_above_maximum_is_an_error_before_fly_is_asked(sqlite_url, recorder, fake_fly):
    status = check_fly(fly_settings(sqlite_url, recorder, fake_fly, fly_min_machines=5, fly_max_machines=3))
    assert status.state == "error" and "FLY_MIN_MACHINES (5) is above FLY_MAX_MACHINES (3)" in status.detail
    assert fake_fly.requests == []
    fake_fly.apps["cgraph-api"] = {}
    fake_fly.add("m1aaaaaaaaaaaa", "iad")
    assert "cgraph-api: 1 machine, 1 started" in check_fly(fly_settings(sqlite_url, recorder, fake_fly)).detail


def test_the_postgres_app_is_asked_for_not_echoed(sqlite_url, recorder, fake_fly):
    """FLY_DB_APP was printed as set without asking Fly: a mistyped name read as fine until a restore needed it."""
    status = check_fly(fly_settings(sqlite_url, recorder, fake_fly, fly_db_app="cgraph-dbb"))
    assert status.state == "error" and "Fly does not know FLY_DB_APP 'cgraph-dbb' (HTTP 404)" in status.detail
    assert fake_fly.calls("GET", "^/v1/apps/cgraph-dbb/machines$")
    live = check_fly(fly_settings(sqlite_url, recorder, fake_fly))
    assert live.state == "live" and "Postgres app cgraph-db: 2 machines, 2 started" in live.detail
    fake_fly.script("GET", "^/v1/apps/cgraph-db/machines$", (401, {"error": "token has no access to cgraph-db"}))
    refused = check_fly(fly_settings(sqlite_url, recorder, fake_fly))
    assert refused.state == "error" and refused.detail.startswith("FLY_DB_APP cgraph-db: ") and "401" in refused.detail


def test_the_sentry_read_line_is_live_only_after_sentry_answered(sqlite_url):
    """`fireline check` had no line for SENTRY_API_TOKEN/ORG/PROJECT; now it asks Sentry for a count."""
    from bot.features.deploy_watch.sentry import check_sentry_api
    from tests.support.fake_sentry import TOKEN, FakeSentry

    assert check_sentry_api(make_settings(sqlite_url)).state == "off"
    partial = check_sentry_api(make_settings(sqlite_url, sentry_api_token=TOKEN))
    assert partial.state == "error" and "SENTRY_ORG and SENTRY_PROJECT not set" in partial.detail
    fake = FakeSentry(counts={None: 12})
    try:
        live = check_sentry_api(make_settings(sqlite_url, **fake.settings()))
        assert live.state == "live" and live.detail == f"cgraph/cgraph-api at {fake.url}: 12 errors in the last hour"
        assert [path for path, _ in fake.requests] == ["/api/0/organizations/cgraph/events-timeseries/"]
        revoked = {**fake.settings(), "sentry_api_token": "sntrys_revoked"}
        refused = check_sentry_api(make_settings(sqlite_url, **revoked))
        assert refused.state == "error" and "refused SENTRY_API_TOKEN (HTTP 401)" in refused.detail
        assert "sntrys_revoked" not in refused.detail
        missing = check_sentry_api(make_settings(sqlite_url, **{**fake.settings(), "sentry_org": "cgrph"}))
        assert missing.state == "error" and "check SENTRY_ORG and SENTRY_PROJECT" in missing.detail
    finally:
        fake.close()
    from bot.app.assembly import feature_registry

    assert "sentry-api" in feature_registry().checks
