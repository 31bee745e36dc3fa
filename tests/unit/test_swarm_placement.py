"""Where the swarm backend puts nodes, and how `--hosts` reads (no engine is reached)."""

from __future__ import annotations

import pytest

from lab.errors import LabRuntimeError
from lab.runtime.protocol import HOST_LABEL, ContainerSpec
from lab.runtime.swarm import SwarmBackend, parse_hosts


def swarm(*names: str) -> SwarmBackend:
    """A swarm backend whose engines are known by name only (placement needs no more)."""
    backend = SwarmBackend([f"{n}=unix:///run/{n}.sock" for n in names])
    backend.__dict__["engines"] = dict.fromkeys(names)  # the cached engines, unreached
    return backend


def spec(node: str, placement: str = "") -> ContainerSpec:
    return ContainerSpec("lab1", node, "img", ("true",), "net", "10.77.0.10", (),
                         placement=placement)  # fmt: skip


def test_hosts_are_name_url_pairs_and_a_bare_url_is_named_by_its_engine() -> None:
    assert parse_hosts("host=unix:///var/run/docker.sock, e1=ssh://root@b,tcp://c:2376") == [
        ("host", "unix:///var/run/docker.sock"),
        ("e1", "ssh://root@b"),
        ("", "tcp://c:2376"),
    ]
    assert parse_hosts("") == [("", "")]  # this machine's engine


def test_a_host_name_that_is_not_a_name_is_refused() -> None:
    with pytest.raises(LabRuntimeError, match="not a host name"):
        parse_hosts("e 1=unix:///x")


def test_unpinned_nodes_go_round_robin_and_pinned_ones_where_the_topology_says() -> None:
    placed = swarm("host", "e1", "e2").place(
        [spec("a"), spec("b", "e2"), spec("c"), spec("d"), spec("e")]
    )
    assert [s.placement for s in placed] == ["host", "e2", "e1", "e2", "host"]
    assert all(s.labels[HOST_LABEL] == s.placement for s in placed)


def test_a_node_made_again_goes_back_to_its_engine() -> None:
    backend = swarm("host", "e1")
    backend.place([spec("a"), spec("b")])
    assert backend.place([spec("b")])[0].placement == "e1"
    assert backend.settings("lab1")["placement"] == {"lab1": {"a": "host", "b": "e1"}}


def test_a_pin_to_an_engine_the_swarm_lacks_names_the_engines() -> None:
    with pytest.raises(LabRuntimeError) as raised:
        swarm("host", "e1").place([spec("a", "e9")])
    assert "no engine e9 in this swarm for a→e9 (engines: host, e1" in str(raised.value)


def test_the_state_recreates_the_same_backend() -> None:
    backend = swarm("host", "e1")
    backend.place([spec("a"), spec("b")])
    again = SwarmBackend(**backend.settings("lab1"))  # type: ignore[arg-type]
    assert again.placement("lab1") == {"a": "host", "b": "e1"}
    again.__dict__["engines"] = dict.fromkeys(["host", "e1"])
    assert parse_hosts(again.settings("lab1")["hosts"]) == [  # type: ignore[arg-type]
        ("host", "unix:///run/host.sock"),
        ("e1", "unix:///run/e1.sock"),
    ]
