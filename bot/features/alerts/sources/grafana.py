"""Grafana alerting webhooks: unified alerting (Grafana 9+) and the legacy dashboard alerts.

Unified alerting sends Alertmanager's webhook shape plus `title`, `state`, `message`, and per
alert `values`, `valueString`, `dashboardURL`, `panelURL`, `silenceURL` (Grafana docs, "Webhook
notifier"): parsed as Alertmanager's, one thread per fingerprint, with the panel as the link and
the values and silence link shown. Legacy alerting sends one alert: {title, ruleId, ruleName,
ruleUrl, state (alerting | ok | no_data | paused | pending), message, evalMatches, imageUrl, tags};
`ok` resolves it. Titles lose Grafana's state prefix ("[Alerting] ", "[FIRING:2] "): the thread shows
the state. The "Test" button (a contact point's TestAlert from instance Grafana; legacy's "Test
notification" of rule 0) is answered `ignored`: it proves the wiring, and opens no thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.features.alerts.payloads import Ignored, IncomingAlert
from bot.features.alerts.sources import alertmanager
from bot.features.alerts.sources.shape import ShapeError, first, key, lines, link, strip_state, text
from playbooks.severity import Signals

EXPECTED = ("Grafana unified alerting's `status`, `alerts[]` (labels, annotations, fingerprint, values, "
            "dashboardURL, panelURL, silenceURL), `title`, `state`; or legacy alerting's `title`, `ruleId`, "
            "`ruleName`, `ruleUrl`, `state`, `evalMatches`")


def _values(item: Mapping[str, Any]) -> str:
    values = item.get("values")
    if isinstance(values, Mapping) and values:
        return ", ".join(f"{text(k, 40)}={text(v, 40)}" for k, v in list(values.items())[:10])
    return text(item.get("valueString"), 500)


TEST_IGNORED = "Grafana's test notification: the contact point reaches Fireline; no thread is opened for it"


def _is_test(item: Any) -> bool:
    """Grafana's "Test" button sends alertname TestAlert from instance Grafana (unified alerting)."""
    labels = item.get("labels") if isinstance(item, Mapping) else None
    return isinstance(labels, Mapping) and labels.get("alertname") == "TestAlert" \
        and labels.get("instance") == "Grafana"


def parse(data: Mapping[str, Any], headers: Mapping[str, str], *, per_group: bool = False,
          **_: Any) -> list[IncomingAlert]:
    if isinstance(data.get("alerts"), list):
        if data["alerts"] and all(_is_test(item) for item in data["alerts"]):
            raise Ignored(TEST_IGNORED)
        out = alertmanager.parse(data, headers, per_group=per_group, source="grafana", expected=EXPECTED)
        for incoming, item in zip(out, data["alerts"], strict=True):
            panel, dashboard = link(item.get("panelURL")), link(item.get("dashboardURL"))
            silence = link(item.get("silenceURL"))
            extra = lines(("values", _values(item)), ("silence", silence))
            incoming.text = "\n".join(part for part in (incoming.text, extra) if part)
            incoming.link = panel or dashboard or incoming.link
            incoming.details.update({"dashboard_url": dashboard, "panel_url": panel, "silence_url": silence,
                                     "state": text(data.get("state"), 20) or None})
        return out
    return [_legacy(data)]


def _legacy(data: Mapping[str, Any]) -> IncomingAlert:
    if "state" not in data or not ("ruleId" in data or "ruleName" in data or "ruleUrl" in data):
        raise ShapeError("grafana", EXPECTED, "neither an `alerts` list nor a legacy `ruleId`/`state`")
    state = text(data.get("state"), 20).lower()
    if text(data.get("ruleId")) in ("", "0") and text(data.get("title")).endswith("Test notification"):
        raise Ignored(TEST_IGNORED)  # legacy's test: rule 0, "Someone is testing the alert notification"
    name = first(data.get("ruleName"), data.get("title"))
    title = strip_state(first(data.get("title"), name)) or name
    if not title:
        raise ShapeError("grafana", EXPECTED, "no `title` or `ruleName`")
    matches = data.get("evalMatches") if isinstance(data.get("evalMatches"), list) else []
    shown = ", ".join(f"{text(m.get('metric'), 80)}={text(m.get('value'), 40)}" for m in matches[:10]
                      if isinstance(m, Mapping))
    tags = data.get("tags") if isinstance(data.get("tags"), Mapping) else {}
    severity = text(tags.get("severity"), 40) or None  # the rule's own tag: decides, as Alertmanager's label
    rule = text(data.get("ruleId"), 40) or name
    return IncomingAlert(
        source="grafana", title=title, text=lines(("", data.get("message")), ("values", shown), ("state", state)),
        link=link(data.get("ruleUrl")), severity_hint=severity, dedup_key=key("grafana", "rule", rule),
        signals=Signals(source_severity=severity),
        details={"rule_id": data.get("ruleId"), "state": state, "image_url": link(data.get("imageUrl"))},
        resolved=state == "ok")
