"""dundi-collect inside the seed chain's nodes, run as a member runs it on their server
(Asterisk 22): the archives carry no private key and no secret, and a network folder of the
four archives comes up as a lab that reaches exactly as the original did and shows what
each server showed."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab import topology
from lab.cli.commands import main
from lab.core.pipeline import start
from lab.observe import reach
from lab.topology import network
from tests.collecting import Collected, collected
from tests.support import ROOT, unique

pytestmark = pytest.mark.docker

NODES = ("a", "b", "c", "d")


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collected]:
    seed = topology.load(ROOT / "scenarios/seed-chain.yaml", name=unique("collect"))
    # d's answers stay in its neighbour c's cache for 5 minutes, not the seed's 5 s: still
    # there when the collector reads c's cache on a busy machine (every hop caps what it
    # passes on at its own cachetime, so a and b keep them for a second at most)
    d = dataclasses.replace(seed.node("d"), cachetime=300)
    seed = dataclasses.replace(seed, nodes=tuple(d if n.name == "d" else n for n in seed.nodes))
    with collected(
        seed,
        tmp_path_factory.mktemp("collect-seed"),
        lambda lab: lab.lookup("555000123", "network1", from_node="c"),  # d's answer, in c's cache
    ) as done:
        yield done


def test_the_collector_runs_on_a_node_and_says_what_it_masked(seed: Collected) -> None:
    for node, run in seed.runs.items():
        assert run.status == 0, (node, run.output)
        assert f"collected for member {node}:" in run.output
        assert "live state: 13 commands read" in run.output, run.output
        assert "never read: private keys (*.key)" in run.output
    # c's cache held d's answer, its dial string carrying d's rotating secret: masked
    c = seed.runs["c"]
    assert "observed/dundi-show-cache.txt:" in c.output and "dial string credentials" in c.output


def test_no_private_key_and_no_secret_leaves_a_node(seed: Collected) -> None:
    everything = set().union(*seed.secrets.values())
    assert len(everything) == 4
    for node, run in seed.runs.items():
        entries = run.entries()
        assert f"{node}/dundi.conf" in entries and f"{node}/observed/manifest.json" in entries
        assert f"{node}/keys/{node}.pub" in entries  # its own public key (outkey)
        assert not [n for n in entries if n.endswith(".key")], node
        raw = run.unpacked()
        assert b"PRIVATE KEY" not in raw, node
        assert not [s for s in everything if s.encode() in raw], node
    cache = seed.runs["c"].entries()["c/observed/dundi-show-cache.txt"].decode()
    assert "IAX2/dundi:<masked>@" in cache and "555000123" in cache, cache


def test_the_four_archives_come_up_as_a_lab_that_reaches_as_the_original(
    seed: Collected, tmp_path: Path
) -> None:
    assert sorted(p.name for p in seed.folder.iterdir()) == [f"{n}.tar.gz" for n in NODES]
    topo, _ = network.load_network(seed.folder, name=unique("collected"))
    assert [n.name for n in topo.nodes] == list(NODES)
    assert [n.eid for n in topo.nodes] == [n.eid for n in seed.lab.topology.nodes]
    rebuilt = start(topo, root=tmp_path, wait_links=True)
    try:
        matrix = reach.compute(rebuilt)
        # the archives were unpacked into the lab's folder only
        assert sorted(p.name for p in seed.folder.iterdir()) == [f"{n}.tar.gz" for n in NODES]
        assert (rebuilt.paths.observed("c") / "dundi-show-cache.txt").is_file()
        shown = CliRunner().invoke(main, ["reach", "--observed", "--name", rebuilt.name])
    finally:
        rebuilt.down()

    def cells(m: reach.Matrix) -> set[tuple[str, str, str, tuple[str, ...]]]:
        return {(c.asker, c.prefix, c.verdict, c.answered_by) for c in m.cells}

    assert cells(matrix) == cells(seed.matrix)
    assert matrix.counts() == {"OK": 12, "SELF": 4}
    assert shown.exit_code == 0, shown.output
    assert "4 of 4 members as their servers showed" in shown.output, shown.output
    assert "  peers: the same 2 (2 OK)" in shown.output  # b and c have two peers each
    # c's cache held d's answers (the number asked above, and reach's sample): the same here
    assert re.search(
        r"\n  cache: \d+ entries there, ([1-9]) of \1 numbers answered alike", shown.output
    )
