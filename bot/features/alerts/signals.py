"""Live signals for classification: is the health endpoint up, how many Fly machines are running.

Gathered in the background job that posts the thread (never in the webhook's HTTP answer), with
short timeouts, and cached for half a minute so a storm of alerts asks once, not a thousand times.
Each part is skipped when its settings are missing (HEALTH_URL; FLY_API_TOKEN and FLY_APP).
"""

from __future__ import annotations

import logging
import threading
import time

from bot.core.container import Container, Part
from playbooks.severity import Signals
from bot.clients.fly.health import HealthProbe
from bot.clients.fly.client import FlyClient

log = logging.getLogger(__name__)

CACHE_SECONDS = 30.0
TIMEOUT_SECONDS = 3.0
_lock = threading.Lock()
# The latest live signals, (monotonic time, signals), in a one-item list: None until first gathered.
SIGNALS: Part[list[tuple[float, Signals] | None]] = Part("alerts.signals", lambda container: [None])


def live_signals(container: Container) -> Signals:
    with _lock:
        cached = container.parts.get(SIGNALS)[0]
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
    signals = Signals(health_ok=_health(container), **_machines(container))
    with _lock:
        container.parts.get(SIGNALS)[0] = (time.monotonic(), signals)
    return signals


def _health(container: Container) -> bool | None:
    url = container.settings.health_url
    if not url:
        return None

    probe = HealthProbe(timeout=TIMEOUT_SECONDS)
    try:
        return probe.check(url).ok
    except Exception:
        log.warning("health probe of HEALTH_URL failed unexpectedly")
        return None
    finally:
        probe.close()


def _machines(container: Container) -> dict[str, int]:
    settings = container.settings
    if not (settings.fly_api_token and settings.fly_app):
        return {}

    try:
        with FlyClient(settings.fly_api_url, settings.fly_api_token, settings.fly_app, timeout=TIMEOUT_SECONDS,
                       retries=0) as client:
            machines = [m for m in client.list_machines() if m.state != "destroyed"]
    except Exception as exc:
        log.warning("could not list Fly machines for alert signals: %s", type(exc).__name__)
        return {}
    return {"machines_total": len(machines), "machines_running": sum(1 for m in machines if m.state == "started")}
