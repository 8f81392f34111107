"""`fireline check`: for each integration, configured, live, or dry-run, and why.

Each line is registered like any command (`registry.check(name)` in a feature's, front end's or plug-in's
`register(registry)`); the core lines (route secrets, database) are registered by `register` below, Slack's
by bot.adapters.slack.check and Sentry's by bot.app.observability.
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


def check_secrets(settings: Settings) -> Status:
    """The secrets that guard routes: an empty or short one is an error (`serve`, `socket` and `web` refuse it)."""
    problems = settings.weak_route_secrets()
    if problems:
        return Status("secrets", "error", " ".join(problems))
    guarded = [name.upper() for name in Settings.route_secrets() if getattr(settings, name) is not None]
    return Status("secrets", "live" if guarded else "off",
                  f"{', '.join(guarded)} long enough" if guarded else "no route-guarding secret is set")


def register(registry: Registry) -> None:
    registry.check("secrets")(check_secrets)
    registry.check("database")(check_database)


def run_checks(settings: Settings, registry: Registry) -> list[Status]:
    results = []
    for name, check in registry.checks.items():
        try:
            results.append(check(settings))
        except Exception as exc:
            results.append(Status(name, "error", f"check failed: {type(exc).__name__}"))
    return results
