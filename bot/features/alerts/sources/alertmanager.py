"""Prometheus Alertmanager webhook v4 (`webhook_configs`): one alert per fingerprint, `resolved` closes it.

Shape (Alertmanager docs, "webhook_config"): {version: "4", groupKey, truncatedAlerts, status,
receiver, groupLabels, commonLabels, commonAnnotations, externalURL, alerts: [{status, labels,
annotations, startsAt, endsAt, generatorURL, fingerprint}]}. Alertmanager resends the whole group
every `repeat_interval` and when any member changes, so each alert is keyed by its fingerprint
(stable for a label set) and repeats count on its thread; `per_group=True` (ALERTS_ALERTMANAGER_GROUPS)
keys by `groupKey` instead, one thread per notification group. Annotation names are read whatever
their case (`SUMMARY` and `summary` alike), and `labels.severity` is the severity the rule's author
chose, so it decides the SEV (it is not a mere hint).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from bot.features.alerts.payloads import IncomingAlert
from bot.features.alerts.sources.shape import (ShapeError, casefold_keys, first, key, lines, link, parse_time,
                                              strip_state, text)
from playbooks.severity import Signals

EXPECTED = ("`version`, `groupKey`, `status` and `alerts[]`, each with `labels` (alertname, severity), "
            "`annotations` (summary, description, runbook_url), `fingerprint`, `startsAt`, `endsAt`, "
            "`generatorURL` (Alertmanager webhook_config, version 4)")
SHOWN_LABELS = ("instance", "job", "namespace", "service", "region", "env", "environment")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def labels_key(labels: Mapping[str, Any]) -> str:
    """A stable stand-in for a missing fingerprint: the label set, as Alertmanager itself identifies alerts."""
    return hashlib.sha256(json.dumps(dict(labels), sort_keys=True, default=str).encode()).hexdigest()[:16]


def parse(data: Mapping[str, Any], headers: Mapping[str, str], *, per_group: bool = False,
          source: str = "alertmanager", expected: str = EXPECTED, **_: Any) -> list[IncomingAlert]:
    items = data.get("alerts")
    if not isinstance(items, list) or "status" not in data:
        raise ShapeError(source, expected, "no `alerts` list" if not isinstance(items, list) else "no `status`")
    common = _mapping(data.get("commonLabels"))
    group_key = text(data.get("groupKey"), 500)
    out: list[IncomingAlert] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ShapeError(source, expected, f"alerts[{index}] is not an object")
        labels = {**common, **_mapping(item.get("labels"))}
        annotations = {**casefold_keys(data.get("commonAnnotations")), **casefold_keys(item.get("annotations"))}
        title = first(annotations.get("summary"), annotations.get("title"), labels.get("alertname"),
                      strip_state(text(data.get("title"))))
        if not title:
            raise ShapeError(source, expected, f"alerts[{index}] has neither annotations.summary nor labels.alertname")
        status = text(item.get("status") or data.get("status"), 20).lower()
        runbook = link(annotations.get("runbook_url") or annotations.get("runbookurl"))
        fingerprint = text(item.get("fingerprint"), 100) or labels_key(labels)
        shown = ", ".join(f"{name}={text(labels[name], 100)}" for name in SHOWN_LABELS if text(labels.get(name)))
        started, ended = parse_time(item.get("startsAt")), parse_time(item.get("endsAt"))
        body = lines(("", annotations.get("description") or annotations.get("message")),
                     ("alert", labels.get("alertname") if labels.get("alertname") != title else None),
                     ("labels", shown), ("runbook_url", runbook))
        severity = text(labels.get("severity") or labels.get("priority"), 40) or None
        out.append(IncomingAlert(
            source=source, title=title, text=body,
            link=link(item.get("generatorURL")) or link(data.get("externalURL")),
            severity_hint=severity, dedup_key=key(source, "group", group_key) if per_group and group_key
            else key(source, fingerprint),
            signals=Signals(source_severity=severity),
            details={"fingerprint": fingerprint, "labels": {k: text(v, 200) for k, v in labels.items()},
                     "runbook_url": runbook, "group_key": group_key or None,
                     "started_at": started.isoformat() if started else None,
                     "ended_at": ended.isoformat() if ended and status == "resolved" else None},
            resolved=status == "resolved"))
    return out
