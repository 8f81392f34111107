"""The app's parts as one typed value: settings, database, registry, clock, mode, knobs, the chat for later work,
and one place for what a feature makes on first use.

Only the type lives here. Assembling it (the feature list, plug-ins, migrations) is `bot.app.assembly`'s
job, so importing the container imports no feature and no front end (tests/app/test_import_picture.py
keeps it so). What one feature or front end makes on first use (an API client, the ack-time queue, a
cache) is not a field: the module that needs it declares a `Part` key with its factory, and
`container.parts.get(KEY)` makes it once and keeps it for the container's life. A field per client made
this module name, and import under TYPE_CHECKING, every feature that had one; a key keeps the type with
its owner and the container knows none of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.engine import Engine

from bot.core.chat import Chat
from bot.core.clock import Clock, utcnow
from bot.core.registry import Registry
from bot.store.db import make_engine, upgrade
from bot.core.settings import Settings

if TYPE_CHECKING:
    from playbooks.framework import Limits

T = TypeVar("T")


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


@dataclass(frozen=True, eq=False)
class Part(Generic[T]):
    """The key of one thing a module makes on first use and keeps for the container's life.

    Declared once, at module level, by the module that owns the thing (`PAGERDUTY_REST` in
    bot.features.pagerduty.config, `SLACK_CLIENT` in bot.adapters.slack.slack_chat, ...); two keys
    with the same name are still two parts, so no feature can take another's by typing its name.
    `make` builds it from the container; a test that needs its own puts it first (`parts.put`).
    """

    name: str
    make: Callable[[Container], T]

    def __repr__(self) -> str:
        return f"Part({self.name!r})"


class Parts:
    """What features made on first use, by their `Part` keys: one place instead of a field per feature."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self._made: dict[Part[Any], Any] = {}
        self._lock = threading.RLock()  # two first uses at once make one client, not two

    def get(self, key: Part[T]) -> T:
        """The part, made by `key.make` on first use."""
        try:
            return self._made[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._made:
                self._made[key] = key.make(self._container)
            return self._made[key]

    def put(self, key: Part[T], value: T) -> T:
        """Use `value` from now on (the Bolt app's own Web API client; a test's client on a loopback transport)."""
        with self._lock:
            self._made[key] = value
        return value

    def peek(self, key: Part[T]) -> T | None:
        """The part if it was made, without making it."""
        return self._made.get(key)


def _no_chat_for_jobs(container: Container) -> Chat:
    raise RuntimeError("no chat for later work: no front end installed one (the Slack adapter's register does, "
                       "the console installs its printer)")


@dataclass
class Container:
    settings: Settings
    engine: Engine
    registry: Registry
    clock: Clock = field(default=utcnow)
    mode: Mode = Mode.TEST
    # The outbound chat for work nobody is waiting on (timers, queued jobs, webhooks): bot.core.context.job_context.
    # From the registry (the Slack adapter registers Slack's); the console installs its printer.
    chat_for_jobs: Callable[[Container], Chat] = field(default=_no_chat_for_jobs)
    knobs: Knobs = field(default_factory=Knobs)
    parts: Parts = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.parts = Parts(self)
        if self.chat_for_jobs is _no_chat_for_jobs and self.registry.job_chat is not None:
            self.chat_for_jobs = self.registry.job_chat


def open_container(settings: Settings, registry: Registry, *, engine: Engine | None = None, clock: Clock | None = None,
                   migrate: bool = True, mode: Mode = Mode.TEST) -> Container:
    """A container around an assembled registry (`bot.app.assembly.assemble`). `migrate` brings the schema up first."""
    if migrate:
        upgrade(settings.sqlalchemy_url)
    return Container(settings=settings, engine=engine or make_engine(settings.sqlalchemy_url), registry=registry,
                     clock=clock or utcnow, mode=mode)
