"""Slash commands over HTTP, acknowledged without Bolt's dispatch.

Why: Slack waits for our ack, and on-call engineers type commands when everything is on fire. Bolt's
dispatch costs a hop into a thread pool, a second signature check and its middleware chain per request,
several times what reading a signed form needs (bench/ack_latency.py). Here the signed form (its
signature already checked by the endpoint) is parsed, the command stored through the group-commit
intake while the event loop serves other requests, and an empty 200 returned. Everything else (help,
unknown commands, buttons, events, Slack's SSL check) still goes through Bolt, and both paths decide
and answer the same way (`bot.slack.ack`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse, Response

from bot import log_context
from bot.container import Container
from bot.service.intake import intake_for
from bot.slack.ack import COMMAND_JOB, ack_payload, answered_in_ack, command_job, store_failed_reply

STORE_SECONDS = 2.5  # then the person is told it may not have been taken; Slack gives up at 3 s


class FastCommandAck:
    """Answers the slash commands that become jobs; returns None for anything Bolt should handle."""

    def __init__(self, container: Container, wake: Callable[[], None] | None = None) -> None:
        self.registry = container.registry
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
            form: dict[str, str] = {}
            for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
                form.setdefault(key, value)  # the first value wins, as in Bolt
        except (UnicodeDecodeError, ValueError):
            return None
        if "payload" in form or "ssl_check" in form or not form.get("command", "").startswith("/"):
            return None
        return form

    async def handle(self, body: bytes, headers: Mapping[str, str]) -> Response | None:
        """The ack for a signed slash command that becomes a job, or None to pass it to Bolt."""
        form = self.command_form(body, headers)
        if form is None:
            return None
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
