"""Rendered Asterisk configs and compose file: golden files plus the behaviour they carry."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from lab import topology
from lab.asterisk import render
from lab.core import pipeline
from lab.paths import LabPaths
from lab.topology import Topology

GOLDEN = Path(__file__).parent / "golden" / "seed-chain"
NODES = ("a", "b", "c", "d")
NODE_FILES = [(node, name) for node in NODES for name in render.NODE_FILES]
# The image tag carries a hash of images/asterisk.yaml, which changes on its own.
IMAGE_TAG = re.compile(r"dundi-lab/asterisk:\S+")

GoldenCheck = Callable[[Path, str], None]


def node_file(lab: Topology, node: str, name: str) -> str:
    return render.render_node(lab, lab.node(node), "test-secret")[0][name]


def lines(text: str) -> list[str]:
    return text.splitlines()


def compose(lab: Topology, tmp_path: Path) -> str:
    paths = LabPaths.of(lab.name, tmp_path)
    pipeline.render_only(lab, paths)
    return IMAGE_TAG.sub("dundi-lab/asterisk:<tag>", paths.compose_file.read_text())


# ---- golden files -------------------------------------------------------------------------------


@pytest.mark.parametrize(("node", "name"), NODE_FILES, ids=[f"{n}/{f}" for n, f in NODE_FILES])
def test_node_config_matches_golden(
    seed_chain: Topology, golden: GoldenCheck, node: str, name: str
) -> None:
    golden(GOLDEN / node / name, node_file(seed_chain, node, name))


def test_compose_file_matches_golden(
    seed_chain: Topology, golden: GoldenCheck, tmp_path: Path
) -> None:
    golden(GOLDEN / "compose.yaml", compose(seed_chain, tmp_path))


def test_every_golden_file_is_still_rendered() -> None:
    on_disk = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*") if p.is_file()}
    assert on_disk == {f"{n}/{f}" for n, f in NODE_FILES} | {"compose.yaml"}


def test_render_node_produces_exactly_the_node_files(seed_chain: Topology) -> None:
    assert set(render.render_node(seed_chain, seed_chain.node("a"))[0]) == set(render.NODE_FILES)


# ---- dundi.conf ---------------------------------------------------------------------------------


@pytest.mark.parametrize("node", ["b", "c"])
def test_a_transit_node_still_maps_network1(seed_chain: Topology, node: str) -> None:
    mappings = [
        line
        for line in lines(node_file(seed_chain, node, "dundi.conf"))
        if line.startswith("network1 => ")
    ]
    assert len(mappings) == 1
    assert mappings[0].startswith("network1 => dundi-network1-local,0,IAX2,")


def test_the_mapping_dials_the_node_ip_literally(seed_chain: Topology) -> None:
    dundi = node_file(seed_chain, "c", "dundi.conf")
    mapping = "network1 => dundi-network1-local,0,IAX2,dundi:${SECRET}@10.77.0.12/${NUMBER}"
    assert mapping in lines(dundi)
    assert "${IPADDR}" not in dundi


def test_dundi_conf_sets_the_node_entity_id(seed_chain: Topology) -> None:
    assert "entityid = 02:00:00:00:00:03" in lines(node_file(seed_chain, "c", "dundi.conf"))


def test_a_peer_section_names_the_peer_eid_address_and_keys(seed_chain: Topology) -> None:
    dundi = node_file(seed_chain, "a", "dundi.conf")
    section = dundi.split("[02:00:00:00:00:02] ; b\n", 1)[1]
    assert lines(section)[:4] == [
        "model = symmetric",
        "host = 10.77.0.11",
        "inkey = b",
        "outkey = a",
    ]


def test_an_asterisk_22_node_sets_outgoing_sip_tech(seed_chain: Topology) -> None:
    assert "outgoing_sip_tech = SIP" in lines(node_file(seed_chain, "a", "dundi.conf"))


def test_an_asterisk_16_node_leaves_outgoing_sip_tech_unset() -> None:
    lab16 = topology.parse("networks: [n1]\nnodes: {a: {version: '16'}}", "lab.yaml")
    assert "outgoing_sip_tech" not in node_file(lab16, "a", "dundi.conf")


# ---- modules.conf and extensions.conf -----------------------------------------------------------


def test_modules_conf_loads_only_what_is_listed(seed_chain: Topology) -> None:
    modules = lines(node_file(seed_chain, "a", "modules.conf"))
    assert "autoload = no" in modules
    for module in ("res_crypto.so", "pbx_dundi.so", "chan_iax2.so"):
        assert f"load = {module}" in modules


def test_extensions_conf_looks_numbers_up_with_the_dundi_switch(seed_chain: Topology) -> None:
    assert "switch => DUNDi/network1" in lines(node_file(seed_chain, "a", "extensions.conf"))


def test_a_node_answers_only_the_numbers_it_serves(seed_chain: Topology) -> None:
    extensions = node_file(seed_chain, "d", "extensions.conf")
    incoming = extensions.split("[dundi-incoming]\n", 1)[1].split("\n\n", 1)[0]
    assert lines(incoming) == ["exten => _555XXXXXX,1,Goto(internal,${EXTEN:-4},1)"]


# ---- compose.yaml -------------------------------------------------------------------------------


def test_compose_mounts_each_node_keys_folder_read_only(
    seed_chain: Topology, tmp_path: Path
) -> None:
    mounts = [line.strip() for line in lines(compose(seed_chain, tmp_path)) if "/keys:" in line]
    assert mounts == [f"- ./nodes/{n}/keys:/var/lib/asterisk/keys:ro" for n in NODES]


def test_compose_mounts_each_node_config_folder_read_only(
    seed_chain: Topology, tmp_path: Path
) -> None:
    mounts = [line.strip() for line in lines(compose(seed_chain, tmp_path)) if ":/etc/" in line]
    assert mounts == [f"- ./nodes/{n}/etc/asterisk:/etc/asterisk:ro" for n in NODES]


def test_compose_gives_each_node_its_address(seed_chain: Topology, tmp_path: Path) -> None:
    text = compose(seed_chain, tmp_path)
    assert [line.strip() for line in lines(text) if "ipv4_address" in line] == [
        "ipv4_address: 10.77.0.10",
        "ipv4_address: 10.77.0.11",
        "ipv4_address: 10.77.0.12",
        "ipv4_address: 10.77.0.13",
    ]
