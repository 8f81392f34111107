"""UptimeRobot webhook alert contacts: `alertType` Down (1) fires, Up (2) resolves, per `monitorID`.

UptimeRobot sends the variables its docs list (*monitorID*, *monitorURL*, *monitorFriendlyName*,
*alertType*, *alertTypeFriendlyName*, *alertDetails*, *alertDuration*, *alertDateTime*) in the
JSON you give it ("Send as JSON"; docs/alerts.md has the template), or as form fields when that box is
left unticked (bot.features.alerts.route reads both). Templates written with snake_case names
(`monitor_url`, `alert_type`, as other integrations document them) are read too. The key is the
monitor id (else its URL, else its name), so a monitor's Down and Up meet on one thread;
`alertDuration` (seconds down) is how long it lasted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.features.alerts.payloads import IncomingAlert
from bot.features.alerts.sources.shape import ShapeError, first, key, lines, link, text

EXPECTED = ("UptimeRobot's `monitorID`, `alertType` (1/Down, 2/Up) or `alertTypeFriendlyName`, and optionally "
            "`monitorFriendlyName`, `monitorURL`, `alertDetails`, `alertDuration`")


def _field(data: Mapping[str, Any], name: str) -> Any:
    """`monitorURL` or `monitor_url`: the variable as UptimeRobot names it, or as a snake_case template does."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    snake = snake.replace("_i_d", "_id").replace("_u_r_l", "_url")
    return data.get(name) if data.get(name) not in (None, "") else data.get(snake)


def parse(data: Mapping[str, Any], headers: Mapping[str, str], **_: Any) -> list[IncomingAlert]:
    monitor = first(_field(data, "monitorID"), limit=40)
    url, friendly = first(_field(data, "monitorURL"), limit=200), first(_field(data, "monitorFriendlyName"))
    kind = first(_field(data, "alertTypeFriendlyName"), _field(data, "alertType"), limit=20).lower()
    named = bool(monitor or url or friendly)
    if not named or not kind:
        raise ShapeError("uptimerobot", EXPECTED, "no `alertType`" if named else "no `monitorID`")
    down = kind in ("1", "down")
    up = kind in ("2", "up")
    name = first(friendly, url, monitor)
    details_text = first(_field(data, "alertDetails"), limit=300)
    if up:
        title = f"Monitor is UP: {name}"
    elif down:
        title = f"Monitor is DOWN: {name}" + (f" ({details_text})" if details_text else "")
    else:  # 3: SSL certificate expiry, and whatever UptimeRobot adds later
        title = f"Monitor {name}: {first(data.get('alertTypeFriendlyName'), kind)}" + \
            (f" ({details_text})" if details_text else "")
    try:
        seconds = int(text(_field(data, "alertDuration"), 20) or "")
    except ValueError:
        seconds = None
    monitor_key = key("uptimerobot", "monitor", monitor) if monitor else key("uptimerobot", "url", url or friendly)
    return [IncomingAlert(
        source="uptimerobot", title=title,
        text=lines(("details", details_text), ("url", url), ("at", _field(data, "alertDateTime"))),
        link=link(url), dedup_key=monitor_key,
        details={"monitor_id": monitor, "alert_type": kind, "duration_s": seconds if up else None},
        resolved=up)]
