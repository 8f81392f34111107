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
