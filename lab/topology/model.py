"""The lab as data: frozen dataclasses that everything past the loader reads.

A `Topology` is valid by construction (the loader builds it only from a file without
problems). Defaults that depend on a node's position are computed here, so they scale to
any lab size: entity IDs (`02:00:00:00:00:01` on, two bytes past 255 nodes), the subnet a
name derives (`default_subnet`, large enough for the node count) and addresses
(`placed`). `to_json`/`from_json` keep a resolved lab next to its files, so later commands
read it back without validating the YAML again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FIRST_HOST",
    "MODELS",
    "ORDERS",
    "VERSIONS",
    "Imported",
    "Node",
    "Peer",
    "Service",
    "Topology",
    "default_eid",
    "default_subnet",
    "from_json",
    "pattern_lengths",
    "to_json",
]

MODELS = ("symmetric", "outbound", "inbound")
ORDERS = ("primary", "secondary", "tertiary", "quartiary")
VERSIONS = ("22", "16")
# voice codecs a node may offer over IAX2, in its order of preference (the callee's wins)
CODECS = ("ulaw", "alaw", "gsm")
PRECACHE = ("none", "outbound", "inbound")
EID = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}\Z")
# Nodes take the subnet's addresses from the 10th on; two at the end stay free.
FIRST_HOST = 10
_SPARE = 2
# Labs draw their subnets from this block; a lab never leaves it unless its file says so.
LAB_BLOCK = ipaddress.IPv4Network("10.77.0.0/16")


@dataclass(frozen=True)
class Service:
    """Number patterns a node announces on one DUNDi network."""

    network: str
    patterns: tuple[str, ...]
    weight: int = 0


@dataclass(frozen=True)
class Peer:
    """One node's configuration of a trust edge towards `peer`."""

    peer: str
    model: str
    include: tuple[str, ...]
    permit: tuple[str, ...]
    qualify: bool
    order: str
    inkey: str = ""
    precache: str = "none"  # none | outbound (push our numbers to it) | inbound
    register: bool = False  # this node registers its address with the peer
    dynamic: bool = False  # the peer registers with us: `host = dynamic`

    @property
    def key(self) -> str:
        """Whose public key this side checks the peer's messages with (normally the peer's)."""
        return self.inkey or self.peer


@dataclass(frozen=True)
class Imported:
    """A node whose dundi.conf, iax.conf and extensions.conf are a member's own files."""

    dir: str  # absolute
    written: str  # as written in the topology: relative to the topology file
    peers: tuple[tuple[str, str], ...]  # (entity ID in the member's dundi.conf, lab node)
    files: tuple[tuple[str, str], ...] = ()  # (file name, text) as read, once
    # a member of a network folder: its key names and host names stay as written
    keys: tuple[tuple[str, str], ...] = ()  # (key file name, the node whose key it is)
    network: bool = False
    # what the member's server showed when its files were collected (dundi-collect's
    # observed/ folder): file name → text; never configuration
    observed: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Node:
    """One Asterisk server of the lab."""

    name: str
    index: int
    ip: str
    eid: str
    version: str
    ttl: int
    cachetime: int
    autokill: bool
    serves: tuple[Service, ...]
    peers: tuple[Peer, ...]
    imported: Imported | None = None
    ip_fixed: bool = False  # the file gives the address
    aliases: tuple[str, ...] = ()  # host names other nodes may use for it
    codecs: tuple[str, ...] = ("ulaw",)  # iax.conf allow=, in order (imported: their own)
    host: str = ""  # the engine of a swarm that runs it ("": the backend's choice)

    @property
    def code(self) -> str:
        """Digits that identify this node in call verification (index + 1)."""
        return str(self.index + 1)


@dataclass(frozen=True)
class Topology:
    """A validated topology: everything needed to render and run a lab."""

    name: str
    description: str
    source: str
    subnet: str
    number_length: int
    networks: tuple[str, ...]
    nodes: tuple[Node, ...]
    subnet_fixed: bool = False
    # numbers to try for a pattern (a network's network.yaml), beside the ones made up
    samples: tuple[tuple[str, tuple[str, ...]], ...] = ()
    _by_name: dict[str, Node] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {n.name: n for n in self.nodes})

    def node(self, name: str) -> Node:
        """The node called `name`; KeyError if there is none."""
        return self._by_name[name]

    def node_by_host(self, host: str) -> Node | None:
        """The node a dial string's host means: its address, or one of its host names."""
        return next((n for n in self.nodes if host == n.ip or host in n.aliases), None)

    def node_by_eid(self, eid: str) -> Node | None:
        return next((n for n in self.nodes if n.eid == eid.lower()), None)

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """Every configured (node, peer) pair, one per side."""
        return tuple((n.name, p.peer) for n in self.nodes for p in n.peers)

    def renamed(self, name: str) -> Topology:
        """The same lab under another name, on the subnet that name derives unless fixed."""
        moved = dataclasses.replace(self, name=name)
        if self.subnet_fixed:
            return moved
        return moved.placed(default_subnet(name, len(self.nodes)))

    def placed(self, subnet: str) -> Topology:
        """The same lab on another subnet, the addresses it chose renumbered to match."""
        net = ipaddress.IPv4Network(subnet)
        nodes = tuple(
            n if n.ip_fixed else dataclasses.replace(n, ip=address(net, n.index))
            for n in self.nodes
        )
        return dataclasses.replace(self, subnet=str(net), nodes=nodes)


def default_eid(index: int) -> str:
    """The entity ID of the node at `index`: 02:00:00:00:00:01, …, 02:00:00:00:01:00, …"""
    return "02:" + ":".join(f"{b:02x}" for b in (index + 1).to_bytes(5, "big"))


def prefix_for(count: int) -> int:
    """The longest prefix whose subnet holds `count` nodes (and never longer than /24)."""
    needed = count + FIRST_HOST + _SPARE
    return min(24, 32 - max(1, (needed - 1).bit_length()))


def default_subnet(lab_name: str, count: int = 1) -> str:
    """A subnet in 10.77.0.0/16 derived from the lab's name, so two labs differ; /24 up to
    244 nodes, larger (aligned) blocks for larger labs."""
    prefix = prefix_for(count)
    blocks = list(LAB_BLOCK.subnets(new_prefix=prefix))
    digest = hashlib.sha256(lab_name.encode()).digest()
    if prefix == 24:
        return str(blocks[digest[0]])  # as before: 10.77.<first byte>.0/24
    return str(blocks[int.from_bytes(digest[:2], "big") % len(blocks)])


def address(subnet: ipaddress.IPv4Network, index: int) -> str:
    return str(subnet.network_address + FIRST_HOST + index)


def capacity(subnet: ipaddress.IPv4Network) -> int:
    """How many nodes fit a subnet."""
    return max(0, subnet.num_addresses - FIRST_HOST - _SPARE)


def pattern_lengths(pattern: str) -> tuple[int, int | None]:
    """The shortest and longest number (None: unbounded) a pattern matches."""
    if not pattern.startswith("_"):
        return len(pattern), len(pattern)
    body = re.sub(r"\[[^\]]*\]", "X", pattern[1:])
    if body.endswith("."):
        return len(body), None
    if body.endswith("!"):
        return len(body) - 1, None
    return len(body), len(body)


# ---- kept beside the lab's files ------------------------------------------------


def to_json(topo: Topology) -> dict[str, Any]:
    data = dataclasses.asdict(topo)
    data.pop("_by_name")
    return data


def from_json(data: dict[str, Any]) -> Topology:
    """The topology `to_json` gave; KeyError/TypeError if `data` is not one."""
    nodes = tuple(_node(n) for n in data["nodes"])
    fields = {k: v for k, v in data.items() if k != "nodes"}
    fields["networks"] = tuple(fields["networks"])
    fields["samples"] = tuple((p, tuple(n)) for p, n in fields.get("samples", ()))
    return Topology(**fields, nodes=nodes)


def _node(data: dict[str, Any]) -> Node:
    imported = data.get("imported")
    return Node(
        **{
            **data,
            "serves": tuple(
                Service(s["network"], tuple(s["patterns"]), s["weight"]) for s in data["serves"]
            ),
            "peers": tuple(
                Peer(**{**p, "include": tuple(p["include"]), "permit": tuple(p["permit"])})
                for p in data["peers"]
            ),
            "imported": Imported(
                imported["dir"],
                imported["written"],
                tuple(map(tuple, imported["peers"])),
                tuple(map(tuple, imported["files"])),
                tuple(map(tuple, imported.get("keys", ()))),
                bool(imported.get("network", False)),
                tuple(map(tuple, imported.get("observed", ()))),
            )
            if imported
            else None,
            "aliases": tuple(data.get("aliases", ())),
            "codecs": tuple(data.get("codecs", ("ulaw",))),
        }
    )


def dumps(topo: Topology) -> str:
    return json.dumps(to_json(topo), indent=1)
