"""Up, down and failures: a lab never leaves containers or networks behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab import topology
from lab.asterisk import node
from lab.cli.commands import main
from lab.core.events import Event, NodeStarted
from lab.core.pipeline import start, up
from lab.errors import LabRuntimeError
from tests.support import ROOT, engine, nothing_left, unique

pytestmark = pytest.mark.docker

PAIR = ROOT / "tests/scenarios/data/pair.yaml"


def test_down_removes_everything_and_can_be_repeated(lab_root: Path) -> None:
    lab = start(PAIR, name=unique("down"), root=lab_root)
    assert engine().labs()[lab.name].containers == 2
    assert lab.down() == (2, 1)
    assert nothing_left(lab.name)
    assert lab.down() == (0, 0)


def test_two_labs_with_different_names_run_side_by_side(lab_root: Path) -> None:
    first = start(PAIR, name=unique("side"), root=lab_root)
    try:
        second = start(PAIR, name=unique("side"), root=lab_root)
        try:
            assert first.topology.subnet != second.topology.subnet
            for lab in (first, second):
                result = lab.call("a", "200000042")
                assert result.answered and result.callee_code == "2", result
        finally:
            second.down()
    finally:
        first.down()
    assert nothing_left(first.name) and nothing_left(second.name)


def test_a_failed_up_removes_what_it_created(lab_root: Path) -> None:
    first = start(PAIR, name=unique("clash"), root=lab_root)
    try:
        clash = unique("clash")
        # same subnet as the running lab: Docker refuses the network
        with pytest.raises(LabRuntimeError, match="subnet"):
            start(PAIR, name=clash, subnet=first.topology.subnet, root=lab_root)
        assert nothing_left(clash)
    finally:
        first.down()


def test_an_interrupted_up_removes_what_it_created(lab_root: Path) -> None:
    name = unique("interrupt")

    def interrupt_after_first_start(event: Event) -> None:
        if isinstance(event, NodeStarted):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        start(PAIR, name=name, root=lab_root, on_event=interrupt_after_first_start)
    assert nothing_left(name)
    # the files that hold Asterisk back until every container runs are gone too
    assert not list(lab_root.rglob(node.HOLD_FILE))


def test_no_node_starts_asterisk_before_the_last_container_runs(lab_root: Path) -> None:
    seen: list[str] = []

    def note_logs(event: Event) -> None:
        if isinstance(event, NodeStarted):  # a node's container runs, still held
            time.sleep(1)  # Asterisk, if it were not held, would have booted by now
            seen.append("\n".join(engine().logs(name, event.node)))

    name = unique("hold")
    with up(PAIR, name=name, root=lab_root, on_event=note_logs) as lab:
        assert len(seen) == 2
        assert not any("Asterisk" in log for log in seen), seen  # held: no log line yet
        call = lab.call("a", "200000002")
        assert call.answered and call.callee_code == lab.topology.node("b").code, call


def test_a_bad_topology_is_reported_with_file_and_line_and_nothing_starts() -> None:
    bad = ROOT / "tests/scenarios/data/bad-peer.yaml"
    result = CliRunner().invoke(main, ["up", str(bad), "--name", "bad-peer-x"])
    assert result.exit_code == 1
    assert "bad-peer.yaml:6 nodes.a.peers[0]: unknown node 'bb' (known: a, b)" in result.output
    assert "bad-peer.yaml:8 nodes.b.serves.network1[0]: '_2XXXXXX' matches 7-digit" in result.output
    assert "Traceback" not in result.output
    assert nothing_left("bad-peer-x")


def test_the_topology_model_is_what_was_started(lab_root: Path) -> None:
    topo = topology.load(PAIR, name=unique("model"))
    with up(topo, root=lab_root) as lab:
        assert {n.name: n.ip for n in lab.topology.nodes} == {n.name: n.ip for n in topo.nodes}
        found = lab.lookup("100000001", "network1", from_node="b")
        assert found.best is not None and found.best.eid == topo.node("a").eid
    assert nothing_left(topo.name)


def test_lint_errors_block_up_and_nothing_starts() -> None:
    name = unique("linted")
    result = CliRunner().invoke(
        main, ["up", str(ROOT / "scenarios/seed-notes-as-written.yaml"), "--name", name]
    )
    assert result.exit_code == 1
    assert "error DL404" in result.output and "local-context" in result.output
    assert "start anyway with --no-lint" in result.output
    assert nothing_left(name)
