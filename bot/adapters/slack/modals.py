"""The declare modal: `/incident`, `/incident declare` without a title, and the "Declare incident" shortcut.

Where `views.open` is called: in the ack, by the Bolt listener, not from a queued job. Slack's `trigger_id`
lives 3 seconds, and a job waits for a worker's poll behind whatever else is queued (a declare storm is
exactly when the queue is long), so a job would sometimes open nothing. The ack does only pure work besides
the one call: the classifier on the shortcut's message (0.06 ms for a 40-character title, 0.3 ms for 170
characters, measured with the built-in rules) and building the view. The HTTP fast lane
(bot/adapters/slack/fast_ack.py) hands these commands to Bolt (`bot.adapters.slack.ack.answered_in_ack` says they are answered
in the ack), so both front doors open the modal the same way. If Slack refuses `views.open`, the ack answers
with the typed form instead.

Submitting is checked while Slack waits (a missing or over-long title shows under its field, in the
modal: `response_action: errors`), then the declare is stored as a durable job (`slack.declare`,
dedup-keyed on the view) and runs like a typed declare (bot.features.incident.feature.declare_form).
The console has no modals: `/incident declare` with no title prompts for the title, then the SEV.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import BoltResponse

from bot.features.incident.feature import MAX_DESCRIPTION, DeclareForm, declare_form, suggest
from bot.core.registry import Registry
from bot.core.container import Container
from bot.adapters.slack.context import ack_context, slack_context
from bot.store.db import session_scope
from bot.core.hooks import Hooks
from bot.service import jobs, lookups
from bot.service.incidents import MAX_TITLE
from bot.adapters.slack.render import base_action_id
from bot.adapters.slack.text import plain
from bot.core.text import clean
from playbooks.severity import SEVERITIES
from bot.core.grammar import parse_severity
from bot.core.errors import IntegrationError
from bot.adapters.slack.pins import fetch_message

log = logging.getLogger(__name__)

CALLBACK = "declare_modal"
SHORTCUT = "declare_from_message"
OPEN_ACTION = "declare_open"  # the App Home's "Declare incident" button
DECLARE_JOB = "slack.declare"
PRIVATE = "private"


def _text(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit]}


def sev_option(level: int, settings) -> dict[str, Any]:
    sev = settings.severity(level)  # the response time as configured (SEV_RESPONSE_MINUTES)
    return {"text": _text(f"{sev.label}: {sev.description} ({sev.respond})"), "value": str(level)}


def components(settings) -> list[str]:
    return [n.strip() for n in (settings.status_components or "").split(",") if n.strip()][:100]


def wants_form(name: str, text: str) -> bool:
    """`/incident` alone, or `/incident declare` with no title (a SEV alone is no title)."""
    if name != "incident":
        return False
    words = text.split()
    if not words:
        return True
    if words[0].lower() != "declare":
        return False
    return all(_sev_word(w) is not None for w in words[1:]) and len(words) <= 2


def _sev_word(word: str) -> int | None:
    return parse_severity(word) if word.lower().startswith(("sev", "p")) else None


def declare_view(ctx, *, title: str = "", level: int | None = None, channel_id: str = "",
                 message: dict[str, str] | None = None) -> dict[str, Any]:
    """The modal. With a title (the shortcut's message), the classifier's SEV is pre-selected with its reason."""
    reason = None
    if level is None and title:
        level, why = suggest(ctx, title)
        reason = f"Suggested {SEVERITIES[level].label} because it {why}."
    names = components(ctx.app.settings)
    title_element: dict[str, Any] = {"type": "plain_text_input", "action_id": "v", "max_length": MAX_TITLE,
                                     "placeholder": _text("What is broken, e.g. Checkout returns 502")}
    if title:
        title_element["initial_value"] = title[:MAX_TITLE]
    sev_element: dict[str, Any] = {"type": "static_select", "action_id": "v",
                                   "placeholder": _text("Leave empty: Fireline picks one and says why"),
                                   "options": [sev_option(n, ctx.app.settings) for n in sorted(SEVERITIES)]}
    if level is not None:
        sev_element["initial_option"] = sev_option(level, ctx.app.settings)
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "title", "label": _text("Title"), "element": title_element},
        {"type": "input", "block_id": "severity", "label": _text("Severity"), "optional": True,
         "element": sev_element},
    ]
    if reason:
        blocks.append({"type": "context", "block_id": "suggestion",
                       "elements": [{"type": "plain_text", "text": reason[:2000]}]})
    if names:
        blocks.append({"type": "input", "block_id": "components", "label": _text("Affected components"),
                       "optional": True, "element": {"type": "multi_static_select", "action_id": "v",
                                                     "options": [{"text": _text(n), "value": n[:150]}
                                                                 for n in names]}})
    blocks += [
        {"type": "input", "block_id": "description", "label": _text("Description"), "optional": True,
         "element": {"type": "plain_text_input", "action_id": "v", "multiline": True,
                     "max_length": MAX_DESCRIPTION}},
        {"type": "input", "block_id": "private", "label": _text("Visibility"), "optional": True,
         "element": {"type": "checkboxes", "action_id": "v", "options": [
             {"text": _text("Private incident"), "value": PRIVATE,
              "description": _text("Only invited people see it")}]}},
    ]
    meta: dict[str, Any] = {"c": channel_id}
    if message:  # a reference, never the text: JSON-escaped, 2,500 CJK characters were 11,296 of Slack's 3,000
        meta["m"] = {k: message.get(k, "")[:40] for k in ("channel", "ts", "author")}
    return {"type": "modal", "callback_id": CALLBACK, "private_metadata": json.dumps(meta),
            "title": _text("Declare an incident", 24), "submit": _text("Declare"), "close": _text("Cancel"),
            "blocks": blocks}


def submitted(view: dict[str, Any]) -> dict[str, Any]:
    """The fields of a submitted modal, as plain values (nothing checked yet)."""
    values = (view.get("state") or {}).get("values") or {}

    def field(block: str) -> dict[str, Any]:
        found = (values.get(block) or {}).get("v")
        return found if isinstance(found, dict) else {}

    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    message = meta.get("m") if isinstance(meta.get("m"), dict) else None
    return {"title": field("title").get("value") or "",
            "severity": (field("severity").get("selected_option") or {}).get("value") or "",
            "components": [o.get("value", "") for o in field("components").get("selected_options") or []
                           if isinstance(o, dict)],
            "description": field("description").get("value") or "",
            "private": any(isinstance(o, dict) and o.get("value") == PRIVATE
                           for o in field("private").get("selected_options") or []),
            "channel_id": str(meta.get("c") or ""), "message": message}


def problems(data: dict[str, Any], known_components: list[str]) -> dict[str, str]:
    """What to show under each field, in the modal, while Slack waits."""
    errors: dict[str, str] = {}
    title = " ".join(clean(str(data["title"])).split())
    if not title:
        errors["title"] = "Say what is broken, e.g. Checkout returns 502 for EU users."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Keep the title under {MAX_TITLE} characters; put the rest in Description."
    if data["severity"] and data["severity"] not in {str(n) for n in SEVERITIES}:
        errors["severity"] = "Pick SEV1 to SEV4, or leave it empty for Fireline to pick."
    unknown = [c for c in data["components"] if c not in known_components]
    if unknown:
        errors["components"] = f"{unknown[0][:40]} is not in STATUS_COMPONENTS; pick from the list."
    if len(data["description"]) > MAX_DESCRIPTION:
        errors["description"] = f"Keep the description under {MAX_DESCRIPTION} characters."
    return errors


def form_of(data: dict[str, Any]) -> DeclareForm:
    message = {k: str(v) for k, v in data["message"].items()} if data.get("message") else None
    return DeclareForm(title=" ".join(clean(str(data["title"])).split()),
                       level=int(data["severity"]) if data["severity"] else None,
                       components=list(data["components"]), description=clean(str(data["description"])).strip(),
                       private=bool(data["private"]), message=message)


def seen_channel(container: Container, user_id: str, channel: str) -> str:
    """A channel the modal's metadata names (it comes back from the client, so it may be tampered with): the
    channel of a private incident the person may not see is no channel, so nothing is read or said there."""
    if not channel:
        return ""
    ctx = ack_context(container, user_id, "")
    with ctx.session() as session:
        incident = lookups.incident_for_channel(session, channel)
        return channel if incident is None or lookups.sees(ctx, session, incident.id) else ""


def message_text(ctx, message: dict[str, str]) -> str | None:
    """The shortcut's message as its author typed it, read again from Slack by its reference (channel, ts)."""
    if "text" in message:  # a modal opened before the view kept only the reference
        return message["text"]
    try:
        found = fetch_message(ctx.chat.client, message.get("channel", ""), message.get("ts", ""))
    except IntegrationError as exc:
        log.info("the shortcut's message could not be read: %s", exc)
        return None
    return found.text if found else None


def run_declare(container: Container, payload: dict[str, Any], job=None) -> None:
    """The submitted modal, declared like a typed declare; the answer is ephemeral where it was asked."""
    user = str(payload.get("user_id") or "")
    channel = seen_channel(container, user, str(payload.get("channel_id") or ""))
    data = dict(payload["data"])
    if data.get("message") and not seen_channel(container, user, str(data["message"].get("channel") or "")):
        data["message"] = None
    ctx = slack_context(container, {"user_id": user, "channel_id": channel})
    form = form_of(data)
    unread = False
    if form.message:
        text = message_text(ctx, form.message)
        unread = text is None
        form.message["text"] = text or ""
    reply = declare_form(ctx, form)
    if unread:
        reply.lines.append(":warning: Slack did not show Fireline the message's text (is Fireline in that "
                           "channel?), so the timeline has only its link.")
    if channel:
        ctx.respond(reply)
    else:
        try:  # from App Home: no channel to answer in, so a DM
            ctx.chat.post(str(payload.get("user_id")), reply)
        except Exception:
            log.info("could not tell the declarer the outcome")


def install(app, container: Container) -> None:
    def errors_response(errors: dict[str, str]) -> BoltResponse:
        return BoltResponse(status=200, body=json.dumps({"response_action": "errors", "errors": errors}),
                            headers={"content-type": "application/json"})

    @app.middleware
    def declare_modal(req, resp, next, body):  # noqa: A002 - Bolt injects by name
        if not isinstance(body, dict):
            return next()
        kind = body.get("type")
        if kind == "message_action" and body.get("callback_id") == SHORTCUT:
            message = body.get("message") if isinstance(body.get("message"), dict) else {}
            channel = (body.get("channel") or {}).get("id", "")
            ctx = ack_context(container, (body.get("user") or {}).get("id", ""), channel)
            title = " ".join(plain(str(message.get("text") or ""), ctx.chat.display_name).split())[:MAX_TITLE]
            view = declare_view(ctx, title=title, channel_id=channel,
                                message={"channel": channel, "ts": str(message.get("ts") or ""),
                                         "author": str(message.get("user") or "")})
            try:
                app.client.views_open(trigger_id=body.get("trigger_id"), view=view)
            except Exception as exc:
                log.warning("could not open the declare modal: %s", type(exc).__name__)
            return BoltResponse(status=200, body="")
        if kind == "block_actions" and any(isinstance(a, dict) and base_action_id(str(a.get("action_id", "")))
                                           == OPEN_ACTION for a in body.get("actions") or []):
            user = str((body.get("user") or {}).get("id", ""))
            try:
                app.client.views_open(trigger_id=body.get("trigger_id"),
                                      view=declare_view(ack_context(container, user, ""), channel_id=""))
            except Exception as exc:
                log.warning("could not open the declare modal: %s", type(exc).__name__)
            return BoltResponse(status=200, body="")
        if kind == "view_submission" and (body.get("view") or {}).get("callback_id") == CALLBACK:
            data = submitted(body["view"])
            errors = problems(data, components(container.settings))
            if errors:
                return errors_response(errors)
            user = str((body.get("user") or {}).get("id", ""))
            view = body["view"]
            with session_scope(container.engine) as session:
                jobs.enqueue(session, DECLARE_JOB, {"user_id": user, "channel_id": data["channel_id"], "data": data},
                             dedup_key=f"declare:{view.get('id')}:{view.get('hash')}"[:200], now=container.clock())
            return BoltResponse(status=200, body="")
        return next()


def open_form(client, container: Container, command: dict[str, Any]) -> bool:
    """Open the declare modal for a slash command, in its ack. False when Slack refused (answer in words)."""
    text = command.get("text") or ""
    words = text.split()
    level = _sev_word(words[1]) if len(words) == 2 else None
    ctx = ack_context(container, command.get("user_id", ""), command.get("channel_id", ""))
    try:
        client.views_open(trigger_id=command.get("trigger_id"),
                          view=declare_view(ctx, level=level, channel_id=command.get("channel_id", "")))
    except Exception as exc:
        log.warning("could not open the declare modal: %s", type(exc).__name__)
        return False
    return True


def install_hook(app=None, container=None, **_: Any) -> None:
    install(app, container)


def register(registry: Registry) -> None:
    registry.view(CALLBACK, "the declare modal")
    registry.on(Hooks.SLACK_APP)(install_hook)
    registry.job(DECLARE_JOB)(run_declare)
