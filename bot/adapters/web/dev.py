"""`fireline web --dev`: the team pages and the public status page on 127.0.0.1, with the development sign-in
stand-in. DEVELOPMENT ONLY.

For a newcomer after `fireline console`, with no Slack: one command, then open http://127.0.0.1:3000/ (the
status page, as customers would see what the console published) and /team/, signing in through
bot/adapters/web/dev_oidc.py, which runs the real Sign in with Slack code against a local stand-in. Its
default name signs in as CONSOLE_USER, the user the console acts as, so the incidents the console made,
private ones included, read as they would to the person who made them (same DATABASE_URL). Anyone
who can reach the stand-in can sign in as anybody, so this binds to loopback only and refuses any other
host; production serves the team pages from `fireline serve` with Slack's real OpenID Connect or
one-time links (`/incident web`).
"""

from __future__ import annotations

import argparse
import secrets
import sys

from pydantic import SecretStr
from starlette.applications import Starlette

from bot.core.registry import Registry
from bot.core.container import Container, Mode, open_container
from bot.core.settings import Settings, refuse_weak_secrets
from bot.adapters.web import dev_oidc, public, team

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEV_PREFIX = "/team/dev-oidc"


def dev_settings(settings: Settings, port: int) -> Settings:
    base = f"http://127.0.0.1:{port}"
    return settings.model_copy(update={
        "slack_team_id": settings.slack_team_id or "TDEVELOPMENT",
        "slack_oidc_client_id": "fireline-dev", "slack_oidc_client_secret": SecretStr(secrets.token_urlsafe(24)),
        "slack_oidc_authorize_url": f"{base}{DEV_PREFIX}/authorize", "slack_oidc_api_url": f"{base}{DEV_PREFIX}/api/",
        "web_base_url": base, "web_session_secret": SecretStr(secrets.token_urlsafe(32))})


def dev_app(settings: Settings, registry: Registry, port: int) -> tuple[Starlette, Container]:
    """The team routes and the stand-in, on settings pointed at it (the caller binds it to loopback)."""
    settings = dev_settings(settings, port)
    secret = settings.slack_oidc_client_secret.get_secret_value() if settings.slack_oidc_client_secret else ""
    stand_in = dev_oidc.StandIn(team_id=settings.slack_team_id, client_id=settings.slack_oidc_client_id,
                                client_secret=secret, default_user=settings.console_user,
                                default_name=settings.console_user)
    container = open_container(settings, registry, mode=Mode.CLI)
    app = Starlette(routes=[*public.routes(container), *team.routes(container), *dev_oidc.routes(stand_in, DEV_PREFIX)])
    app.state.container = container
    return app, container


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dev", action="store_true", help="development only: sign in through a local stand-in")
    parser.add_argument("--host", default="127.0.0.1", help="loopback only (127.0.0.1, localhost or ::1)")
    parser.add_argument("--port", type=int, default=None, help="default: PORT (3000)")


def cmd_web(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    if not args.dev:
        print("fireline web: the team pages are served by `fireline serve` at /team/ (sign in with Slack, or a "
              "one-time link from `/incident web`). For a local look with a development sign-in, run "
              "`fireline web --dev`.", file=sys.stderr)
        return 2
    if refuse_weak_secrets(settings, "web"):
        return 2
    if args.host not in LOOPBACK:
        print(f"fireline web: --dev lets anyone sign in as anybody, so it serves loopback only (127.0.0.1), not "
              f"{args.host[:40]}. Use `fireline serve` for others to reach the team pages.", file=sys.stderr)
        return 2
    import uvicorn

    port = args.port or settings.port
    app, container = dev_app(settings, registry, port)
    print(f"DEVELOPMENT ONLY: the status page is http://127.0.0.1:{port}/ and the team pages "
          f"http://127.0.0.1:{port}/team/ (sign in with the development stand-in: keep the name "
          f"{settings.console_user!r} to read as the console's user). Ctrl-C stops it.", file=sys.stderr)
    try:
        uvicorn.run(app, host=args.host, port=port, log_level="warning", access_log=False)
    finally:
        container.engine.dispose()
    return 0


def register(registry: Registry) -> None:
    registry.cli("web", "the status page and team pages on 127.0.0.1 with a development sign-in: `fireline web --dev`",
                 _args)(cmd_web)
