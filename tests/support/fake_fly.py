"""A loopback stand-in for Fly (Machines API, GraphQL releases, the app's health endpoint).

It keeps a small stateful fleet so whole playbooks can run against it, records every request
(so tests can replay them against Prism, the official spec's mock), and can be scripted:
`script("POST", "/restart$", (503, {...}))`, `never_starts.add(id)`, `missing_images.add(image)`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.quiet_server import QuietHTTPServer

APP = "cgraph-api"
DB_APP = "cgraph-db"


def config(image: str = "registry.fly.io/cgraph-api:deployment-v42", memory_mb: int = 1024, cpus: int = 1,
           cpu_kind: str = "shared", group: str = "app") -> dict[str, Any]:
    return {"image": image, "guest": {"cpu_kind": cpu_kind, "cpus": cpus, "memory_mb": memory_mb},
            "env": {"PORT": "8080"}, "metadata": {"fly_process_group": group},
            "services": [{"protocol": "tcp", "internal_port": 8080, "autostart": True, "min_machines_running": 2,
                          "ports": [{"port": 443, "handlers": ["tls", "http"]}]}],
            "checks": {"http": {"type": "http", "port": 8080, "path": "/api/health", "interval": "15s",
                                "timeout": "5s"}}}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class FakeFly:
    requests: list[Request] = field(default_factory=list)
    apps: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    never_starts: set[str] = field(default_factory=set)
    failing_checks: set[str] = field(default_factory=set)
    missing_images: set[str] = field(default_factory=set)
    new_machines_fail: bool = False  # machines created from now on never start
    new_ids: list[str] = field(default_factory=list)  # ids the next created machines get (else new0000...)
    releases: list[dict[str, Any]] = field(default_factory=list)
    health_status: int = 200
    origin_status: int = 200
    scripted: list[tuple[str, str, list[tuple[int, Any, dict[str, str]]]]] = field(default_factory=list)
    slow: list[tuple[str, str, float]] = field(default_factory=list)  # (method, path pattern, seconds) before answering

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._versions = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                parsed = urllib.parse.urlsplit(self.path)
                query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
                body = json.loads(raw) if raw else None
                status, payload, headers = fake.handle(self.command, parsed.path, query, body, dict(self.headers))
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("fly-request-id", f"req-{next(fake._ids)}")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _serve  # noqa: N815

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- fleet set-up -------------------------------------------------------------------------------------
    def version(self) -> str:
        return f"01JF{next(self._versions):022d}"

    def add(self, machine_id: str, region: str, state: str = "started", *, app: str = APP,
            cfg: dict[str, Any] | None = None, events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        machine = {"id": machine_id, "name": f"{app}-{machine_id[:4]}", "state": state, "region": region,
                   "instance_id": self.version(), "config": cfg or config(), "events": events or [],
                   "checks": [{"name": "http", "status": "passing" if state == "started" else "critical"}],
                   "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-25T13:20:00Z"}
        machine["version"] = machine["instance_id"]
        self.apps.setdefault(app, {})[machine_id] = machine
        return machine

    def guide_fleet(self) -> None:
        """The guide's production stack: 2 machines in iad, 2 in lhr; Postgres primary and replica."""
        for machine_id, region in (("m1aaaaaaaaaaaa", "iad"), ("m2bbbbbbbbbbbb", "iad"), ("m3cccccccccccc", "lhr"),
                                   ("m4dddddddddddd", "lhr")):
            self.add(machine_id, region)
        self.add("db1111111111", "iad", app=DB_APP, cfg={"image": "flyio/postgres-flex:16"})
        self.add("db2222222222", "lhr", app=DB_APP, cfg={"image": "flyio/postgres-flex:16"})
        self.releases = [
            {"id": "r42", "version": 42, "status": "complete", "imageRef": "registry.fly.io/cgraph-api:deployment-v42",
             "createdAt": "2026-11-25T13:20:00Z", "user": {"email": "marcus@cgraph.org"}},
            {"id": "r41", "version": 41, "status": "complete", "imageRef": "registry.fly.io/cgraph-api:deployment-v41",
             "createdAt": "2026-11-23T09:00:00Z", "user": {"email": "chen@cgraph.org"}},
            {"id": "r40", "version": 40, "status": "complete", "imageRef": "registry.fly.io/cgraph-api:deployment-v40",
             "createdAt": "2026-11-20T09:00:00Z", "user": {"email": "aisha@cgraph.org"}},
        ]

    def machine(self, machine_id: str, app: str = APP) -> dict[str, Any]:
        return self.apps[app][machine_id]

    def script(self, method: str, path_pattern: str, *responses: tuple) -> None:
        """The next requests matching get these answers: (status, body) or (status, body, headers)."""
        self.scripted.append((method, path_pattern, [r if len(r) == 3 else (*r, {}) for r in responses]))

    def calls(self, method: str | None = None, pattern: str = "") -> list[Request]:
        return [r for r in self.requests if (method is None or r.method == method) and re.search(pattern, r.path)]

    def changes(self) -> list[str]:
        """Every request that would change something, as `METHOD /path`, for assertions."""
        return [f"{r.method} {r.path}" for r in self.requests if r.method != "GET" and "/graphql" not in r.path]

    # -- answering -----------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any,
               headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        for m, pattern, seconds in self.slow:  # as Fly takes its time, outside the lock: other calls go on
            if m == method and re.search(pattern, path):
                time.sleep(seconds)
        with self._lock:
            self.requests.append(Request(method, path, query, body, headers))
            for index, (m, pattern, answers) in enumerate(self.scripted):
                if m == method and re.search(pattern, path) and answers:
                    answer = answers.pop(0)
                    if not answers:
                        del self.scripted[index]
                    return answer
            return self._route(method, path, query, body)

    def _event(self, machine: dict[str, Any], kind: str, status: str) -> None:
        machine["events"].insert(0, {"id": self.version(), "type": kind, "status": status, "source": "user",
                                     "timestamp": int(time.time() * 1000)})

    def _run(self, machine: dict[str, Any]) -> None:
        if machine["id"] in self.never_starts:
            machine["state"] = "stopped"
            machine["events"].insert(0, {"id": self.version(), "type": "exit", "status": "stopped", "source": "flyd",
                                         "timestamp": int(time.time() * 1000),
                                         "request": {"exit_event": {"exit_code": 1}, "restart_count": 1}})
            return
        machine["state"] = "started"
        status = "critical" if machine["id"] in self.failing_checks else "passing"
        machine["checks"] = [{"name": "http", "status": status, "output": "" if status == "passing" else "HTTP 500"}]
        self._event(machine, "start", "started")

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if path == "/health":
            return self.health_status, {"status": "ok" if self.health_status < 400 else "error"}, {}
        if path == "/origin/health":
            return self.origin_status, {"status": "ok" if self.origin_status < 400 else "error"}, {}
        if path == "/graphql":
            return 200, {"data": {"app": {"releases": {"nodes": self.releases}}}}, {}
        match = re.fullmatch(r"/v1/apps/([^/]+)/machines(?:/([^/]+))?(?:/([a-z_]+))?", path)
        if not match:
            return 404, {"error": "not found"}, {}
        app, machine_id, action = match.groups()
        if machine_id is None and method == "GET" and app not in self.apps:  # as Fly answers for an unknown app
            return 404, {"error": "app not found"}, {}
        fleet = self.apps.setdefault(app, {})
        if machine_id is None:
            if method == "GET":
                return 200, [m for m in fleet.values() if m["state"] != "destroyed"], {}
            new_id = self.new_ids.pop(0) if self.new_ids else f"new{next(self._ids):011d}"
            machine = self.add(new_id, body.get("region", "iad"), "created", app=app, cfg=body["config"])
            if self.new_machines_fail:
                self.never_starts.add(new_id)
            if not body.get("skip_launch"):
                self._run(machine)
            return 200, machine, {}
        machine = fleet.get(machine_id)
        if machine is None:
            return 404, {"error": f"machine {machine_id} not found"}, {}
        if action is None and method == "GET":
            return 200, machine, {}
        if action is None and method == "POST":  # update
            image = body["config"].get("image", "")
            if image in self.missing_images:
                return 400, {"error": f"failed to update machine: image {image}: manifest unknown"}, {}
            if body.get("current_version") and body["current_version"] != machine["version"]:
                return 409, {"error": "machine version changed"}, {}
            machine["config"] = body["config"]
            machine["version"] = machine["instance_id"] = self.version()
            self._event(machine, "update", "replaced")
            if not body.get("skip_launch"):
                self._run(machine)
            return 200, machine, {}
        if action is None and method == "DELETE":
            if machine["state"] == "started" and query.get("force") != "true":
                return 412, {"error": "machine is running; stop it first or force"}, {}
            machine["state"] = "destroyed"
            return 200, None, {}
        if action in ("restart", "start"):
            self._run(machine)
            return 200, None, {}
        if action == "stop":
            machine["state"] = "stopped"
            self._event(machine, "exit", "stopped")
            return 200, None, {}
        if action in ("cordon", "uncordon"):
            machine["cordoned"] = action == "cordon"
            return 200, None, {}
        if action == "wait":
            reached = machine["state"] == query.get("state", "started")
            return (200, {"ok": True}, {}) if reached else (408, {"error": "deadline_exceeded"}, {})
        if action == "lease":
            if method == "POST":
                return 201, {"status": "success", "data": {"nonce": f"nonce-{machine_id}", "owner": "fireline",
                                                           "expires_at": int(time.time()) + 600}}, {}
            if method == "DELETE":
                return 200, None, {}
            return 404, {"error": "no lease"}, {}
        if action == "events":
            return 200, machine["events"][: int(query.get("limit", 20))], {}
        if action == "versions":
            return 200, [{"version": machine["version"], "user_config": machine["config"]}], {}
        return 404, {"error": "unknown action"}, {}


def replay_against(prism_url: str, requests: list[Request]) -> list[tuple[str, int, str]]:
    """Send the Machines API requests we made to the spec-validating mock; returns the ones it refused."""
    import httpx

    refused = []
    with httpx.Client(base_url=prism_url, timeout=10) as client:
        for request in requests:
            if not request.path.startswith("/v1/"):
                continue
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() in ("authorization", "fly-machine-lease-nonce", "content-type")}
            response = client.request(request.method, request.path, params=request.query,
                                      content=json.dumps(request.body) if request.body is not None else None,
                                      headers=headers)
            if not 200 <= response.status_code < 300:
                refused.append((f"{request.method} {request.path}?{urllib.parse.urlencode(request.query)}",
                                response.status_code, response.text[:300]))
    return refused
