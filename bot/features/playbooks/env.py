"""Build a playbook's `Env` from settings: live Fly clients with a token, the example fleet without.

A new Env (and new clients) per plan and per execution, so each execution's journal of Fly calls
is its own. Tests set `container.knobs.sleep` so health gates and retries never wait, and
`container.knobs.fly_timeout` (seconds per call, default 15) to see a slow Fly time out.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.core.container import Container
from bot.features.deploy_watch.sentry import error_rate_line
from bot.core.errors import UserError
from bot.clients.fly.client import FlyClient
from bot.clients.fly.health import HealthProbe
from bot.clients.fly.releases import FlyGraphQL, ReleaseHistory
from bot.clients.fly.simulated import EXAMPLE_APP, SimulatedFly, SimulatedReleases
from playbooks.framework import Env, Limits
from bot.features.providers.feature import diagnose_lines

NO_TOKEN = "FLY_API_TOKEN is not set"


def is_live(container: Container) -> bool:
    token = container.settings.fly_api_token
    return bool(token is not None and token.get_secret_value())


def sleeper(container: Container) -> Callable[[float], None]:
    return container.knobs.sleep


def build_env(container: Container, *, dry_run: bool | None = None, incident_title: str = "",
              reference: str = "", incident_started=None) -> Env:
    """Live when FLY_API_TOKEN is set (and FLY_APP, or a clear error); otherwise a dry run."""
    settings = container.settings
    dry = (not is_live(container)) if dry_run is None else dry_run
    sleep = sleeper(container)
    limits = container.knobs.playbook_limits or Limits()
    common = dict(health=HealthProbe(), now=container.clock, sleep=sleep, health_url=settings.health_url,
                  health_origin_url=settings.health_origin_url, min_machines=settings.fly_min_machines,
                  max_machines=settings.fly_max_machines, limits=limits, incident_title=incident_title,
                  reference=reference, incident_started=incident_started,
                  providers=lambda started: provider_lines(container, started),
                  sentry=lambda: sentry_line(container))
    if dry:
        fly = SimulatedFly(settings.fly_app, settings.fly_db_app, container.clock)
        why = NO_TOKEN if not is_live(container) else "this execution was confirmed as a dry run"
        note = (f"DRY RUN: {why}, so Fireline uses an example fleet shaped like the guide's "
                f"(4 machines of {fly.app} in iad and lhr, Postgres {fly.db_app}), not your app, and sends "
                "nothing to Fly.")
        return Env(app=fly.app, db_app=fly.db_app, fly=fly, releases=SimulatedReleases(fly), dry_run=True,
                   dry_run_note=note, dry_run_reason=why, **common)
    if not settings.fly_app:
        raise UserError("FLY_API_TOKEN is set but FLY_APP is empty, so Fireline does not know which app to act on.",
                        f"Set FLY_APP to the app's name as `fly apps list` shows it (the guide's is `{EXAMPLE_APP}`).")
    token = settings.fly_api_token
    fly = FlyClient(settings.fly_api_url, token, settings.fly_app, sleep=sleep,
                    timeout=container.knobs.fly_timeout)
    graphql = FlyGraphQL(settings.fly_graphql_url, token, sleep=sleep)
    return Env(app=settings.fly_app, db_app=settings.fly_db_app, fly=fly, releases=ReleaseHistory(graphql, fly),
               **common)


def provider_lines(container: Container, started) -> list[str]:
    return diagnose_lines(container, started)


def sentry_line(container: Container) -> str:
    return error_rate_line(container)


def close_env(env: Env) -> None:
    for part in (env.fly, getattr(env.releases, "graphql", None), env.health):
        close = getattr(part, "close", None)
        if close:
            close()
