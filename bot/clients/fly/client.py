"""Fly Machines API client (https://api.machines.dev, `/v1/apps/{app}/machines/...`).

Thin and typed: one method per call the playbooks need, each with a timeout, the shared retry
rules of `bot.clients.fly.http` and an error sentence naming the machine, the call and what Fly said.
Every attempt lands in `journal` with Fly's request id, so an execution can store them.
Create one client per execution (its journal belongs to that execution) and close it after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from bot.clients.fly.http import FlyCall, FlyError, RetryingHttp
from bot.clients.fly.models import Lease, Machine, MachineEvent, MachineVersion, short

LEASE_HEADER = "fly-machine-lease-nonce"
WAIT_STATES = ("started", "stopped", "suspended", "destroyed", "failed", "settled")
MAX_WAIT_SECONDS = 60  # Fly's wait endpoint gives up after at most a minute


class FlyClient:
    """The Machines API for one app (`FLY_APP`); pass `app=` to read another (the Postgres app)."""

    def __init__(self, base_url: str, token: SecretStr | None, app: str, *, timeout: float = 15.0,
                 retries: int = 3, backoff: float = 0.5, max_retry_after: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None) -> None:
        self.app = app
        self.http = RetryingHttp(base_url, token, service="Fly Machines API", timeout=timeout, retries=retries,
                                 backoff=backoff, max_retry_after=max_retry_after, sleep=sleep, transport=transport)

    @property
    def journal(self) -> list[FlyCall]:
        return self.http.journal

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> FlyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths --------------------------------------------------------------------------------------
    def _app(self, app: str | None) -> str:
        name = app or self.app
        if not name:
            raise FlyError("No Fly app to act on: set FLY_APP to the app's name (as in `fly apps list`).")
        return quote(name, safe="")

    def _machines(self, app: str | None) -> str:
        return f"/v1/apps/{self._app(app)}/machines"

    def _machine(self, machine_id: str, app: str | None) -> str:
        return f"{self._machines(app)}/{quote(machine_id, safe='')}"

    @staticmethod
    def _lease(nonce: str | None) -> dict[str, str]:
        return {LEASE_HEADER: nonce} if nonce else {}

    # -- reads --------------------------------------------------------------------------------------
    def list_machines(self, *, app: str | None = None, region: str | None = None) -> list[Machine]:
        """Every machine of the app (with config, checks and recent events), destroyed ones excluded."""
        params = {"region": region} if region else None
        response = self.http.send("GET", self._machines(app), what=f"list the machines of {app or self.app}",
                                  params=params)
        body = response.json()
        machines = [Machine.from_api(item) for item in body if isinstance(item, dict)] if isinstance(body, list) else []
        return [m for m in machines if m.state not in ("destroyed", "destroying")]

    def get_machine(self, machine_id: str, *, app: str | None = None) -> Machine:
        response = self.http.send("GET", self._machine(machine_id, app), what=f"read machine {short(machine_id)}",
                                  machine_id=machine_id)
        return Machine.from_api(response.json())

    def events(self, machine_id: str, *, limit: int = 20, app: str | None = None) -> list[MachineEvent]:
        response = self.http.send("GET", self._machine(machine_id, app) + "/events",
                                  what=f"read the events of machine {short(machine_id)}", machine_id=machine_id,
                                  params={"limit": limit})
        body = response.json()
        return [MachineEvent.from_api(e) for e in body if isinstance(e, dict)] if isinstance(body, list) else []

    def versions(self, machine_id: str, *, app: str | None = None) -> list[MachineVersion]:
        """The machine's config history, newest first (versions are ULIDs, so they sort by time)."""
        response = self.http.send("GET", self._machine(machine_id, app) + "/versions",
                                  what=f"read the versions of machine {short(machine_id)}", machine_id=machine_id)
        body = response.json()
        versions = [MachineVersion.from_api(v) for v in body if isinstance(v, dict)] if isinstance(body, list) else []
        return sorted(versions, key=lambda v: v.version, reverse=True)

    def wait(self, machine_id: str, state: str = "started", *, timeout_s: int = MAX_WAIT_SECONDS,
             version: str | None = None, from_event_id: str | None = None, app: str | None = None) -> bool:
        """Block until the machine reaches `state`: True, or False when Fly's wait timed out (408)."""
        if state not in WAIT_STATES:
            raise ValueError(f"cannot wait for state {state!r}")
        timeout_s = max(1, min(MAX_WAIT_SECONDS, int(timeout_s)))
        params: dict[str, Any] = {"state": state, "timeout": timeout_s}
        if version:
            params["version"] = version
        if from_event_id:
            params["from_event_id"] = from_event_id
        response = self.http.send("GET", self._machine(machine_id, app) + "/wait",
                                  what=f"wait for machine {short(machine_id)} to be {state}", machine_id=machine_id,
                                  params=params, timeout=timeout_s + 15, ok_statuses=(408,))
        return response.status_code != 408

    def get_lease(self, machine_id: str, *, app: str | None = None) -> Lease | None:
        response = self.http.send("GET", self._machine(machine_id, app) + "/lease",
                                  what=f"read the lease of machine {short(machine_id)}", machine_id=machine_id,
                                  ok_statuses=(404,))
        if response.status_code == 404:
            return None
        lease = Lease.from_api(response.json())
        return lease if lease.nonce or lease.owner else None

    # -- changes ------------------------------------------------------------------------------------
    def acquire_lease(self, machine_id: str, *, ttl: int = 300, description: str = "fireline",
                      app: str | None = None) -> Lease:
        """Hold the machine so a concurrent `fly deploy` cannot change it under us (and vice versa)."""
        response = self.http.send("POST", self._machine(machine_id, app) + "/lease",
                                  what=f"take a lease on machine {short(machine_id)}", machine_id=machine_id,
                                  json={"ttl": int(ttl), "description": description[:200]})
        return Lease.from_api(response.json())

    def release_lease(self, machine_id: str, nonce: str, *, app: str | None = None) -> None:
        self.http.send("DELETE", self._machine(machine_id, app) + "/lease",
                       what=f"release the lease on machine {short(machine_id)}", machine_id=machine_id,
                       headers=self._lease(nonce), ok_statuses=(404,))

    def restart(self, machine_id: str, *, lease_nonce: str | None = None, app: str | None = None) -> None:
        self.http.send("POST", self._machine(machine_id, app) + "/restart",
                       what=f"restart machine {short(machine_id)}", machine_id=machine_id,
                       headers=self._lease(lease_nonce))

    def start(self, machine_id: str, *, lease_nonce: str | None = None, app: str | None = None) -> None:
        self.http.send("POST", self._machine(machine_id, app) + "/start", what=f"start machine {short(machine_id)}",
                       machine_id=machine_id, headers=self._lease(lease_nonce))

    def stop(self, machine_id: str, *, signal: str | None = None, timeout: str | None = None,
             lease_nonce: str | None = None, app: str | None = None) -> None:
        body: dict[str, Any] = {}
        if signal:
            body["signal"] = signal
        if timeout:
            body["timeout"] = timeout
        self.http.send("POST", self._machine(machine_id, app) + "/stop", what=f"stop machine {short(machine_id)}",
                       machine_id=machine_id, json=body, headers=self._lease(lease_nonce))

    def cordon(self, machine_id: str, *, lease_nonce: str | None = None, app: str | None = None) -> None:
        """Take the machine out of Fly Proxy's routing (and so out of autostart)."""
        self.http.send("POST", self._machine(machine_id, app) + "/cordon",
                       what=f"cordon machine {short(machine_id)}", machine_id=machine_id,
                       headers=self._lease(lease_nonce))

    def uncordon(self, machine_id: str, *, lease_nonce: str | None = None, app: str | None = None) -> None:
        self.http.send("POST", self._machine(machine_id, app) + "/uncordon",
                       what=f"uncordon machine {short(machine_id)}", machine_id=machine_id,
                       headers=self._lease(lease_nonce))

    def update(self, machine_id: str, config: dict[str, Any], *, current_version: str | None = None,
               skip_launch: bool | None = None, lease_nonce: str | None = None, app: str | None = None) -> Machine:
        """Replace the machine's whole config (Fly wants all of it, not a patch).

        With `current_version` Fly refuses (409) if someone changed the machine since we read it,
        which also makes a retry after a lost answer safe.
        """
        body: dict[str, Any] = {"config": config}
        if current_version:
            body["current_version"] = current_version
        if skip_launch is not None:
            body["skip_launch"] = skip_launch
        response = self.http.send("POST", self._machine(machine_id, app), what=f"update machine {short(machine_id)}",
                                  machine_id=machine_id, json=body, headers=self._lease(lease_nonce),
                                  idempotent=bool(current_version))
        return Machine.from_api(response.json())

    def create(self, config: dict[str, Any], *, region: str, name: str | None = None,
               skip_launch: bool = False, app: str | None = None) -> Machine:
        """A new machine from a config (scale up clones an existing machine's). Never retried blindly."""
        body: dict[str, Any] = {"config": config, "region": region}
        if name:
            body["name"] = name
        if skip_launch:
            body["skip_launch"] = True
        response = self.http.send("POST", self._machines(app), what=f"create a machine in {region}", json=body,
                                  idempotent=False)
        return Machine.from_api(response.json())

    def destroy(self, machine_id: str, *, force: bool = False, lease_nonce: str | None = None,
                app: str | None = None) -> None:
        self.http.send("DELETE", self._machine(machine_id, app), what=f"destroy machine {short(machine_id)}",
                       machine_id=machine_id, params={"force": "true" if force else "false"},
                       headers=self._lease(lease_nonce))


__all__ = ["FlyCall", "FlyClient", "FlyError"]
