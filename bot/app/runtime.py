"""A running Fireline process: container, Bolt app, HTTP app and background workers.

The container comes assembled (`bot.app.assembly`: features and plug-ins into one Registry); this module
only starts what serves it.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass

from slack_bolt import App
from starlette.applications import Starlette

from bot.app.assembly import build_container
from bot.core.container import Container, Mode
from bot.core.hooks import Hooks
from bot.app.observability import init_sentry
from bot.adapters.http.server import build_http_app
from bot.service.jobs import Worker, add_waker, reap_stale, remove_waker
from bot.service.queue import intake_for
from bot.core.settings import Settings
from bot.core.http_pool import prepare_for_fork
from playbooks.severity import default_rules
from playbooks.workflows.loader import default_workflows
from bot.adapters.slack.bolt import build_bolt_app
from bot.app.worker import WorkerProcess

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    container: Container
    bolt_app: App
    http_app: Starlette
    worker: Worker | WorkerProcess

    def stop(self) -> None:
        """Stop the worker and forget its wake: the engine's waker list (module-level) and the intake held it, so
        a stopped worker, and through it the whole container, stayed referenced and was woken by every job a
        later transaction on the engine stored."""
        self.worker.stop()
        remove_waker(self.container.engine, self.worker.wake)
        intake_for(self.container).remove_waker(self.worker.wake)


def start_runtime(settings: Settings, container: Container | None = None, *, start_worker: bool = True,
                  worker_process: bool = False) -> Runtime:
    """Everything a serving process needs. `worker_process`: jobs run in a child (`serve`, `socket`)."""
    init_sentry(settings)
    container = container or build_container(settings, mode=Mode.SERVE)
    reap_stale(container)
    container.registry.emit(Hooks.RUNTIME_STARTED, None, container=container)  # type: ignore[arg-type]
    worker = WorkerProcess(container) if worker_process else Worker(container, threads=settings.workers)
    add_waker(container.engine, worker.wake)  # every transaction here that stores a job wakes the worker
    bolt_app = build_bolt_app(container, wake=worker.wake)
    http_app = build_http_app(container, bolt_app, worker)
    if worker_process:
        load_before_fork()
    settle_heap()  # first: a forked worker child then shares the frozen heap instead of copying it
    if start_worker:
        worker.start()
    return Runtime(container, bolt_app, http_app, worker)


def load_before_fork() -> None:
    """Load now what the worker child would load at its first jobs, so it shares the server's copy.

    The HTTP pool's modules and certificates (`http_pool.prepare_for_fork`), and the seed severity
    rules and default workflows (cached at first use: the child parsed their YAML at its first
    incident into objects of its own, and ran PyYAML's code, writing to the pages holding it).
    Measured with 300 declares on SQLite (pagemap of server and child, same loaded machine): pages
    shared at idle that the child then wrote 10.5-10.6 MB with only the pool prepared, 9.2 MB (two
    runs) with the rules and workflows loaded too; the child's PSS after use 57.3-57.7 MB, 56.6.
    """
    prepare_for_fork()
    default_rules()
    default_workflows()


def settle_heap() -> None:
    """Keep what start-up built out of the garbage collector's full passes.

    Why: a serving process holds a few hundred thousand long-lived objects (Bolt, SQLAlchemy, pydantic,
    the registry). Every full collection walked them all, stopping the event loop for 15-60 ms, which
    was the whole of the ack's p99 under load (bench/ack_latency.py). Frozen, they are never scanned
    again; what is made later is collected as before.
    """
    gc.collect()
    gc.freeze()
