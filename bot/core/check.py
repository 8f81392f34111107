"""`fireline check`: for each integration, configured, live, or dry-run, and why.

Each line is registered like any command (`registry.check(name)` in a feature's or plug-in's
`register(registry)`); the core lines (Slack, database, Sentry) are registered by `register` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import text

from bot.store.db import current_revisions, head_revisions, make_engine
from bot.core.settings import Settings

if TYPE_CHECKING:
    from bot.core.registry import Registry


@dataclass
class Status:
    name: str
    state: str  # "live" | "dry-run" | "off" | "error"
    detail: str


def check_slack(settings: Settings) -> Status:
    """Asks Slack (`auth.test`): a token that is merely set said "live" even when revoked or mistyped."""
    missing = [name for name, value in (("SLACK_BOT_TOKEN", settings.slack_bot_token),
                                        ("SLACK_SIGNING_SECRET", settings.slack_signing_secret)) if not value]
    if missing:
        return Status("slack", "dry-run", f"{' and '.join(missing)} not set: only `fireline console` works")
    from slack_sdk.errors import SlackApiError

    from bot.adapters.slack.slack_chat import _slack_error, _transport_error, make_web_client

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


def check_database(settings: Settings) -> Status:
    url = settings.sqlalchemy_url
    kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return Status("database", "error", f"{kind} unreachable: {type(exc).__name__}")
    finally:
        engine.dispose()
    current, heads = current_revisions(url), head_revisions(url)
    if current != heads:
        return Status("database", "live", f"{kind} reachable; schema needs `fireline db upgrade` "
                                          f"({len(heads - current)} migration branch(es) behind)")
    return Status("database", "live", f"{kind} reachable, schema up to date")


def check_sentry(settings: Settings) -> Status:
    """Parses SENTRY_DSN and sends Sentry one envelope: "live" only when Sentry accepted it.

    A DSN that was merely set said "live" while a mistyped one dropped every event. The envelope holds a client
    report (what the SDK sends about events it discarded) with nothing discarded: Sentry answers it like any
    event, checking the key and project, and it adds no issue to anybody's list. The DSN is never echoed.
    """
    if not settings.sentry_dsn:
        return Status("sentry", "off", "SENTRY_DSN not set: errors are only logged")
    import json
    import time

    import httpx
    from sentry_sdk.consts import VERSION
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        auth = Dsn(settings.sentry_dsn.get_secret_value()).to_auth(client=f"fireline-check/{VERSION}")
    except BadDsn as exc:
        return Status("sentry", "error", f"SENTRY_DSN is not a DSN ({exc}): copy it from Sentry's project "
                                         "settings, Client Keys (DSN), as https://<key>@<host>/<project>")
    url = auth.get_api_url()
    report = json.dumps({"timestamp": time.time(), "discarded_events": []})
    envelope = f"{{}}\n{json.dumps({'type': 'client_report', 'length': len(report)})}\n{report}\n"
    where = f"{auth.host}, project {auth.project_id}"
    try:
        answer = httpx.post(url, content=envelope.encode(), timeout=8,
                            headers={"X-Sentry-Auth": auth.to_header(),
                                     "Content-Type": "application/x-sentry-envelope"})
    except httpx.HTTPError as exc:
        return Status("sentry", "error", f"could not reach Sentry at {where} ({type(exc).__name__}): check "
                                         "SENTRY_DSN's host and that this machine can reach it")
    if answer.status_code in (401, 403):
        return Status("sentry", "error", f"Sentry at {where} refused the DSN's key (HTTP {answer.status_code}): "
                                         "the key was revoked or belongs to another project; copy the DSN again")
    if answer.status_code >= 300:
        return Status("sentry", "error", f"Sentry at {where} answered HTTP {answer.status_code} to an envelope: "
                                         "check SENTRY_DSN's project id")
    return Status("sentry", "live", f"an envelope accepted by {where}; errors reported "
                                    f"(environment {settings.sentry_environment})")


def check_secrets(settings: Settings) -> Status:
    """The secrets that guard routes: an empty or short one is an error (`serve`, `socket` and `web` refuse it)."""
    problems = settings.weak_route_secrets()
    if problems:
        return Status("secrets", "error", " ".join(problems))
    guarded = [name.upper() for name in Settings.route_secrets() if getattr(settings, name) is not None]
    return Status("secrets", "live" if guarded else "off",
                  f"{', '.join(guarded)} long enough" if guarded else "no route-guarding secret is set")


def register(registry: Registry) -> None:
    registry.check("slack")(check_slack)
    registry.check("secrets")(check_secrets)
    registry.check("database")(check_database)
    registry.check("sentry")(check_sentry)


def run_checks(settings: Settings, registry: Registry) -> list[Status]:
    results = []
    for name, check in registry.checks.items():
        try:
            results.append(check(settings))
        except Exception as exc:
            results.append(Status(name, "error", f"check failed: {type(exc).__name__}"))
    return results
