"""A network folder of members' own configs as a lab: matched by entity ID, host names kept,
key names kept, nothing guessed; and a diff of two matrices names what changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lab import topology
from lab.asterisk import keys, render
from lab.errors import TopologyError
from lab.observe import diff, reach
from lab.paths import LabPaths
from lab.topology import network
from tests.unit.conftest import ROOT

EXAMPLE = ROOT / "examples/network"


@pytest.fixture(scope="module")
def example() -> topology.Topology:
    topo, _ = network.load_network(EXAMPLE)
    return topo


def test_the_example_network_has_its_eight_members_matched_by_entity_id(
    example: topology.Topology,
) -> None:
    assert [n.name for n in example.nodes] == [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ]  # fmt: skip
    assert sorted(tuple(sorted(e)) for e in {frozenset(e) for e in example.edges}) == [
        ("alpha", "bravo"), ("alpha", "charlie"), ("alpha", "echo"), ("bravo", "delta"),
        ("charlie", "golf"), ("charlie", "hotel"), ("delta", "foxtrot"),
    ]  # fmt: skip
    versions = {n.name: n.version for n in example.nodes}
    assert [v for v in versions.values()].count("16") == 3 and versions["bravo"] == "16"


def test_what_members_write_is_kept_dynamic_register_precache_and_host_names(
    example: topology.Topology,
) -> None:
    alpha = {p.peer: p for p in example.node("alpha").peers}
    echo = {p.peer: p for p in example.node("echo").peers}
    assert alpha["echo"].dynamic and echo["alpha"].register
    fox = example.node("foxtrot").peers[0]
    assert (fox.peer, fox.model, fox.precache) == ("delta", "outbound", "outbound")
    assert example.node("alpha").aliases == ("pbx.alpha.example.net",)
    assert example.node_by_host("pbx.delta.example.net") == example.node("delta")
    assert dict(example.samples)["888000100"] == ("888000100",)


def test_the_lab_makes_its_keys_under_the_names_members_use(
    example: topology.Topology, tmp_path: Path
) -> None:
    planned = keys.plan(example, LabPaths.of(example.name, tmp_path))
    assert sorted(planned["bravo"]) == [
        "alpha.pub", "bravo-dundi.key", "bravo-dundi.pub", "delta-2026.pub",
    ]  # fmt: skip
    assert planned["alpha"]["bravo-dundi.pub"].data == planned["bravo"]["bravo-dundi.pub"].data
    assert not [k for name, k in planned["alpha"].items() if k.private and name != "alpha.key"]


def test_members_files_change_only_where_the_lab_needs_it(
    example: topology.Topology, tmp_path: Path
) -> None:
    rendered = render.render_lab(example, LabPaths.of(example.name, tmp_path))
    hotel = rendered.nodes["hotel"]
    why = [(c.file, c.before) for c in hotel.changes]
    assert (
        "dundi.conf",
        "network1 => network1-context,0,IAX2,dundi:${SECRET}@${IPADDR}/${NUMBER}",
    ) in why
    assert ("phones.conf", "[internal]") in why  # the member's phones kept as [internal-member]
    dundi = hotel.files["dundi.conf"]
    assert "host = pbx.charlie.example.net" in dundi  # a host name resolves in the lab: kept
    assert "inkey = charlie" in dundi and "outkey = hotel" in dundi  # key names kept
    alpha = rendered.nodes["alpha"].files
    assert "host = dynamic" in alpha["dundi.conf"]


def test_a_peer_no_member_has_is_reported_with_file_and_line_and_left_out(tmp_path: Path) -> None:
    folder = tmp_path / "net"
    shutil.copytree(EXAMPLE, folder)
    conf = folder / "charlie" / "dundi.conf"
    conf.write_text(conf.read_text().replace("[00:16:3e:08:00:08]", "[00:16:3e:08:00:80]"))
    topo, findings = network.load_network(folder)
    assert "hotel" not in {p.peer for p in topo.node("charlie").peers}
    assert [str(f) for f in findings] == [
        f"{folder}/charlie/dundi.conf:39: [00:16:3e:08:00:80]: no member of the network has "
        "entity ID 00:16:3e:08:00:80: left out"
    ]


def test_two_members_with_one_entity_id_are_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "net"
    shutil.copytree(EXAMPLE, folder)
    conf = folder / "golf" / "dundi.conf"
    conf.write_text(
        conf.read_text().replace("entityid=00:16:3e:07:00:07", "entityid=00:16:3e:08:00:08")
    )
    with pytest.raises(TopologyError, match="entity ID 00:16:3e:08:00:08 is also golf's"):
        network.load_network(folder)


def test_a_sample_number_matches_its_pattern() -> None:
    assert reach.sample("_034XXXXXX", 9) == "034111111"
    assert reach.sample("_9[3-5]NZX", 5) == "93211"
    assert reach.sample("_4.", 6) == "411111"
    assert reach.sample("888000100", 9) == "888000100"


def _matrix(cells: list[reach.Cell]) -> reach.Matrix:
    return reach.Matrix("x", ("a", "b"), (), tuple(cells), False, 0.0)


def test_a_diff_names_routes_lost_gained_moved_and_rerouted() -> None:
    ok = reach.OK
    base = _matrix(
        [
            reach.Cell("a", "p1", ok, ("c",), path=("a", "b", "c")),
            reach.Cell("a", "p2", ok, ("d",)),
            reach.Cell("a", "p3", reach.NOT_FOUND),
            reach.Cell("b", "p1", ok, ("c",), path=("b", "c")),
            reach.Cell("b", "p4", ok, ("e",)),
        ]
    )
    head = _matrix(
        [
            reach.Cell("a", "p1", ok, ("c",), path=("a", "x", "c")),  # rerouted
            reach.Cell("a", "p2", reach.NOT_FOUND),  # lost
            reach.Cell("a", "p3", ok, ("f",)),  # gained
            reach.Cell("b", "p1", ok, ("z",)),  # answered by someone else
            # b → p4 is gone with its prefix: lost
        ]
    )
    result = diff.compare(base, head)
    assert [(c.asker, c.prefix) for c in result.lost] == [("a", "p2"), ("b", "p4")]
    assert [(c.asker, c.prefix) for c in result.gained] == [("a", "p3")]
    assert [(c.asker, c.prefix) for c in result.elsewhere] == [("b", "p1")]
    assert [str(c) for c in result.paths] == ["a → p1: a → b → c → a → x → c"]
    assert result.failed and result.verdict == "FAIL: 2 routes lost"


def test_a_diff_with_no_change_passes_and_a_new_lint_error_fails() -> None:
    same = _matrix([reach.Cell("a", "p1", reach.OK, ("c",))])
    assert not diff.compare(same, same).changed
    from lab.lint import Finding

    error = Finding("/x/golf/dundi.conf", 30, "error", "DL401", "m", "f")
    warning = Finding("/x/golf/dundi.conf", 30, "warning", "DL406", "m", "f")
    moved = Finding("/y/golf/dundi.conf", 31, "warning", "DL406", "m", "f")  # a line above changed
    assert diff.compare(same, same, [], [error]).verdict == "FAIL: 1 new lint error"
    assert diff.compare(same, same, [], [warning]).verdict == "ok: no route lost, no new lint error"
    assert not diff.compare(same, same, [warning], [moved]).changed


def imported_lab(tmp_path: Path, dundi_conf: str) -> topology.Topology:
    """Node a, and member m (its own dundi.conf) whose peer 02:00:00:00:00:01 is a."""
    member = tmp_path / "m"
    member.mkdir()
    (member / "dundi.conf").write_text(dundi_conf)
    (member / "iax.conf").write_text("[dundi]\ntype = user\ndbsecret = dundi/secret\n")
    (member / "extensions.conf").write_text("[ctx]\nexten => _2XXXXXXXX,1,NoOp\n")
    (tmp_path / "lab.yaml").write_text(
        "networks: [network1]\nnodes:\n  a: {serves: {network1: [_1XXXXXXXX]}}\n"
        '  m: {import: {dir: m, peers: {"02:00:00:00:00:01": a}}}\n'
    )
    return topology.load(tmp_path / "lab.yaml")


def test_an_imported_members_dynamic_peer_makes_the_generated_side_register(
    tmp_path: Path,
) -> None:
    topo = imported_lab(
        tmp_path,
        "[general]\nentityid = 02:00:00:00:00:09\n\n[02:00:00:00:00:01]\nmodel = outbound\n"
        "host = dynamic\ninkey = a\noutkey = m\ninclude = all\n"
        "precache = outbound\n\n[mappings]\n"
        "network1 => ctx,0,IAX2,dundi:${SECRET}@${IPADDR}/${NUMBER}\n",
    )
    [m_side] = topo.node("m").peers
    [a_side] = topo.node("a").peers
    assert (m_side.dynamic, m_side.register, m_side.precache) == (True, False, "outbound")
    assert (a_side.peer, a_side.register, a_side.dynamic) == ("m", True, False)
    assert (a_side.model, a_side.precache, a_side.permit) == ("inbound", "inbound", ("all",))


def test_a_peer_section_with_one_digit_bytes_is_the_peer_pbx_dundi_reads(tmp_path: Path) -> None:
    topo = imported_lab(  # ast_str_to_eid reads [2:0:0:0:0:1] as 02:00:00:00:00:01
        tmp_path,
        "[general]\nentityid = 2:0:0:0:0:9\n\n[2:0:0:0:0:1]\nmodel = symmetric\n"
        "host = 192.0.2.1\ninclude = all\npermit = all\n\n[mappings]\n"
        "network1 => ctx,0,IAX2,dundi:${SECRET}@192.0.2.9/${NUMBER}\n",
    )
    assert topo.node("m").eid == "02:00:00:00:00:09"
    assert [p.peer for p in topo.node("m").peers] == ["a"]
    rendered = render.render_lab(topo, LabPaths.of(topo.name, tmp_path / "build"))
    dundi = rendered.nodes["m"].files["dundi.conf"]
    assert f"host = {topo.node('a').ip}" in dundi and "192.0.2.1" not in dundi
