"""The docs cannot drift: every setting documented with its real default, and nothing that does not exist.

The manual is the MkDocs site in docs/ (tests/docs/test_site.py builds it); README.md is its landing page.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr

from bot.core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\|\s*`([A-Z0-9_]+)`\s*\|\s*(.*?)\s*\|\s*(.*?)\s*\|\s*$")


def section(page: str, heading: str) -> str:
    """The text under `heading` in docs/`page`, up to the next heading of the same level or higher."""
    text = (REPO / "docs" / page).read_text()
    level = heading.split(" ", 1)[0]
    body = text.split(f"\n{heading}\n", 1)[1] if not text.startswith(f"{heading}\n") else text[len(heading) + 1:]
    return re.split(rf"\n#{{1,{len(level)}}} ", body, maxsplit=1)[0]


def documented() -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    for line in (REPO / "docs" / "configuration.md").read_text().splitlines():
        match = ROW.match(line)
        if match:
            name, default, description = match.groups()
            assert name not in rows, f"{name} is documented twice"
            rows[name] = (default, description)
    return rows


def shown_default(value: object) -> str:
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, bool):  # environment spelling
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def test_every_setting_is_documented_and_nothing_else():
    fields = {name.upper() for name in Settings.model_fields}
    names = set(documented())
    assert sorted(fields - names) == [], "add these to docs/configuration.md"
    assert sorted(names - fields) == [], "docs/configuration.md names settings that do not exist"


def test_documented_defaults_are_the_real_ones():
    rows = documented()
    wrong = {name.upper(): (rows[name.upper()][0], shown_default(field.default))
             for name, field in Settings.model_fields.items()
             if rows.get(name.upper(), (None,))[0] != shown_default(field.default)}
    assert wrong == {}, "(documented, real) defaults differ"


def test_descriptions_are_written_and_secrets_are_marked():
    for name, (_default, description) in documented().items():
        assert len(description) > 15, f"{name} needs a description"
        field = Settings.model_fields[name.lower()]
        is_secret = "SecretStr" in str(field.annotation)
        assert is_secret == description.startswith("*Secret.*"), f"{name}: mark secrets, and only secrets"
    assert SecretStr  # the annotation check above relies on SecretStr being the secrets' type


def test_readme_points_to_the_docs_and_keeps_the_two_commands():
    readme = (REPO / "README.md").read_text()
    for link in ("docs/configuration.md", "docs/playbooks.md"):
        assert f"]({link})" in readme and (REPO / link).exists()
    pages = sorted(path.relative_to(REPO).as_posix() for path in (REPO / "docs").rglob("*.md"))
    assert [page for page in pages if f"]({page})" not in readme] == [], "add these to the README's map of the docs"
    assert len(readme.splitlines()) <= 200, "the README is a landing page: the manual goes in docs/"
    # the first two code blocks are the two commands: try it, test it
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    install = "python3 -m venv .venv && .venv/bin/pip install -q -c constraints.txt"
    assert blocks[0] == f"{install} -e . && .venv/bin/fireline console"
    assert blocks[1] == f"{install} -e '.[test]' && .venv/bin/python -m pytest"


def test_every_playbook_command_and_option_is_in_the_manifest_and_the_docs():
    """The Slack manifest's usage hints, the playbooks' command table and docs/playbooks.md follow the code."""
    import yaml

    from playbooks.catalog import BUILT_IN

    hints = {c["command"]: c.get("usage_hint", "") for c in
             yaml.safe_load((REPO / "slack-manifest.yml").read_text())["features"]["slash_commands"]}
    readme = section("playbooks.md", "## Commands")  # the command table, then the whole guide
    guide = (REPO / "docs" / "playbooks.md").read_text()
    for playbook in (cls() for cls in BUILT_IN):
        usage = f"{playbook.subcommand or ''} {playbook.usage}".strip()
        assert usage in hints[f"/{playbook.command}"], (playbook.name, hints.get(f"/{playbook.command}"))
        for text in (readme, guide):
            assert f"{playbook.invocation}" in text, playbook.name
            for option in re.findall(r"--[a-z-]+", playbook.usage):
                assert f"{playbook.invocation} " in text and option in text, (playbook.name, option)
        for option in re.findall(r"--[a-z-]+ \S+?(?=])", playbook.usage):  # `--batch N` as written in the usage
            assert option in guide, (playbook.name, option)
    assert "advice <symptom>" in hints["/scale"] and "/scale advice <symptom>" in readme


def test_every_incident_subcommand_has_a_docs_row_and_is_in_the_manifest_hint():
    """`/incident help` lists what is registered; the manual's command tables and Slack's usage hint must too.

    Before: `statuspage`, `maintenance` and `playbooks` had no row anywhere, and the manifest's hint named
    neither the status page nor maintenance (a new user typing `/incident` in Slack never saw them).
    """
    import yaml

    from bot.app.assembly import feature_registry

    registered = set(feature_registry().commands["incident"].subcommands)
    written = [path.read_text() for path in (REPO / "docs").glob("*.md") if path.name != "commands.md"]  # generated
    rows = {row for text in written for row in re.findall(r"^\|\s*`/incident (\w+)", text, re.M)}
    assert sorted(registered - rows) == [], "add a row for these to a command table in docs/"
    hint = {c["command"]: c.get("usage_hint", "") for c in
            yaml.safe_load((REPO / "slack-manifest.yml").read_text())["features"]["slash_commands"]}["/incident"]
    named = set(re.findall(r"(?:^|\| )(\w+)", hint))
    assert sorted(registered - named) == [], "name these in slack-manifest.yml's /incident usage_hint"
    assert len(hint) <= 1000  # Slack's manifest limit for usage_hint


def test_every_fireline_subcommand_has_a_row_in_the_docs():
    """`fireline --help` lists every subcommand; docs/operations.md's `fireline` table has a row for each."""
    from bot.app.cli import cli_registry

    table = section("operations.md", "## The `fireline` command")
    rows = set(re.findall(r"^\|\s*`fireline (\w+)", table, re.M))
    assert sorted(set(cli_registry(None).cli_commands) - rows) == []


def test_the_web_view_section_tells_how_private_incidents_are_shown():
    """It said the pages let every member see every incident ("private incidents are not in this schema yet")
    after the pages had started hiding them from non-members; and `fireline report` names its choice."""
    web = (REPO / "docs" / "web.md").read_text()
    assert "not in this schema yet" not in web
    assert "only for its members" in web
    assert "`--include-private`" in section("postmortems.md", "## Insights: the same figures for scripts")
