"""Fly's metrics in /diagnose and `/scale rightsize`: from Slack (signed HTTP) and the console, against a real
Prometheus serving Fly-shaped series (tests/support/prometheus.py) and the fake Fly."""

from __future__ import annotations

import io

from bot.adapters.console import run_console
from tests.support import prometheus as prom
from tests.support.factories import make_container, make_settings
from tests.support.fly_fixtures import fly_container
from tests.support.harness import SlackHarness


def console(container, *lines: str) -> str:
    out = io.StringIO()
    run_console(container, io.StringIO("".join(line + "\n" for line in lines)), out)
    text = out.getvalue()
    assert "Traceback" not in text
    return text


def slack_for(container, recorder):
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    return TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False)


def test_diagnose_from_slack_shows_cpu_memory_per_machine_and_responses_now_against_an_hour_ago(
        db_url, recorder, clock, fake_fly, fly_prometheus):
    container = fly_container(db_url, recorder, clock, fake_fly, **prom.settings_for(fly_prometheus))
    with slack_for(container, recorder) as client:
        slack = SlackHarness(container, recorder, client)
        slack.command("", command="/diagnose")
        text = slack.recorder.responses()[-1].text()
    assert ("*CPU and memory* (Fly metrics, 5 min): m1aaaaaaaaaaaa (iad) CPU 30%, memory 50% · "
            "m2bbbbbbbbbbbb (iad) CPU 30%, memory 50% · m3cccccccccccc (lhr) CPU 30%") in text
    assert "p95 232 ms (an hour ago 232 ms), 5xx 0.20% (an hour ago 0.20%)" in text
    assert "*no Fly playbook*: Fly looks healthy" in text  # healthy figures decide nothing
    container.engine.dispose()


def test_diagnose_on_the_console_takes_the_guides_row_from_the_figures(db_url, recorder, clock, fake_fly,
                                                                       fly_prometheus):
    found = {}
    for app in ("cgraph-busy", "cgraph-memory", "cgraph-slow"):
        for instance in prom.fleet(app).instances:
            fake_fly.add(instance.id, instance.region, app=app)
        container = fly_container(db_url, recorder, clock, fake_fly, fly_app=app, **prom.settings_for(fly_prometheus))
        found[app] = console(container, "/diagnose")
        container.engine.dispose()
    busy = found["cgraph-busy"]
    assert "2a8e0000000000 (iad) CPU 88%, memory 45%" in busy and "p95 4062 ms (an hour ago 4062 ms)" in busy
    assert ('Suggested: Add more machines (the guide\'s When to Scale What, "High CPU across nodes"): CPU 88% on '
            "average over 2 machines, at or over 80%; 3 machines bring it near 60%. Run `/scale count 3`.") in busy
    assert ('Increase RAM (a bigger VM) (the guide\'s When to Scale What, "High memory on single node"): memory 93% '
            "on 3b8e0000000000, at or over 85%, 2 machines. Run `/scale memory 2048`.") in found["cgraph-memory"]
    slow = found["cgraph-slow"]
    assert "p95 4062 ms (an hour ago 232 ms), 5xx 1.00% (an hour ago 0.20%)" in slow
    assert ('Add read replica, optimize queries (the guide\'s When to Scale What, "Slow database queries"): p95 '
            "4062 ms (an hour ago 232 ms), at or over 1500 ms, while CPU is 15%, under 50%") in slow
    assert "No Fly playbook: look at the database" in slow


def test_scale_rightsize_from_slack_names_the_smaller_size_and_the_monthly_saving(db_url, recorder, clock,
                                                                             fly_prometheus):
    container = make_container(db_url, recorder, clock=clock, **prom.settings_for(fly_prometheus))
    with slack_for(container, recorder) as client:
        slack = SlackHarness(container, recorder, client)
        slack.command("rightsize cgraph-idle", command="/scale")
        text = slack.recorder.responses()[-1].text()
    assert ("Right-sizing cgraph-idle: 4 of 4 machines stayed low for 7 days; smaller sizes would save about "
            "$47.80/month") in text
    assert ("5d8e0000: 7-day highs: CPU 6%, memory 24% of shared-cpu-2x, 4096 MB: shared-cpu-1x with 1792 MB keeps "
            "them under 50% CPU and 60% memory. Saves $11.95/month ($21.39 -&gt; $9.44).") in text
    assert "`/scale vm shared-cpu-1x` then `/scale memory 1792`" in text and "changes nothing on its own" in text
    assert "Priced from prices as of 2024-12" in text
    container.engine.dispose()


def test_scale_rightsize_keeps_busy_machines_and_says_why(db_url, clock, fly_prometheus):
    container = make_container(db_url, clock=clock, **prom.settings_for(fly_prometheus))
    text = console(container, "/scale rightsize cgraph-busy")
    assert "Right-sizing cgraph-busy: no machine to downsize (2 read)" in text
    assert "only 0.1 days of metrics, 7 needed" in text or "not under CPU 30%" in text
    container.engine.dispose()


def test_without_a_token_everything_says_fly_metrics_not_configured(db_url, clock):
    container = make_container(db_url, clock=clock, fly_app="cgraph-api")
    diagnose = console(container, "/diagnose")
    advise = console(container, "/scale rightsize")
    assert "Fly metrics: Fly metrics not configured: set FLY_METRICS_TOKEN" in diagnose
    assert "Fly metrics not configured, so Fireline cannot see how much the machines use" in advise
    assert "FLY_METRICS_TOKEN" in advise
    container.engine.dispose()


def test_metrics_that_cannot_be_read_are_said_and_the_rest_of_the_report_stands(db_url, clock):
    container = make_container(db_url, clock=clock, fly_metrics_url="http://127.0.0.1:9/prometheus",
                               fly_metrics_token="t", fly_org="o")
    text = console(container, "/diagnose")
    assert "Fly metrics: Could not reach Fly's metrics to read Fly's metrics (ConnectError); check " \
           "FLY_METRICS_URL." in text
    assert "Suggested:" in text
    container.engine.dispose()


def fly_metrics_line(settings):
    """The fly-metrics line as `fireline check` prints it (bot/app/cli.py cmd_check: run_checks over the features)."""
    from bot.app.assembly import feature_registry
    from bot.core.check import run_checks

    [line] = [s for s in run_checks(settings, feature_registry()) if s.name == "fly-metrics"]
    return line


def test_fireline_check_reads_fly_metrics_live_from_the_organisation(sqlite_url, fly_prometheus, monkeypatch):
    from bot.features.fly_metrics import service

    monkeypatch.setattr(service, "utcnow", lambda: prom.END)  # the fixture's "now": its series end there
    settings = make_settings(sqlite_url, fly_app="cgraph-api", **prom.settings_for(fly_prometheus))
    line = fly_metrics_line(settings)
    apps = len({f.app for f in prom.FLEETS})  # every generated app reports memory up to END
    assert line.state == "live", line.detail
    assert line.detail == f"organisation {prom.ORG} at {fly_prometheus.url}: {apps} apps report metrics"
    missing = fly_metrics_line(make_settings(sqlite_url, fly_app="cgraph-apii", **prom.settings_for(fly_prometheus)))
    assert missing.state == "error" and missing.detail.endswith("; FLY_APP cgraph-apii has none")


def test_fireline_check_says_fly_metrics_unreachable_and_names_the_setting(sqlite_url):
    from tests.support.ports import free_port

    closed = f"http://127.0.0.1:{free_port()}/prometheus"  # a loopback port nothing listens on
    line = fly_metrics_line(make_settings(sqlite_url, fly_metrics_url=closed, fly_metrics_token="fm2_secret-token",
                                          fly_org="cgraph-org"))
    assert line.state == "error", line.detail
    assert "Could not reach Fly's metrics" in line.detail and "FLY_METRICS_URL" in line.detail
    assert "fm2_secret-token" not in line.detail


def test_fireline_check_says_fly_metrics_not_configured_without_a_token(sqlite_url):
    line = fly_metrics_line(make_settings(sqlite_url, fly_org="cgraph-org"))
    assert line.state == "off"
    assert line.detail.startswith("FLY_METRICS_TOKEN not set: /diagnose, `/scale rightsize` and deploy watches")


OUR_PRICES = """\
as_of: "2026-11"
source: "our Fly contract"
currency: USD
memory_gb_month: 6.00
sizes:
  shared-cpu-1x: [shared, 1, 256, 2.00]
  shared-cpu-2x: [shared, 2, 512, 4.00]
  performance-1x: [performance, 1, 2048, 31.00]
"""


def test_scale_rightsize_prices_from_the_teams_own_table_in_fly_prices(db_url, recorder, clock, fly_prometheus,
                                                                     tmp_path):
    """FLY_PRICES replaces the guide's table: the same machines, the same advice, the team's figures and date."""
    prices = tmp_path / "prices.yaml"
    prices.write_text(OUR_PRICES)
    container = make_container(db_url, recorder, clock=clock, fly_prices=str(prices),
                               **prom.settings_for(fly_prometheus))
    with slack_for(container, recorder) as client:
        slack = SlackHarness(container, recorder, client)
        slack.command("rightsize cgraph-idle", command="/scale")
        text = slack.recorder.responses()[-1].text()
    # shared-cpu-2x with 4096 MB: 4.00 + 3.5 GB x 6.00 = $25.00; shared-cpu-1x with 1792 MB: 2.00 + 1.5 x 6 = $11.00
    assert ("5d8e0000: 7-day highs: CPU 6%, memory 24% of shared-cpu-2x, 4096 MB: shared-cpu-1x with 1792 MB keeps "
            "them under 50% CPU and 60% memory. Saves $14.00/month ($25.00 -&gt; $11.00).") in text, text
    assert "4 of 4 machines stayed low for 7 days; smaller sizes would save about $56.00/month" in text, text
    assert "Priced from prices as of 2026-11 (our Fly contract)" in text and "2024-12" not in text
    container.engine.dispose()


BAD_PRICES = [
    ("missing.yaml", None, "cannot read the price table {path}: "),
    ("broken.yaml", "as_of: 2026-11\nsizes: [shared-cpu-1x: [\n", "cannot read the price table {path}: "),
    ("list.yaml", "- shared-cpu-1x\n", "the price table {path} is not a mapping of as_of, memory_gb_month and sizes"),
    ("no-memory.yaml", OUR_PRICES.replace("memory_gb_month: 6.00\n", ""),
     "the price table {path} has no memory_gb_month"),
    ("short-row.yaml", OUR_PRICES.replace("[shared, 2, 512, 4.00]", "[shared, 2, 4.00]"),
     "the price table {path}: size shared-cpu-2x is [shared, 2, 4.0], not [cpu_kind, cpus, memory_mb, monthly price]"),
    ("bad-price.yaml", OUR_PRICES.replace("4.00]", "four dollars]"),
     "the price table {path}: size shared-cpu-2x is [shared, 2, 512, four dollars], not [cpu_kind, cpus, memory_mb, "
     "monthly price]"),
    ("no-sizes.yaml", OUR_PRICES.split("sizes:")[0] + "sizes: {}\n", "the price table {path} has no sizes"),
]


def test_a_bad_fly_prices_file_is_refused_naming_the_file_and_what_is_wrong(db_url, recorder, clock, fly_prometheus,
                                                                            tmp_path):
    for name, content, said in BAD_PRICES:
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        container = make_container(db_url, recorder, clock=clock, fly_prices=str(path),
                                   **prom.settings_for(fly_prometheus))
        text = console(container, "/scale rightsize cgraph-idle")
        assert said.format(path=path) in text, (name, text)
        assert "Fix FLY_PRICES's file, or unset FLY_PRICES for the guide's table." in text, (name, text)
        assert "Saves" not in text and "Right-sizing cgraph-idle" not in text, (name, text)
        container.engine.dispose()
