"""Helpers for playbook tests: find buttons in what Slack was sent, read executions and the audit trail."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from bot.store.models import PlaybookAudit, PlaybookExecution, TimelineEvent
from tests.support.slack_recorder import SlackRecorder


def buttons_in(data: Any) -> list[tuple[str, str, str]]:
    """(label, action_id, value) of every button in a recorded Slack payload, and of every overflow menu option.

    A menu option is given as the action it stands for, so pressing it as a button runs the same handler
    (the card's test chooses one through a real overflow payload).
    """
    found: list[tuple[str, str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "button" and "action_id" in node:
                label = node.get("text", {}).get("text", "") if isinstance(node.get("text"), dict) else ""
                found.append((label, node["action_id"], node.get("value", "")))
            if node.get("type") == "overflow":
                for option in node.get("options") or []:
                    action_id, _, value = str(option.get("value", "")).partition(" ")
                    found.append((option.get("text", {}).get("text", ""), action_id, value))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    return found


def newest_button(recorder: SlackRecorder, label: str) -> tuple[str, str]:
    """The newest button with this label in anything sent to Slack: (action_id, value)."""
    for call in reversed(recorder.calls):
        for name, action_id, value in reversed(buttons_in(call.data)):
            if name == label:
                return action_id, value
    raise AssertionError(f"no [{label}] button was sent; calls: {recorder.methods()}")


def executions(container) -> list[PlaybookExecution]:
    with Session(container.engine) as session:
        return list(session.exec(select(PlaybookExecution).order_by(PlaybookExecution.id)).all())


def audit_rows(container) -> list[PlaybookAudit]:
    with Session(container.engine) as session:
        return list(session.exec(select(PlaybookAudit).order_by(PlaybookAudit.id)).all())


def timeline(container, incident_id: int) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        return list(session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
                                 .order_by(TimelineEvent.id)).all())
