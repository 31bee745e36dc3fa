"""Shared fixtures of the unit tests: the seed chain and golden-file checks.

Golden files hold the exact expected output. Run with UPDATE_GOLDEN=1 to
rewrite them from the current code, then read the diff before keeping it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from lab import topology

ROOT = Path(__file__).resolve().parents[2]
SEED_CHAIN = ROOT / "scenarios" / "seed-chain.yaml"
# Fixed name and subnet: the rendered golden files must not depend on hashing.
SEED_NAME = "seed-chain"
SEED_SUBNET = "10.77.0.0/24"

UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"

GoldenCheck = Callable[[Path, str], None]


@pytest.fixture(scope="session")
def seed_chain() -> topology.Topology:
    """The four-node chain A-B-C-D of scenarios/seed-chain.yaml."""
    return topology.load(SEED_CHAIN, name=SEED_NAME, subnet=SEED_SUBNET)


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> GoldenCheck:
    """Compare text with a golden file; UPDATE_GOLDEN=1 rewrites the file first.

    A test marked xfail stands for a known bug: its golden file holds the
    output expected once the bug is fixed, so it is never rewritten.
    """
    known_bug = request.node.get_closest_marker("xfail") is not None

    def check(path: Path, actual: str) -> None:
        if UPDATE_GOLDEN and not known_bug:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
        assert path.exists(), f"no golden file {path.relative_to(ROOT)}; run with UPDATE_GOLDEN=1"
        assert actual == path.read_text(encoding="utf-8")

    return check
