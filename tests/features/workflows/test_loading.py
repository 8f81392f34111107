"""The bot reads a team's workflow file against the same playbooks as `fireline workflows check`: plug-ins too."""

from __future__ import annotations

import shutil

from bot.features.workflows import loading
from tests.support.paths import REPO

EXAMPLE = REPO / "docs" / "examples" / "cdn_flush.py"
FILE = """workflows:
  - name: Flush the CDN on a SEV2 of the assets
    on: declared
    when:
      severity: 2
    steps:
      - plan_playbook: cdn-flush
"""


def test_a_plug_in_playbook_named_in_a_team_file_loads_in_the_bot_as_in_the_check(make_container, tmp_path,
                                                                                   monkeypatch):
    """Before: `fireline workflows check` knew the plug-in and passed the file, while the running bot read it
    without the plug-ins, refused it as "unknown playbook" and quietly kept the default file."""
    monkeypatch.setenv("CDN_PURGE_URL", "http://127.0.0.1:9/purge")
    monkeypatch.setenv("CDN_API_TOKEN", "cdn-token-abc")
    folder = tmp_path / "playbooks.d"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / EXAMPLE.name)
    team = tmp_path / "workflows.yaml"
    team.write_text(FILE, encoding="utf-8")
    container = make_container(playbooks_path=str(folder), workflows=str(team))
    assert "cdn-flush" in container.registry.playbooks
    held = loading.current(container)
    assert held.problem is None, held.problem
    assert [wf.name for wf in held.workflows] == ["Flush the CDN on a SEV2 of the assets"]



def test_fireline_checks_workflows_line_is_the_bots_own_load(make_container, tmp_path):
    """`fireline check` says what the bot does with the file, in the bot's words (one load, `loading.load`).
    Before, the check loaded the file a second way and worded the problem its own way."""
    team = tmp_path / "workflows.yaml"
    team.write_text(FILE.replace("cdn-flush", "diagnose"), encoding="utf-8")
    container = make_container(workflows=str(team))
    status = container.registry.checks["workflows"](container.settings)
    assert status.state == "live" and "1 of 1 workflows enabled" in status.detail, status.detail
    team.write_text(FILE.replace("cdn-flush", "no-such-playbook"), encoding="utf-8")
    status = container.registry.checks["workflows"](container.settings)
    problem = loading.load(container.settings).problem
    assert status.state == "error" and "no-such-playbook" in status.detail and "running the default file" in problem
    assert status.detail == f"{problem}. Fix it and check with `fireline workflows check FILE`"
