"""What Fly tells us, as small typed values: defined in `playbooks/fleet_models.py`, re-exported here.

The playbooks reason about these shapes and must not import bot/, so the definitions moved there;
bot's Fly client, simulator and checks keep importing them from here.
"""

from __future__ import annotations

from playbooks.fleet_models import (
    CROCKFORD,
    CheckStatus,
    HealthResult,
    Lease,
    Machine,
    MachineEvent,
    MachineVersion,
    Release,
    parse_time,
    short,
    ulid_time,
)

__all__ = ["CROCKFORD", "CheckStatus", "HealthResult", "Lease", "Machine", "MachineEvent", "MachineVersion",
           "Release", "parse_time", "short", "ulid_time"]
