"""What a first-time Slack set-up meets: the tokens, the manifest, start-up logs, the words on the card."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from bot.adapters.slack.bolt import build_bolt_app
from tests.support.signing import SIGNING_SECRET

REPO = Path(__file__).resolve().parents[3]


def test_socket_refuses_a_bot_token_as_the_app_token(tmp_path, monkeypatch, capsys):
    """`fireline socket` with SLACK_APP_TOKEN=xoxb-...: refused before connecting, saying what it should be."""
    import slack_bolt.adapter.socket_mode as socket_mode

    from bot.app.cli import main

    started = []

    class Handler:
        def __init__(self, app, token):
            started.append(token)

        def start(self):
            pass

    monkeypatch.setattr(socket_mode, "SocketModeHandler", Handler)
    monkeypatch.chdir(tmp_path)
    for key, value in {"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "SLACK_BOT_TOKEN": "xoxb-1-bot-token",
                       "SLACK_APP_TOKEN": "xoxb-2-pasted-in-the-wrong-place", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                       "SLACK_API_URL": "http://127.0.0.1:9/api/", "WORKER_PROCESS": "false"}.items():
        monkeypatch.setenv(key, value)
    assert main(["socket"]) == 2
    assert started == []
    said = capsys.readouterr().err
    assert "SLACK_APP_TOKEN" in said and "xapp-" in said and "App-Level Tokens" in said
    assert "xoxb-2-pasted" not in said  # never the value itself


def test_manifest_lets_fireline_read_private_alert_channels():
    manifest = yaml.safe_load((REPO / "slack-manifest.yml").read_text())
    assert "groups:history" in manifest["oauth_config"]["scopes"]["bot"]
    assert "message.groups" in manifest["settings"]["event_subscriptions"]["bot_events"]


def test_building_the_app_logs_no_unused_token_warning(container, monkeypatch, caplog):
    """`serve` has SLACK_BOT_TOKEN in its environment; Bolt read it too and warned at every start."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token-abc")
    with caplog.at_level(logging.WARNING):
        app = build_bolt_app(container)
        logging.getLogger("slack_bolt.App").warning("another Bolt warning")
    said = [record.getMessage() for record in caplog.records]
    assert not [line for line in said if "unused" in line or "will be ignored" in line], said
    assert "another Bolt warning" in said  # only that one is gone
    assert app.client.token == "xoxb-test-token-abc"


def test_sev4_reads_respond_by_the_next_business_day(slack):
    from playbooks.severity import describe

    assert describe(4) == "SEV4 (Cosmetic/Low priority, respond by the next business day)"
    assert describe(1) == "SEV1 (Complete outage, respond < 15 min)"
    slack.command("declare Typo on the pricing page sev4")
    card = slack.recorder.of("chat.postMessage")[0].text()
    assert "respond by the next business day" in card and "Next business day" not in card
