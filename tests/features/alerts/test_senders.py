"""Real senders' deliveries (tests/data/senders/, sources in SOURCES.md) through the real HTTP app.

Each case of expected.yaml is posted the way its sender posts it (route, credentials, content type)
and checked against what an on-call engineer expects: a thread or not, the SEV range, the title,
and which alert a resolution resolves. The captures are kept byte for byte; SOURCES.md lists each
one's repository, path and commit (or page), and what each derived file changed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path

import pytest
import yaml

from tests.support.factories import make_container
from tests.support.alerts import ALERT_SECRET, alerts

CORPUS = Path(__file__).resolve().parents[2] / "data" / "senders"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())["cases"]
SOURCES = (CORPUS / "SOURCES.md").read_text()
TOKENS = {"alertmanager": "am-token", "grafana": "gf-token", "datadog": "dd-token", "uptimerobot": "ur-token",
          "honeycomb": "hc-secret", "betterstack": "bs-token"}


def make(db_url, recorder, clock):
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    tokens = ";".join(f"{source}={token}" for source, token in TOKENS.items())
    container = make_container(db_url, recorder, alerts_webhook_secret=ALERT_SECRET,
                                              alerts_source_tokens=tokens, clock=clock)
    return container, TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False)


def deliver(client, step: dict):
    """POST one file as its sender does: its route, its credentials, its content type."""
    body = (CORPUS / step["file"]).read_bytes()
    route = step["route"]
    headers = {"Content-Type": step.get("content_type", "application/json"), **step.get("headers", {})}
    auth = step.get("auth", "bearer")
    digest = hmac.new(ALERT_SECRET.encode(), body, hashlib.sha256).hexdigest()
    if route == "generic":
        if auth == "sentry":
            headers["Sentry-Hook-Signature"] = digest
        elif auth == "pagerduty":
            headers["X-PagerDuty-Signature"] = f"v1={digest}"
        else:
            headers["X-Fireline-Signature"] = f"sha256={digest}"
        return client.post("/webhooks/alerts", content=body, headers=headers)
    token = TOKENS[route]
    if auth == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif auth == "basic":  # credentials in the URL, as UptimeRobot and Better Stack send them
        headers["Authorization"] = "Basic " + base64.b64encode(f"fireline:{token}".encode()).decode()
    elif auth == "honeycomb":
        headers["X-Honeycomb-Webhook-Token"] = token
    return client.post(f"/webhooks/alerts/{route}", content=body, headers=headers)


def entries(body: dict) -> list[dict]:
    """The per-alert answers: the source routes list them, the generic route answers for its one alert."""
    return body["alerts"] if "alerts" in body else [body]


@pytest.mark.parametrize("case", EXPECTED, ids=[c["name"] for c in EXPECTED])
def test_each_delivery_reads_as_the_on_call_engineer_expects(case, sqlite_url, recorder, clock):
    container, client = make(sqlite_url, recorder, clock)
    try:
        with client:
            for step in case["steps"]:
                response = deliver(client, step)
                where = f"{step['file']} -> {response.status_code} {response.text[:600]}"
                wanted = step.get("alerts", [])
                assert response.status_code == step.get("http", 202), where
                body = response.json()
                if "error" in step:
                    assert step["error"] in body["error"], where
                    continue
                got = entries(body)
                assert [g["status"] for g in got] == [w["status"] for w in wanted], where
                if "reason" in step:
                    assert step["reason"] in " ".join(g.get("reason", "") for g in got).lower(), where
                stored = {a.id: a for a in alerts(container)}
                for entry, want in zip(got, wanted, strict=True):
                    if "thread" in want:
                        assert entry["thread"] == want["thread"], where
                    if "sev" in want:
                        low, high = want["sev"]
                        assert low <= entry["severity"] <= high, f"SEV{entry['severity']} not in {want['sev']}: " \
                                                                 f"{stored[entry['alert']].reasons} ({where})"
                    if "title" in want:
                        assert stored[entry["alert"]].title == want["title"], where
                    if want["status"] == "resolved":
                        assert stored[entry["alert"]].details.get("resolved_at"), where
                clock.advance(minutes=2)
    finally:
        container.engine.dispose()


def test_the_corpus_is_real_and_accounted_for():
    """At least 60 deliveries from at least 8 senders; every file is in SOURCES.md and in expected.yaml."""
    files = sorted(p.name for p in CORPUS.iterdir() if p.name not in ("SOURCES.md", "expected.yaml"))
    delivered = {step["file"] for case in EXPECTED for step in case["steps"]}
    assert set(files) == delivered, set(files) ^ delivered
    assert len(files) >= 60, len(files)
    assert sum(".derived." not in name for name in files) >= 40  # captures, not variants, are most of it
    senders = {re.match(r"([a-z]+(?:-(?:v3|legacy|unified|issue|metric))?)-", name).group(1) for name in files}
    assert len(senders) >= 8, senders
    for name in files:
        assert f"`{name}`" in SOURCES, f"{name} is not in SOURCES.md"
        if ".derived." not in name:  # captures: repository, path and commit (or the page), and their digest
            digest = hashlib.sha256((CORPUS / name).read_bytes()).hexdigest()
            assert digest in SOURCES, f"{name}: its sha256 {digest} is not the one SOURCES.md recorded"
