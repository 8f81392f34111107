"""On Slack, the draft's Edit button opens a modal (title, components, status, stage, text).

Slack's `trigger_id` lives 3 seconds, so the modal is opened while the press is acked (one SELECT of the
draft, one `views.open`), not from the queued job. Saving checks the words at once (a wrong text shows
under its field, in the modal) and queues the edit as a button press (`status_edit_save`), so it runs
like every other press: durable, after the ack, answered with the new plan. The console edits with
`/incident statuspage --text "..."` instead. This module builds the form and reads it back; opening it on
the press and queueing the save is Slack's middleware, bot.adapters.slack.status_modal.
"""

from __future__ import annotations

import json
from typing import Any

from bot.core.registry import Registry
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.reply import Reply
from bot.features.status import service
from bot.features.status.feature import plan_reply, visible_update
from playbooks import statuspage as sp
from bot.service import incidents as svc


CALLBACK = "status_edit_modal"
SAVE_ACTION = "status_edit_save"


def _text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:75]}


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": _text(label), "value": value}


def modal(update, components: list[str], channel_id: str) -> dict[str, Any]:
    status = sp.worst(update.components.values()) if update.stage != "resolved" else "operational"
    statuses = [s for s in sp.STATUS_WORDS if s != "under_maintenance"]
    names = [c for c in components] + [c for c in update.components if c not in components]
    return {
        "type": "modal", "callback_id": CALLBACK,
        "private_metadata": json.dumps({"u": update.id, "c": channel_id}),
        "title": _text("Public status update"), "submit": _text("Save draft"), "close": _text("Cancel"),
        "blocks": [
            {"type": "input", "block_id": "title", "label": _text("Title (public)"),
             "element": {"type": "plain_text_input", "action_id": "v", "initial_value": update.title,
                         "max_length": service.MAX_TITLE}},
            {"type": "input", "block_id": "components", "label": _text("Affected components"),
             "element": {"type": "multi_static_select", "action_id": "v",
                         "options": [_option(n, n) for n in names],
                         "initial_options": [_option(n, n) for n in update.components]}},
            {"type": "input", "block_id": "status", "label": _text("Their status"),
             "element": {"type": "static_select", "action_id": "v",
                         "options": [_option(s, sp.STATUS_WORDS[s]) for s in statuses],
                         "initial_option": _option(status, sp.STATUS_WORDS[status])}},
            {"type": "input", "block_id": "stage", "label": _text("Stage"),
             "element": {"type": "static_select", "action_id": "v",
                         "options": [_option(s, sp.STAGE_WORDS[s]) for s in sp.STAGES],
                         "initial_option": _option(update.stage, sp.STAGE_WORDS[update.stage])}},
            {"type": "input", "block_id": "text", "label": _text("Text customers read"),
             "element": {"type": "plain_text_input", "action_id": "v", "multiline": True,
                         "initial_value": update.body, "max_length": service.MAX_BODY}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Saved as a draft: it is public only "
                                              "after someone in RESPONDERS presses *Publish*."}]},
        ],
    }


def submitted(view: dict[str, Any]) -> dict[str, Any]:
    values = (view.get("state") or {}).get("values") or {}

    def field(block: str) -> dict[str, Any]:
        return (values.get(block) or {}).get("v") or {}

    meta = _metadata(view.get("private_metadata"))
    return {"u": meta[0], "c": meta[1],
            "title": field("title").get("value") or "", "text": field("text").get("value") or "",
            "components": [o.get("value", "") for o in field("components").get("selected_options") or []],
            "status": (field("status").get("selected_option") or {}).get("value", ""),
            "stage": (field("stage").get("selected_option") or {}).get("value", "")}


def _metadata(raw: Any) -> tuple[int | None, str]:
    """The draft's id and channel Fireline wrote into the modal; (None, "") when it is not that (a signed but odd
    payload raised JSONDecodeError/AttributeError/ValueError in the listener, logged at ERROR)."""
    try:
        meta = json.loads(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or not isinstance(meta.get("c", ""), str):
        return None, ""
    update_id = meta.get("u")
    if isinstance(update_id, bool) or not isinstance(update_id, int) or update_id <= 0:
        return None, ""
    return update_id, meta.get("c", "")


def problems(data: dict[str, Any]) -> dict[str, str]:
    """Checked while Slack waits, so the person fixes it in the modal."""
    if data["u"] is None:
        return {"text": "This form could not be read. Close it and press Edit again on the draft."}
    errors = {}
    for block, limit in (("title", service.MAX_TITLE), ("text", service.MAX_BODY)):
        try:
            service.clean_text(data[block], limit, block)
        except UserError as exc:
            errors[block] = exc.message.replace("`", "")[:150]
    if not data["components"]:
        errors["components"] = "Pick at least one component."
    return errors


def press_save(ctx: Context, value: str) -> Reply:
    """The modal's saved fields (queued from the submission) applied to the draft."""
    try:
        data = json.loads(value)
        update_id = int(data["u"])
    except (ValueError, KeyError, TypeError):
        raise UserError("That edit could not be read; press Edit again.") from None
    current = visible_update(ctx, update_id)
    if current.state != "draft":
        raise UserError("That draft is no longer waiting (published or discarded).",
                        "Draft a new one with `/incident statuspage`.")
    known = service.component_names(ctx.app.settings)
    request = service.Request(
        components=[c for c in data.get("components", []) if c in known] or None,
        status=data.get("status") if data.get("status") in sp.RANK else None,
        stage=data.get("stage") if data.get("stage") in sp.STAGES else None,
        text=service.clean_text(data.get("text"), service.MAX_BODY, "text"),
        title=service.clean_text(data.get("title"), service.MAX_TITLE, "title"))

    with ctx.session() as session:
        incident = svc.incident_for(ctx, session, current.incident_id)
    update = service.draft(ctx, incident, request)
    return plan_reply(update, update.incident_id, "Draft saved from the form.")


def register(registry: Registry) -> None:
    registry.action(SAVE_ACTION)(press_save)  # the modal itself is Slack's: bot.adapters.slack.status_modal
