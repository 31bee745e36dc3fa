"""The validated model of a topology: what a loaded lab looks like."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from lab import topology
from lab.errors import TopologyError
from lab.topology import Topology

SEED_CHAIN = Path(__file__).resolve().parents[2] / "scenarios" / "seed-chain.yaml"


def lab(text: str) -> Topology:
    return topology.parse(text, "lab.yaml")


def outcome(text: str) -> str:
    """What a user gets from a topology: the error text, or the loaded lab."""
    try:
        return repr(lab(text))
    except TopologyError as exc:
        return str(exc)


# ---- the seed chain --------------------------------------------------------------------------


def test_seed_chain_has_four_nodes_in_file_order(seed_chain: Topology) -> None:
    assert [n.name for n in seed_chain.nodes] == ["a", "b", "c", "d"]


def test_seed_chain_nodes_get_addresses_in_its_subnet(seed_chain: Topology) -> None:
    subnet = ipaddress.IPv4Network(seed_chain.subnet)
    assert subnet == ipaddress.IPv4Network("10.77.0.0/24")
    assert all(ipaddress.IPv4Address(n.ip) in subnet for n in seed_chain.nodes)
    assert len({n.ip for n in seed_chain.nodes}) == 4


def test_seed_chain_entity_ids_count_up_from_one(seed_chain: Topology) -> None:
    assert [n.eid for n in seed_chain.nodes] == [
        "02:00:00:00:00:01",
        "02:00:00:00:00:02",
        "02:00:00:00:00:03",
        "02:00:00:00:00:04",
    ]


def test_seed_chain_peers_form_the_chain_on_both_sides(seed_chain: Topology) -> None:
    peers = {n.name: [p.peer for p in n.peers] for n in seed_chain.nodes}
    assert peers == {"a": ["b"], "b": ["a", "c"], "c": ["b", "d"], "d": ["c"]}


def test_every_edge_is_configured_on_both_of_its_nodes(seed_chain: Topology) -> None:
    edges = set(seed_chain.edges)
    assert edges == {(peer, node) for node, peer in edges}


def test_a_mirrored_peer_keeps_the_symmetric_model(seed_chain: Topology) -> None:
    b_towards_a = seed_chain.node("b").peers[0]
    assert (b_towards_a.peer, b_towards_a.model) == ("a", "symmetric")
    assert b_towards_a.include == b_towards_a.permit == ("network1",)


# ---- peers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "mirrored"), [("outbound", "inbound"), ("inbound", "outbound")], ids=str
)
def test_a_one_way_peer_is_mirrored_the_other_way(model: str, mirrored: str) -> None:
    one_way = lab(f"networks: [n1]\nnodes:\n  a: {{peers: [{{node: b, model: {model}}}]}}\n  b:")
    assert one_way.node("b").peers[0].model == mirrored


def test_an_outbound_peer_only_queries_and_its_mirror_only_answers() -> None:
    one_way = lab("networks: [n1]\nnodes: {a: {peers: [{node: b, model: outbound}]}, b: {}}")
    a_side, b_side = one_way.node("a").peers[0], one_way.node("b").peers[0]
    assert (a_side.model, a_side.include, a_side.permit) == ("outbound", ("n1",), ())
    assert (b_side.peer, b_side.model, b_side.include, b_side.permit) == (
        "a",
        "inbound",
        (),
        ("n1",),
    )


def test_mirror_no_leaves_the_other_side_without_the_peer() -> None:
    one_sided = lab("networks: [n1]\nnodes: {a: {peers: [{node: b, mirror: no}]}, b: {}}")
    assert [p.peer for p in one_sided.node("a").peers] == ["b"]
    assert one_sided.node("b").peers == ()


def test_a_peer_includes_and_permits_every_network_by_default() -> None:
    two_nets = lab("networks: [n1, n2]\nnodes: {a: {peers: [b]}, b: {}}")
    peer = two_nets.node("a").peers[0]
    assert peer.include == peer.permit == ("n1", "n2")


def test_a_peer_can_include_fewer_networks_than_it_permits() -> None:
    narrow = lab("networks: [n1, n2]\nnodes: {a: {peers: [{node: b, include: [n2]}]}, b: {}}")
    peer = narrow.node("a").peers[0]
    assert (peer.include, peer.permit) == (("n2",), ("n1", "n2"))


# ---- name and subnet ----------------------------------------------------------------------------


def test_name_and_subnet_given_to_load_override_the_file() -> None:
    other = topology.load(SEED_CHAIN, name="other", subnet="10.77.9.0/24")
    assert (other.name, other.subnet) == ("other", "10.77.9.0/24")
    assert other.node("a").ip.startswith("10.77.9.")


def test_without_a_subnet_the_lab_gets_the_default_subnet_of_its_name() -> None:
    assert topology.load(SEED_CHAIN).subnet == topology.default_subnet("seed-chain")


def test_two_lab_names_get_different_default_subnets() -> None:
    first, second = topology.default_subnet("seed-chain"), topology.default_subnet("lab-two")
    assert first != second
    for subnet in (first, second):
        assert ipaddress.IPv4Network(subnet).subnet_of(ipaddress.IPv4Network("10.77.0.0/16"))


# ---- patterns -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "lengths"),
    [
        ("_034XXXXXX", (9, 9)),
        ("_[1-5]XX", (3, 3)),
        ("_034.", (4, None)),
        ("_034!", (3, None)),
        ("0341234", (7, 7)),
    ],
    ids=["fixed", "character-class", "dot-means-one-or-more", "bang-means-zero-or-more", "digits"],
)
def test_pattern_lengths_are_the_shortest_and_longest_number_matched(
    pattern: str, lengths: tuple[int, int | None]
) -> None:
    assert topology.pattern_lengths(pattern) == lengths


# ---- YAML and pattern surprises ----------------------------------------------------


def test_a_bad_subnet_is_reported_once_without_follow_on_problems() -> None:
    with pytest.raises(TopologyError) as raised:
        lab("subnet: 10.77.300.0/24\nnetworks: [n1]\nnodes: {a: {}, b: {}, c: {}}")
    assert [p.path for p in raised.value.problems] == ["subnet"]


def test_no_node_is_ever_given_the_address_0_0_0_0() -> None:
    six_nodes = "".join(f"  n{i}: {{}}\n" for i in range(6))
    assert "0.0.0.0" not in outcome(f"subnet: 10.77.5.0/28\nnetworks: [n1]\nnodes:\n{six_nodes}")


def test_a_node_name_yaml_reads_as_a_number_is_reported_as_a_name() -> None:
    with pytest.raises(TopologyError, match=r"nodes\.1: node name '1' must start with"):
        lab("networks: [n1]\nnodes:\n  1: {}\n")


def test_a_node_name_yaml_reads_as_a_boolean_stays_the_word_written() -> None:
    assert [n.name for n in lab("networks: [n1]\nnodes:\n  off: {}\n").nodes] == ["off"]


def test_an_unquoted_entity_id_is_read_as_written() -> None:
    assert "10:00:00:00:00:01" in outcome("networks: [n1]\nnodes: {a: {eid: 10:00:00:00:00:01}}")


def test_an_unquoted_digit_pattern_is_read_as_written() -> None:
    assert "034123456" in outcome("networks: [n1]\nnodes: {a: {serves: {n1: [034123456]}}}")


def test_a_pattern_may_end_in_a_character_class() -> None:
    served = lab("networks: [n1]\nnodes: {a: {serves: {n1: ['_034XXXXX[1-5]']}}}")
    assert served.node("a").serves[0].patterns == ("_034XXXXX[1-5]",)


def test_a_stray_closing_bracket_is_not_a_pattern() -> None:
    with pytest.raises(TopologyError, match="is not a dialplan pattern"):
        lab("networks: [n1]\nnodes: {a: {serves: {n1: ['_034XXXXX]']}}}")


def test_an_unclosed_list_is_reported_at_the_line_it_opens() -> None:
    with pytest.raises(TopologyError) as raised:
        lab("networks: [n1]\nnodes:\n  a:\n    peers: [b\n  b: {}\n")
    assert "line 4" in str(raised.value)
