"""Where things are: the checkout and the official API specs."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def specs_dir() -> Path:
    """The official API specs: ../shared/specs next to the checkout, or FIRELINE_SPECS_DIR."""
    return Path(os.environ.get("FIRELINE_SPECS_DIR", REPO.parent / "shared" / "specs"))
