"""Assembly: which features make Fireline, in which order, plus the team's plug-ins, into one Registry.

The container is only a type (bot.core.container); this module is what builds one. Every feature is a
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

import bot.adapters.slack.alerts
import bot.features.alerts.check
import bot.features.alerts.cli
import bot.features.alerts.feature
import bot.core.check
import bot.adapters.slack.check
import bot.app.observability
import bot.features.fly_metrics.feature
import bot.features.incident.feature
import bot.features.playbooks.feature
import bot.features.postmortem.feature
import bot.features.postmortem.cli
import bot.features.roles.feature
import bot.features.timeline.feature
import bot.features.canary.feature
import bot.features.deploy_watch.feature
import bot.adapters.drill
import bot.clients.fly.check
import bot.features.insights.feature
import bot.core.metrics
import bot.service.lookups
import bot.features.pagerduty.feature
import bot.features.pagerduty.handoff
import bot.app.plugins
import bot.features.archive.feature
import bot.features.catchup.feature
import bot.features.private.feature
import bot.adapters.slack.bolt
import bot.adapters.slack.home
import bot.adapters.slack.modals
import bot.adapters.slack.pins
import bot.features.providers.feature
import bot.features.status.check
import bot.features.status.feature
import bot.features.status.slack_modal
import bot.features.status.sync
import bot.adapters.web.public
import bot.adapters.slack.status_modal
import bot.features.undo.feature
import bot.features.workflows.cli
import bot.features.workflows.feature
import bot.adapters.web.dev
import bot.adapters.web.team
from bot.core.check import Status
from bot.core.clock import Clock
from bot.core.registry import Registry
from bot.core.container import Container, Mode, open_container
from bot.app.plugins import LoadedPlugin, load_plugins
from bot.core.settings import Settings

log = logging.getLogger(__name__)

# Every built-in feature, in the order of help texts (and of `fireline check` lines after the core ones).
FEATURES: list[Callable[[Registry], None]] = [
    bot.service.lookups.register,  # how a handler's `incident=` becomes an Incident (visibility applied)
    bot.adapters.slack.check.register,  # the first `fireline check` line: slack
    bot.core.check.register,  # the core `fireline check` lines: secrets, database
    bot.app.observability.register_check,  # `fireline check`'s sentry line
    bot.features.alerts.check.register,
    bot.features.incident.feature.register,
    bot.features.roles.feature.register,  # commander (the lead), comms, scribe, INCIDENT_ROLES
    bot.features.private.feature.register,  # private incidents: members only
    bot.features.catchup.feature.register,  # `/incident catchup` and the card's Catch me up
    bot.features.playbooks.feature.register,
    bot.clients.fly.check.register,  # fly, health and responders lines
    bot.adapters.slack.bolt.register,
    bot.adapters.slack.home.register,  # the App Home tab and `/incident home`
    bot.adapters.slack.modals.register,  # the declare modal and the "Declare incident" shortcut
    bot.features.timeline.feature.register,
    bot.features.postmortem.feature.register,
    bot.features.archive.feature.register,  # archive the channel after `/postmortem done` (before bot.features.alerts' listener)
    bot.features.postmortem.feature.register_check,
    bot.adapters.slack.pins.register,
    bot.core.metrics.register,
    bot.features.alerts.feature.register,
    bot.adapters.slack.alerts.register,  # integration messages in ALERTS_CHANNEL are alerts
    bot.features.pagerduty.feature.register,
    bot.features.pagerduty.feature.register_check,
    bot.features.pagerduty.handoff.register,  # the on-call handoff digest at each shift change
    bot.features.status.check.register,  # the public status page: drafts, `/incident statuspage`, its modal
    bot.features.status.feature.register,
    bot.features.status.slack_modal.register,
    bot.features.providers.feature.register,  # provider status (Statuspage feeds of the services we use)
    bot.features.workflows.feature.register,  # the team's workflows (or the default file): paging, providers, nudges
    bot.features.workflows.feature.register_check,
    bot.features.status.sync.register,
    bot.adapters.web.public.register,  # the public page's routes
    bot.adapters.slack.status_modal.register,  # the status draft's Edit modal on Slack
    bot.features.deploy_watch.feature.register,
    bot.features.fly_metrics.feature.register,  # Fly's metrics: /diagnose's figures, `/scale rightsize`
    bot.features.canary.feature.register,  # `/deploy canary`, its watch, Promote and Discard
    bot.features.undo.feature.register,
    bot.adapters.web.team.register,  # the signed-in team pages under /team/ and `/incident web`
    bot.app.plugins.register,
    bot.features.alerts.cli.register,  # `fireline classify`
    bot.features.postmortem.cli.register,  # `fireline postmortem`
    bot.features.insights.feature.register,  # `fireline report`
    bot.features.workflows.cli.register_cli,  # `fireline workflows check|test`
    bot.adapters.web.dev.register,  # `fireline web --dev`
    bot.adapters.drill.register,  # `fireline drill sev1`
]
# The modules those come from (what tests/app/test_import_picture.py keeps out of bot.core.container and bot.core.context).
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
