"""A lab over four Docker engines joined in one swarm: this machine's and three more that
the test starts in network namespaces of their own (tests/engines.py). Twelve nodes,
round-robin over the engines, on one attachable overlay; every node calls a node on another
engine (the lab's verified call: who took it, voice both ways), and a partition between two
engines' nodes cuts exactly that pair; the lab is found by name like any other, and a
capture on a node of another engine sees a call's voice. The host's engine is left as it
was found.

Marker `swarm`: `make test-swarm` runs it alone (swarm mode on the host disturbs the
embedded DNS of lab networks made before it, so it never runs beside `make test`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.core.running import Lab
from lab.core.verdict import judge_call
from lab.observe import capture
from lab.topology import generate
from tests.engines import Engines, host_engine_as_found

pytestmark = [pytest.mark.swarm, pytest.mark.docker, pytest.mark.slow]

COUNT = 12
ENGINES = ("host", "e1", "e2", "e3")


@pytest.fixture(scope="module")
def swarm_hosts() -> Iterator[list[str]]:
    """Three more engines and a swarm of all four (the host's engine its manager)."""
    before = host_engine_as_found()
    with Engines(3) as engines, engines.swarm(with_host=True) as hosts:
        yield hosts
    assert host_engine_as_found() == before, "the host's engine is not as it was found"


@pytest.fixture(scope="module")
def lab(
    swarm_hosts: list[str],
    running_lab: Callable[..., object],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lab]:
    source = tmp_path_factory.mktemp("swarm") / "ring-12.yaml"
    source.write_text(generate.ring_with_chords(COUNT))
    with running_lab(  # type: ignore[attr-defined]
        Path(source), "swarm12", engine="swarm", hosts=tuple(swarm_hosts), wait_links=True
    ) as lab:
        yield lab


def test_nodes_are_spread_round_robin_over_all_four_engines(lab: Lab) -> None:
    placement = lab.backend.placement(lab.name)  # type: ignore[attr-defined]
    assert [placement[n.name] for n in lab.topology.nodes] == [ENGINES[i % 4] for i in range(COUNT)]
    assert set(lab.backend.states(lab.name).values()) == {"running"}


def test_a_swarm_lab_is_found_by_name_with_every_node_where_it_runs(lab: Lab) -> None:
    # what `lab status --name …` and every later command do: the state names the engines
    # (before the partition below: pbx_dundi takes a minute to see a healed link OK again)
    found = Lab.attach(lab.name)
    assert found.backend.name == "swarm"
    assert found.backend.placement(lab.name) == lab.backend.placement(lab.name)  # type: ignore[attr-defined]
    states = found.status()
    assert {s.state for s in states} == {"running"}
    not_ok = [f"{link.node}→{link.peer} {link.status}" for s in states for link in s.links
              if not link.status.startswith("OK")]  # fmt: skip
    assert not not_ok


def test_every_node_calls_one_on_another_engine_with_voice_both_ways(lab: Lab) -> None:
    # node i calls node i+6: round-robin over four engines puts it two engines away. One
    # call at a time: concurrent lookups through a busy transit node can come back empty
    # (pbx_dundi then caches "nobody has it"), on one engine as on four.
    failures = []
    for i, caller in enumerate(lab.topology.nodes):
        callee = lab.topology.nodes[(i + COUNT // 2) % COUNT]
        verdict = judge_call(lab.topology, lab.call(caller.name, generate.number(callee.index)))
        if not (verdict.verified and verdict.identity_of(callee.name)):
            wrong = "; ".join(f"{c.name}: {c.seen}" for c in verdict.failed())
            failures.append(f"{caller.name} → {callee.name}: {wrong}")
    assert not failures


def test_a_partition_between_two_engines_nodes_cuts_that_pair_only(lab: Lab) -> None:
    # n01 (host) and n02 (e1) are trust neighbours on different engines
    first, second = lab.topology.nodes[0], lab.topology.nodes[1]
    third = lab.topology.nodes[2]  # on e2
    number = generate.number(second.index)
    lab.partition(first.name, second.name)
    try:
        cut = lab.call(first.name, number, timeout=30)
        around = judge_call(lab.topology, lab.call(third.name, number))
    finally:
        lab.heal(first.name, second.name)
    assert not cut.answered, "a call across the partition was answered"
    assert around.verified and around.identity_of(second.name)
    healed = judge_call(lab.topology, lab.call(first.name, number))
    assert healed.verified and healed.identity_of(second.name)


def test_a_capture_on_another_engines_node_sees_the_voice_of_a_call(
    lab: Lab, tmp_path: Path
) -> None:
    # n02 runs on e1; n08 (on e3) calls it: the capture enters n02's namespace by its PID
    callee, caller = lab.topology.nodes[1], lab.topology.nodes[7]
    listening = threading.Event()
    seen: list[capture.CaptureResult] = []
    worker = threading.Thread(
        target=lambda: seen.append(
            capture.capture(
                lab, callee.name, tmp_path / "n02.pcap", seconds=3, started=listening.set
            )
        )
    )
    worker.start()
    assert listening.wait(10)
    call = judge_call(lab.topology, lab.call(caller.name, generate.number(callee.index)))
    worker.join(15)
    assert call.verified
    voice = capture.iax2_voice(seen[0].path, capture.node_names(lab))
    assert voice[(caller.name, callee.name)] > 0 and voice[(callee.name, caller.name)] > 0
