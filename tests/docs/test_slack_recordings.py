"""The newer docs/slack-messages/ files, recorded from the real Slack app (signed requests to Bolt, the recording
Slack stand-in): the shared SEV1 checklist after Acknowledge ticked step 1, and a rollback's progress message
half-way (2 of 4 machines). With FIRELINE_UPDATE_SLACK_MESSAGES=1 the files are rewritten from the recording;
otherwise the test fails when the recorded message's shape (its blocks and elements, in order) or its button and
checkbox labels differ from the file's, so the docs cannot drift from what Slack is sent.
"""

from __future__ import annotations

import json
import os

import pytest

from bot.service.incidents import Actions
from tests.support.paths import REPO
from tests.support.playbook_harness import newest_button

MESSAGES = REPO / "docs" / "slack-messages"


def shape(message: dict) -> list:
    """What the docs show of a message and a change to Fireline would change: block and element kinds, labels."""
    out = []
    for block in message["blocks"]:
        out.append(block["type"])
        for element in block.get("elements", []):
            labels = [o["text"]["text"] for o in element.get("options", [])] if element["type"] == "checkboxes" \
                else element.get("text", {}).get("text") if element["type"] == "button" else None
            out.append([element["type"], labels])
    return out


def record(name: str, data: dict) -> None:
    blocks = data["blocks"]
    message = {"text": data["text"], "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks}
    path = MESSAGES / f"{name}.after.json"
    if os.environ.get("FIRELINE_UPDATE_SLACK_MESSAGES"):
        path.write_text(json.dumps(message, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    assert shape(json.loads(path.read_text(encoding="utf-8"))) == shape(message), f"{path.name} is stale"


@pytest.fixture
def db_url(_sqlite_template, tmp_path):
    """SQLite only: the message is the same on either database (the Slack tests cover both)."""
    return _sqlite_template.copy(tmp_path)


def test_sev1_checklist_after_acknowledge(slack):
    slack.command("declare Checkout returns 502 sev1")
    action_id, value = newest_button(slack.recorder, "Acknowledge")
    slack.press(action_id, value, action_ts="1.1", channel_id="CINC0001")
    slack.press(Actions.PLAYBOOK, "1", action_ts="1.2", channel_id="CINC0001")
    [*_, latest] = [c for c in slack.recorder.calls if c.method in ("chat.postMessage", "chat.update")
                    and "SEV1 playbook" in str(c.data.get("text", ""))]
    record("sev1-checklist", latest.data)


def test_rollback_progress_half_way(fly_slack):
    slack = fly_slack
    slack.command("declare Checkout returns 502 sev1")
    slack.command("--batch 2", command="/rollback", channel_id="CINC0001")
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, action_ts="1.1", channel_id="CINC0001")
    # the first edit at half way: a live line may edit the same message again before the next batch (coalesced)
    [half_way, *_] = [c for c in slack.recorder.of("chat.update") if "2 of 4 machines" in str(c.data.get("blocks"))]
    record("rollback-progress", half_way.data)
