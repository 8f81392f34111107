"""`fireline check` for Fly, the health endpoints and RESPONDERS: live, dry-run, or what is wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.check import Status
from bot.clients.fly.client import FlyClient
from bot.clients.fly.health import HealthProbe
from bot.clients.fly.http import FlyError
from bot.core.settings import Settings

if TYPE_CHECKING:
    from bot.core.registry import Registry


def register(registry: Registry) -> None:
    registry.check("fly")(check_fly)
    registry.check("health")(check_health)
    registry.check("responders")(check_responders)


def check_fly(settings: Settings) -> Status:
    token = settings.fly_api_token
    if token is None or not token.get_secret_value():
        return Status("fly", "dry-run", "FLY_API_TOKEN not set: playbooks plan on an example fleet and change "
                                        "nothing")
    if not settings.fly_app:
        return Status("fly", "error", "FLY_API_TOKEN is set but FLY_APP is empty: set the app's name")
    if settings.fly_min_machines > settings.fly_max_machines:
        return Status("fly", "error", f"FLY_MIN_MACHINES ({settings.fly_min_machines}) is above FLY_MAX_MACHINES "
                                      f"({settings.fly_max_machines}), so `/scale count` refuses every number: "
                                      "lower one or raise the other")
    with FlyClient(settings.fly_api_url, token, settings.fly_app, timeout=8, retries=0) as fly:
        try:
            machines = fly.list_machines()
        except FlyError as exc:
            return Status("fly", "error", str(exc))
        db = "; FLY_DB_APP not set"
        if settings.fly_db_app:  # asked like FLY_APP: a name that is merely set said nothing about a typo
            try:
                db_machines = fly.list_machines(app=settings.fly_db_app)
            except FlyError as exc:
                if exc.status == 404:
                    return Status("fly", "error", f"Fly does not know FLY_DB_APP {settings.fly_db_app!r} (HTTP 404): "
                                                  "set it to the Postgres app's name (`fly apps list`), or leave it "
                                                  "empty")
                return Status("fly", "error", f"FLY_DB_APP {settings.fly_db_app}: {exc}")
            db = f"; Postgres app {settings.fly_db_app}: {_count(db_machines)}"
    return Status("fly", "live", f"{settings.fly_app}: {_count(machines)} "
                                 f"(min {settings.fly_min_machines}, max {settings.fly_max_machines}){db}")


def _count(machines) -> str:
    started = sum(1 for m in machines if m.state == "started")
    return f"{len(machines)} machine{'s' if len(machines) != 1 else ''}, {started} started"


def check_health(settings: Settings) -> Status:
    urls = [u for u in (settings.health_url, settings.health_origin_url) if u]
    if not urls:
        return Status("health", "off", "HEALTH_URL not set: diagnose and restarts cannot check the app's endpoint")
    probe = HealthProbe(timeout=5)
    try:
        results = [probe.check(url) for url in urls]
    finally:
        probe.close()
    detail = "; ".join(f"{r.url} {r.describe()}" for r in results)
    return Status("health", "live" if all(r.ok for r in results) else "error", detail)


def check_responders(settings: Settings) -> Status:
    if not settings.responder_list:
        return Status("responders", "off", "RESPONDERS empty: only the console user may confirm playbooks")
    return Status("responders", "live", f"may confirm playbooks: {', '.join(settings.responder_list)}")
