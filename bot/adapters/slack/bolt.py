"""The slack-bolt app: verify, ack within Slack's 3 s, hand the work to the durable queue.

Listeners do no slow work before `ack()`: they parse, store a job row and answer. A worker
thread (or `run_due` in tests and the console) runs the job and answers via `response_url`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient

from bot.core import log_context, metrics
from bot.core.container import Container
from bot.adapters.slack.context import ack_context, slack_chat, slack_context
from bot.core.errors import TRY_AGAIN
from bot.core.hooks import Hooks
from bot.core.reply import Reply
from bot.service.dedup import first_time
from bot.service.queue import intake_for
from bot.adapters.slack.ack import (
    COMMAND_JOB,
    OTHER_WORKSPACE,
    ack_payload,
    answered_in_ack,
    command_job,
    from_other_workspace,
    opens_form,
    store_failed_reply,
)
from bot.adapters.slack.slack_chat import SLACK_CLIENT, SlackChat, make_web_client, respond_via
from bot.adapters.slack.modals import open_form
from bot.adapters.slack.render import pressed
from bot.adapters.slack.text import from_slack
from bot.core.webhook_guard import slack_verifier

log = logging.getLogger(__name__)

ACTION_JOB = "slack.action"


@contextmanager
def _without_unused_token_warning() -> Iterator[None]:
    """Drop Bolt's "As you gave `client` as well, `token` will be unused." while the App is built.

    Why it came at every `serve` start: without a `token` argument Bolt reads SLACK_BOT_TOKEN from the
    environment itself, and since Fireline also hands it a client (the same token, Slack's base URL
    from settings, bounded retries; Bolt has no other way to take those), Bolt warns that its own copy
    goes unused. Nothing is wrong, so only that one message, and only during construction, is dropped;
    every other Bolt warning still reaches the log.
    """
    from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

    unused = warning_client_prioritized_and_token_skipped()
    bolt_log = logging.getLogger("slack_bolt.App")

    def keep(record: logging.LogRecord) -> bool:
        return record.getMessage() != unused

    bolt_log.addFilter(keep)
    try:
        yield
    finally:
        bolt_log.removeFilter(keep)


def build_bolt_app(container: Container, *, client: WebClient | None = None, wake=None) -> App:
    """The Bolt app for HTTP and Socket Mode. `wake` is called after each transaction that stored jobs."""
    settings = container.settings
    if settings.slack_signing_secret is None:
        signing_secret = ""
    else:
        signing_secret = settings.slack_signing_secret.get_secret_value()
    client = client or make_web_client(settings)
    with _without_unused_token_warning():
        app = App(signing_secret=signing_secret, client=client, process_before_response=True,
                  token_verification_enabled=False, request_verification_enabled=bool(signing_secret),
                  ignoring_self_events_enabled=False, raise_error_for_unhandled_request=False,
                  url_verification_enabled=True)
    _use_safe_verifier(app, signing_secret)
    _screen_odd_shapes(app)
    registry = container.registry
    intake = intake_for(container)  # group commit: concurrent acks share one transaction
    if wake is not None:
        intake.add_waker(wake)  # once per stored batch

    @app.middleware
    def log_scope(req, resp, next, body):  # noqa: A002 - Bolt injects by name
        """Every log line of this delivery carries a request id: the HTTP one, or Slack's own ids."""
        slack_id = body.get("event_id") or body.get("trigger_id") if isinstance(body, dict) else None
        with log_context.scope(request_id=log_context.current_request_id() or slack_id):
            return next()

    @app.middleware
    def this_workspace_only(req, resp, next, body):  # noqa: A002 - Bolt injects by name
        """Another workspace's command hears why; its buttons, modals and events are acknowledged and dropped."""
        if isinstance(body, dict) and from_other_workspace(settings, body):
            log.info("refused a request from another Slack workspace")
            if "command" in body and "type" not in body:
                return BoltResponse(status=200, body=json.dumps(ack_payload(OTHER_WORKSPACE)),
                                    headers={"content-type": "application/json"})
            return BoltResponse(status=200, body="")
        return next()

    @app.middleware
    def drop_retries(req, resp, next):  # noqa: A002 - Bolt injects by name
        """Slack retries when it thinks we were slow; the first delivery is already being handled."""
        if req.headers.get("x-slack-retry-num"):
            return BoltResponse(status=200, body="")
        return next()

    @app.middleware
    def drop_repeated_events(req, resp, next, body):  # noqa: A002
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id:
            try:
                fresh = first_time(container, f"slack-event:{event_id}")
            except Exception:
                log.warning("dedup check failed; handling event %s anyway", event_id)
                fresh = True
            if not fresh:
                return BoltResponse(status=200, body="")
        return next()

    def on_command(ack, command):
        name = command["command"].lstrip("/")
        text = command.get("text") or ""
        if opens_form(name, text) and open_form(client, container, command):
            ack()  # the modal is open; submitting it stores the declare as a job
            return
        if answered_in_ack(registry, name, text):
            offline = ack_context(container, command.get("user_id", ""), command.get("channel_id", ""))
            ack(**ack_payload(registry.dispatch(offline, name, from_slack(text))))  # no name look-ups in the ack
            return
        payload, dedup_key = command_job(command, log_context.current_request_id())
        try:
            intake.enqueue(COMMAND_JOB, payload, dedup_key=dedup_key)
        except Exception as exc:
            ack(**ack_payload(store_failed_reply(exc, name)))
            return
        ack()

    for name in registry.commands:
        app.command(f"/{name}")(on_command)

    @app.action(re.compile(".*"))
    def on_action(ack, body, action):
        ack()
        action_id, value = pressed(action, body)
        payload = {
            "action_id": action_id,
            "value": value,
            "user_id": (body.get("user") or {}).get("id", ""),
            "channel_id": (body.get("channel") or {}).get("id", ""),
            "response_url": body.get("response_url"),
            "message_ts": (body.get("container") or {}).get("message_ts"),
        }
        payload["request_id"] = log_context.current_request_id()
        key = f"act:{payload['message_ts']}:{action.get('action_ts')}:{payload['user_id']}:{action.get('action_id')}"
        try:
            intake.enqueue(ACTION_JOB, payload, dedup_key=key)
        except Exception:
            log.warning("could not store a button press: database unavailable")
            if payload["response_url"]:
                respond_via(payload["response_url"], SlackChat(client), payload["channel_id"],
                            payload["user_id"])(Reply.error(TRY_AGAIN))
            return

    @app.error
    def on_error(error, body, logger):
        logger.error("unhandled error in a Slack listener: %s", type(error).__name__)
        # Answered 200 (Slack would only retry it), but a fault all the same: counted with the 500s.
        metrics.server_error("/slack/events")
        return BoltResponse(status=200, body="")

    for hook in registry.hooks.get(Hooks.SLACK_APP, []):
        hook(app=app, container=container)
    _acknowledge_the_rest(app)
    app._fireline_client = client  # noqa: SLF001 - jobs reuse the same client
    container.parts.put(SLACK_CLIENT, client)
    return app


# What Bolt's listener matchers read from each payload type (body["view"]["type"], body["actions"][0],
# body["callback_id"], ...): a signed payload without it raised KeyError inside Bolt.
_NEEDS: dict[str, tuple[tuple[str, type], ...]] = {
    "block_actions": (("actions", list),),
    "interactive_message": (("actions", list), ("callback_id", str)),
    "view_submission": (("view", dict),),
    "view_closed": (("view", dict),),
    "shortcut": (("callback_id", str),),
    "message_action": (("callback_id", str),),
    "block_suggestion": (("action_id", str), ("block_id", str)),
    "dialog_suggestion": (("callback_id", str),),
    "dialog_submission": (("callback_id", str),),
    "dialog_cancellation": (("callback_id", str),),
    "event_callback": (("event", dict),),
    "url_verification": (),
    "app_rate_limited": (),
}


def odd_shape(body: Any) -> str | None:
    """Why Bolt cannot route this payload (a type it does not know, or a field its matchers need), or None.

    Slash commands (no `type`) and Socket Mode's own envelopes pass through untouched.
    """
    if not isinstance(body, dict) or "type" not in body:
        return None
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in _NEEDS:
        return f"a payload of type {str(kind)[:40]!r}, which Fireline does not handle"
    for field, shape in _NEEDS[kind]:
        if not isinstance(body.get(field), shape):
            return f"a {kind} payload without `{field}`"
    if kind in ("block_actions", "interactive_message"):
        actions = body["actions"]
        if not actions or not all(isinstance(a, dict) and isinstance(a.get("action_id", ""), str) for a in actions):
            return f"a {kind} payload with malformed `actions`"
    if kind.startswith("view_") and not (isinstance(body["view"].get("type"), str)
                                         and isinstance(body["view"].get("callback_id", ""), str)):
        return f"a {kind} payload whose view has no type or callback_id"
    if kind == "event_callback" and not isinstance(body["event"].get("type"), str):
        return "an event without a type"
    return None


def _screen_odd_shapes(app: App) -> None:
    """Acknowledge, quietly, a payload Bolt would index into and fail on, before Bolt sees it.

    Done around `dispatch` (used by the HTTP app and by Socket Mode alike) rather than as a Bolt
    middleware: Bolt builds every middleware's arguments from the body first (`to_step` reads
    body["view"]["type"]), so even the first middleware came too late.
    """
    def screened(req):
        problem = odd_shape(req.body)
        if problem:
            log.info("acknowledged without handling: %s", problem)
            return BoltResponse(status=200, body="")
        return type(app).dispatch(app, req)

    app.dispatch = screened  # type: ignore[method-assign]


def _acknowledge_the_rest(app: App) -> None:
    """Modals, shortcuts and option requests no feature listens to yet: acknowledged, nothing done.

    Registered after the features' own listeners (Bolt runs the first that matches), so a feature that
    adds a modal or a shortcut through the `slack.app` hook is reached first.
    """
    anything = re.compile(".*")

    def just_ack(ack):
        ack()

    app.view(anything)(just_ack)
    app.view_closed(anything)(just_ack)
    app.shortcut(anything)(just_ack)
    app.options(anything)(just_ack)


def _use_safe_verifier(app: App, signing_secret: str) -> None:
    """Bolt's own signature check with a verifier no header or body can make raise (bot/core/webhook_guard.py).

    Bolt builds slack_sdk's verifier, which raises on `X-Slack-Request-Timestamp: abc` or a non-ASCII
    signature; its RequestVerification middleware takes the verifier lazily, so ours is set in its place.
    """
    from slack_bolt.middleware.request_verification import RequestVerification

    if not signing_secret:
        return
    for middleware in app._middleware_list:  # noqa: SLF001 - Bolt has no option for the verifier
        if isinstance(middleware, RequestVerification):
            middleware._verifier = slack_verifier(signing_secret)  # noqa: SLF001


def register_jobs(registry) -> None:
    @registry.job(COMMAND_JOB)
    def run_command(container: Container, payload: dict[str, Any], job=None) -> None:
        ctx = slack_context(container, payload)
        text = from_slack(payload.get("text"), ctx.chat.display_name)  # Slack's text as typed, once, here
        reply = container.registry.dispatch(ctx, payload["command"], text)
        ctx.respond(reply)

    @registry.job(ACTION_JOB)
    def run_action(container: Container, payload: dict[str, Any], job=None) -> None:
        ctx = slack_context(container, payload)
        reply = container.registry.press(ctx, payload["action_id"], payload.get("value") or "")
        if reply is not None:
            ctx.respond(reply)


def register(registry) -> None:
    """Slack's jobs (a command or press the worker runs), and Slack as the chat later work posts through."""
    register_jobs(registry)
    registry.chat_for_jobs(slack_chat)
