"""docs/workflows.md says what the code does: its reference part is written from the vocabulary tables, its example
files are the ones in docs/examples/workflows/, and every `fireline workflows` command it shows prints what the page
says it prints (run here through bot.app.cli.main)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import bot.app.cli as cli
from bot.features.workflows.cli import register_cli
from playbooks.workflows.reference import END, START, markdown

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "workflows.md"
FENCE = re.compile(r"(?:`(?P<name>[^`\n]+\.yaml)`:\n\n)?```(?P<lang>yaml|console)\n(?P<body>.*?)```", re.DOTALL)


def blocks(kind: str) -> list[tuple[str | None, str]]:
    return [(m["name"], m["body"]) for m in FENCE.finditer(PAGE.read_text()) if m["lang"] == kind]


def test_the_reference_is_what_the_tables_say():
    text = PAGE.read_text()
    shown = START + text.split(START, 1)[1].split(END, 1)[0] + END
    assert shown == markdown(), "regenerate it: python -m playbooks.workflows.reference docs/workflows.md"


def test_the_page_shows_each_example_file_as_it_is():
    shown = {name: body for name, body in blocks("yaml") if name and name.startswith("docs/")}
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "docs" / "examples" / "workflows").glob("*.yaml"))
    assert sorted(shown) == files and len(files) == 5
    for name, body in shown.items():
        assert body == (REPO / name).read_text(), name


@pytest.fixture
def run(monkeypatch, tmp_path, capsys):
    built = cli.cli_registry

    def with_workflows(settings):
        registry = built(settings)
        if "workflows" not in registry.cli_commands:
            register_cli(registry)
        return registry

    monkeypatch.setattr(cli, "cli_registry", with_workflows)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/never.db")
    monkeypatch.delenv("WORKFLOWS", raising=False)
    monkeypatch.delenv("PLAYBOOKS_PATH", raising=False)
    team = dict(blocks("yaml"))["team.yaml"]

    def fireline(line: str) -> str:
        if "team.yaml" in line:
            (tmp_path / "team.yaml").write_text(team)
            monkeypatch.chdir(tmp_path)
        else:
            monkeypatch.chdir(REPO)
        cli.main(shlex.split(line)[1:])
        return capsys.readouterr().out

    return fireline


def test_every_command_on_the_page_prints_what_the_page_shows(run):
    sessions = [body for _name, body in blocks("console")
                if not body.startswith("$ WORKFLOWS=")]  # live console sessions: tests/docs/test_workflows_console.py
    commands = 0
    for session in sessions:
        for chunk in re.split(r"^\$ ", session, flags=re.MULTILINE)[1:]:
            command, _, shown = chunk.partition("\n")
            assert command.startswith("fireline workflows "), command
            assert run(command).rstrip("\n") == shown.rstrip("\n"), command
            commands += 1
    assert commands >= 10
