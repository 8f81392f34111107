"""A loopback stand-in for Slack's Web API that records every call and answers like Slack.

Point SLACK_API_URL at `recorder.api_url`; `response_url`s at `recorder.response_url(...)`.
`recorder.fail(method, error, times)` makes the next calls of a method answer `ok: false`.
`recorder.add_message(channel, ts, text, user=...)` makes conversations.history/replies return that message.
`recorder.http_status(method, 429, 503)` answers the next calls with HTTP errors (429 with `retry_after`),
`recorder.delays[method] = 1.0` makes a method slow (after recording it), `recorder.response_codes` does the
same as http_status for response_url answers.

`SlackRecorder(latency=0.08, connect_cost=0.06)` behaves like Slack over the internet for the
benches: every answer takes `latency` seconds, every new connection costs `connect_cost` once (a TLS
handshake's order), connections are kept alive (HTTP/1.1, as Slack's) and `connections` counts them.
`Call.answered` is when the answer left (the call's effect is visible to people from then on).

Every message, modal and Home view is checked as Slack would (tests/support/block_kit.py: slack_sdk's Block
Kit models and the documented limits). One Slack would refuse is answered as Slack answers it (`ok: false`,
`invalid_blocks`) and kept in `problems`; the `recorder` fixture fails the test with them at its end.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.block_kit import problems_of
from tests.support.quiet_server import QuietHTTPServer


@dataclass
class Call:
    method: str  # "chat.postMessage", or "response_url"
    data: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)
    answered: float | None = None  # when the answer was sent (time.monotonic)

    def text(self) -> str:
        """Everything readable in the call (text and every block's text), for assertions."""
        parts: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in ("text", "value", "action_id", "name", "channel", "users", "content", "title") \
                            and isinstance(value, str):
                        parts.append(value)
                    else:
                        walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.data)
        return "\n".join(parts)


class SlackRecorder:
    def __init__(self, latency: float = 0.0, connect_cost: float = 0.0) -> None:
        self.latency = latency  # seconds every answer takes (the benches' stand-in for the internet)
        self.connect_cost = connect_cost  # seconds a new connection costs once (TLS handshake)
        self.connections = 0  # connections accepted so far
        self.calls: list[Call] = []
        self._failures: dict[str, list[str | None]] = {}
        self._ids = itertools.count(1)
        self._channel_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._local = threading.local()  # the call this handler thread is answering
        self.delay = 0.0
        self.delays: dict[str, float] = {}  # method (or "response_url") -> seconds, after the call is recorded
        self.retry_after: str | None = "0"  # the Retry-After header of 429 answers
        self.response_codes: list[int] = []  # HTTP statuses for the next response_url answers
        self.status_codes: dict[str, list[int]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> messages, for history/replies
        self.usergroups: list[dict[str, Any]] = []  # what usergroups.list answers: {id, handle, users}
        self.emails: dict[str, str] = {}  # user id -> the email users.info shares (users:read.email)
        self.names: dict[str, str] = {}  # user id -> the display name users.info gives
        self.problems: list[str] = []  # what Slack would have refused or cut (tests/support/block_kit.py)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive only where the benches ask for Slack's behaviour; the tests' default stays HTTP/1.0.
            protocol_version = "HTTP/1.1" if (latency or connect_cost) else "HTTP/1.0"

            def setup(self) -> None:
                super().setup()
                with recorder._lock:
                    recorder.connections += 1
                if recorder.connect_cost:
                    time.sleep(recorder.connect_cost)

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", errors="replace")
                ctype = self.headers.get("Content-Type", "")
                if self.path.startswith("/upload/"):  # a file's bytes (urllib labels them as a form)
                    data = {"content": raw}
                elif "json" in ctype:
                    data = json.loads(raw or "{}")
                elif "form" in ctype:
                    data = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                    for key in ("blocks", "attachments"):
                        if key in data:
                            data[key] = json.loads(data[key])
                else:
                    data = {"raw": raw}
                if "?" in self.path:  # GET methods (conversations.history) send their arguments here
                    query = urllib.parse.parse_qs(self.path.split("?", 1)[1])
                    data.update({k: v[0] for k, v in query.items()})
                status, body = recorder.handle(self.path, data, dict(self.headers))
                if recorder.latency:
                    time.sleep(recorder.latency)
                call = getattr(recorder._local, "call", None)
                if call is not None:
                    call.answered = time.monotonic()
                    recorder._local.call = None
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 429 and recorder.retry_after is not None:
                    self.send_header("Retry-After", recorder.retry_after)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST  # noqa: N815

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -- configuration ----------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "cmd") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def fail(self, method: str, error: str, times: int = 1, after: int = 0) -> None:
        """The next `times` calls of `method` answer `ok: false` with `error`, once `after` calls went through."""
        self._failures.setdefault(method, []).extend([None] * after + [error] * times)

    def http_status(self, method: str, *codes: int) -> None:
        """Answer the next calls of `method` with these HTTP statuses (429 gets Retry-After: `retry_after`)."""
        self.status_codes.setdefault(method, []).extend(codes)

    def add_message(self, channel: str, ts: str, text: str, user: str | None = "U0AISHA",
                    thread_ts: str | None = None, **extra: Any) -> dict[str, Any]:
        """A message conversations.history (or .replies, for a thread reply) will return."""
        message = {"type": "message", "ts": ts, "text": text, **({"user": user} if user else {}), **extra}
        if thread_ts:
            message["thread_ts"] = thread_ts
        self.messages.setdefault(channel, []).append(message)
        return message

    def _history(self, method: str, data: dict[str, Any]) -> dict[str, Any]:
        """Slack's answer: newest first, within latest/oldest (inclusive or not), top level or one thread."""
        messages = self.messages.get(data.get("channel", ""), [])
        if method == "conversations.replies":
            root = next((m for m in messages if m["ts"] == data.get("ts")), None)
            thread = (root or {}).get("thread_ts") or data.get("ts")
            messages = [m for m in messages if m["ts"] == thread or m.get("thread_ts") == thread]
        else:
            messages = [m for m in messages if m.get("thread_ts") in (None, m["ts"])]
        inclusive = str(data.get("inclusive", "")).lower() in ("1", "true")

        def inside(ts: str) -> bool:
            value = float(ts)
            if data.get("latest") and (value > float(data["latest"]) or (value == float(data["latest"])
                                                                           and not inclusive)):
                return False
            return not (data.get("oldest") and (value < float(data["oldest"]) or (
                value == float(data["oldest"]) and not inclusive)))

        chosen = sorted((m for m in messages if inside(m["ts"])), key=lambda m: float(m["ts"]),
                        reverse=method == "conversations.history")
        limit = int(data.get("limit") or 100)
        return {"ok": True, "messages": chosen[:limit], "has_more": len(chosen) > limit}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- queries ------------------------------------------------------------------------------------
    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def responses(self) -> list[Call]:
        return self.of("response_url")

    def last_response_text(self) -> str:
        responses = self.responses()
        assert responses, f"no response_url call; calls were {self.methods()}"
        return responses[-1].text()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    def assert_valid(self) -> None:
        """Fail with every message, modal or Home view Slack would have refused or cut, and why."""
        problems, self.problems = self.problems, []
        assert not problems, "Slack would refuse or cut what Fireline sent:\n  " + "\n  ".join(problems)

    def _checked(self, method: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """Slack's answer to a call it would refuse, else None (the problems are kept for the test's end)."""
        try:
            found = problems_of(method, data)
        except Exception as exc:  # the check itself must never hide a call
            found = [f"{method}: the Block Kit check failed: {type(exc).__name__}: {exc}"]
        if not found:
            return None
        with self._lock:
            self.problems.extend(found)
        cut_only = all("Slack cuts" in problem for problem in found)
        if cut_only:
            return None  # Slack takes it, shortened
        if method == "response_url":
            return 400, {"ok": False, "error": "invalid_blocks"}
        return 200, {"ok": False, "error": "invalid_arguments" if method.startswith("views.") else "invalid_blocks",
                     "response_metadata": {"messages": found[:5]}}

    # -- answering -------------------------------------------------------------------------------------
    def handle(self, path: str, data: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.delay:
            time.sleep(self.delay)
        if path.startswith("/response/"):
            with self._lock:
                self._local.call = Call("response_url", data, headers)
                self.calls.append(self._local.call)
                code = self.response_codes.pop(0) if self.response_codes else 200
            if self.delays.get("response_url"):
                time.sleep(self.delays["response_url"])
            refused = self._checked("response_url", data)
            return refused if refused and code < 400 else (code, {"ok": code < 400})
        if path.startswith("/upload/"):
            with self._lock:
                self._local.call = Call("file_upload", data, headers)
                self.calls.append(self._local.call)
            return 200, {"ok": True}
        method = path.split("/api/", 1)[-1].split("?")[0]
        with self._lock:
            self._local.call = Call(method, data, headers)
            self.calls.append(self._local.call)
        if self.delays.get(method):
            time.sleep(self.delays[method])
        with self._lock:
            codes = self.status_codes.get(method)
            if codes:
                return codes.pop(0), {"ok": False, "error": "http_error"}
            failures = self._failures.get(method)
            error = failures.pop(0) if failures else None
            if error is not None:
                return 200, {"ok": False, "error": error}
        refused = self._checked(method, data)
        if refused:
            return refused
        with self._lock:
            n = next(self._ids)
        ts = f"{1700000000 + n}.{n:06d}"
        if method == "conversations.create":
            return 200, {"ok": True, "channel": {"id": f"CINC{next(self._channel_ids):04d}", "name": data.get("name")}}
        if method in ("chat.postMessage", "chat.update"):
            channel = data.get("channel", "")
            channel_id = "C" + channel[1:].upper().replace("-", "") if channel.startswith("#") else channel
            return 200, {"ok": True, "channel": channel_id, "ts": data.get("ts") or ts}
        if method == "users.info":
            user = data.get("user", "")
            profile = {"email": self.emails[user]} if user in self.emails else {}
            if user in self.names:
                profile["display_name"] = self.names[user]
            return 200, {"ok": True, "user": {"id": user, "profile": profile}}
        if method == "users.lookupByEmail":
            found = [user for user, email in self.emails.items() if email == data.get("email")]
            return 200, ({"ok": True, "user": {"id": found[0]}} if found else {"ok": False, "error": "users_not_found"})
        if method == "usergroups.list":
            return 200, {"ok": True, "usergroups": self.usergroups}
        if method == "chat.getPermalink":
            channel, message_ts = data.get("channel", ""), str(data.get("message_ts", ""))
            return 200, {"ok": True, "channel": channel,
                         "permalink": f"https://acme.slack.com/archives/{channel}/p{message_ts.replace('.', '')}"}
        if method == "auth.test":
            return 200, {"ok": True, "user_id": "UBOT", "user": "fireline", "bot_id": "BBOT", "team_id": "T1",
                         "team": "Acme"}
        if method == "conversations.info":
            return 200, {"ok": True, "channel": {"id": data.get("channel"), "name": "some-channel"}}
        if method == "files.getUploadURLExternal":
            return 200, {"ok": True, "upload_url": f"http://127.0.0.1:{self.port}/upload/F{n}", "file_id": f"F{n}"}
        if method in ("conversations.history", "conversations.replies"):
            return 200, self._history(method, data)
        if method in ("views.open", "views.publish", "views.update", "views.push"):
            view = data.get("view")
            view = json.loads(view) if isinstance(view, str) else (view or {})
            return 200, {"ok": True, "view": {**view, "id": f"V{n:06d}", "hash": f"{n}.h"}}
        if method == "files.completeUploadExternal":
            return 200, {"ok": True, "files": [{"id": "F1", "title": "file"}]}
        return 200, {"ok": True, "ts": ts}


def strings(node) -> list[str]:
    """Every string inside a JSON-like value (a Block Kit payload, an API body), depth first."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return []
