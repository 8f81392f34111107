"""Slack's calls (and response_url answers) reuse one kept-alive connection per process."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.core import http_pool
from bot.store.models import Incident
from bot.core.reply import Reply
from bot.core.settings import Settings
from bot.adapters.slack.slack_chat import SlackChat, make_web_client, respond_via
from tests.support.slack_recorder import SlackRecorder


@pytest.fixture
def slow_slack():
    http_pool.reset()  # a fresh pool, so the count starts at this test
    recorder = SlackRecorder(latency=0.001)  # keeps connections alive, as Slack does
    yield recorder
    recorder.close()
    http_pool.reset()


def settings(recorder: SlackRecorder) -> Settings:
    return Settings(slack_bot_token="xoxb-test", slack_signing_secret="s", slack_api_url=recorder.api_url,
                    database_url="sqlite://")


def test_web_api_calls_reuse_one_connection(slow_slack):
    chat = SlackChat(make_web_client(settings(slow_slack)))
    channel, _ = chat.create_channel("inc-1-probe")
    for n in range(5):
        chat.post(channel, Reply(f"update {n}"))
    assert len(slow_slack.of("chat.postMessage")) == 5
    assert slow_slack.connections == 1


def test_a_second_client_in_the_same_process_shares_the_connection(slow_slack):
    first, second = make_web_client(settings(slow_slack)), make_web_client(settings(slow_slack))
    first.chat_postMessage(channel="C1", text="one")
    second.chat_postMessage(channel="C1", text="two")
    respond_via(slow_slack.response_url(), SlackChat(first), "C1", "U1")(Reply("answer"))
    assert [c.method for c in slow_slack.calls] == ["chat.postMessage", "chat.postMessage", "response_url"]
    assert slow_slack.connections == 1


def test_retries_still_work_through_the_pool(slow_slack):
    slow_slack.http_status("chat.postMessage", 429, 503)
    chat = SlackChat(make_web_client(settings(slow_slack)))
    for handler in chat.client.retry_handlers:
        if hasattr(handler, "sleep"):
            handler.sleep = lambda seconds: None
    chat.post("C1", Reply("after a 429 and a 503"))
    assert len(slow_slack.of("chat.postMessage")) == 3


def test_declare_sends_the_invite_and_both_cards_side_by_side(slack):
    """After conversations.create, the invite and the two cards overlap in time instead of queueing."""
    slack.recorder.delays.update({"conversations.invite": 0.3, "chat.postMessage": 0.3})
    slack.command("declare Checkout returns 502 sev1")
    rec = slack.recorder
    [create] = rec.of("conversations.create")
    [invite] = rec.of("conversations.invite")
    cards = [c for c in rec.of("chat.postMessage") if c.data["channel"] in ("CINC0001", "#incidents")]
    assert len(cards) == 2
    fan = [invite, *cards]
    assert all(c.at >= create.answered for c in fan)  # the channel first: the cards show it
    assert max(c.at for c in fan) < min(c.answered for c in fan)  # all three in flight at once
    with Session(slack.container.engine) as session:
        [incident] = session.exec(select(Incident)).all()
    assert {c["channel"] for c in incident.cards} == {"CINC0001", "CINCIDENTS"}


def test_every_pool_verifies_with_the_one_loaded_set_of_certificates():
    """A forked worker child makes its own pool (`pool()` per process id): it must reuse the context the
    server loaded before the fork instead of parsing the root certificates again (~3 MB of its own)."""
    http_pool.reset()
    try:
        first = http_pool.pool()
        http_pool.reset()  # what a new process id does: a fresh pool
        second = http_pool.pool()
        assert first is not second
        assert first._pool._ssl_context is second._pool._ssl_context is http_pool.tls_context()  # noqa: SLF001
    finally:
        http_pool.reset()


PREPARED_CALL = """
import sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
import httpx
from bot.core import http_pool

class Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Ok)
threading.Thread(target=server.serve_forever, daemon=True).start()
if sys.argv[1] == "prepared":
    http_pool.prepare_for_fork()
before = set(sys.modules)
with httpx.Client(transport=http_pool.shared_transport()) as client:
    assert client.get(f"http://127.0.0.1:{server.server_port}/").status_code == 200
print(" ".join(sorted(set(sys.modules) - before)))
"""


def test_after_prepare_for_fork_the_first_call_loads_no_module():
    """`serve` prepares before forking its worker child, so the child's first Slack call imports nothing
    of its own (each module it imported after the fork was memory the server's copy could have shared)."""
    import subprocess
    import sys

    def new_modules(mode: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", PREPARED_CALL, mode], capture_output=True, text=True, check=True)
        return out.stdout.split()

    assert "httpcore" in new_modules("unprepared")  # what the first call loaded before
    assert new_modules("prepared") == []
