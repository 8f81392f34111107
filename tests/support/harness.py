"""Drive the real app: signed HTTP requests into Bolt, then the queued work, as Slack would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.testclient import TestClient

from bot.core.container import Container
from bot.service import jobs
from tests.support.signing import SIGNING_SECRET, action_body, event_body, sign, slash_body
from tests.support.slack_recorder import SlackRecorder


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start) -> None:
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now = self.now + timedelta(**delta)


@dataclass
class SlackHarness:
    container: Container
    recorder: SlackRecorder
    client: TestClient

    def post(self, body: str, content_type: str, headers: dict[str, str] | None = None,
             secret: str = SIGNING_SECRET, timestamp: int | None = None, signed: bool = True):
        all_headers = {"Content-Type": content_type, **(sign(body, secret, timestamp) if signed else {}),
                       **(headers or {})}
        return self.client.post("/slack/events", content=body, headers=all_headers)

    def command(self, text: str, *, command: str = "/incident", user_id: str = "U0LEAD",
                channel_id: str = "CGENERAL", run: bool = True, headers: dict[str, str] | None = None,
                **kwargs: Any):
        """Send a signed slash command; then run the queued job. Returns the HTTP response."""
        body = slash_body(text, command=command, user_id=user_id, channel_id=channel_id,
                          response_url=self.recorder.response_url(), **kwargs)
        response = self.post(body, "application/x-www-form-urlencoded", headers=headers)
        if run:
            self.run_jobs()
        return response

    def press(self, action_id: str, value: str, *, user_id: str = "U0LEAD", channel_id: str = "CGENERAL",
              run: bool = True, **kwargs: Any):
        body = action_body(action_id, value, user_id=user_id, channel_id=channel_id,
                           response_url=self.recorder.response_url("action"), **kwargs)
        response = self.post(body, "application/x-www-form-urlencoded")
        if run:
            self.run_jobs()
        return response

    def event(self, event: dict[str, Any], event_id: str = "Ev1", run: bool = True, **kwargs: Any):
        response = self.post(event_body(event, event_id), "application/json", **kwargs)
        if run:
            self.run_jobs()
        return response

    def run_jobs(self) -> int:
        return jobs.run_due(self.container)

    def reply_text(self) -> str:
        return self.recorder.last_response_text()

    def ack_json(self, response) -> dict[str, Any]:
        return json.loads(response.text) if response.text else {}
