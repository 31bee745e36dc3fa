"""One verdict for a test call, for `lab call`, the API and scenarios: each check bites."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lab import scenario
from lab.asterisk import probes
from lab.core import pipeline
from lab.core.verdict import judge_call
from lab.scenario.kinds import Call
from lab.topology import Topology
from tests.support import unique
from tests.unit.conftest import ROOT
from tests.unit.fake_backend import FakeBackend

SEED = ROOT / "scenarios/seed-chain.yaml"

# d (10.77.0.13, code 4) answered a's call to 555000123 and sent back what it heard
GOOD = probes.CallResult(
    number="555000123",
    caller="034111111",
    answered=True,
    status="FOUND",
    cause="16",
    dial_status="ANSWER",
    dialed="dundi:s3cret==@10.77.0.13/555000123",
    digits="0123*034111111*4",
    setup_ms=23.0,
)


def test_a_good_call_is_verified_and_names_its_callee(seed_chain: Topology) -> None:
    verdict = judge_call(seed_chain, GOOD)
    assert verdict.verified and verdict.callee is not None and verdict.callee.name == "d"
    assert verdict.identity_of("d") and not verdict.identity_of("c")
    assert [c.name for c in verdict.checks] == [
        "answered",
        "callee",
        "node code",
        "extension",
        "caller seen",
    ]


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ({"answered": False, "status": "NOT_FOUND", "digits": ""}, "answered"),
        ({"dialed": "dundi:x@192.0.2.9/555000123"}, "callee"),
        ({"digits": "0123*034111111*3"}, "node code"),  # c's code: the wrong node answered
        ({"digits": "0999*034111111*4"}, "extension"),  # another extension took it
        ({"digits": "0123*555111111*4"}, "caller seen"),  # the callee saw another caller
        ({"digits": ""}, "node code"),  # nothing came back over the media path
    ],
    ids=["not-answered", "not-a-lab-node", "code", "extension", "caller", "silence"],
)
def test_each_check_fails_when_what_it_checks_is_wrong(
    seed_chain: Topology, change: dict[str, object], failing: str
) -> None:
    verdict = judge_call(seed_chain, dataclasses.replace(GOOD, **change))  # type: ignore[arg-type]
    assert not verdict.verified
    assert failing in [c.name for c in verdict.failed()]


@pytest.mark.parametrize(
    ("digits", "passes"),
    [
        ("0123*034111111*4", True),
        ("0999*034111111*4", False),  # another extension took the call
        ("0123*555111111*4", False),  # the callee saw another caller number
        ("0123*034111111*3", False),  # c's code came back from d's address
    ],
    ids=["right", "extension", "caller", "code"],
)
def test_a_scenario_call_step_checks_what_the_callee_sent_back(
    tmp_path: Path, digits: str, passes: bool
) -> None:
    """Through the scenario path (step → Lab.call → manager → records → verdict), on an
    engine in memory whose callee at d's address sends back `digits`."""
    engine = FakeBackend()
    lab = pipeline.start(SEED, name=unique("verdict"), root=tmp_path, backend=engine)
    engine.callee = lambda number: (lab.topology.node("d").ip, digits)
    loaded = scenario.load(SEED)
    call = next(s for s in loaded.steps if isinstance(s, Call) and s.number == "555000123")
    seen = call.run(lab)
    assert seen.ok is passes, seen
