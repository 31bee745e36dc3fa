"""One verdict for a test call, for `lab call`, the API and scenarios: each check bites."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lab import scenario
from lab.asterisk import probes
from lab.asterisk.recordings import Heard
from lab.core import pipeline
from lab.core.verdict import judge_call
from lab.scenario.kinds import Call
from lab.topology import Topology
from tests.support import unique
from tests.unit.conftest import ROOT
from tests.unit.fake_backend import FakeAnswer, FakeBackend

SEED = ROOT / "scenarios/seed-chain.yaml"

# d (10.77.0.13, code 4) answered a's call to 555000123: its recording names it, and each
# side heard the other's tones (a is code 1: tone code 1; d: tone code 4)
HEARD_D = Heard(4, 400, 2000, -13.1, 0.3, -10.0, 0.32)
HEARD_A = Heard(1, 400, 1700, -13.1, 0.3, -10.0, 0.32)
GOOD = probes.CallResult(
    number="555000123",
    caller="034111111",
    answered=True,
    status="FOUND",
    cause="16",
    dial_status="ANSWER",
    host="10.77.0.13",
    setup_ms=23.0,
    answered_by="d",
    callee_extension="0123",
    callee_saw_caller="034111111",
    callee_code="4",
    codec="ulaw",
    caller_heard=HEARD_D,
    callee_heard=HEARD_A,
    from_node="a",
)
SILENCE = Heard(None, None, None, -200.0, 0.0, -90.0, 0.3)


def test_a_good_call_is_verified_and_names_its_callee(seed_chain: Topology) -> None:
    verdict = judge_call(seed_chain, GOOD)
    assert verdict.verified and verdict.callee is not None and verdict.callee.name == "d"
    assert verdict.identity_of("d") and not verdict.identity_of("c")
    assert [c.name for c in verdict.checks] == [
        "answered",
        "callee",
        "answered by",
        "node code",
        "extension",
        "caller seen",
        "voice to caller",
        "voice to callee",
    ]
    assert verdict.audio() == (
        "audio: d→a 400+2000 Hz -13 dBFS ✓, a→d 400+1700 Hz -13 dBFS ✓, codec ulaw"
    )


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ({"answered": False, "status": "NOT_FOUND"}, "answered"),
        ({"host": "192.0.2.9"}, "callee"),
        ({"answered_by": "c"}, "answered by"),  # c recorded a call dialled to d's address
        ({"callee_code": "3"}, "node code"),  # c's code: the wrong node answered
        ({"callee_extension": "0999"}, "extension"),  # another extension took it
        ({"callee_saw_caller": "555111111"}, "caller seen"),  # the callee saw another caller
        ({"caller_heard": SILENCE}, "voice to caller"),  # one-way audio
        ({"callee_heard": SILENCE}, "voice to callee"),  # one-way audio, the other way
        ({"caller_heard": HEARD_A}, "voice to caller"),  # the caller heard itself (an echo)
        ({"callee_heard": None}, "voice to callee"),  # no recording at the callee
    ],
    ids=[
        "not-answered",
        "not-a-lab-node",
        "recorded-elsewhere",
        "code",
        "extension",
        "caller",
        "silent-to-caller",
        "silent-to-callee",
        "echo",
        "no-recording",
    ],
)
def test_each_check_fails_when_what_it_checks_is_wrong(
    seed_chain: Topology, change: dict[str, object], failing: str
) -> None:
    verdict = judge_call(seed_chain, dataclasses.replace(GOOD, **change))  # type: ignore[arg-type]
    assert not verdict.verified
    failed = [c.name for c in verdict.failed()]
    # each fault fails its own check (a host that is no lab node also leaves no one to expect
    # a recording, a code or tones from)
    assert failed[0] == failing and (failing == "callee" or failed == [failing])


@pytest.mark.parametrize(
    ("change", "passes"),
    [
        ({}, True),
        ({"extension": "0999"}, False),  # another extension took the call
        ({"caller_seen": "555111111"}, False),  # the callee saw another caller number
        ({"code": "3"}, False),  # c's code came back from d's address
        ({"caller_hears": None}, False),  # the callee's voice never reached the caller
        ({"callee_hears": 3}, False),  # the callee heard c's tones, not a's
        ({"node": "c"}, False),  # c recorded the call dialled to d
    ],
    ids=["right", "extension", "caller", "code", "one-way", "wrong-caller-tones", "elsewhere"],
)
def test_a_scenario_call_step_checks_what_both_ends_recorded(
    tmp_path: Path, change: dict[str, object], passes: bool
) -> None:
    """Through the scenario path (step → Lab.call → manager → the nodes' audio folders →
    tone analysis → verdict), on an engine in memory whose nodes leave the recordings."""
    engine = FakeBackend()
    lab = pipeline.start(SEED, name=unique("verdict"), root=tmp_path, backend=engine)
    good = FakeAnswer(
        host=lab.topology.node("d").ip,
        node="d",
        extension="0123",
        caller_seen="034111111",
        code="4",
        caller_hears=4,
        callee_hears=1,
    )
    engine.callee = lambda number: dataclasses.replace(good, **change)  # type: ignore[arg-type]
    loaded = scenario.load(SEED)
    call = next(s for s in loaded.steps if isinstance(s, Call) and s.number == "555000123")
    seen = call.run(lab)
    assert seen.ok is passes, seen
    assert not list(lab.paths.audio("a").iterdir()), "the call's files are removed"
