"""Helpers shared by the tests."""

from __future__ import annotations

import uuid
from pathlib import Path

from lab.runtime import Backend, backend

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"


def unique(prefix: str) -> str:
    """A lab name no other test (or xdist worker) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def engine() -> Backend:
    """The Docker engine the tests run labs on."""
    return backend("docker")


def nothing_left(name: str) -> bool:
    """No container and no network of lab `name` is left in the engine."""
    return name not in engine().labs()
