"""A lab of 200 nodes on this machine's engine: `lab generate ring --nodes 200 --lookups`
passes as a scenario (every node looks up the node farthest from it, bypassing caches).

Marker `scale`: 5 to 11 minutes on 2 cores (1.5 to 4 to bring the lab up, then 200 lookups
that each flood the ring), so `make test-scale` runs it, after `make test`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import scenario
from lab.topology import generate
from tests.support import ARTIFACTS, unique

pytestmark = [pytest.mark.scale, pytest.mark.docker, pytest.mark.slow]


def test_a_generated_ring_of_200_nodes_finds_every_farthest_node(tmp_path: Path) -> None:
    source = tmp_path / "ring-200.yaml"
    source.write_text(generate.ring_with_chords(200, lookups=True))
    loaded = scenario.load(source)
    outcome = scenario.execute(
        loaded, lab_name=unique("ring200"), root=tmp_path, artifacts=ARTIFACTS
    )
    failed = [line for r in outcome.results if not r.ok for line in scenario.format_result(r)]
    assert outcome.passed, "\n".join(failed) or f"{len(outcome.results)} of 200 steps ran"
