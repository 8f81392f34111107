"""What Fly tells us, as small typed values the playbooks read (no I/O here).

They live in playbooks/ because the playbooks reason about them; bot's Fly client builds them and
`bot/clients/fly/models.py` re-exports them (bot may import playbooks, never the reverse).

Parsing is forgiving: Fly adds fields over time and omits empty ones, so every field has a
default and unknown fields are ignored. The raw machine config is kept whole, because updates
and clones must send back everything we did not mean to change.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_time(value: str | None) -> datetime | None:
    """The creation time inside a ULID (Fly's machine versions and event ids are ULIDs)."""
    if not value or len(value) < 10:
        return None
    millis = 0
    for char in value[:10].upper():
        index = CROCKFORD.find(char)
        if index < 0:
            return None
        millis = millis * 32 + index
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_time(value: Any) -> datetime | None:
    """Fly writes RFC 3339 strings in machines and unix milliseconds in events."""
    if value in (None, "", 0):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10_000_000_000 else value
        return datetime.fromtimestamp(seconds, UTC)
    text = str(value).strip().replace("Z", "+00:00")
    if "." in text:  # Go writes nanoseconds; Python takes at most microseconds
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def short(machine_id: str) -> str:
    return machine_id[:14]


@dataclass(frozen=True)
class CheckStatus:
    name: str
    status: str  # "passing" | "warning" | "critical" | ...
    output: str = ""

    @property
    def passing(self) -> bool:
        return self.status == "passing"


@dataclass(frozen=True)
class MachineEvent:
    id: str
    type: str  # "launch" | "start" | "exit" | "restart" | "update" | ...
    status: str
    source: str
    at: datetime | None
    exit_code: int | None = None
    oom_killed: bool = False
    requested_stop: bool = False
    restart_count: int = 0

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> MachineEvent:
        request = data.get("request") if isinstance(data.get("request"), dict) else {}
        exit_event = request.get("exit_event") if isinstance(request.get("exit_event"), dict) else {}
        monitor = request.get("MonitorEvent") if isinstance(request.get("MonitorEvent"), dict) else {}
        if not exit_event and isinstance(monitor.get("exit_event"), dict):
            exit_event = monitor["exit_event"]
        code = exit_event.get("exit_code")
        return cls(id=str(data.get("id") or ""), type=str(data.get("type") or ""),
                   status=str(data.get("status") or ""), source=str(data.get("source") or ""),
                   at=parse_time(data.get("timestamp")), exit_code=code if isinstance(code, int) else None,
                   oom_killed=bool(exit_event.get("oom_killed")),
                   requested_stop=bool(exit_event.get("requested_stop")),
                   restart_count=int(request.get("restart_count") or 0))

    @property
    def is_crash(self) -> bool:
        """An exit nobody asked for: a non-zero code or the OOM killer."""
        return self.type == "exit" and not self.requested_stop and (self.oom_killed or (self.exit_code or 0) != 0)


@dataclass
class Machine:
    id: str
    name: str = ""
    state: str = ""
    region: str = ""
    version: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckStatus] = field(default_factory=list)
    events: list[MachineEvent] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Machine:
        config = data.get("config") if isinstance(data.get("config"), dict) else {}
        checks = [CheckStatus(str(c.get("name") or ""), str(c.get("status") or ""), str(c.get("output") or ""))
                  for c in data.get("checks") or [] if isinstance(c, dict)]
        events = [MachineEvent.from_api(e) for e in data.get("events") or [] if isinstance(e, dict)]
        return cls(id=str(data.get("id") or ""), name=str(data.get("name") or ""), state=str(data.get("state") or ""),
                   region=str(data.get("region") or ""),
                   version=str(data.get("version") or data.get("instance_id") or ""), config=config,
                   checks=checks, events=events, created_at=parse_time(data.get("created_at")),
                   updated_at=parse_time(data.get("updated_at")))

    @property
    def short_id(self) -> str:
        return short(self.id)

    @property
    def image(self) -> str:
        return str(self.config.get("image") or "")

    @property
    def guest(self) -> dict[str, Any]:
        guest = self.config.get("guest")
        return guest if isinstance(guest, dict) else {}

    @property
    def cpu_kind(self) -> str:
        return str(self.guest.get("cpu_kind") or "shared")

    @property
    def cpus(self) -> int:
        return int(self.guest.get("cpus") or 1)

    @property
    def memory_mb(self) -> int:
        return int(self.guest.get("memory_mb") or 256)

    @property
    def size(self) -> str:
        """`shared-cpu-1x`, `performance-2x`: the name `fly scale vm` uses."""
        kind = "performance" if self.cpu_kind == "performance" else "shared-cpu"
        return f"{kind}-{self.cpus}x"

    @property
    def process_group(self) -> str:
        metadata = self.config.get("metadata")
        if isinstance(metadata, dict):
            return str(metadata.get("fly_process_group") or "app")
        return "app"

    @property
    def checks_passing(self) -> bool:
        return all(check.passing for check in self.checks)

    def label(self) -> str:
        return f"{self.short_id} ({self.region})" if self.region else self.short_id

    def config_copy(self) -> dict[str, Any]:
        return copy.deepcopy(self.config)


@dataclass(frozen=True)
class MachineVersion:
    version: str
    image: str
    created_at: datetime | None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> MachineVersion:
        config = data.get("user_config") if isinstance(data.get("user_config"), dict) else {}
        version = str(data.get("version") or "")
        return cls(version=version, image=str(config.get("image") or ""), created_at=ulid_time(version))


@dataclass(frozen=True)
class Lease:
    nonce: str
    owner: str = ""
    expires_at: int | None = None
    description: str = ""

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Lease:
        body = data.get("data") if isinstance(data.get("data"), dict) else data  # Fly wraps it in `data`
        return cls(nonce=str(body.get("nonce") or ""), owner=str(body.get("owner") or ""),
                   expires_at=body.get("expires_at") if isinstance(body.get("expires_at"), int) else None,
                   description=str(body.get("description") or ""))


@dataclass(frozen=True)
class Release:
    """One deploy: what `fly releases` lists."""

    version: int | None  # the release number (v42); None when it came from machine versions
    image: str
    created_at: datetime | None
    author: str = ""
    status: str = ""
    description: str = ""
    ref: str = ""  # the machine version id when the release came from machine versions

    @property
    def label(self) -> str:
        return f"v{self.version}" if self.version is not None else (self.ref[:10] or "unnumbered")

    @property
    def usable(self) -> bool:
        return bool(self.image) and self.status.lower() not in {"failed", "cancelled", "canceled"}


@dataclass(frozen=True)
class HealthResult:
    url: str
    ok: bool
    status: int | None
    latency_ms: float | None
    error: str = ""

    def describe(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        speed = f" in {self.latency_ms:.0f} ms" if self.latency_ms is not None else ""
        return f"HTTP {self.status}{speed}"


__all__ = ["CROCKFORD", "CheckStatus", "HealthResult", "Lease", "Machine", "MachineEvent", "MachineVersion",
           "Release", "parse_time", "short", "ulid_time"]


def image_tag(image: str) -> str:
    """`registry.fly.io/app:deployment-v43` -> `deployment-v43`: what people call a release's image."""
    tail = image.rsplit("/", 1)[-1]
    return tail.split(":", 1)[1] if ":" in tail else tail
