"""On Slack, the status draft's Edit button opens its modal while the press is acked; saving queues the edit.

Slack's `trigger_id` lives 3 seconds, so the modal is opened in Bolt middleware during the ack (one SELECT of
the draft, one `views.open`), not from the queued job; a submission is checked at once (a wrong text shows
under its field) and queued as a `status_edit_save` press. The form itself is the status feature's
(bot.features.status.slack_modal).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import BoltResponse

from bot.adapters.slack.bolt import ACTION_JOB
from bot.adapters.slack.context import ack_context
from bot.adapters.slack.render import base_action_id
from bot.core.hooks import Hooks
from bot.core.registry import Registry
from bot.features.status import service, slack_modal
from bot.features.status.feature import StatusActions
from bot.service import jobs
from bot.service.responders import group_key
from bot.store.db import session_scope

log = logging.getLogger(__name__)


def install(app, container) -> None:
    client = app.client

    @app.middleware
    def status_edit_modal(req, resp, next, body):  # noqa: A002 - Bolt injects by name
        if not isinstance(body, dict):
            return next()
        if body.get("type") == "block_actions":
            action = next_edit(body)
            if action is None:
                return next()
            try:
                channel = (body.get("channel") or {}).get("id", "")
                presser = ack_context(container, (body.get("user") or {}).get("id", ""), channel)
                update = service.editable_draft(presser, int(action.get("value") or 0))
                if update is None:
                    return next()  # the press answers "no longer waiting" (or "no longer exists") as usual
                if not may_be_responder((body.get("user") or {}).get("id", "")):
                    return next()  # the press answers "only responders may change" in words
                client.views_open(trigger_id=body.get("trigger_id"),
                                  view=slack_modal.modal(update, service.component_names(container.settings), channel))
            except Exception as exc:  # no modal: the usual answer (how to edit by typing) still comes
                log.warning("could not open the edit modal: %s", type(exc).__name__)
                return next()
            return BoltResponse(status=200, body="")
        submission = body.get("type") == "view_submission"
        if submission and (body.get("view") or {}).get("callback_id") == slack_modal.CALLBACK:
            data = slack_modal.submitted(body["view"])
            errors = slack_modal.problems(data)
            if errors:
                return BoltResponse(status=200, body=json.dumps({"response_action": "errors", "errors": errors}),
                                    headers={"content-type": "application/json"})
            user = (body.get("user") or {}).get("id", "")
            payload = {"action_id": slack_modal.SAVE_ACTION, "value": json.dumps(data), "user_id": user,
                       "channel_id": data["c"], "response_url": None, "message_ts": None}
            with session_scope(container.engine) as session:
                jobs.enqueue(session, ACTION_JOB, payload, dedup_key=f"status-edit:{body['view'].get('id')}:"
                             f"{body['view'].get('hash')}"[:200], now=container.clock())
            return BoltResponse(status=200, body="")
        return next()

    def may_be_responder(user_id: str) -> bool:
        """Whether the form is worth opening, without asking Slack before the ack: listed, or maybe in a listed
        user group (saving checks the whole rule, bot.service.responders.may_confirm)."""
        entries = container.settings.responder_list
        return user_id in entries or any(group_key(entry) for entry in entries)

    def next_edit(body: dict[str, Any]) -> dict[str, Any] | None:
        for action in body.get("actions") or []:
            if base_action_id(action.get("action_id", "")) == StatusActions.EDIT:
                return action
        return None


def install_hook(app=None, container=None, **_: Any) -> None:
    install(app, container)


def register(registry: Registry) -> None:
    registry.view(slack_modal.CALLBACK, "the status page draft's Edit modal")
    registry.on(Hooks.SLACK_APP)(install_hook)
