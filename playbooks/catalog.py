"""The built-in playbooks, in the order their commands are listed."""

from __future__ import annotations

from playbooks.diagnose import Diagnose
from playbooks.restart import Restart
from playbooks.rollback import Rollback
from playbooks.scale import ScaleCount, ScaleMemory, ScaleVm

BUILT_IN: list[type] = [Diagnose, Restart, Rollback, ScaleCount, ScaleVm, ScaleMemory]
