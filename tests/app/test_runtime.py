"""A stopped runtime lets go of its worker (bot/app/runtime.py)."""

from __future__ import annotations

import pytest

from bot.app.runtime import start_runtime
from bot.service import jobs
from bot.service.queue import intake_for
from tests.support.factories import make_settings


@pytest.mark.parametrize("worker_process", [False, True], ids=["threads", "child"])
def test_after_stop_no_waker_list_holds_the_worker(sqlite_url, recorder, worker_process):
    """Its wake was registered on the engine (a module-level list) and with the intake and never taken off: a
    stopped worker, and the container it holds, stayed referenced and was woken by every later stored job."""
    runtime = start_runtime(make_settings(sqlite_url, recorder), start_worker=False, worker_process=worker_process)
    engine, wake = runtime.container.engine, runtime.worker.wake
    intake = intake_for(runtime.container)
    assert wake in jobs.wakers(engine) and wake in intake.wakers
    runtime.stop()
    assert wake not in jobs.wakers(engine)
    assert wake not in intake.wakers
    runtime.container.engine.dispose()


def test_serve_loads_the_seed_rules_and_workflows_before_it_forks_the_worker(sqlite_url, recorder):
    """Cached at first use, they were parsed from YAML by the worker child at its first incident: memory of
    its own instead of the server's shared pages (bench/memory.py)."""
    from bot.core import http_pool
    from playbooks.severity import default_rules
    from playbooks.workflows.loader import default_workflows

    default_rules.cache_clear()
    default_workflows.cache_clear()
    runtime = start_runtime(make_settings(sqlite_url, recorder), start_worker=False, worker_process=True)
    try:
        assert default_rules.cache_info().currsize == 1
        assert default_workflows.cache_info().currsize == 1
        assert http_pool._tls is not None  # noqa: SLF001 - the certificates the child's pool will verify with
    finally:
        runtime.stop()
        runtime.container.engine.dispose()
