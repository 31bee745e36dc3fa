"""The topology picture: DOT and Mermaid text, edges judged from both sides' config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lab import topology
from lab.errors import LabError
from lab.observe import graph
from lab.topology import Topology
from tests.unit.conftest import ROOT, GoldenCheck
from tests.unit.test_trace import traced

GOLDEN = Path(__file__).parent / "golden" / "graph"


def scenario(name: str) -> Topology:
    return topology.load(ROOT / "scenarios" / f"{name}.yaml")


def kinds(topo: Topology) -> dict[tuple[str, str], tuple[str, str]]:
    return {(e.first, e.second): (e.kind, e.asker) for e in graph.edges(topo)}


PAIR = """
name: pair
number_length: 3
networks: [net]
nodes:
  a:
    serves: {net: ["_1XX"]}
    peers: [{node: b, model: %s}]
  b:
    serves: {net: ["_2XX"]}
    peers: [{node: a, model: %s}]
"""


def pair(first: str, second: str) -> Topology:
    return topology.parse(PAIR % (first, second), "pair.yaml")


# ---- golden pictures of the seed chain ------------------------------------------


def test_seed_chain_as_dot(seed_chain: Topology, golden: GoldenCheck) -> None:
    golden(GOLDEN / "seed-chain.dot", graph.to_dot(seed_chain))


def test_seed_chain_as_mermaid(seed_chain: Topology, golden: GoldenCheck) -> None:
    golden(GOLDEN / "seed-chain.mmd", graph.to_mermaid(seed_chain))


def test_seed_chain_with_the_path_of_a_found_lookup(
    seed_chain: Topology, golden: GoldenCheck
) -> None:
    found = traced("seed-found")
    golden(GOLDEN / "seed-chain-found.dot", graph.to_dot(seed_chain, trace=found))
    golden(GOLDEN / "seed-chain-found.mmd", graph.to_mermaid(seed_chain, trace=found))


def test_seed_chain_with_c_stopped_marks_where_the_lookup_died(
    seed_chain: Topology, golden: GoldenCheck
) -> None:
    died = traced("seed-c-stopped")
    text = graph.to_mermaid(seed_chain, trace=died)
    golden(GOLDEN / "seed-chain-c-stopped.mmd", text)
    assert "b ==>|2. no reply, 2000 ms| c" in text
    assert "class c dead" in text


# ---- what an edge means ------------------------------------------------------------


def test_every_edge_of_the_seed_chain_is_symmetric(seed_chain: Topology) -> None:
    assert kinds(seed_chain) == {
        ("a", "b"): ("symmetric", ""),
        ("b", "c"): ("symmetric", ""),
        ("c", "d"): ("symmetric", ""),
    }
    assert "dir=none" in graph.to_dot(seed_chain)


def test_one_way_edge_points_from_the_side_that_may_ask() -> None:
    [edge] = graph.edges(pair("inbound", "outbound"))
    assert (edge.kind, edge.asker, edge.ends) == ("one-way", "b", ("b", "a"))
    assert '"b" -> "a" [label="outbound → inbound"]' in graph.to_dot(pair("inbound", "outbound"))
    assert "b -->|outbound → inbound| a" in graph.to_mermaid(pair("inbound", "outbound"))


def test_an_edge_nobody_may_ask_over_is_closed_and_red() -> None:
    topo = pair("inbound", "inbound")
    [edge] = graph.edges(topo)
    assert edge.kind == "closed" and edge.broken
    assert "stroke:#cf222e" in graph.to_mermaid(topo)


def test_rogue_peers_are_drawn_as_one_sided_and_wrong_key() -> None:
    found = kinds(scenario("rogue-peer"))
    assert found[("b", "r")] == ("one-sided", "r")
    assert found[("b", "w")] == ("wrong key", "")
    assert found[("a", "b")] == ("symmetric", "")
    dot = graph.to_dot(scenario("rogue-peer"))
    assert '"r" -> "b" [label="one-sided: b does not list r", style=dashed' in dot
    assert "wrong key: b holds c's key for w" in dot


def test_a_query_the_other_side_does_not_permit_is_refused() -> None:
    edge = next(e for e in graph.edges(scenario("permissions")) if e.ends == ("a", "b"))
    assert (edge.kind, edge.label) == ("refused", "refused: b refuses a (network2)")


def test_networks_show_when_an_edge_carries_only_some() -> None:
    edge = next(
        e for e in graph.edges(scenario("permissions")) if e.first == "b" and e.second == "c"
    )
    assert edge.label == "b→c: network2; c→b: network1, network2"


# ---- nodes and formats -------------------------------------------------------------------


def test_a_running_lab_shows_its_exact_asterisk_version(seed_chain: Topology) -> None:
    text = graph.to_mermaid(seed_chain, versions={"a": "22.10.1+dfsg+~cs6.17.60671434-1"})
    assert 'a["a<br/>_034XXXXXX<br/>Asterisk 22.10.1"]' in text
    assert 'b["b<br/>_420XXXXXX<br/>Asterisk 22"]' in text


def test_a_node_named_like_mermaid_syntax_gets_a_safe_id() -> None:
    topo = topology.parse(
        PAIR.replace("b:", "end:").replace("node: b", "node: end") % ("symmetric", "symmetric"),
        "pair.yaml",
    )
    assert 'n_end["end<br/>' in graph.to_mermaid(topo)


@pytest.mark.parametrize(
    ("out", "fmt"),
    [
        ("x.svg", "svg"),
        ("docs/X.PNG", "png"),
        ("x.dot", "dot"),
        ("x.mmd", "mermaid"),
        (None, "mermaid"),
    ],
    ids=["svg", "png", "dot", "mmd", "stdout"],
)
def test_the_output_file_name_picks_the_format(out: str | None, fmt: str) -> None:
    assert graph.format_for(out) == fmt


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_svg_is_drawn_by_graphviz(seed_chain: Topology) -> None:
    svg = graph.render(seed_chain, "svg")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
    assert b"_555XXXXXX" in svg


def test_without_graphviz_an_svg_is_an_error_naming_the_package(
    seed_chain: Topology, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match=r"apt-get install graphviz"):
        graph.render(seed_chain, "svg")
    assert graph.render(seed_chain, "dot").startswith(b"// generated by dundi-lab")
