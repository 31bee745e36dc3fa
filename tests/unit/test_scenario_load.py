"""Scenario files: by reference to a topology, and their step errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import scenario
from lab.errors import TopologyError
from lab.scenario.kinds import Call
from tests.support import ROOT


def test_a_scenario_can_name_its_topology_by_reference(tmp_path: Path) -> None:
    (tmp_path / "chain.yaml").write_text((ROOT / "tests/scenarios/data/pair.yaml").read_text())
    path = tmp_path / "calls.yaml"
    path.write_text(
        "name: pair-calls\ntopology: chain.yaml\nsteps:\n"
        "  - call: 200000001\n    from: a\n    expect: {callee: b}\n"
    )
    loaded = scenario.load(path)
    assert loaded.name == "pair-calls"
    assert [n.name for n in loaded.topology.nodes] == ["a", "b"]
    assert loaded.topology.source.endswith("chain.yaml")
    call = loaded.steps[0]
    assert isinstance(call, Call) and call.callee == "b" and call.media is True


def test_step_problems_name_file_line_and_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "networks: [n1]\nnodes: {a: {peers: [b]}, b: {}}\nsteps:\n"
        "  - lookup: 100@n1\n    from: z\n"
        "  - dial: 100\n"
    )
    with pytest.raises(TopologyError) as raised:
        scenario.load(path)
    text = str(raised.value)
    assert f"{path}:5 steps[0].from: unknown node 'z' (known: a, b)" in text
    assert f"{path}:6 steps[1]: a step needs exactly one kind (found: none;" in text
