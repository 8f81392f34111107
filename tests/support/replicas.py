"""Several real `fireline serve` processes on one PostgreSQL, a mixed burst spread over them, and the checks.

Shared by bench/replicas.py (timed) and tests/proofs/test_replica_processes.py (not timed): the same cluster,
the same load and the same exactly-once checks, so what the bench measures is what the proof proves.

- `start_cluster(n, ...)`: n `fireline serve` processes (each forks its worker child) on one database. The
  first one migrates; the others start once it answers.
- `PagerDutyEvents`: a loopback Events API v2 (`/v2/enqueue`) that counts every event per dedup key.
- `burst(...)`: signed slash commands (`declare ... sev2`: a channel, two cards and a page each), Acknowledge
  button presses (each pressed twice, on two different replicas, as a double click through a load balancer
  lands), and signed alert deliveries, interleaved and spread round-robin over the replicas.
- `check_exactly_once(...)`: every job ran once (status done, one attempt), and the stand-ins saw one channel,
  one #incidents card and one page per declare, one acknowledgement per incident and one thread per alert.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support.ports import free_port
from tests.support.processes import jobs_waiting, read_response, stop, wait_drained, wait_up
from tests.support.quiet_server import QuietHTTPServer
from tests.support.signing import action_body, sign, slash_body

REPO = Path(__file__).resolve().parents[2]
SECRET = "replica-signing-secret"
ALERT_SECRET = "replica-alert-secret"
ROUTING_KEY = "R0UT1NGKEYREPLICAS0123456"
ACK_ACTION = "incident_ack"
NOWHERE = "http://127.0.0.1:9"  # nothing listens there: nothing of the cluster reaches the internet


class PagerDutyEvents:
    """PagerDuty's Events API v2 on loopback: answers 202 as PagerDuty does and keeps every event."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.events: list[dict[str, Any]] = []
        lock = threading.Lock()
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with lock:
                    events.append(body)
                if latency:
                    time.sleep(latency)
                answer = json.dumps({"status": "success", "message": "Event processed",
                                     "dedup_key": body.get("dedup_key")}).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def triggers(self) -> Counter[str]:
        return Counter(e.get("dedup_key") for e in list(self.events) if e.get("event_action") == "trigger")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()



@dataclass
class Cluster:
    ports: list[int]
    processes: list[subprocess.Popen]
    db_url: str

    def stop(self) -> None:
        stop(self.processes)


def cluster_env(db_url: str, slack_api_url: str, pd_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-replicas",
            "SLACK_API_URL": slack_api_url, "ALERTS_WEBHOOK_SECRET": ALERT_SECRET, "LOG_LEVEL": "WARNING",
            "PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "PAGERDUTY_EVENTS_URL": pd_url, "RESPONDERS": "U0LEAD",
            "DATABASE_URL": db_url, "PROVIDER_STATUS_PAGES": "", "FLY_API_URL": NOWHERE, "PAGERDUTY_API_URL": NOWHERE,
            "FLY_GRAPHQL_URL": f"{NOWHERE}/graphql", **extra}


def start_cluster(replicas: int, env: dict[str, str]) -> Cluster:
    """`replicas` `fireline serve` processes on env's DATABASE_URL; the first migrates, then the rest start."""
    ports: list[int] = []
    processes: list[subprocess.Popen] = []

    def spawn() -> None:
        port = free_port()
        cmd = [sys.executable, "-m", "bot.app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        processes.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        ports.append(port)

    cluster = Cluster(ports, processes, env["DATABASE_URL"])
    try:
        spawn()
        wait_up(ports[0], processes[0])
        for _ in range(replicas - 1):
            spawn()
        for port, process in zip(ports[1:], processes[1:], strict=True):
            wait_up(port, process)
    except BaseException:
        cluster.stop()
        raise
    return cluster


# -- the load ------------------------------------------------------------------------------------------------
def tag(kind: str, n: int) -> str:
    """A token no other request's text contains (`d0007x` is not inside `d00071x`)."""
    return f"{kind}{n:04d}x"


@dataclass
class Request:
    kind: str  # "declare", "ack" or "alert"
    key: str  # what the Slack stand-in's calls for it carry (declare, alert) or the incident's number (ack)
    port: int
    raw: bytes
    sent: float = 0.0  # time.monotonic() when it was sent
    acked_ms: float = 0.0
    status: int = 0


def _http(port: int, path: str, body: str, headers: dict[str, str]) -> bytes:
    payload = body.encode()
    head = {"Host": f"127.0.0.1:{port}", "Content-Length": str(len(payload)), **headers}
    return (f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n").encode() + payload


FORM = "application/x-www-form-urlencoded"


def slash(port: int, text: str, response_url: str) -> bytes:
    body = slash_body(text, response_url=response_url)
    return _http(port, "/slack/events", body, {"Content-Type": FORM, **sign(body, SECRET)})


def press(port: int, incident_id: int, channel: str, response_url: str, user: str = "U0LEAD") -> bytes:
    body = action_body(ACK_ACTION, str(incident_id), user_id=user, channel_id=channel, response_url=response_url)
    return _http(port, "/slack/events", body, {"Content-Type": FORM, **sign(body, SECRET)})


def alert(port: int, n: int, urgent: bool) -> bytes:
    from bot.features.alerts.webhook import sign as sign_alert

    body = json.dumps({"title": f"Replica alert {tag('a', n)} check failed", "source": "checkly",
                       "severity": "critical" if urgent else "warning", "dedup_key": f"replica-{n}",
                       "id": f"delivery-{n}", "text": "probe"})
    return _http(port, "/webhooks/alerts", body, {"Content-Type": "application/json",
                                                   "X-Fireline-Signature": sign_alert(body.encode(), ALERT_SECRET)})


def declare_text(n: int, severity: int = 2) -> str:
    return f"declare Replica probe {tag('d', n)} sev{severity}"


def mixed_load(ports: list[int], response_url, incidents: list[tuple[int, str]], *, declares: int,
               alerts: int, start: int = 0) -> list[Request]:
    """Declares, double-clicked Acknowledge presses (one per incident of `incidents`: (number, channel id)) and
    alerts, interleaved, the i-th request to replica i mod n; each press's second click goes to the next replica."""
    streams: list[list[tuple[str, str, Any]]] = [[], [], []]
    for n in range(start, start + declares):
        streams[0].append(("declare", tag("d", n),
                           lambda port, n=n: slash(port, declare_text(n), response_url(f"d{n}"))))
    for number, channel in incidents:
        for click in range(2):
            streams[1].append(("ack", str(number), lambda port, number=number, channel=channel, click=click:
                               press(port, number, channel, response_url(f"k{number}-{click}"))))
    for n in range(start, start + alerts):
        streams[2].append(("alert", tag("a", n), lambda port, n=n: alert(port, n, urgent=n % 2 == 0)))
    total = sum(len(s) for s in streams)
    order: list[tuple[str, str, Any]] = []
    cursors = [0, 0, 0]
    for _ in range(total):  # interleave in proportion, so every part of the burst has every kind
        pick = min((c for c in range(3) if cursors[c] < len(streams[c])),
                   key=lambda c: (cursors[c] + 1) / len(streams[c]))
        order.append(streams[pick][cursors[pick]])
        cursors[pick] += 1
    return [Request(kind, key, ports[i % len(ports)], build(ports[i % len(ports)]))
            for i, (kind, key, build) in enumerate(order)]


async def _send(requests: list[Request], connections_per_port: int) -> None:
    ports = sorted({r.port for r in requests})
    queues = {port: [r for r in requests if r.port == port] for port in ports}

    async def connection(port: int, mine: list[Request]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in mine:
                request.sent = time.monotonic()
                writer.write(request.raw)
                request.status = await read_response(reader)
                request.acked_ms = (time.monotonic() - request.sent) * 1000
        finally:
            writer.close()

    tasks = []
    for port in ports:
        for c in range(connections_per_port):
            tasks.append(connection(port, queues[port][c::connections_per_port]))
    await asyncio.gather(*tasks)


def send(requests: list[Request], connections_per_port: int = 4) -> float:
    """Send the burst over kept-alive connections (a bare asyncio client: httpx would cost more than the acks);
    returns the seconds it took."""
    began = time.monotonic()
    asyncio.run(_send(requests, connections_per_port))
    return time.monotonic() - began


# -- what reached Slack, and the checks ----------------------------------------------------------------------
def acknowledged(call, number: int | None = None) -> str | None:
    """"first" for the answer to the click that acknowledged incident `number` ("You acknowledged #N; ..."),
    "again" for a later click's ("#N was already acknowledged by ..."), else None."""
    if call.method != "response_url":
        return None
    pattern = str(number) if number is not None else "[0-9]+"
    text = call.text()
    if re.search(rf"You acknowledged #{pattern};", text):
        return "first"
    if re.search(rf"#{pattern} was already acknowledged", text):
        return "again"
    return None


SHOWN = ("chat.postMessage", "chat.update", "response_url")  # calls whose effect a person sees


def first_effect(request: Request, calls: list) -> float | None:
    """When Slack answered the first call that shows this request's effect (monotonic seconds), or None."""
    for call in calls:
        if call.answered is None or call.at < request.sent:
            continue
        if request.kind == "ack":
            if acknowledged(call, int(request.key)):
                return call.answered
        elif call.method in SHOWN and request.key in call.text():
            return call.answered
    return None


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    jobs: int = 0


def jobs_summary(db_url: str) -> dict[str, Any]:
    import sqlalchemy as sa

    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT id, kind, status, attempts, created_at, run_at, finished_at, locked_by FROM jobs")).all()
    finally:
        engine.dispose()
    return {"rows": rows}


def check_exactly_once(db_url: str, calls: list, pd: PagerDutyEvents, requests: list[Request],
                       now) -> Verdict:  # noqa: ANN001
    """Every job that was due ran once and succeeded; every declare, press and alert showed once in Slack."""
    verdict = Verdict()
    rows = jobs_summary(db_url)["rows"]
    due = [row for row in rows if row.run_at <= now]
    verdict.jobs = len(due)
    for row in due:
        if row.status != "done" or row.attempts != 1:
            verdict.problems.append(f"job {row.id} ({row.kind}) {row.status} after {row.attempts} attempts")
    answered = [c for c in calls if c.answered is not None]
    for request in requests:
        if not 200 <= request.status < 300:
            verdict.problems.append(f"{request.kind} {request.key} answered HTTP {request.status}")
    declares = {r.key for r in requests if r.kind == "declare"}
    created = Counter(key for c in answered if c.method == "conversations.create"
                      for key in declares if key in str(c.data.get("name", "")) + c.text())
    cards = Counter(key for c in answered if c.method == "chat.postMessage" and not c.data.get("thread_ts")
                    and str(c.data.get("channel", "")).lstrip("#") == "incidents"
                    for key in declares if key in c.text())
    for key in declares:
        if created[key] != 1:
            verdict.problems.append(f"declare {key}: {created[key]} channels created")
        if cards[key] != 1:
            verdict.problems.append(f"declare {key}: {cards[key]} #incidents cards")
    triggers = pd.triggers()
    if sum(triggers.values()) != len(declares) or any(count != 1 for count in triggers.values()):
        verdict.problems.append(f"{sum(triggers.values())} pages for {len(declares)} SEV2 declares "
                                f"({len(triggers)} dedup keys)")
    clicks = Counter(r.key for r in requests if r.kind == "ack")
    for number, count in clicks.items():
        answers = Counter(acknowledged(c, int(number)) for c in answered)
        if answers["first"] != 1 or answers["first"] + answers["again"] != count:
            verdict.problems.append(f"incident #{number}: {count} clicks answered {answers['first']} times "
                                    f"\"You acknowledged\" and {answers['again']} times \"already acknowledged\"")
    for key in {r.key for r in requests if r.kind == "alert"}:
        roots = [c for c in answered if c.method == "chat.postMessage" and not c.data.get("thread_ts")
                 and key in c.text()]
        if len(roots) != 1:
            verdict.problems.append(f"alert {key}: {len(roots)} messages")
    return verdict


def prepare_incidents(cluster: Cluster, response_url, count: int, timeout: float = 120) -> list[tuple[int, str]]:
    """`count` SEV3 incidents (nobody paged) declared round-robin over the replicas, once their channels exist:
    (number, channel id) each, for the burst's Acknowledge presses. Every replica also takes one alert and one
    click first (on an extra incident), so no code path is cold when the burst starts."""
    import sqlalchemy as sa

    ports = cluster.ports
    requests = [Request("declare", tag("p", n), ports[n % len(ports)],
                        slash(ports[n % len(ports)], f"declare Replica base {tag('p', n)} sev3", response_url(f"p{n}")))
                for n in range(count + 1)]
    send(requests, connections_per_port=2)
    engine = sa.create_engine(cluster.db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    rows: list = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                rows = connection.execute(sa.text(
                    "SELECT id, channel_id FROM incidents WHERE channel_id IS NOT NULL ORDER BY id")).all()
            if len(rows) > count:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"only {len(rows)} of {count + 1} incidents got a channel in {timeout:.0f} s")
    finally:
        engine.dispose()
    spare = rows[-1]
    warm = [Request("warm", "", port, raw) for i, port in enumerate(ports)
            for raw in (alert(port, 9000 + i, urgent=True), press(port, spare.id, spare.channel_id,
                                                                    response_url(f"w{i}")))]
    send(warm, connections_per_port=1)
    drained(cluster.db_url, timeout)
    return [(row.id, row.channel_id) for row in rows[:count]]


SOON_S = 10  # seconds: a lane's paced slots are this close; timers (acks, nudges) are minutes away


def drained(db_url: str, timeout: float = 300) -> float:
    """Wait until no job is running or due within SOON_S; the monotonic time the last one finished is not known
    here, so callers take the jobs' own `finished_at`. Within SOON_S, not just now: an alert's job stores its
    thread's post for the channel lane's next slot, a moment ahead, and "nothing due now" in that moment read
    as drained (CI under load saw two alerts with 0 messages)."""
    waited = wait_drained(db_url, timeout, within=SOON_S)
    if jobs_waiting(db_url, within=SOON_S):
        raise RuntimeError(f"jobs still due after {timeout:.0f} s")
    return waited
