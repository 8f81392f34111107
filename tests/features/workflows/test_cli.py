"""`fireline workflows check|test` through the real `fireline` entry point (bot.app.cli.main): argument parsing,
settings, the exit codes and what a person at the terminal reads, on the default file and each example."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import bot.app.cli as cli
from bot.features.workflows.cli import register_cli

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "docs" / "examples" / "workflows").glob("*.yaml"))
AT = ["--at", "2026-12-07T10:00", "--tz", "Europe/Paris"]  # a Monday morning in Paris


@pytest.fixture
def fireline(monkeypatch, tmp_path, capsys):
    """`fireline ...` as typed: (exit code, stdout, stderr). Registers the subcommand if the assembly does not yet."""
    built = cli.cli_registry

    def with_workflows(settings):
        registry = built(settings)
        if "workflows" not in registry.cli_commands:
            register_cli(registry)
        return registry

    monkeypatch.setattr(cli, "cli_registry", with_workflows)
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/never.db")
    monkeypatch.delenv("WORKFLOWS", raising=False)
    monkeypatch.delenv("PLAYBOOKS_PATH", raising=False)

    def run(line: str) -> tuple[int, str, str]:
        code = cli.main(shlex.split(line))
        out, err = capsys.readouterr()
        assert not (tmp_path / "never.db").exists(), "the workflows commands open no database"
        return code, out, err

    return run


def test_check_the_default_file_with_no_arguments(fireline):
    code, out, err = fireline("workflows check")
    assert code == 0, err
    assert out.startswith("the default file (playbooks/data/workflows.default.yaml): OK, 8 workflows, 8 steps.")
    assert "playbooks/data/workflows.default.yaml:14  Page the on-call for SEV1 and SEV2: on declared, 1 step" in out


def test_check_reads_workflows_from_the_setting(fireline, monkeypatch):
    monkeypatch.setenv("WORKFLOWS", "docs/examples/workflows/exec-escalation.yaml, "
                                    "docs/examples/workflows/customer-support.yaml")
    code, out, _ = fireline("workflows check")
    assert code == 0
    assert out.startswith("docs/examples/workflows/exec-escalation.yaml, docs/examples/workflows/customer-support.yaml:"
                          " OK, 8 workflows")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_check_each_example(fireline, example):
    code, out, err = fireline(f"workflows check {example.relative_to(REPO)}")
    assert (code, err) == (0, "")
    assert f"{example.relative_to(REPO)}: OK," in out.splitlines()[0]


def test_a_bad_file_exits_1_with_file_line_problem_lines(fireline, tmp_path):
    bad = tmp_path / "team.yaml"
    bad.write_text("workflows:\n  - name: SEV1 exec\n    on: declared\n    when: {severity: 0}\n    steps:\n"
                   "      - pgae: default\n      - post: {channel: '#x', text: '{{ alert.text }}'}\n")
    code, out, err = fireline(f"workflows check {bad}")
    assert code == 1
    assert out.splitlines() == [
        f"{bad}:4: condition `severity`: a severity is 1-4, a list `[1, 2]`, or `{{at_least: 2}}` / "
        "`{at_most: 3}` / `{in: [1, 2]}`",
        f"{bad}:6: unknown step `pgae` (did you mean `page`?)",
        f"{bad}:7: `text` of step post: `{{{{ alert }}}}` cannot fire under declared: only alert_received events "
        "carry it",
    ]
    assert err == "fireline workflows check: 3 problems; nothing loaded\n"
    assert fireline(f"workflows test {bad} --trigger declared")[0] == 1


def test_a_missing_file_is_a_problem_not_a_traceback(fireline, tmp_path):
    code, out, _ = fireline(f"workflows check {tmp_path / 'nope.yaml'}")
    assert code == 1 and out.startswith(f"{tmp_path / 'nope.yaml'}:0: cannot read the file")


def test_test_prints_what_would_run_for_each_example(fireline):
    expectations = {
        "exec-escalation": ("--trigger declared --severity 1",
                            ["invite the user group @exec-oncall to the incident channel",
                             "post in #leadership: “SEV1 declared by Dana Scully: Checkout returns 502 for every "
                             "request. Follow it in #inc-1; the next update is due within 30 minutes.”",
                             "run `/diagnose` (reads only, changes nothing)",
                             "remind lead after 30m unless updated: true"]),
        "customer-support": ("--trigger declared --severity 2 --components Payments",
                             ["post in #support: “Heads-up: SEV2 “Checkout returns 502 for every request” affecting "
                              "Payments."]),
        "business-hours-paging": ("--trigger declared --severity 2",
                                  ["SEV2 in business hours asks the team first", "does not run: inside business "
                                   "hours (Mon-Fri 09:00-17:00 Europe/Paris; it is Mon 10:00)"]),
        "status-drafts-per-component": ("--trigger declared --severity 1 --components Payments",
                                        ["draft a status page update (components Payments, status major_outage, "
                                         "stage investigating)", "published only after a person confirms",
                                         "API status draft (docs/examples/workflows/status-drafts-per-component.yaml"
                                         ":18) does not run: the incident affects Payments, not API"]),
        "postmortem-reminders": ("--trigger postmortem_due --severity 2 --state resolved",
                                 ["wait 1d; then stop if postmortem_done: true",
                                  "escalate to the backend contact"]),
    }
    assert sorted(expectations) == [p.stem for p in EXAMPLES]
    for stem, (flags, wanted) in expectations.items():
        code, out, err = fireline(f"workflows test docs/examples/workflows/{stem}.yaml {flags} {' '.join(AT)}")
        assert (code, err) == (0, ""), stem
        for piece in wanted:
            assert piece in out, (stem, piece, out)
        assert out.rstrip().endswith("This was a rehearsal: nothing was sent.")


def test_test_alert_and_change_flags(fireline):
    code, out, _ = fireline("workflows test docs/examples/workflows/customer-support.yaml --trigger alert_received "
                            "--source stripe --label team=payments --title 'Charge failures up 40%' " + " ".join(AT))
    assert code == 0 and "post in #support: “A stripe alert about payments: Charge failures up 40%." in out
    code, out, _ = fireline("workflows test docs/examples/workflows/customer-support.yaml --trigger alert_received "
                            "--source stripe --label team=search --title 'Charge failures' " + " ".join(AT))
    assert "does not run: the alert's label team is search, not payments." in out
    code, out, _ = fireline("workflows test --trigger severity_changed --from-severity 3 --severity 2")
    assert "Page when raised to SEV1 or SEV2 (playbooks/data/workflows.default.yaml:24) runs:" in out
    code, out, _ = fireline("workflows test --trigger severity_changed --from-severity 1 --severity 2")
    assert "Page when raised to SEV1 or SEV2 (playbooks/data/workflows.default.yaml:24) does not run: the severity " \
           "went down, not up." in out


def test_test_refuses_bad_flags_in_words(fireline):
    code, _, err = fireline("workflows test --trigger declared --label nokey")
    assert code == 2 and err == "fireline workflows test: --label wants K=V, for example env=production, not 'nokey'\n"
    code, _, err = fireline("workflows test --trigger declared --at yesterday")
    assert code == 2 and "--at 'yesterday' is not an ISO time" in err
    code, _, err = fireline("workflows test --trigger declared --tz Mars/Olympus")
    assert code == 2 and "--tz 'Mars/Olympus' is not a time zone" in err
    with pytest.raises(SystemExit):
        fireline("workflows test --trigger decalred")


def test_the_assembled_fireline_has_the_workflows_subcommand(monkeypatch, tmp_path, capsys):
    """Without the fixture's patch: `fireline workflows check FILE` works as shipped (FEATURES registers it)."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/never.db")
    monkeypatch.delenv("WORKFLOWS", raising=False)
    code = cli.main(["workflows", "check", "playbooks/data/workflows.default.yaml"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "workflows.default.yaml" in out
