"""Assembly: which features make Fireline, in which order, plus the team's plug-ins, into one Registry.

The container is only a type (bot.container); this module is what builds one. Every feature is a
module with `register(registry)`: its commands, buttons, jobs, hooks, `fireline` subcommands and
`fireline check` lines all go through that one call, so a plug-in's `register(registry)` can add the
same things. Nothing registers itself by being imported. The features are imported here at the top,
by name, so a reader (or a static tool) can follow the wiring from this list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

import bot.alerts
import bot.alerts.check
import bot.alerts.cli
import bot.check
import bot.commands.incident
import bot.commands.playbooks
import bot.commands.postmortem
import bot.commands.postmortem_cli
import bot.commands.roles
import bot.commands.timeline
import bot.deploy_watch.feature
import bot.drill
import bot.fly.check
import bot.insights
import bot.metrics
import bot.pagerduty.feature
import bot.pagerduty.handoff
import bot.plugins
import bot.service.archive
import bot.service.catchup
import bot.service.private
import bot.slack.app
import bot.slack.home
import bot.slack.modals
import bot.slack.pins
import bot.status
import bot.undo
import bot.web.dev
import bot.web.team
from bot.check import Status
from bot.clock import Clock
from bot.commands.registry import Registry
from bot.container import Container, Mode, open_container
from bot.plugins import LoadedPlugin, load_plugins
from bot.settings import Settings

log = logging.getLogger(__name__)

# Every built-in feature, in the order of help texts (and of `fireline check` lines after the core ones).
FEATURES: list[Callable[[Registry], None]] = [
    bot.check.register,  # the core `fireline check` lines: slack, database, sentry
    bot.alerts.check.register,
    bot.commands.incident.register,
    bot.commands.roles.register,  # commander (the lead), comms, scribe, INCIDENT_ROLES
    bot.service.private.register,  # private incidents: members only
    bot.service.catchup.register,  # `/incident catchup` and the card's Catch me up
    bot.commands.playbooks.register,
    bot.fly.check.register,  # fly, health and responders lines
    bot.slack.app.register,
    bot.slack.home.register,  # the App Home tab and `/incident home`
    bot.slack.modals.register,  # the declare modal and the "Declare incident" shortcut
    bot.commands.timeline.register,
    bot.commands.postmortem.register,
    bot.service.archive.register,  # archive the channel after `/postmortem done` (before bot.alerts' listener)
    bot.commands.postmortem.register_check,
    bot.slack.pins.register,
    bot.metrics.register,
    bot.alerts.register,
    bot.pagerduty.feature.register,
    bot.pagerduty.feature.register_check,
    bot.pagerduty.handoff.register,  # the on-call handoff digest at each shift change
    bot.status.register,
    bot.deploy_watch.feature.register,
    bot.undo.register,
    bot.web.team.register,  # the signed-in team pages under /team/ and `/incident web`
    bot.plugins.register,
    bot.alerts.cli.register,  # `fireline classify`
    bot.commands.postmortem_cli.register,  # `fireline postmortem`
    bot.insights.register,  # `fireline report`
    bot.web.dev.register,  # `fireline web --dev`
    bot.drill.register,  # `fireline drill sev1`
]
# The modules those come from (what tests/test_import_picture.py keeps out of bot.container and bot.context).
FEATURE_MODULES = list(dict.fromkeys(fn.__module__ for fn in FEATURES))


def feature_registry(registry: Registry | None = None) -> Registry:
    """Every built-in feature registered (no plug-ins): what a scratch check or a test starts from."""
    registry = registry if registry is not None else Registry()
    for register in FEATURES:
        register(registry)
    registry.check("playbooks")(plugin_status)
    return registry


def assemble(settings: Settings, registry: Registry | None = None) -> Registry:
    """The built-in features, then the team's plug-ins (PLAYBOOKS_PATH and `fireline.playbooks` entry points)."""
    registry = feature_registry(registry)
    load_plugins(settings, registry)
    return registry


def build_container(settings: Settings, *, engine: Engine | None = None, clock: Clock | None = None,
                    migrate: bool = True, mode: Mode = Mode.TEST, registry: Registry | None = None) -> Container:
    """Wire settings, database and every feature. `migrate` brings the schema up to date first.

    `registry`: one already assembled (the `fireline` command assembles before it parses its arguments,
    so plug-ins' subcommands are there); otherwise the features and plug-ins are assembled here.
    """
    return open_container(settings, registry if registry is not None else assemble(settings), engine=engine,
                          clock=clock, migrate=migrate, mode=mode)


def plugin_status(settings: Settings) -> Status:
    """For `fireline check`: load the plug-ins into a scratch registry and say what came of it."""
    registry = Registry()
    for register in FEATURES:
        register(registry)
    results: list[LoadedPlugin] = load_plugins(settings, registry)
    errors = [f"{Path(r.source).name}: {r.error}" for r in results if r.error]
    if errors:
        return Status("playbooks", "error", "plug-in not loaded: " + "; ".join(errors))
    loaded = [r for r in results if r.playbooks or r.commands or r.cli or r.checks]
    if not loaded:
        where = "PLAYBOOKS_PATH is empty" if not settings.playbooks_path else f"none in {settings.playbooks_path}"
        return Status("playbooks", "off", f"no plug-in playbooks ({where}; built-in: {len(registry.playbooks)})")
    names = [f"{', '.join(r.playbooks) or 'register()'} ({Path(r.source).name})" for r in loaded]
    commands = sorted({c for r in loaded for c in r.commands})
    slack = f"; add {', '.join(commands)} to your Slack app (slack-manifest.yml)" if commands else ""
    return Status("playbooks", "live", "plug-ins: " + "; ".join(names) + slack)
