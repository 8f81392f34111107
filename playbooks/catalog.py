"""The built-in playbooks, in the order their commands are listed."""

from __future__ import annotations

from typing import Any

from playbooks.diagnose import Diagnose
from playbooks.restart import Restart
from playbooks.rollback import Rollback

BUILT_IN: list[type] = [Diagnose, Restart, Rollback]


def register_extras(registry: Any) -> None:
    """Subcommands without a plan (added by the scale playbook's advice)."""
    return None
