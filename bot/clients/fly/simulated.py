"""The dry-run stand-in for Fly: an in-memory fleet shaped like the guide's production stack.

Without FLY_API_TOKEN Fireline cannot read the real app, yet every playbook should still show
what it would do. So a dry run plans against this example fleet (4 Phoenix machines in iad and
lhr, one of them crashed after the latest release; a Postgres app with a primary and a replica)
and a Confirm "executes" against it: nothing is sent anywhere, and every call a live run would
make is listed in `would`, so the dry run shows the exact API calls too.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.clients.fly.http import FlyError
from bot.clients.fly.models import CheckStatus, Lease, Machine, MachineEvent, MachineVersion, Release

EXAMPLE_APP = "cgraph-api"
EXAMPLE_DB_APP = "cgraph-db"
CURRENT_TAG = "deployment-01JDXV8Z5Q0F2M"
PREVIOUS_TAG = "deployment-01JDN3K7W2R8TB"
OLDER_TAG = "deployment-01JD8P1C9X4HQE"


def _config(app: str, tag: str, memory_mb: int = 1024) -> dict[str, Any]:
    return {
        "image": f"registry.fly.io/{app}:{tag}",
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": memory_mb},
        "env": {"PHX_HOST": "api.cgraph.org", "PORT": "8080"},
        "metadata": {"fly_process_group": "app", "fly_release_version": "42"},
        "services": [{"protocol": "tcp", "internal_port": 8080, "autostart": True, "autostop": "off",
                      "min_machines_running": 2, "ports": [{"port": 443, "handlers": ["tls", "http"]},
                                                           {"port": 80, "handlers": ["http"],
                                                            "force_https": True}],
                      "concurrency": {"type": "connections", "hard_limit": 1000, "soft_limit": 800}}],
        "checks": {"http": {"type": "http", "port": 8080, "path": "/api/health", "interval": "15s",
                            "timeout": "5s"}},
    }


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class SimulatedFly:
    """Same methods as FlyClient; answers from memory and records what it would have sent."""

    def __init__(self, app: str, db_app: str, now: Callable[[], datetime]) -> None:
        self.app = app or EXAMPLE_APP
        self.db_app = db_app or EXAMPLE_DB_APP
        self.now = now
        self.journal: list = []  # nothing is sent, so there are no request ids
        self.would: list[str] = []
        self._ids = itertools.count(1)
        self._versions = itertools.count(1)
        self.fleets: dict[str, dict[str, Machine]] = {self.app: {}, self.db_app: {}}
        self.history: dict[str, list[MachineVersion]] = {}
        self._seed()

    # -- the example fleet --------------------------------------------------------------------------
    def _seed(self) -> None:
        now = self.now()
        deployed = now - timedelta(minutes=40)
        crash_events = [
            MachineEvent(f"01JDXW{n:020d}", "exit", "stopped", "flyd", now - timedelta(minutes=m), exit_code=1,
                         restart_count=n)
            for n, m in ((3, 4), (2, 9), (1, 15))
        ]
        for machine_id, region, state in (("e2865013be7e86", "iad", "started"), ("48ed6e5b2d1189", "iad", "started"),
                                          ("3d8d9e5f1e2e89", "lhr", "started"), ("91852e7a4d6008", "lhr", "stopped")):
            events = crash_events if state == "stopped" else [
                MachineEvent("01JDXV9A000000000000000000", "start", "started", "flyd", deployed)]
            checks_status = "critical" if state == "stopped" else "passing"
            machine = Machine(id=machine_id, name=f"{self.app}-{machine_id[:4]}", state=state, region=region,
                              version=self._new_version(), config=_config(self.app, CURRENT_TAG),
                              checks=[CheckStatus("http", checks_status)], events=events,
                              created_at=now - timedelta(days=30), updated_at=deployed)
            self.fleets[self.app][machine_id] = machine
            self.history[machine_id] = [
                MachineVersion(machine.version, machine.config["image"], deployed),
                MachineVersion(f"01JDN3{machine_id}", f"registry.fly.io/{self.app}:{PREVIOUS_TAG}",
                               now - timedelta(days=2)),
            ]
        for machine_id, region, role in (("5683d314c36718", "iad", "primary"), ("e82d92ddf65e08", "lhr", "replica")):
            config = {"image": "flyio/postgres-flex:16", "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 2048},
                      "metadata": {"fly-managed-postgres": "true", "role": role}}
            self.fleets[self.db_app][machine_id] = Machine(id=machine_id, state="started", region=region,
                                                           version=self._new_version(), config=config)

    def adopt(self, machine: Machine, app: str | None = None) -> None:
        """Put a machine an earlier run made back into this (fresh) example fleet: a drill's canary, created by
        one execution and promoted or discarded by the next, each of which starts from the seeded fleet."""
        self._fleet(app).setdefault(machine.id, copy.deepcopy(machine))

    def _new_version(self) -> str:
        return f"01JE{next(self._versions):022d}"

    # -- helpers --------------------------------------------------------------------------------------
    def _fleet(self, app: str | None) -> dict[str, Machine]:
        return self.fleets.setdefault(app or self.app, {})

    def _find(self, machine_id: str, app: str | None) -> Machine:
        machine = self._fleet(app).get(machine_id)
        if machine is None:
            raise FlyError(f"Could not find machine {machine_id} in {app or self.app} (dry run: the example fleet "
                           "has no such machine).", status=404, machine_id=machine_id)
        return machine

    def _record(self, method: str, path: str) -> None:
        self.would.append(f"{method} {path}")

    def _path(self, app: str | None, machine_id: str = "", tail: str = "") -> str:
        base = f"/v1/apps/{app or self.app}/machines"
        return base + (f"/{machine_id}" if machine_id else "") + tail

    def _event(self, machine: Machine, kind: str, status: str) -> None:
        machine.events.insert(0, MachineEvent(self._new_version(), kind, status, "user", self.now()))

    def close(self) -> None:
        return None

    # -- reads ----------------------------------------------------------------------------------------
    def list_machines(self, *, app: str | None = None, region: str | None = None) -> list[Machine]:
        return [copy.deepcopy(m) for m in self._fleet(app).values() if not region or m.region == region]

    def get_machine(self, machine_id: str, *, app: str | None = None) -> Machine:
        return copy.deepcopy(self._find(machine_id, app))

    def events(self, machine_id: str, *, limit: int = 20, app: str | None = None) -> list[MachineEvent]:
        return list(self._find(machine_id, app).events[:limit])

    def versions(self, machine_id: str, *, app: str | None = None) -> list[MachineVersion]:
        self._find(machine_id, app)
        return list(self.history.get(machine_id, []))

    def wait(self, machine_id: str, state: str = "started", *, timeout_s: int = 60, version: str | None = None,
             from_event_id: str | None = None, app: str | None = None) -> bool:
        self._record("GET", self._path(app, machine_id, f"/wait?state={state}"))
        return self._find(machine_id, app).state == state

    def get_lease(self, machine_id: str, *, app: str | None = None) -> Lease | None:
        return None

    # -- changes (recorded, applied to the example fleet only) -----------------------------------------
    def acquire_lease(self, machine_id: str, *, ttl: int = 300, description: str = "fireline",
                      app: str | None = None) -> Lease:
        self._find(machine_id, app)
        self._record("POST", self._path(app, machine_id, "/lease"))
        return Lease(nonce=f"dry-run-{machine_id[:6]}", owner="fireline (dry run)", description=description)

    def release_lease(self, machine_id: str, nonce: str, *, app: str | None = None) -> None:
        self._record("DELETE", self._path(app, machine_id, "/lease"))

    def restart(self, machine_id: str, *, lease_nonce: str | None = None, app: str | None = None) -> None:
        machine = self._find(machine_id, app)
        self._record("POST", self._path(app, machine_id, "/restart"))
        self._start(machine)

    def start(self, machine_id: str, *, lease_nonce: str | None = None, app: str | None = None) -> None:
        machine = self._find(machine_id, app)
        self._record("POST", self._path(app, machine_id, "/start"))
        self._start(machine)

    def _start(self, machine: Machine) -> None:
        machine.state = "started"
        machine.checks = [CheckStatus(c.name, "passing") for c in machine.checks]
        self._event(machine, "start", "started")

    def stop(self, machine_id: str, *, signal: str | None = None, timeout: str | None = None,
             lease_nonce: str | None = None, app: str | None = None) -> None:
        machine = self._find(machine_id, app)
        self._record("POST", self._path(app, machine_id, "/stop"))
        machine.state = "stopped"
        self._event(machine, "exit", "stopped")

    def cordon(self, machine_id: str, *, lease_nonce: str | None = None, app: str | None = None) -> None:
        self._find(machine_id, app)
        self._record("POST", self._path(app, machine_id, "/cordon"))

    def uncordon(self, machine_id: str, *, lease_nonce: str | None = None, app: str | None = None) -> None:
        self._find(machine_id, app)
        self._record("POST", self._path(app, machine_id, "/uncordon"))

    def update(self, machine_id: str, config: dict[str, Any], *, current_version: str | None = None,
               skip_launch: bool | None = None, lease_nonce: str | None = None, app: str | None = None) -> Machine:
        machine = self._find(machine_id, app)
        self._record("POST", self._path(app, machine_id))
        machine.config = copy.deepcopy(config)
        machine.version = self._new_version()
        self.history.setdefault(machine_id, []).insert(0, MachineVersion(machine.version, machine.image, self.now()))
        if not skip_launch:
            self._start(machine)
        return copy.deepcopy(machine)

    def create(self, config: dict[str, Any], *, region: str, name: str | None = None, skip_launch: bool = False,
               app: str | None = None) -> Machine:
        self._record("POST", self._path(app))
        machine_id = f"5e{next(self._ids):012x}"
        machine = Machine(id=machine_id, name=name or f"{app or self.app}-{machine_id[:4]}", state="created",
                          region=region, version=self._new_version(), config=copy.deepcopy(config),
                          created_at=self.now())
        self._fleet(app)[machine_id] = machine
        if not skip_launch:
            self._start(machine)
        return copy.deepcopy(machine)

    def destroy(self, machine_id: str, *, force: bool = False, lease_nonce: str | None = None,
                app: str | None = None) -> None:
        self._find(machine_id, app)
        self._record("DELETE", self._path(app, machine_id))
        del self._fleet(app)[machine_id]


class SimulatedReleases:
    """The example app's releases: v42 went out 40 minutes ago, v41 two days ago."""

    def __init__(self, fly: SimulatedFly) -> None:
        self.fly = fly
        self.note = ""

    def recent(self, app: str, limit: int = 10, machine_id: str | None = None) -> list[Release]:
        now = self.fly.now()
        image = f"registry.fly.io/{self.fly.app}:"
        return [
            Release(42, image + CURRENT_TAG, now - timedelta(minutes=40), "marcus@cgraph.org", "complete",
                    "Deploy image"),
            Release(41, image + PREVIOUS_TAG, now - timedelta(days=2), "chen@cgraph.org", "complete", "Deploy image"),
            Release(40, image + OLDER_TAG, now - timedelta(days=5), "aisha@cgraph.org", "complete", "Deploy image"),
        ][:limit]
