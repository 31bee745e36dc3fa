"""Helpers shared by the tests."""

from __future__ import annotations

import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"


def unique(prefix: str) -> str:
    """A lab name no other test (or xdist worker) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
