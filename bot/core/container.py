"""The app's parts as one typed value: settings, database, registry, clock, and what is made on first use.

Only the type lives here. Assembling it (the feature list, plug-ins, migrations) is `bot.app.assembly`'s
job, so importing the container imports no feature: before the split this module imported every
feature and every feature imported it, a 14-module circle that imports inside functions (88 in
bot/, 59 of them of Fireline's own modules) kept from failing at import time. With the circle gone,
41 of those 59 are at the top of their modules or gone with the code that needed them
(tests/app/test_import_picture.py keeps the circle broken).

Everything a feature used to keep under a string key in `extras` is a typed field: a client made on
first use is an optional field its feature fills (`bot.adapters.slack.slack_chat.slack_client`, `intake_for`, ...), and
the knobs tests turn are one `Knobs` value with production defaults.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from bot.core.chat import Chat
from bot.core.clock import Clock, utcnow
from bot.core.registry import Registry
from bot.store.db import make_engine, upgrade
from bot.core.settings import Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from slack_sdk import WebClient

    from bot.clients.pagerduty import EventsClient, RestClient
    from bot.service.queue import Intake
    from playbooks.framework import Limits
    from playbooks.severity import Signals


class Mode(StrEnum):
    """How this process talks to people; features ask this instead of guessing from what is installed."""

    SERVE = "serve"  # Slack over HTTP (`fireline serve`)
    SOCKET = "socket"  # Slack over Socket Mode (`fireline socket`)
    WORKER = "worker"  # jobs and timers only (`fireline worker`); answers go to Slack
    CONSOLE = "console"  # `fireline console`: the terminal is the chat
    CLI = "cli"  # a one-off `fireline` command (`postmortem` export): nobody to answer
    TEST = "test"  # built by a test; answers go to Slack's (recorded) Web API

    @property
    def is_console(self) -> bool:
        return self is Mode.CONSOLE


@dataclass
class Knobs:
    """Timing knobs: production defaults; tests turn them so nothing really waits."""

    sleep: Callable[[float], None] = time.sleep  # health gates, retries and back-off
    sleeps: list[float] | None = None  # where a test's recording `sleep` keeps what it was asked to wait
    fly_timeout: float = 15.0  # seconds per Fly API call
    playbook_limits: Limits | None = None  # None: playbooks.framework.Limits()
    progress_live_seconds: float | None = None  # None: bot.features.playbooks.executions.LIVE_EDIT_SECONDS
    # tests: makes the hosted Statuspage client (on a loopback transport) from the settings
    statuspage_client: Callable[[Settings], object] | None = None


@dataclass
class Caches:
    """Short-lived answers from outside services, shared by every request of this app."""

    responder_groups: dict[str, tuple] = field(default_factory=dict)  # user group -> (until, members)
    alert_signals: tuple[float, Signals] | None = None  # (monotonic time, live signals)
    alert_channel_names: dict[str, str | None] = field(default_factory=dict)
    # providers' status pages (bot.features.providers.service): page URL -> (fresh until, report)
    provider_status: dict[str, tuple] = field(default_factory=dict)
    # the insights figures (bot.features.insights.feature): (since day, period, readers' scope) -> (fresh until, figures)
    insights: dict[tuple, tuple] = field(default_factory=dict)
    # the status page's rendered answers, keyed without query strings (bot.adapters.web.public.Rendered)
    public_pages: Any = None


@dataclass
class Container:
    settings: Settings
    engine: Engine
    registry: Registry
    clock: Clock = field(default=utcnow)
    mode: Mode = Mode.TEST
    # The console's terminal printer: timers and queued jobs print there too (bot.core.context.job_context).
    console_chat: Chat | None = None
    # Made on first use by the feature that needs them.
    slack_client: WebClient | None = None
    intake: Intake | None = None
    metrics_registry: CollectorRegistry | None = None
    pagerduty_rest: RestClient | None = None
    pagerduty_events: EventsClient | None = None
    caches: Caches = field(default_factory=Caches)
    knobs: Knobs = field(default_factory=Knobs)


def open_container(settings: Settings, registry: Registry, *, engine: Engine | None = None, clock: Clock | None = None,
                   migrate: bool = True, mode: Mode = Mode.TEST) -> Container:
    """A container around an assembled registry (`bot.app.assembly.assemble`). `migrate` brings the schema up first."""
    if migrate:
        upgrade(settings.sqlalchemy_url)
    return Container(settings=settings, engine=engine or make_engine(settings.sqlalchemy_url), registry=registry,
                     clock=clock or utcnow, mode=mode)
