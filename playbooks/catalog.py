"""The built-in playbooks, in the order their commands are listed."""

from __future__ import annotations

from typing import Any

from playbooks.diagnose import Diagnose
from playbooks.restart import Restart

BUILT_IN: list[type] = [Diagnose, Restart]


def register_extras(registry: Any) -> None:
    """Subcommands without a plan (added by the scale playbook's advice)."""
    return None
