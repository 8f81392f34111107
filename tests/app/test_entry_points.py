"""`fireline commands` and docs/commands.md: every entry point with a handler a reader can open."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from bot.app.cli import cli_registry
from bot.app.entry_points import DOCS_COMMAND, entries, markdown, table
from bot.core.reply import Reply

REPO = Path(__file__).resolve().parents[2]
# Handlers defined inside another function: the listing says so, and nobody can import them. Kept here by name
# so that a new one fails this file (handlers live at module level) rather than slipping in.


def _by_kind(found, kind):
    return [entry.name for entry in found if entry.kind == kind]


def test_the_listing_covers_every_registered_entry_once():
    registry = cli_registry(None)
    found = entries(registry)
    assert _by_kind(found, "slash") == [f"/{name}" for name in registry.commands]
    assert _by_kind(found, "subcommand") == [f"/{command.name} {sub}" for command in registry.commands.values()
                                             for sub in command.subcommands]
    assert len(_by_kind(found, "subcommand")) >= 24 + 4 + 1  # /incident's 24, /scale's 4, /deploy watch
    assert sorted(_by_kind(found, "button")) == sorted(set(registry.actions) | set(registry.placeholders))
    assert _by_kind(found, "view") == list(registry.views)
    assert _by_kind(found, "fireline") == [f"fireline {name}" for name in registry.cli_commands]
    assert _by_kind(found, "check") == list(registry.checks)
    # the functions named are the ones registered (a partial is named by the function it wraps)
    registered = [getattr(sub.handler, "func", sub.handler) for command in registry.commands.values()
                  for sub in command.subcommands.values()]
    assert [entry.function for entry in found if entry.kind == "subcommand"] == registered
    assert [entry.function for entry in found if entry.kind == "button"] == [a.handler for a in
                                                                            registry.actions.values()]
    assert [entry.function for entry in found if entry.kind == "check"] == list(registry.checks.values())


def test_what_each_entry_declares_is_shown():
    found = {entry.name: entry for entry in entries(cli_registry(None))}
    assert found["/incident sev"].handler == "bot.features.incident.feature:sev"
    assert found["/incident sev"].needs == 'incident="open"' and found["/incident sev"].usage == "/incident sev <1-4>"
    assert found["/incident show"].needs == 'incident="any"' and found["/incident list"].needs == ""
    assert found["incident_ack"].needs == 'value="incident", incident="open"'
    assert found["status_edit"].needs == "value=int" and found["alert_declare"].needs == 'value="alert"'
    assert found["incident_catchup"].summary == 'the incident card\'s "Catch me up" button'
    assert found["/restart"].handler == "bot.features.playbooks.feature:playbook_command"
    assert found["/restart"].note == "with playbooks.restart:Restart"
    assert found["declare_modal"].handler == "bot.adapters.slack.modals:install_hook"
    assert found["fireline db"].usage == "fireline db {upgrade,current}"
    assert found["fireline commands"].handler == "bot.app.entry_points:cmd_commands"
    assert found["sentry-api"].handler == "bot.features.deploy_watch.sentry:check_sentry_api"


def test_every_named_handler_is_importable_at_module_level():
    nested = set()
    for entry in entries(cli_registry(None)):
        if not entry.handler:
            continue
        module, _, qualname = entry.handler.partition(":")
        if entry.nested:
            nested.add(entry.handler)
            continue
        assert _resolve(module, qualname) is entry.function, entry.name
    assert nested == set(), "define these handlers at module level, where a reader (and a test) can import them"


def _resolve(module: str, qualname: str):
    found = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def _plugin_reply(ctx, args, incident) -> Reply:
    return Reply("flushed")


def test_a_new_registration_shows_up_by_itself():
    registry = cli_registry(None)
    registry.command("incident", "").sub("flush", "flush [#N]", "purge the CDN", _plugin_reply, incident="open")
    registry.action("cdn_flush", lambda ctx, number: None, value=int)
    registry.view("cdn_modal", "the CDN modal")
    registry.placeholder("cdn_later", "Not yet.")
    registry.check("cdn")(_plugin_reply)
    found = {entry.name: entry for entry in entries(registry)}
    flush = found["/incident flush"]
    assert (flush.handler, flush.needs, flush.usage) == ("tests.app.test_entry_points:_plugin_reply", 'incident="open"',
                                                         "/incident flush [#N]")
    assert found["cdn_flush"].nested and found["cdn_flush"].handler.endswith("<locals>.<lambda>")
    assert found["cdn_flush"].note == "nested: not importable" and found["cdn_flush"].needs == "value=int"
    assert found["cdn_modal"].handler == "" and "plug-in" in found["cdn_modal"].note
    assert found["cdn_later"].summary == "answers: Not yet."
    assert found["cdn"].handler == "tests.app.test_entry_points:_plugin_reply"
    lines = table(entries(registry)).splitlines()
    assert len(lines) == len(found) + 1  # a header, then one line per entry, so it greps
    assert any(line.startswith("subcommand  /incident flush") and 'incident="open"' in line for line in lines)


def test_docs_commands_md_is_current():
    docs = (REPO / "docs" / "commands.md").read_text()
    assert docs == markdown(entries(cli_registry(None))), f"regenerate it: {DOCS_COMMAND} (without PLAYBOOKS_PATH)"
    assert DOCS_COMMAND in docs.splitlines()[2]
    operations = (REPO / "docs" / "operations.md").read_text().split("## The `fireline` command", 1)[1]
    table = operations.split("\n## ", 1)[0]
    assert "](commands.md)" in table and "| `fireline commands" in table
    assert "](docs/commands.md)" in (REPO / "README.md").read_text()


def test_fireline_commands(tmp_path, monkeypatch, capsys):
    from bot.app.cli import main

    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("PLAYBOOKS_PATH", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/c.db")
    assert main(["commands"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["KIND", "ENTRY", "HANDLER", "NEEDS", "USAGE", "/", "SUMMARY"]
    line = next(line for line in out.splitlines() if line.startswith("subcommand  /incident declare "))
    assert "bot.features.incident.feature:declare" in line and "/incident declare <title>" in line
    assert main(["commands", "--format", "markdown"]) == 0
    assert capsys.readouterr().out == (REPO / "docs" / "commands.md").read_text()
    assert not (tmp_path / "c.db").exists()  # listing opens no database
    with pytest.raises(SystemExit):
        main(["commands", "--format", "html"])
    assert "invalid choice: 'html'" in capsys.readouterr().err


def test_fireline_commands_lists_the_plugins_too(tmp_path, monkeypatch, capsys):
    from bot.app.cli import main
    from tests.app.test_plugins import CLI_PLUGIN, GOOD, write

    folder = tmp_path / "playbooks.d"
    folder.mkdir()
    write(folder, "hello.py", GOOD)
    write(folder, "cdn_tools.py", CLI_PLUGIN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/c.db")
    monkeypatch.setenv("PLAYBOOKS_PATH", str(folder))
    assert main(["commands"]) == 0
    lines = {" ".join(line.split()) for line in capsys.readouterr().out.splitlines()}
    assert any(line.startswith("slash /hello bot.features.playbooks.feature:playbook_command (with ")
               and line.endswith(":Hello) - say hello (read-only)") for line in lines)
    assert any(line.startswith("fireline fireline cdn-status ") and "register.<locals>.cdn_status (nested: not "
               "importable) - fireline cdn-status zone - show a CDN zone's purge queue" in line for line in lines)
    assert any(line.startswith("check cdn ") and "register.<locals>.check_cdn" in line for line in lines)
