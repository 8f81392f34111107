"""`fireline check`'s `slack` line: asks Slack whether the bot token works."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot.adapters.slack.slack_chat import _slack_error, _transport_error, make_web_client
from bot.core.check import Status
from bot.core.registry import Registry
from bot.core.settings import Settings


def check_slack(settings: Settings) -> Status:
    """Asks Slack (`auth.test`): a token that is merely set said "live" even when revoked or mistyped."""
    missing = [name for name, value in (("SLACK_BOT_TOKEN", settings.slack_bot_token),
                                        ("SLACK_SIGNING_SECRET", settings.slack_signing_secret)) if not value]
    if missing:
        return Status("slack", "dry-run", f"{' and '.join(missing)} not set: only `fireline console` works")
    url = settings.slack_api_url
    client = make_web_client(settings, timeout=8)
    client.retry_handlers = []  # a check answers now; `serve` retries, this says what is wrong
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        code = str(exc.response.get("error", "")) if exc.response is not None else ""
        if code in ("invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"):
            return Status("slack", "error", f"Slack refused SLACK_BOT_TOKEN ({code}): it is mistyped or was revoked. "
                                            "Copy the Bot User OAuth Token (xoxb-...) from your app's OAuth & "
                                            "Permissions page (reinstall the app to the workspace if it is gone)")
        return Status("slack", "error", f"{_slack_error('auth.test', exc)}: check that SLACK_API_URL ({url}) is "
                                        "Slack's Web API (default https://slack.com/api/)")
    except Exception as exc:
        reason = _transport_error("auth.test", exc)
        return Status("slack", "error", f"{reason}: check SLACK_API_URL ({url}; default https://slack.com/api/) "
                                        "and that this machine can reach it")
    who = f"bot {answer.get('user') or answer.get('user_id')} in {answer.get('team') or answer.get('team_id')}"
    socket = "Socket Mode ready" if settings.slack_app_token else "HTTP only (no SLACK_APP_TOKEN for Socket Mode)"
    return Status("slack", "live", f"{who}, Web API at {url}; {socket}")


def register(registry: Registry) -> None:
    registry.check("slack")(check_slack)
