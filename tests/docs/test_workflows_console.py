"""docs/workflows.md's live console sessions are what `fireline console` prints: each ```console block that starts
with `$ WORKFLOWS=<example> fireline console` is replayed through bot.app.cli.main (the settings, database and
registry a person gets), the typed lines (`#channel> ...`) fed to the real console one by one, and the transcript,
prompts included, compared with the page. Each session sets the console's clock first (`:clock ...`), so nothing is
normalised: what the page shows is what a person sees, on any day. After a change that alters what the console
prints, `python -m tests.docs.test_workflows_console` rewrites the sessions (then read the diff: it is the change)."""

from __future__ import annotations

import io
import itertools
import re
import shlex
from pathlib import Path

import pytest

import bot.app.cli as cli
from bot.adapters.console import Console

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "workflows.md"
SESSION = re.compile(r"```console\n(?P<command>\$ WORKFLOWS=\S+ (?:[A-Z_]+=\S* )*fireline console)\n(?P<body>.*?)```",
                     re.DOTALL)
TYPED = re.compile(r"^#[a-z0-9-]+> (?P<line>.*)$")


def sessions() -> list[tuple[str, str]]:
    return [(m["command"], m["body"]) for m in SESSION.finditer(PAGE.read_text())]


def typed_lines(body: str) -> list[str]:
    return [m["line"] for m in map(TYPED.match, body.splitlines()) if m]


def transcript(command: str, lines: list[str], database: Path) -> str:
    """`$ WORKFLOWS=... fireline console` through bot.app.cli.main, each line after its prompt, then what the
    console printed. The caller sets the environment (WORKFLOWS aside, which `command` names)."""
    import os

    assigned = dict(word.split("=", 1) for word in shlex.split(command[2:]) if "=" in word)
    saved = {key: os.environ.get(key) for key in (*assigned, "DATABASE_URL")}
    os.environ.update(assigned, DATABASE_URL=f"sqlite:///{database}")
    out = io.StringIO()

    def replay(container, stdin=None, _out=None) -> int:
        terminal = Console(container, out)
        for line in lines:
            out.write(f"#{terminal.chat.channel_name(terminal.channel_id)}> {line}\n")
            terminal.run_line(line)
        return 0

    real, cli.run_console = cli.run_console, replay
    try:
        assert cli.main(shlex.split(command)[-1:]) == 0
    finally:
        cli.run_console = real
        for key, before in saved.items():
            os.environ.pop(key, None) if before is None else os.environ.__setitem__(key, before)
    return out.getvalue()


@pytest.fixture
def console(monkeypatch, tmp_path):
    """`console(command, lines)` -> the transcript, on a fresh SQLite database."""
    monkeypatch.chdir(REPO)
    for name in ("PLAYBOOKS_PATH", "PAGERDUTY_API_TOKEN", "SLACK_BOT_TOKEN", "STATUSPAGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    numbers = itertools.count()  # not the folder's file count: SQLite's -wal and -shm files come and go, and a name
    # counted from them once named a database an earlier session had used (its incident #3 where the page shows #1)
    return lambda command, lines: transcript(command, lines, tmp_path / f"{next(numbers)}.db")


def test_each_example_has_a_live_session_and_each_prints_what_the_page_shows(console):
    shown = sessions()
    examples = {command.split("=", 1)[1].split()[0] for command, _ in shown}
    assert {"docs/examples/workflows/exec-escalation.yaml", "docs/examples/workflows/customer-support.yaml", "docs/examples/workflows/business-hours-paging.yaml",
            "docs/examples/workflows/status-drafts-per-component.yaml",
            "docs/examples/workflows/postmortem-reminders.yaml"} <= examples
    for command, body in shown:
        lines = typed_lines(body)
        assert lines[0].startswith(":clock "), f"{command}: set the clock first, so the session reads the same"
        assert console(command, lines).rstrip("\n") == body.rstrip("\n"), command


def test_the_console_clock_refuses_what_it_cannot_read_and_says_what_to_type(console):
    shown = console("$ WORKFLOWS=docs/examples/workflows/postmortem-reminders.yaml fireline console",
                    [":clock +soon", ":clock next tuesday", ":clock 2026-12-07 10:00 Europe/Paris", ":clock +1h30m",
                     ":clock"])
    assert "`+soon` is not a duration.\n  Write `:clock +90s`, `+30m`, `+2h`, `+1h30m` or `+1d`." in shown
    assert "`next tuesday` is not a time.\n  Type `:clock 2026-12-07T10:00 Europe/Paris` to set it" in shown
    assert "* the console's clock is now Mon 2026-12-07 10:00 Europe/Paris (09:00 UTC)" in shown
    assert shown.rstrip().endswith("* the console's clock is Mon 2026-12-07 11:30 Europe/Paris (10:30 UTC)\n"
                                   "  Type `:clock 2026-12-07T10:00 Europe/Paris` to set it, or `:clock +30m` to move "
                                   "it on.")


if __name__ == "__main__":  # `python -m tests.docs.test_workflows_console`: rewrite the sessions after a change
    import os
    import tempfile

    os.chdir(REPO)
    text = PAGE.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        for n, (command, body) in enumerate(sessions()):
            fresh = transcript(command, typed_lines(body), Path(tmp) / f"{n}.db")
            text = text.replace(f"{command}\n{body}", f"{command}\n{fresh}", 1)
    PAGE.write_text(text)
    print(f"rewrote {len(sessions())} console sessions in {PAGE.relative_to(REPO)}")
