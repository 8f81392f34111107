"""A real Alertmanager (Debian's prometheus-alertmanager) notifying a real Fireline server on loopback.

Configured as docs/alerts.md's alert sources table says (`webhook_configs` with `send_resolved: true`
and a bearer token), it is given a firing alert through its own API (`POST /api/v2/alerts`), then
the same alert ended: Fireline must open the alert's thread, then resolve it, from Alertmanager's
own deliveries rather than shapes we wrote. Skips, saying why, where the binary is absent (fails
instead with FIRELINE_REQUIRE_ALERTMANAGER=1, as CI sets it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.factories import make_container
from tests.support.alerts import alerts

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
TOKEN = "am-live-token-0123456789"
MISSING = ("Debian's prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager); the "
           "real-Alertmanager test needs it")
pytestmark = pytest.mark.skipif(BINARY is None and not os.environ.get("FIRELINE_REQUIRE_ALERTMANAGER"), reason=MISSING)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {seconds}s waiting for {what}")


@pytest.fixture
def fireline(sqlite_url, recorder):
    """Fireline's HTTP app under uvicorn on 127.0.0.1, taking Alertmanager with a bearer token."""
    import uvicorn

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    container = make_container(sqlite_url, recorder, alerts_source_tokens=f"alertmanager={TOKEN}")
    server = uvicorn.Server(uvicorn.Config(build_http_app(container, build_bolt_app(container)), host="127.0.0.1",
                                           port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 20, "Fireline's server to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    yield container, port
    server.should_exit = True
    thread.join(10)
    container.engine.dispose()


@pytest.fixture
def alertmanager(fireline, tmp_path):
    """Alertmanager on 127.0.0.1 with docs/alerts.md's receiver; its API's base URL."""
    if BINARY is None:
        pytest.fail(MISSING)
    _, fireline_port = fireline
    config = tmp_path / "alertmanager.yml"
    config.write_text(f"""
route:
  receiver: fireline
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: fireline
    webhook_configs:
      - url: http://127.0.0.1:{fireline_port}/webhooks/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {TOKEN}
""")
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("w")
    process = subprocess.Popen([BINARY, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                                "--log.level=debug"], stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "HOME": str(tmp_path)})
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"alertmanager exited: {(tmp_path / 'alertmanager.log').read_text()[-2000:]}")
            return False

    wait_for(ready, 30, "Alertmanager to be ready")
    yield base
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def post_alerts(base: str, items: list[dict]) -> None:
    request = urllib.request.Request(f"{base}/api/v2/alerts", data=json.dumps(items).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def test_a_real_alertmanager_opens_then_resolves_the_thread(fireline, alertmanager):
    container, _ = fireline
    now = datetime.now(UTC)
    alert = {"labels": {"alertname": "InstanceDown", "instance": "cgraph-api-3", "job": "cgraph-api",
                        "severity": "critical"},
             "annotations": {"summary": "Instance cgraph-api-3 down",
                             "description": "cgraph-api-3 has been down for more than 1 minute.",
                             "runbook_url": "https://runbooks.cgraph.org/internal/instance-down"},
             "startsAt": (now - timedelta(minutes=3)).isoformat().replace("+00:00", "Z"),
             "generatorURL": "http://prometheus.cgraph.internal:9090/graph?g0.expr=up%3D%3D0"}
    post_alerts(alertmanager, [alert])
    [stored] = wait_for(lambda: alerts(container), 30, "Alertmanager's firing notification to reach Fireline")
    assert stored.source == "alertmanager" and stored.title == "Instance cgraph-api-3 down"
    assert stored.dedup_key == f"alertmanager:{stored.details['fingerprint']}"  # Alertmanager's own fingerprint
    assert stored.level == 1, stored.reasons  # critical, and the runbook link's words are not its scope
    assert stored.details["runbook_url"] == "https://runbooks.cgraph.org/internal/instance-down"

    post_alerts(alertmanager, [{**alert, "endsAt": now.isoformat().replace("+00:00", "Z")}])
    [resolved] = wait_for(lambda: [a for a in alerts(container) if (a.details or {}).get("resolved_at")], 30,
                          "Alertmanager's resolved notification to reach Fireline")
    assert resolved.id == stored.id and len(alerts(container)) == 1  # the same thread, resolved; no new one
    assert resolved.details["resolved_after"] == "3m", resolved.details
