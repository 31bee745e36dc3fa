"""dundi-collect on members' servers of both versions: hub (Asterisk 22) keeps its peers in
an #included file and waits for leaf (16) to register; far runs 16 too. Their archives hold
the included file and no secret, and bring back the same network: the dynamic peer, the
versions, every route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.core.pipeline import start
from lab.observe import observed, reach
from lab.topology import network
from tests.collecting import Collected, collected
from tests.support import ROOT, unique

pytestmark = pytest.mark.docker

FOLDER = ROOT / "tests/scenarios/data/collect-net"
MEMBERS = ("far", "hub", "leaf")


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collected]:
    topo, _ = network.load_network(FOLDER, name=unique("members"))
    with collected(topo, tmp_path_factory.mktemp("collect-members")) as done:
        yield done


def test_the_collector_runs_on_asterisk_16_and_22(members: Collected) -> None:
    for member, run in members.runs.items():
        assert run.status == 0, (member, run.output)
        version = run.entries()[f"{member}/observed/core-show-version.txt"].decode()
        assert version.startswith("Asterisk 22." if member == "hub" else "Asterisk 16."), version


def test_included_files_are_collected_and_secrets_masked(members: Collected) -> None:
    hub = members.runs["hub"]
    entries = hub.entries()
    assert "hub/dundi-peers.conf" in entries
    assert b"host = dynamic" in entries["hub/dundi-peers.conf"]
    assert b"secret = <masked>" in entries["hub/iax.conf"]
    assert b"dbsecret = dundi/secret" in entries["hub/iax.conf"]  # where it lives, kept
    manifest = entries["hub/observed/manifest.json"].decode()
    assert '"kind": "secret"' in manifest and '"file": "iax.conf"' in manifest
    assert "iax.conf:" in hub.output and " secret" in hub.output
    for member, run in members.runs.items():
        raw = run.unpacked()
        assert not [n for n in run.entries() if n.endswith(".key")], member
        assert b"PRIVATE KEY" not in raw, member
        leaked = [s for ss in members.secrets.values() for s in ss if s.encode() in raw]
        assert len(members.secrets[member]) == 2  # DUNDi's and iax.conf's
        assert not leaked, member


def test_the_archives_bring_back_the_dynamic_peer_the_versions_and_every_route(
    members: Collected, tmp_path: Path
) -> None:
    topo, _ = network.load_network(members.folder, name=unique("members-again"))
    hub, leaf = topo.node("hub"), topo.node("leaf")
    assert {n.name: n.version for n in topo.nodes} == {"far": "16", "hub": "22", "leaf": "16"}
    assert next(p for p in hub.peers if p.peer == "leaf").dynamic
    assert next(p for p in leaf.peers if p.peer == "hub").register
    assert hub.imported is not None and "dundi-peers.conf" in dict(hub.imported.files)
    rebuilt = start(topo, root=tmp_path, wait_links=True)
    try:
        matrix = reach.compute(rebuilt)
        views = observed.compare(rebuilt)
    finally:
        rebuilt.down()
    assert {(c.asker, c.prefix, c.verdict, c.answered_by) for c in matrix.cells} == {
        (c.asker, c.prefix, c.verdict, c.answered_by) for c in members.matrix.cells
    }
    assert matrix.counts() == {"OK": 6, "SELF": 3}
    assert [v.member for v in views] == list(MEMBERS)
    assert all(v.reproduced for v in views), [(v.member, v.different, v.errors) for v in views]
