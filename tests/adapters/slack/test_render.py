"""Reply -> Block Kit for the richer parts: a header, an overflow menu, button styles, within Slack's limits."""

from __future__ import annotations

import re

from bot.adapters.slack.render import blocks_json, pressed
from bot.core.reply import Button, Reply, escape
from tests.support.block_kit import message_problems


def _message(reply: Reply) -> dict:
    return {"text": reply.text, "blocks": blocks_json(reply)}


def _elements(blocks: list[dict]) -> list[dict]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_header_fields_first_then_text_buttons_and_menu():
    reply = Reply("notification", lines=["body"], fields=[("State", "declared")], header="SEV1 · #1: down",
                  buttons=[Button("Acknowledge", "ack", "1", "primary")],
                  overflow=[Button("Show playbook", "playbook", "1"), Button("Catch me up", "catchup", "1")])
    blocks = blocks_json(reply)
    assert [b["type"] for b in blocks] == ["header", "section", "section", "actions"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "SEV1 · #1: down", "emoji": True}
    assert "notification" not in str(blocks)  # the header says it; `text` is what a notification shows
    button, menu = _elements(blocks)
    assert button["style"] == "primary" and menu["type"] == "overflow"
    assert [o["value"] for o in menu["options"]] == ["playbook 1", "catchup 1"]
    assert pressed({"type": "overflow", "action_id": menu["action_id"], "selected_option": menu["options"][1]}) \
        == ("catchup", "1")
    assert pressed(button) == ("ack", "1")
    assert message_problems(_message(reply)) == []


def test_a_menu_slack_would_refuse_is_shown_as_buttons():
    six = [Button(f"Action {n}", f"act{n}", "1") for n in range(6)]
    for menu in (six, six[:1]):  # Slack takes 2 to 5 options
        reply = Reply("x", header="h", buttons=[Button("Go", "go", "1", "primary")], overflow=menu)
        elements = _elements(blocks_json(reply))
        assert [e["type"] for e in elements] == ["button"] * (1 + len(menu))
        assert message_problems(_message(reply)) == []
    long_value = [Button("A", "a", "v" * 200), Button("B", "b", "1")]  # an option's value holds 150
    assert {e["type"] for e in _elements(blocks_json(Reply("x", overflow=long_value)))} == {"button"}


def test_a_long_or_hostile_header_stays_within_slacks_limits():
    title = escape("<!channel> & " + "x" * 300)
    reply = Reply("x", header=f"SEV1 · {title}", fields=[(f"F{n}", "v") for n in range(12)])
    blocks = blocks_json(reply)
    assert len(blocks[0]["text"]["text"]) == 150 and blocks[0]["text"]["text"].endswith("\u2026")
    assert "&lt;!channel&gt; &amp;" in blocks[0]["text"]["text"]
    assert [len(b["fields"]) for b in blocks if b.get("fields")] == [10, 2]
    assert message_problems(_message(reply)) == []


def test_without_the_new_parts_a_message_is_drawn_as_before():
    reply = Reply("title", lines=["a"], fields=[("A", "1")], buttons=[Button("Go", "go", "1")], footer="f")
    assert [b["type"] for b in blocks_json(reply)] == ["section", "section", "context", "actions"]
    assert blocks_json(reply)[0]["text"]["text"] == "title\na"


def test_a_cut_header_never_ends_inside_an_escape_or_an_emoji_code():
    for tail in (" &amp; payments", " :rotating_light: down"):
        for pad in range(140, 150):
            header = blocks_json(Reply("t", header="x" * pad + tail))[0]["text"]["text"]
            assert header.endswith("\u2026") and len(header) <= 150
            ending = header[:-1].rstrip()
            assert not re.search(r"&[a-z]{0,3}$", ending) and not re.search(r":[a-z_]+$", ending), header[-12:]
