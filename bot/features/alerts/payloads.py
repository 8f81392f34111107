"""Turn what arrives (generic JSON, Sentry issue alerts, PagerDuty v3 events, Slack messages) into one shape.

Pure parsing: no database, no Slack. Anything wrong with a body raises `PayloadError` with a reason
a sender can act on; things that are valid but not alerts (a Sentry installation hook, a PagerDuty
`incident.acknowledged`) raise `Ignored`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.text import clean, one_line, strip_blank
from playbooks.severity import Signals

MAX_TITLE = 300
MAX_TEXT = 10_000
MAX_KEY = 200

# Sources we know by name; anything else is kept as given (lower-case, trimmed).
KNOWN_SOURCES = ("sentry", "pagerduty", "fly", "grafana", "cloudflare", "stripe", "resend", "expo", "uptimerobot",
                 "betterstack", "checkly", "github", "upstash", "datadog", "prometheus", "pingdom")


class PayloadError(ValueError):
    """The body is not a usable alert; `str()` says why (answered with a 4xx)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class Ignored(Exception):
    """A valid delivery that is not an alert (answered 200 so the sender does not retry)."""


@dataclass
class IncomingAlert:
    source: str
    title: str
    text: str = ""
    link: str | None = None
    severity_hint: str | None = None
    dedup_key: str | None = None
    signals: Signals = field(default_factory=Signals)
    details: dict[str, Any] = field(default_factory=dict)
    delivery_id: str | None = None  # the sender's id of this delivery: replays are dropped
    root_channel: str | None = None  # for Slack messages: the message that is the alert
    root_ts: str | None = None
    resolved: bool = False  # the source says it is over (Alertmanager `resolved`, UptimeRobot Up, ...)

    def __post_init__(self) -> None:
        # One line, from every adapter: a newline in a title faked extra lines in the alert's Slack message
        # (":white_check_mark: Resolved by ...") and in the timeline. The text keeps its lines.
        self.title = one_line(self.title)[:MAX_TITLE]

    @property
    def classify_text(self) -> str:
        return f"{self.title}\n{self.text}" if self.text and self.text != self.title else self.title


# -- helpers ------------------------------------------------------------------------------------------
def _clean(text: str, limit: int) -> str:
    return strip_blank(clean(text))[:limit]


def normalize_source(value: str) -> str:
    lowered = re.sub(r"[^a-z0-9.]+", "-", value.lower()).strip("-")
    squashed = lowered.replace("-", "").replace(".", "")
    for known in KNOWN_SOURCES:
        if known in squashed:
            return known
    return (lowered or "webhook")[:40]


# A number right after one of these words names an instance ("worker 7", "shard 3", "#12"): it stays in the key.
_INSTANCE_NUMBER = re.compile(r"(\b(?:worker|node|shard|partition|replica|instance|queue|pod|consumer|server|host|"
                              r"region|zone|db|database|cluster|job|pool|disk|volume|core|cpu|gpu|port|no\.?)[ _#-]?|#)"
                              r"(\d{1,6})\b(?![.,:%]\d|\s?%)")


# A short number written onto a name is part of the name: hosts and machines ("web-12", "edge-7",
# Fly's "cgraph-api-3", "cs30"), not a measurement. A version ("v42") is not an instance.
_NAMED_NUMBER = re.compile(r"\b((?!v\d)[a-z](?:[a-z0-9]*[a-z])?(?:[-_][a-z](?:[a-z0-9]*[a-z])?)*[-_]?)(\d{1,4})\b"
                           r"(?![.,:%]\d|\s?%)")


def derive_key(source: str, title: str) -> str:
    """The default dedup key: the source plus the title with measurements, ids and URLs blurred.

    "CPU at 93% on 3d8d9e1b" and "CPU at 97% on 17811e9e" are the same alert; "Queue worker 3
    lagging" and "Queue worker 4 lagging" are two, and so are "web-12 OOM" and "web-13 OOM", so a
    number naming an instance is kept. A key from the source (fingerprint, monitor id) wins anyway.
    """
    text = re.sub(r"https?://\S+", "<url>", title.lower())
    text = re.sub(r"\b(?=[0-9a-f]*\d)[0-9a-f]{6,}\b", "#", text)
    text = _INSTANCE_NUMBER.sub(lambda m: f"{m.group(1)}<{m.group(2)}>", text)
    text = _NAMED_NUMBER.sub(lambda m: f"{m.group(1)}<{m.group(2)}>", text)
    text = re.sub(r"(?<!<)\d+(?:[.,:]\d+)*(?!>)", "#", text)
    text = " ".join(text.split())
    return f"{source}:{text}"[:MAX_KEY]


def _string(data: Mapping[str, Any], name: str, limit: int, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise PayloadError(f"`{name}` is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError(f"`{name}` must be a string, got {type(value).__name__}")
    return _clean(str(value), limit)


def _link(value: Any, name: str = "link") -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not re.match(r"^https?://[^\s<>|]+$", value.strip()) or len(value) > 1000:
        raise PayloadError(f"`{name}` must be an http:// or https:// URL of at most 1000 characters")
    return value.strip()


def loads(body: bytes) -> dict[str, Any]:
    """JSON object from the raw body, or PayloadError(400) saying where it broke."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise PayloadError("the body is not UTF-8 text", 400) from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", 400) from None
    if not isinstance(data, dict):
        raise PayloadError(f"expected a JSON object, got {type(data).__name__}", 400)
    return data


# -- adapters ------------------------------------------------------------------------------------------------
def _resolved(data: Mapping[str, Any]) -> bool:
    """`"status": "resolved"` or `"resolved": true`: the sender says the alert is over.

    Any other `status` (`firing`, `triggered`, ...) is a firing alert, as it was before the generic
    shape understood resolutions, so senders that already put a status there are read as before.
    """
    flag = data.get("resolved")
    if flag is not None and not isinstance(flag, bool):
        raise PayloadError("`resolved` must be true or false")
    status = data.get("status")
    if status is not None and not isinstance(status, str):
        raise PayloadError("`status` must be a string (`firing` or `resolved`)")
    return bool(flag) or (status or "").strip().lower() == "resolved"


def from_generic(data: Mapping[str, Any]) -> IncomingAlert:
    """Fireline's own shape: {title, text, source, severity, dedup_key, link, signals, labels, id, status}.

    `labels` ({"team": "payments"}) are kept as Alertmanager's are, so a workflow's `alert_labels` condition can
    hold for an alert in this shape: without them the customer-support example's payments workflow never ran."""
    title = _string(data, "title", MAX_TITLE)
    text = _string(data, "text", MAX_TEXT) or ""
    resolved = _resolved(data)
    if resolved and not title and not text:  # a resolution names the alert by its key; it needs no words
        key = _string(data, "dedup_key", MAX_KEY)
        if not key:
            raise PayloadError("a resolution needs the `dedup_key` of the alert it resolves (or its `title`), for "
                               "example {\"dedup_key\": \"api-502\", \"status\": \"resolved\"}")
        return IncomingAlert(source=normalize_source(_string(data, "source", 40) or "webhook"), title=key,
                             dedup_key=key, delivery_id=_string(data, "id", 200), resolved=True)
    if not title and not text:
        raise PayloadError("an alert needs a `title` or a `text` (for example {\"title\": \"API 5xx rate 12%\", "
                           "\"source\": \"grafana\"})")
    if not title:
        title = text.splitlines()[0][:MAX_TITLE]
    source = normalize_source(_string(data, "source", 40) or "webhook")
    hint = _string(data, "severity", 40) or _string(data, "severity_hint", 40)
    key = _string(data, "dedup_key", MAX_KEY)
    signals_data = data.get("signals")
    if signals_data is not None and not isinstance(signals_data, dict):
        raise PayloadError("`signals` must be an object like {\"health_ok\": false, \"error_count\": 1200}")
    signals = Signals.from_mapping(signals_data)
    labels = data.get("labels")
    if labels is not None and not (isinstance(labels, dict) and all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in labels.values())):
        raise PayloadError("`labels` must be an object of words like {\"team\": \"payments\", \"env\": \"production\"}")
    details = {"labels": {_clean(str(k), 100): _clean(str(v), 200) for k, v in list(labels.items())[:50]}} \
        if labels else {}
    if hint:
        signals = Signals(**{**signals.__dict__, "severity_hint": hint})
    return IncomingAlert(source=source, title=title, text=text if text != title else "",
                         link=_link(data.get("link")), severity_hint=hint,
                         dedup_key=key, signals=signals, details=details, delivery_id=_string(data, "id", 200),
                         resolved=resolved)


def from_sentry(data: Mapping[str, Any], resource: str | None, request_id: str | None) -> IncomingAlert:
    """Sentry integration-platform webhooks: issue alerts (`event_alert`) and metric alerts."""
    payload = data.get("data")
    if not isinstance(payload, dict):
        raise PayloadError("a Sentry webhook needs a `data` object")
    if resource == "metric_alert" or "metric_alert" in payload:
        # `action` is the rule's trigger: critical and warning fire (the team's own thresholds, so they decide
        # the SEV), resolved says it is over. One thread per alert rule, whatever the trigger.
        action = str(data.get("action") or "").strip().lower()[:20]
        raw_title = _string(payload, "description_title", MAX_TITLE) or "Sentry metric alert"
        title = _METRIC_STATE.sub("", raw_title).strip() or raw_title
        text = (_string(payload, "description_text", MAX_TEXT) or "").replace("\\n", "\n")
        metric_alert = payload.get("metric_alert") if isinstance(payload.get("metric_alert"), dict) else {}
        alert_rule = metric_alert.get("alert_rule") if isinstance(metric_alert.get("alert_rule"), dict) else {}
        rule_id = alert_rule.get("id")
        started = metric_alert.get("date_started") if isinstance(metric_alert.get("date_started"), str) else None
        firing = action if action in ("critical", "warning") else None
        return IncomingAlert(source="sentry", title=title, text=text, link=safe_link(payload.get("web_url")),
                             severity_hint=firing, dedup_key=f"sentry:metric:{rule_id}" if rule_id else None,
                             signals=Signals(source_severity=firing),
                             details={"resource": "metric_alert", "action": action, "rule": alert_rule.get("name"),
                                      "started_at": started},
                             delivery_id=request_id, resolved=action == "resolved")
    if resource not in (None, "event_alert") and "event" not in payload:
        raise Ignored(f"Sentry `{resource}` webhooks are not alerts; Fireline takes issue alerts (event_alert)")
    event = payload.get("event")
    if not isinstance(event, dict):
        raise PayloadError("a Sentry issue alert needs `data.event` (the event that triggered the alert rule)")
    title = _string(event, "title", MAX_TITLE) or _string(event, "message", MAX_TITLE) or "Sentry issue"
    lines = []
    culprit = _string(event, "culprit", 300)
    if culprit:
        lines.append(f"culprit: {culprit}")
    tags = _tags(event.get("tags"))
    environment = _string(event, "environment", 60) or tags.get("environment")
    if environment:
        lines.append(f"environment: {environment}")
    rule = _string(payload, "triggered_rule", 200)
    if rule:
        lines.append(f"alert rule: {rule}")
    # The event's `level` is not the alert's severity: every exception is "error", so it said SEV2 for
    # every issue alert. Kept in the details; the words, the rule's name and live signals decide.
    level = _string(event, "level", 20)
    issue_id = _string(event, "issue_id", 60)
    project = event.get("project")
    return IncomingAlert(
        source="sentry", title=title, text="\n".join(lines), link=safe_link(event.get("web_url")),
        severity_hint=level, dedup_key=f"sentry:issue:{issue_id}" if issue_id else None,
        details={"resource": "event_alert", "issue_id": issue_id, "project": project, "rule": rule,
                 "environment": environment, "level": level}, delivery_id=request_id)


def _tags(value: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(value, list):
        for item in value:
            if isinstance(item, list | tuple) and len(item) == 2:
                out[str(item[0])] = str(item[1])
            elif isinstance(item, dict) and "key" in item:
                out[str(item["key"])] = str(item.get("value"))
    return out


def safe_link(value: Any) -> str | None:
    try:
        return _link(value)
    except PayloadError:
        return None


_METRIC_STATE = re.compile(r"^\s*(?:critical|warning|resolved)\s*:\s*", re.IGNORECASE)

FIRELINE_REF = re.compile(r"\bfireline[-:_/ ]?(?:incident[-:_/ ]?)?#?(\d{1,9})\b", re.IGNORECASE)


def from_pagerduty(data: Mapping[str, Any]) -> IncomingAlert:
    """PagerDuty v3 webhooks: `incident.triggered` is an alert and `incident.resolved` resolves the same one (its
    thread says so, as every other sender's resolution does); the other event types are ignored."""
    event = data.get("event")
    if not isinstance(event, dict):
        raise PayloadError("a PagerDuty v3 webhook needs an `event` object")
    event_type = event.get("event_type")
    if event_type not in ("incident.triggered", "incident.resolved"):
        raise Ignored(f"PagerDuty `{event_type}` events are not new alerts; Fireline takes incident.triggered "
                      "and incident.resolved")
    incident = event.get("data")
    if not isinstance(incident, dict):
        raise PayloadError(f"a PagerDuty {event_type} event needs `event.data` (the incident)")
    title = _string(incident, "title", MAX_TITLE) or _string(incident, "summary", MAX_TITLE) or "PagerDuty incident"
    number = incident.get("number")
    urgency = _string(incident, "urgency", 20)
    priority_obj = incident.get("priority")
    priority = _string(priority_obj, "summary", 20) if isinstance(priority_obj, dict) else None
    service_obj = incident.get("service")
    service = _string(service_obj, "summary", 200) if isinstance(service_obj, dict) else None
    lines = [f"service: {service}"] if service else []
    if priority:
        lines.append(f"priority: {priority}")
    key = _string(incident, "incident_key", 160) or _string(incident, "id", 60)
    shown_title = f"[#{number}] {title}" if isinstance(number, int) else title
    fireline = FIRELINE_REF.search(f"{key or ''} {title}")
    return IncomingAlert(
        source="pagerduty", title=shown_title[:MAX_TITLE], text="\n".join(lines),
        link=safe_link(incident.get("html_url")), severity_hint=priority or urgency,
        dedup_key=f"pagerduty:{key}" if key else None,
        signals=Signals(pagerduty_urgency=urgency, pagerduty_priority=priority),
        details={"pagerduty_id": incident.get("id"), "number": number, "urgency": urgency, "priority": priority,
                 "service": service, "fireline_incident": int(fireline.group(1)) if fireline else None},
        delivery_id=_string(event, "id", 200), resolved=event_type == "incident.resolved")


def parse_webhook(data: dict[str, Any], headers: Mapping[str, str]) -> IncomingAlert:
    """Pick the adapter from headers and shape (the body already read by `loads`): Sentry, PagerDuty v3, or the
    generic JSON alert."""
    lowered = {k.lower(): v for k, v in headers.items()}
    resource = lowered.get("sentry-hook-resource")
    if resource or ("action" in data and "installation" in data):  # Sentry's integration-platform envelope
        return from_sentry(data, resource, lowered.get("request-id"))
    if isinstance(data.get("event"), dict) and "event_type" in data["event"]:
        return from_pagerduty(data)
    return from_generic(data)


def from_console(text: str, source: str = "console") -> IncomingAlert:
    """`/alert <text>`: a person pasting an alert."""
    text = _clean(text, MAX_TEXT)
    if not text:
        raise PayloadError("the alert needs some text")
    lines = text.splitlines()
    title = lines[0][:MAX_TITLE]
    return IncomingAlert(source=source, title=title, text="\n".join(lines[1:]), dedup_key=derive_key(source, title))
