"""`lab up` as a pipeline, driven against an engine in memory: the stages run in order, lint
blocks before anything exists, subnets are claimed, readiness waits for what pbx_dundi
reports, and every failure or Ctrl-C leaves nothing behind. No Docker; milliseconds."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from lab import topology
from lab.asterisk import keys
from lab.core import pipeline, readiness
from lab.core.events import STAGES, Event, LintDone, NodeStarted, StageDone
from lab.core.pipeline import Options
from lab.core.running import Lab
from lab.errors import LabError, LabRuntimeError, LintFailed, NodeDied, ReadinessTimeout
from lab.topology import Topology
from tests.support import unique
from tests.unit.conftest import ROOT
from tests.unit.fake_backend import FakeBackend

PAIR = ROOT / "tests/scenarios/data/pair.yaml"
SEED = ROOT / "scenarios/seed-chain.yaml"
_PAIRS = [keys.generate_pair() for _ in range(6)]  # RSA is the slow part: made once


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key pairs from a small stock, links looked at every 10 ms: tests in milliseconds."""
    stock = itertools.cycle(_PAIRS)
    monkeypatch.setattr(keys, "generate_pair", lambda: next(stock))
    monkeypatch.setattr(readiness, "POLL_S", 0.01)


def up(
    engine: FakeBackend, root: Path, source: Path | Topology = PAIR, **options: object
) -> tuple[Lab, list[Event]]:
    """Bring a lab up on `engine` under a name no other test uses."""
    events: list[Event] = []
    name = options.pop("name", None) or unique("unit")
    lab = pipeline.bring_up(
        source,
        Options(root=root, name=str(name), **options),  # type: ignore[arg-type]
        backend=engine,
        on_event=events.append,
    )
    return lab, events


def test_the_stages_run_in_order_and_each_is_reported(tmp_path: Path) -> None:
    engine = FakeBackend()
    lab, events = up(engine, tmp_path)
    done = [e.stage for e in events if isinstance(e, StageDone)]
    assert done == list(STAGES)
    assert [e.node for e in events if isinstance(e, NodeStarted)] == ["a", "b"]
    assert engine.calls.index("release") > engine.calls.index("start b")
    assert sorted(engine.states(lab.name)) == ["a", "b"]


def test_every_node_is_held_until_the_last_container_runs(tmp_path: Path) -> None:
    engine = FakeBackend()
    lab, _ = up(engine, tmp_path)
    holds = [lab.paths.etc(n.name) / ".lab-hold" for n in lab.topology.nodes]
    assert not any(h.exists() for h in holds)  # released
    assert engine.calls[-len(lab.topology.nodes) - 1 :][0].startswith("start")  # then released


def test_a_lint_error_stops_the_lab_before_anything_exists(tmp_path: Path) -> None:
    engine = FakeBackend()
    with pytest.raises(LintFailed) as failed:
        up(engine, tmp_path, ROOT / "scenarios/seed-notes-as-written.yaml", name="notes")
    assert {f.code for f in failed.value.findings} >= {"DL404", "DL601"}
    assert engine.calls == []  # no network, no container
    assert not (tmp_path / "notes").exists()  # nothing written either


def test_lint_errors_a_scenario_allows_do_not_stop_it(tmp_path: Path) -> None:
    engine = FakeBackend()
    allow = frozenset({"DL401", "DL404", "DL502", "DL601", "DL603"})
    lab, events = up(engine, tmp_path, ROOT / "scenarios/seed-notes-as-written.yaml", allow=allow)
    lint = next(e for e in events if isinstance(e, LintDone) and not e.as_written)
    assert {f.code for f in lint.findings if f.severity == "error"} == allow
    assert lab.name in engine.labs()


def test_lint_sees_a_planted_key_with_loose_permissions_and_nothing_starts(tmp_path: Path) -> None:
    engine = FakeBackend()
    lab, _ = up(engine, tmp_path)
    lab.down()
    lab.paths.private_key("a").chmod(0o640)  # someone's copy, group-readable
    with pytest.raises(LintFailed) as failed:
        up(engine, tmp_path, name=lab.name)
    assert [f.code for f in failed.value.findings] == ["DL105"]
    assert lab.name not in engine.labs()


def test_the_subnet_moves_to_the_next_free_block_when_its_own_is_taken(tmp_path: Path) -> None:
    first = topology.load(PAIR, name="moved")
    engine = FakeBackend(used=[first.subnet])
    lab, _ = up(engine, tmp_path, name="moved")
    assert lab.topology.subnet != first.subnet
    assert lab.topology.node("a").ip.startswith(lab.topology.subnet.rsplit(".", 2)[0])
    state = Lab.from_folder(lab.paths, engine)
    assert state.topology.subnet == lab.topology.subnet  # later commands see the move


def test_a_subnet_taken_between_the_check_and_the_claim_is_retried(tmp_path: Path) -> None:
    engine = FakeBackend()
    wanted = topology.load(PAIR, name="raced").subnet
    engine.refuse_subnets = {wanted}  # another lab takes it at the last moment
    lab, _ = up(engine, tmp_path, name="raced")
    assert lab.topology.subnet != wanted
    assert engine.calls[:2] == [f"create_network {wanted}", f"create_network {lab.topology.subnet}"]


def test_a_node_that_exits_fails_the_up_at_once_and_everything_is_removed(tmp_path: Path) -> None:
    engine = FakeBackend()
    engine.boot_fails = {"b"}
    with pytest.raises(NodeDied, match="node 'b' exited"):
        up(engine, tmp_path, ready_timeout=30)
    assert engine.labs() == {}


def test_ctrl_c_while_containers_start_removes_everything(tmp_path: Path) -> None:
    engine = FakeBackend()

    def interrupt(event: Event) -> None:
        if isinstance(event, NodeStarted):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.bring_up(PAIR, Options(root=tmp_path), backend=engine, on_event=interrupt)
    assert engine.labs() == {}
    assert not list(tmp_path.rglob(".lab-hold"))


def test_a_second_up_of_a_running_lab_says_it_is_already_up(tmp_path: Path) -> None:
    engine = FakeBackend()
    lab, _ = up(engine, tmp_path)
    with pytest.raises(LabRuntimeError, match="already up"):
        up(engine, tmp_path, name=lab.name)


def test_a_lab_being_brought_up_elsewhere_is_refused_at_once(tmp_path: Path) -> None:
    name = unique("locked")
    with pipeline.claim_lock(name), pytest.raises(LabRuntimeError, match="being brought up"):
        up(FakeBackend(), tmp_path, name=name)


def test_readiness_waits_for_links_and_reprobes_those_still_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readiness, "REPROBE_AFTER_S", 0.05)
    engine = FakeBackend()
    # pbx_dundi reports UNKNOWN until the node reloads (a lost first probe), then OK
    engine.peer_status = lambda node, eid: "OK (1 ms)" if node.reloads else "UNKNOWN"
    lab, _ = up(engine, tmp_path, wait_links=True, ready_timeout=10)
    assert all(n.reloads >= 1 for n in engine.nodes.values())
    assert all(link.ok for state in lab.status() for link in state.links)


def test_readiness_gives_up_with_the_links_that_are_not_usable(tmp_path: Path) -> None:
    engine = FakeBackend()
    engine.peer_status = lambda node, eid: "UNREACHABLE"
    with pytest.raises(ReadinessTimeout, match=r"a→b UNREACHABLE"):
        up(engine, tmp_path, ready_timeout=0.2)
    assert engine.labs() == {}


def test_status_says_a_stopped_node_and_its_peers_links_are_down(tmp_path: Path) -> None:
    engine = FakeBackend()
    lab, _ = up(engine, tmp_path, SEED)
    lab.stop_node("c")
    states = {s.node.name: s for s in lab.status()}
    assert states["c"].state == "exited"
    assert {ln.peer: ln.status for ln in states["b"].links} == {"a": "OK (1 ms)", "c": "DOWN"}
    assert {ln.why for ln in states["c"].links} == {"c is exited"}
    assert [ln.why for ln in states["d"].links] == ["c is exited"]


def test_a_lab_is_found_from_any_folder_through_its_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = FakeBackend()
    lab, _ = up(engine, tmp_path / "elsewhere")
    monkeypatch.chdir(tmp_path)
    found = Lab.attach(lab.name, backend=engine)
    assert found.paths.root == lab.paths.root
    assert found.topology == lab.topology


def test_attaching_to_a_lab_that_is_not_up_says_so(tmp_path: Path) -> None:
    engine = FakeBackend()
    lab, _ = up(engine, tmp_path)
    lab.down()
    with pytest.raises(LabError, match=rf"no lab named '{lab.name}' is up \(no lab is up\)"):
        Lab.attach(lab.name, backend=engine)


def test_a_removed_node_is_recreated_at_its_address(tmp_path: Path) -> None:
    engine = FakeBackend()
    lab, _ = up(engine, tmp_path)
    ip = engine.nodes[(lab.name, "b")].spec.ip
    engine.remove_node(lab.name, "b")
    lab.recreate_node("b")
    assert engine.nodes[(lab.name, "b")].spec.ip == ip
    assert engine.states(lab.name)["b"] == "running"


def test_the_calls_of_many_threads_share_one_control_connection(tmp_path: Path) -> None:
    engine = FakeBackend()
    lab, _ = up(engine, tmp_path)
    outputs: list[str] = []
    threads = [
        threading.Thread(target=lambda: outputs.append(lab.cli("a", "core show version")))
        for _ in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(outputs) == 20 and all("fake" in o for o in outputs)


def test_a_command_asterisk_refuses_is_an_error(tmp_path: Path) -> None:
    engine = FakeBackend()
    lab, _ = up(engine, tmp_path)
    with pytest.raises(LabRuntimeError, match="refused 'bogus'"):
        lab.cli("a", "bogus")
    with pytest.raises(LabRuntimeError, match="cannot span lines"):
        lab.cli("a", "core show version\r\nAction: Originate")


def test_an_imported_members_fragile_lines_are_told_though_the_lab_rewrites_them(
    tmp_path: Path,
) -> None:
    member = tmp_path / "members" / "m"
    member.mkdir(parents=True)
    (member / "dundi.conf").write_text(
        "[general]\nentityid = 02:00:00:00:00:09\n\n[02:00:00:00:00:01]\nmodel = symmetric\n"
        "host = 192.0.2.1\ninkey = a\noutkey = m\ninclude = all\npermit = all\n\n[mappings]\n"
        "network1 => ctx,0,IAX2,dundi:${SECRET}@${IPADDR}/${NUMBER}\n"
    )
    (member / "iax.conf").write_text(
        "[dundi]\ntype = user\ndbsecret = dundi/secret\ncontext = ctx\n"
    )
    (member / "extensions.conf").write_text("[ctx]\nexten => _2XXXXXXXX,1,NoOp\n")
    (tmp_path / "lab.yaml").write_text(
        "networks: [network1]\nnodes:\n  a: {serves: {network1: [_1XXXXXXXX]}}\n"
        '  m: {import: {dir: members/m, peers: {"02:00:00:00:00:01": a}}}\n'
    )
    lab, events = up(FakeBackend(), tmp_path / "build", tmp_path / "lab.yaml")
    written = next(e for e in events if isinstance(e, LintDone) and e.as_written)
    assert [(f.code, Path(f.file).name, f.line) for f in written.findings] == [
        ("DL406", "dundi.conf", 13)
    ]
    mounted = (lab.paths.etc("m") / "dundi.conf").read_text()
    assert "${IPADDR}" not in mounted and f"@{lab.topology.node('m').ip}/" in mounted
    assert "${IPADDR}" in lab.paths.import_report("m").read_text()  # and the change is listed
