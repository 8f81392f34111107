"""The app's parts, built once by a factory (no globals created at import time)."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from bot.clock import Clock, utcnow
from bot.commands.registry import Registry
from bot.settings import Settings

log = logging.getLogger(__name__)

# Every built-in feature module exposes `register(registry)`. Order is the order of help texts.
FEATURE_MODULES = [
    "bot.commands.incident",
    "bot.commands.playbooks",
    "bot.slack.app",
    "bot.commands.timeline",
    "bot.commands.postmortem",
    "bot.slack.pins",
    "bot.metrics",
    "bot.alerts",
    "bot.pagerduty.feature",
    "bot.status",
    "bot.plugins",
]


@dataclass
class Container:
    settings: Settings
    engine: Engine
    registry: Registry
    clock: Clock = field(default=utcnow)
    # Objects features create lazily and share (API clients, caches), keyed by name.
    extras: dict[str, object] = field(default_factory=dict)


def build_container(settings: Settings, *, engine: Engine | None = None, clock: Clock | None = None,
                    migrate: bool = True) -> Container:
    """Wire settings, database and every feature. `migrate` brings the schema up to date first."""
    from bot.db import make_engine, upgrade

    if migrate:
        upgrade(settings.sqlalchemy_url)
    registry = Registry()
    for module_name in FEATURE_MODULES:
        importlib.import_module(module_name).register(registry)
    load_plugins(settings, registry)
    return Container(settings=settings, engine=engine or make_engine(settings.sqlalchemy_url),
                     registry=registry, clock=clock or utcnow)


def load_plugins(settings: Settings, registry: Registry) -> list:
    """Team playbooks from PLAYBOOKS_PATH and `fireline.playbooks` entry points (see bot/plugins.py)."""
    from bot.plugins import load_plugins as load

    return load(settings, registry)
