"""Signed Slack requests, exactly as Slack signs them (v0 HMAC-SHA256 over `v0:ts:body`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any

SIGNING_SECRET = "test-signing-secret-0123456789"


def sign(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def slash_body(text: str, *, command: str = "/incident", user_id: str = "U0LEAD", channel_id: str = "CGENERAL",
               channel_name: str = "general", response_url: str = "", trigger_id: str | None = None) -> str:
    fields = {
        "token": "legacy", "team_id": "T1", "team_domain": "acme", "channel_id": channel_id,
        "channel_name": channel_name, "user_id": user_id, "user_name": user_id.lower(), "command": command,
        "text": text, "api_app_id": "A1", "response_url": response_url,
        "trigger_id": trigger_id or f"{time.time_ns()}.trigger",
    }
    return urllib.parse.urlencode(fields)


def action_body(action_id: str, value: str, *, user_id: str = "U0LEAD", channel_id: str = "CGENERAL",
                response_url: str = "", message_ts: str = "1700000001.000001", action_ts: str | None = None) -> str:
    payload: dict[str, Any] = {
        "type": "block_actions", "team": {"id": "T1"}, "user": {"id": user_id, "name": user_id.lower()},
        "api_app_id": "A1", "token": "legacy", "trigger_id": f"{time.time_ns()}.t",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id},
        "channel": {"id": channel_id, "name": "x"}, "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                     "action_ts": action_ts or f"{time.time():.6f}", "text": {"type": "plain_text", "text": "x"}}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], event_id: str = "Ev1") -> str:
    return json.dumps({"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                       "event_id": event_id, "event_time": int(time.time()), "event": event})
