"""Channel names the Slack chat remembers are bounded: one channel per incident must not mean one entry per incident."""

from __future__ import annotations

from bot.adapters.slack import slack_chat
from bot.adapters.slack.slack_chat import SlackChat, make_web_client
from bot.core.settings import Settings
from tests.support.slack_recorder import SlackRecorder


def test_the_oldest_names_are_forgotten_and_asked_again(monkeypatch):
    monkeypatch.setattr(slack_chat, "MAX_CHANNEL_NAMES", 3)
    recorder = SlackRecorder()
    try:
        settings = Settings(slack_bot_token="xoxb-test", slack_signing_secret="s", slack_api_url=recorder.api_url,
                            database_url="sqlite://")
        chat = SlackChat(make_web_client(settings, sleep=lambda s: None))
        made = [chat.create_channel(f"inc-{n}-probe") for n in range(5)]
        assert len(chat._names) == 3
        newest_id, newest_name = made[-1]
        assert chat.channel_name(newest_id) == newest_name and not recorder.of("conversations.info")
        oldest_id, _ = made[0]
        chat.channel_name(oldest_id)  # forgotten: Slack is asked, as for any channel not seen lately
        assert len(recorder.of("conversations.info")) == 1 and len(chat._names) == 3
    finally:
        recorder.close()
