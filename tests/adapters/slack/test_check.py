"""`fireline check` asks Slack (auth.test) whether the bot token works, instead of trusting that it is set."""

from __future__ import annotations

from bot.adapters.slack.check import check_slack
from tests.support.factories import make_settings


def test_a_working_token_is_live_and_says_who_the_bot_is(sqlite_url, recorder):
    status = check_slack(make_settings(sqlite_url, recorder))
    assert recorder.methods() == ["auth.test"]
    assert status.state == "live", status
    assert "fireline" in status.detail and "Acme" in status.detail  # the bot's name and workspace, from Slack


def test_a_revoked_token_is_an_error_with_what_to_do(sqlite_url, recorder):
    recorder.fail("auth.test", "invalid_auth")
    settings = make_settings(sqlite_url, recorder)
    status = check_slack(settings)
    assert status.state == "error", status
    assert "invalid_auth" in status.detail and "SLACK_BOT_TOKEN" in status.detail
    assert "OAuth & Permissions" in status.detail  # where to get a new one
    assert settings.slack_bot_token.get_secret_value() not in status.detail


def test_a_wrong_url_is_an_error_naming_the_setting(sqlite_url, recorder):
    nothing_there = make_settings(sqlite_url, slack_api_url="http://127.0.0.1:9/api/")
    status = check_slack(nothing_there)
    assert status.state == "error", status
    assert "could not reach Slack" in status.detail and "SLACK_API_URL" in status.detail

    recorder.http_status("auth.test", 404)  # something answers, but it is not Slack's Web API
    status = check_slack(make_settings(sqlite_url, recorder))
    assert status.state == "error" and "HTTP 404" in status.detail and "SLACK_API_URL" in status.detail
