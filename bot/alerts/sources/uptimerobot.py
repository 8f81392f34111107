"""UptimeRobot webhook alert contacts: `alertType` Down (1) fires, Up (2) resolves, per `monitorID`.

UptimeRobot sends the variables its docs list (*monitorID*, *monitorURL*, *monitorFriendlyName*,
*alertType*, *alertTypeFriendlyName*, *alertDetails*, *alertDuration*, *alertDateTime*) in the
JSON you give it ("Send as JSON"; the README has the template). The key is the monitor id, so a
monitor's Down and Up meet on one thread; `alertDuration` (seconds down) is how long it lasted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.alerts.payloads import IncomingAlert
from bot.alerts.sources import ShapeError, first, key, lines, link, text

EXPECTED = ("UptimeRobot's `monitorID`, `alertType` (1/Down, 2/Up) or `alertTypeFriendlyName`, and optionally "
            "`monitorFriendlyName`, `monitorURL`, `alertDetails`, `alertDuration`")


def parse(data: Mapping[str, Any], headers: Mapping[str, str], **_: Any) -> list[IncomingAlert]:
    monitor = first(data.get("monitorID"), limit=40)
    kind = first(data.get("alertTypeFriendlyName"), data.get("alertType"), limit=20).lower()
    if not monitor or not kind:
        raise ShapeError("uptimerobot", EXPECTED, "no `monitorID`" if not monitor else "no `alertType`")
    down = kind in ("1", "down")
    up = kind in ("2", "up")
    name = first(data.get("monitorFriendlyName"), data.get("monitorURL"), monitor)
    details_text = first(data.get("alertDetails"), limit=300)
    if up:
        title = f"Monitor is UP: {name}"
    elif down:
        title = f"Monitor is DOWN: {name}" + (f" ({details_text})" if details_text else "")
    else:  # 3: SSL certificate expiry, and whatever UptimeRobot adds later
        title = f"Monitor {name}: {first(data.get('alertTypeFriendlyName'), kind)}" + \
            (f" ({details_text})" if details_text else "")
    try:
        seconds = int(text(data.get("alertDuration"), 20) or "")
    except ValueError:
        seconds = None
    return [IncomingAlert(
        source="uptimerobot", title=title,
        text=lines(("details", details_text), ("url", data.get("monitorURL")), ("at", data.get("alertDateTime"))),
        link=link(data.get("monitorURL")), dedup_key=key("uptimerobot", "monitor", monitor),
        details={"monitor_id": monitor, "alert_type": kind, "duration_s": seconds if up else None},
        resolved=up)]
