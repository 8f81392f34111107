"""Slash commands over HTTP, acknowledged without Bolt's dispatch.

Why: Slack waits for our ack, and on-call engineers type commands when everything is on fire. Bolt's
dispatch costs a hop into a thread pool, a second signature check and its middleware chain per request,
several times what reading a signed form needs (bench/ack_latency.py). Here the signed form (its
signature already checked by SlashCommandLane) is parsed, the command stored through the group-commit
intake while the event loop serves other requests, and an empty 200 returned. Everything else (help,
unknown commands, buttons, events, Slack's SSL check) still goes through Bolt, and both paths decide
and answer the same way (`bot.adapters.slack.ack`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from urllib.parse import unquote_plus

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.core import log_context, metrics
from bot.core.container import Container
from bot.core.errors import INTERNAL
from bot.service.queue import intake_for
from bot.adapters.slack.ack import (
    COMMAND_JOB,
    ack_payload,
    answered_in_ack,
    command_job,
    from_other_workspace,
    store_failed_reply,
)

log = logging.getLogger(__name__)

STORE_SECONDS = 2.5  # then the person is told it may not have been taken; Slack gives up at 3 s


def read_form(text: str) -> dict[str, str]:
    """A urlencoded form as parse_qsl(keep_blank_values=True) reads it, the first value of a key winning.

    Why not parse_qsl: it unquotes every key and value, and reading the form was a sixth of an ack's
    time. Slack's keys are plain words and most values need no unquoting; those that do get exactly
    parse_qsl's treatment ('+' is a space, %XX as UTF-8 with replacement characters).
    """
    form: dict[str, str] = {}
    for pair in text.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if key in form:
            continue
        form[key] = unquote_plus(value) if "%" in value or "+" in value else value
    return form


class FastCommandAck:
    """Answers the slash commands that become jobs; returns None for anything Bolt should handle."""

    def __init__(self, container: Container, wake: Callable[[], None] | None = None) -> None:
        self.registry = container.registry
        self.settings = container.settings
        self.intake = intake_for(container)
        if wake is not None:
            self.intake.add_waker(wake)  # the writer wakes the worker once per stored batch

    @staticmethod
    def command_form(body: bytes, headers: Mapping[str, str]) -> dict[str, str] | None:
        """The fields of a slash command's form body, or None when this is not one."""
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return None
        if b"command=" not in body:
            return None
        try:
            form = read_form(body.decode("utf-8"))
        except UnicodeDecodeError:
            return None
        if "payload" in form or "ssl_check" in form or not form.get("command", "").startswith("/"):
            return None
        return form

    async def handle(self, body: bytes, headers: Mapping[str, str]) -> Response | None:
        """The ack for a signed slash command that becomes a job, or None to pass it to Bolt."""
        form = self.command_form(body, headers)
        if form is None:
            return None
        if from_other_workspace(self.settings, form):
            return None  # Bolt's workspace middleware refuses it, in the one place every request passes
        name = form["command"].lstrip("/")
        if answered_in_ack(self.registry, name, form.get("text") or ""):
            return None  # help and unknown subcommands: Bolt's listener answers them in the ack
        if headers.get("x-slack-retry-num"):
            return Response(status_code=200)  # the first delivery is already being handled
        payload, dedup_key = command_job(form, log_context.current_request_id())
        try:
            await self.intake.enqueue_async(COMMAND_JOB, payload, dedup_key=dedup_key, timeout=STORE_SECONDS)
        except Exception as exc:
            return JSONResponse(ack_payload(store_failed_reply(exc, name)))
        return Response(status_code=200)


class SlashCommandLane:
    """The ack's hot path at the ASGI level: a signed slash command that becomes a job, answered in full here.

    Why: Starlette's layers (error and exception middleware, routing, Request and Response objects,
    our own observing middleware) cost a sizeable share of an ack's time under load, more than the
    check and the store that make it. This lane reads the body once, checks the signature, stores the
    job and sends the empty 200 itself, with the same request id header, log scope and latency
    metric as every other request. Anything else, or anything it is unsure of (no or a bad signature,
    help, buttons, events), is handed to the full app with the body replayed,
    so those answers stay where they are written and tested. The body it reads is never over Slack's
    limit: bot/adapters/http/guard.py's BodyLimit, in front of this lane, stops reading at the limit (413).
    """

    PATH = "/slack/events"

    def __init__(self, commands: FastCommandAck, verifier) -> None:
        self.commands = commands
        self.verifier = verifier

    @staticmethod
    def wants(scope: Scope) -> bool:
        return scope["type"] == "http" and scope["path"] == SlashCommandLane.PATH and scope["method"] == "POST"

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """Answer the request, or pass it to `app` with its body intact."""
        body = await self._read(receive)
        if body is None:
            return  # the client went away before sending it all: nobody to answer
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        if self.verifier is not None and self.verifier.is_valid_request(body, headers):
            if await self._answer(scope, send, body, headers):
                return
        await app(scope, _replay(body, receive), send)

    @staticmethod
    async def _read(receive: Receive) -> bytes | None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _answer(self, scope: Scope, send: Send, body: bytes, headers: dict[str, str]) -> bool:
        if self.commands.command_form(body, headers) is None:
            return False
        given = log_context.given_request_id(scope["headers"])
        started = time.perf_counter()
        with log_context.scope(request_id=given) as request_id:
            try:
                response = await self.commands.handle(body, headers)
            except Exception:
                log.exception("Slack command failed")
                metrics.server_error(self.PATH)  # answered 200 with our words, counted as the fault it is
                response = JSONResponse({"response_type": "ephemeral", "text": INTERNAL})
            if response is None:
                return False
            response.headers["x-request-id"] = request_id
            await response(scope, receive_nothing, send)
        metrics.observe_request(self.PATH, time.perf_counter() - started)
        return True


async def receive_nothing() -> Message:
    """The body was read already; a plain Response never asks for more."""
    return {"type": "http.disconnect"}


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that gives the already-read body first, then whatever the client sends next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
