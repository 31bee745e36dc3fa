"""Topology file → validated, frozen model of a lab.

The whole file is checked before anything else happens; every problem is
collected and reported as `file:line path: what is wrong (valid: ...)`.
No raw dict leaves this module.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.asterisk import member as members
from lab.errors import Problem, TopologyError
from lab.topology.yamlsrc import Located, join, load_located, read_located

__all__ = ["Imported", "Node", "Peer", "Service", "Topology", "load", "parse"]

# keys a scenario file adds to a topology; the scenario layer validates them
SCENARIO_KEYS = ("steps",)
MODELS = ("symmetric", "outbound", "inbound")
ORDERS = ("primary", "secondary", "tertiary", "quartiary")
VERSIONS = ("22", "16")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
_LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_EID = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
_PATTERN = re.compile(r"^(_(\[[0-9-]+\]|[0-9XZN])+[.!]?|[0-9]+)$")
_OPTION_BOUNDS = {"ttl": (1, 119), "cachetime": (1, 86400)}

_LAB_KEYS = ("name", "description", "subnet", "number_length", "networks", "defaults", "nodes")
_DEFAULT_KEYS = ("ttl", "cachetime", "autokill", "version")
_NODE_KEYS = ("serves", "peers", "ip", "eid", "description", "import", *_DEFAULT_KEYS)
_IMPORT_KEYS = ("dir", "peers")
_PEER_KEYS = ("node", "model", "include", "permit", "qualify", "order", "mirror", "inkey")
_SERVE_KEYS = ("patterns", "weight")


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
    _source: Located | None = field(default=None, repr=False, compare=False)
    _extra_keys: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def renamed(self, name: str) -> Topology:
        """The same lab under another name (and the subnet that name derives, unless fixed)."""
        if self._source is None:
            raise TopologyError(
                [Problem(self.source, None, "name", "this topology cannot be renamed")]
            )
        return from_located(
            self._source,
            name=name,
            subnet=self.subnet if self.subnet_fixed else None,
            extra_keys=self._extra_keys,
        )

    def with_subnet(self, subnet: str) -> Topology:
        """The same lab on another subnet, addresses renumbered to match."""
        if self._source is None:
            raise TopologyError(
                [Problem(self.source, None, "subnet", "this topology cannot be renumbered")]
            )
        return from_located(
            self._source, name=self.name, subnet=subnet, extra_keys=self._extra_keys
        )

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def node_by_ip(self, ip: str) -> Node | None:
        return next((n for n in self.nodes if n.ip == ip), None)

    def node_by_eid(self, eid: str) -> Node | None:
        return next((n for n in self.nodes if n.eid == eid.lower()), None)

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """Every configured (node, peer) pair, one per side."""
        return tuple((n.name, p.peer) for n in self.nodes for p in n.peers)


def load(
    path: str | Path,
    *,
    name: str | None = None,
    subnet: str | None = None,
    extra_keys: tuple[str, ...] = SCENARIO_KEYS,
) -> Topology:
    """Read and validate a topology file; raise TopologyError listing every problem."""
    return from_located(read_located(Path(path)), name=name, subnet=subnet, extra_keys=extra_keys)


def parse(text: str, file: str, *, name: str | None = None, subnet: str | None = None) -> Topology:
    """Validate topology text; `name`/`subnet` override the file's values."""
    return from_located(load_located(text, file), name=name, subnet=subnet)


def from_located(
    located: Located,
    *,
    name: str | None = None,
    subnet: str | None = None,
    extra_keys: tuple[str, ...] = SCENARIO_KEYS,
    problems: list[Problem] | None = None,
) -> Topology:
    """Validate parsed data; `extra_keys` are top-level keys another layer owns (scenario
    steps), and `problems` found there are reported together with the topology's."""
    if located.problems and located.data is None:
        raise TopologyError(located.problems)
    return _Validator(located, name, subnet, extra_keys, problems or []).lab()


def default_subnet(lab_name: str) -> str:
    """A /24 in 10.77.0.0/16 derived from the lab's name, so two labs differ."""
    octet = hashlib.sha256(lab_name.encode()).digest()[0]
    return f"10.77.{octet}.0/24"


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


class _Validator:
    """Walks the located data once, collecting problems, then builds the model."""

    def __init__(
        self,
        located: Located,
        name: str | None,
        subnet: str | None,
        extra_keys: tuple[str, ...] = (),
        problems: list[Problem] | None = None,
    ) -> None:
        self.src = located
        self.extra_keys = extra_keys
        self.members: dict[str, members.Member] = {}
        self.problems: list[Problem] = list(located.problems) + list(problems or [])
        self.name_override = name
        self.subnet_override = subnet

    def fail(self, path: str, message: str) -> None:
        self.problems.append(self.src.problem(path, message))

    def mapping(self, value: Any, path: str, keys: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping with keys {', '.join(keys)}, not {_kind(value)}")
            return {}
        for key in value:
            if key not in keys:
                self.fail(join(path, str(key)), f"unknown key '{key}' (valid: {', '.join(keys)})")
        return {k: v for k, v in value.items() if k in keys}

    def integer(self, value: Any, path: str, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(path, f"must be a whole number from {low} to {high}, not {value!r}")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.fail(path, f"must be yes or no, not {value!r}")
            return None
        return value

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str | None:
        text = str(value)
        if text not in choices:
            self.fail(path, f"'{value}' is not one of the choices (valid: {', '.join(choices)})")
            return None
        return text

    def string_list(self, value: Any, path: str) -> list[str]:
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            self.fail(path, f"must be a list of names, not {_kind(value)}")
            return []
        return [str(v) for v in value]

    def lab(self) -> Topology:
        top = self.mapping(self.src.data, "", _LAB_KEYS + self.extra_keys)
        if not isinstance(self.src.data, dict):
            raise TopologyError(self.problems)  # nothing below would make sense
        name = self.name_override or top.get("name")
        if name is None:
            name = Path(self.src.file).stem
        if not isinstance(name, str) or not _LAB_NAME.match(name):
            self.fail(
                "name",
                f"lab name {name!r} must be lowercase letters, digits and '-', "
                "at most 40 characters",
            )
            name = "invalid"
        number_length = self.integer(top.get("number_length", 9), "number_length", 1, 20) or 9
        networks = self.networks(top.get("networks"))
        defaults = self.options(
            self.mapping(top.get("defaults"), "defaults", _DEFAULT_KEYS),
            "defaults",
            _BUILTIN_DEFAULTS,
        )
        subnet = self.subnet(self.subnet_override or top.get("subnet") or default_subnet(name))
        raw_nodes = top.get("nodes")
        if not isinstance(raw_nodes, dict) or not raw_nodes:
            self.fail("nodes", "a lab needs a mapping of at least one node")
            raw_nodes = {}
        if subnet is not None and subnet.num_addresses - 12 < len(raw_nodes):
            self.fail(
                "subnet",
                f"{subnet} is too small for {len(raw_nodes)} nodes "
                f"(nodes start at the 10th address; use a larger subnet)",
            )
            subnet = None
        names = [str(n) for n in raw_nodes]
        for node_name in names:
            if not _NAME.match(node_name):
                self.fail(
                    join("nodes", node_name),
                    f"node name '{node_name}' must start with a "
                    "lowercase letter and use only a-z, 0-9 and '-' (30 characters at most)",
                )
        explicit = self.explicit_peers(raw_nodes, names, networks)
        nodes = [
            self.node(
                name_,
                index,
                raw_nodes[name_],
                defaults,
                networks,
                names,
                subnet,
                number_length,
                explicit,
            )
            for index, name_ in enumerate(names)
        ]
        self.unique(nodes, "ip", "address")
        self.unique(nodes, "eid", "entity ID")
        if self.problems:
            raise TopologyError(sorted(self.problems, key=lambda p: p.line or 0))
        return Topology(
            name=name,
            description=str(top.get("description", "")),
            source=self.src.file,
            subnet=str(subnet),
            number_length=number_length,
            networks=tuple(networks),
            nodes=tuple(n for n in nodes if n is not None),
            subnet_fixed=bool(self.subnet_override or top.get("subnet")),
            _source=self.src,
            _extra_keys=self.extra_keys,
        )

    def networks(self, value: Any) -> list[str]:
        if value is None:
            self.fail("networks", "list the DUNDi networks of the lab, e.g. [network1]")
            return []
        names = self.string_list(value, "networks")
        for i, net in enumerate(names):
            if not re.match(r"^[a-z][a-z0-9_-]{0,39}$", net):
                self.fail(
                    join("networks", i),
                    f"network name '{net}' must be lowercase letters, digits, '_' or '-'",
                )
        return names

    def subnet(self, value: Any) -> ipaddress.IPv4Network | None:
        try:
            net = ipaddress.IPv4Network(str(value))
        except ValueError:
            self.fail("subnet", f"'{value}' is not an IPv4 subnet like 10.77.5.0/24")
            return None
        if not net.is_private or net.prefixlen > 28:
            self.fail("subnet", f"'{value}' must be a private IPv4 subnet of /28 or larger")
            return None
        return net

    def options(self, raw: dict[str, Any], path: str, base: dict[str, Any]) -> dict[str, Any]:
        result = dict(base)
        for key, value in raw.items():
            where = join(path, key)
            if key in _OPTION_BOUNDS:
                result[key] = self.integer(value, where, *_OPTION_BOUNDS[key])
            elif key == "autokill":
                result[key] = self.boolean(value, where)
            elif key == "version":
                result[key] = self.choice(value, where, VERSIONS)
        return result

    def explicit_peers(
        self, raw_nodes: dict[Any, Any], names: list[str], networks: list[str]
    ) -> dict[tuple[str, str], tuple[Peer, bool, str]]:
        """Every peer entry as written: (node, peer) → (side, mirror it?, path)."""
        found: dict[tuple[str, str], tuple[Peer, bool, str]] = {}
        for name in names:
            raw = raw_nodes[name] if isinstance(raw_nodes[name], dict) else {}
            if "import" in raw:
                for peer in self.imported_peers(name, raw, names):
                    found[(name, peer.peer)] = (peer, True, join(join("nodes", name), "import"))
                continue
            peers = raw.get("peers") or []
            base = join(join("nodes", name), "peers")
            if not isinstance(peers, list):
                self.fail(base, f"must be a list of peer names or mappings, not {_kind(peers)}")
                continue
            for i, entry in enumerate(peers):
                parsed = self.peer(entry, join(base, i), name, names, networks)
                if parsed is None:
                    continue
                peer, mirror = parsed
                if (name, peer.peer) in found:
                    self.fail(join(base, i), f"'{peer.peer}' is listed twice as a peer of '{name}'")
                    continue
                found[(name, peer.peer)] = (peer, mirror, join(base, i))
        return found

    def imported_peers(self, name: str, raw: dict[str, Any], names: list[str]) -> list[Peer]:
        """The peers an imported node's own dundi.conf declares, mapped to lab nodes."""
        path = join(join("nodes", name), "import")
        if "peers" in raw:
            self.fail(
                join(join("nodes", name), "peers"),
                "an imported node's peers come from "
                "its dundi.conf: map them under import.peers (entity ID: node)",
            )
        spec = self.mapping(raw["import"], path, _IMPORT_KEYS)
        member = self.member(name, spec, path)
        if member is None:
            return []
        mapping = spec.get("peers") or {}
        if not isinstance(mapping, dict):
            self.fail(join(path, "peers"), "must map the member's peer entity IDs to lab nodes")
            return []
        known = {p.eid: p for p in member.peers}
        result = []
        for eid, node in mapping.items():
            where = join(join(path, "peers"), str(eid))
            if str(eid).lower() not in known:
                listed = ", ".join(known) or "none"
                self.fail(
                    where, f"no peer [{eid}] in {member.dir / 'dundi.conf'} (its peers: {listed})"
                )
            elif str(node) not in names or str(node) == name:
                self.fail(
                    where,
                    f"'{node}' is not another node of the lab "
                    f"(known: {', '.join(n for n in names if n != name)})",
                )
            else:
                p = known[str(eid).lower()]
                model = p.model if p.model in MODELS else "symmetric"
                result.append(
                    Peer(
                        peer=str(node),
                        model=model,
                        include=p.include,
                        permit=p.permit,
                        qualify=p.qualify,
                        order=p.order if p.order in ORDERS else "primary",
                    )
                )
        return result

    def member(self, name: str, spec: dict[str, Any], path: str) -> members.Member | None:
        if name in self.members:
            return self.members[name]
        if "dir" not in spec:
            self.fail(
                path, "an import needs 'dir: FOLDER' (with dundi.conf, iax.conf, extensions.conf)"
            )
            return None
        written = Path(str(spec["dir"]))
        if written.is_absolute() or ".." in written.parts:
            self.fail(
                join(path, "dir"),
                f"'{written}' must be a folder below the topology "
                "file's folder (so bundles and lab copies can carry it)",
            )
            return None
        folder = (Path(self.src.file).parent / written).resolve()
        try:
            member = members.read_member(folder)
        except OSError as exc:
            self.fail(join(path, "dir"), f"cannot read the member's configs: {exc}")
            return None
        self.members[name] = member
        return member

    def peer(
        self, entry: Any, path: str, owner: str, names: list[str], networks: list[str]
    ) -> tuple[Peer, bool] | None:
        raw = {"node": entry} if isinstance(entry, str) else self.mapping(entry, path, _PEER_KEYS)
        target = raw.get("node")
        if target is None:
            self.fail(path, "a peer needs 'node: NAME'")
            return None
        target = str(target)
        if target not in names:
            self.fail(
                path if isinstance(entry, str) else join(path, "node"),
                f"unknown node '{target}' (known: {', '.join(names)})",
            )
            return None
        if target == owner:
            self.fail(path, f"node '{owner}' cannot peer with itself")
            return None
        model = self.choice(raw.get("model", "symmetric"), join(path, "model"), MODELS)
        model = model or "symmetric"
        lists = {}
        for key in ("include", "permit"):
            lists[key] = self.string_list(raw.get(key, networks), join(path, key))
            for i, net in enumerate(lists[key]):
                if net not in networks:
                    self.fail(
                        join(join(path, key), i),
                        f"unknown network '{net}' (known: {', '.join(networks)})",
                    )
        if model == "inbound":
            lists["include"] = []
        if model == "outbound":
            lists["permit"] = []
        qualify = self.boolean(raw.get("qualify", True), join(path, "qualify"))
        order = self.choice(raw.get("order", "primary"), join(path, "order"), ORDERS)
        mirror = self.boolean(raw.get("mirror", True), join(path, "mirror"))
        inkey = str(raw.get("inkey", ""))
        if inkey and inkey not in names:
            self.fail(
                join(path, "inkey"),
                f"unknown node '{inkey}' (known: {', '.join(names)}): "
                "inkey names the node whose public key to expect",
            )
            inkey = ""
        return Peer(
            peer=target,
            model=model,
            include=tuple(lists["include"]),
            permit=tuple(lists["permit"]),
            qualify=bool(qualify),
            order=order or "primary",
            inkey=inkey if inkey != target else "",
        ), bool(mirror)

    def node(
        self,
        name: str,
        index: int,
        raw_value: Any,
        defaults: dict[str, Any],
        networks: list[str],
        names: list[str],
        subnet: ipaddress.IPv4Network | None,
        number_length: int,
        explicit: dict[tuple[str, str], tuple[Peer, bool, str]],
    ) -> Node | None:
        path = join("nodes", name)
        raw = self.mapping(raw_value, path, _NODE_KEYS)
        opts = self.options({k: v for k, v in raw.items() if k in _DEFAULT_KEYS}, path, defaults)
        ip = self.address(raw.get("ip"), join(path, "ip"), index, subnet)
        member = self.members.get(name)
        default_eid = (
            member.entityid if member and member.entityid else (f"02:00:00:00:00:{index + 1:02x}")
        )
        eid = str(raw.get("eid", default_eid))
        if not _EID.match(eid.lower()):
            self.fail(join(path, "eid"), f"'{eid}' is not an entity ID like 02:00:00:00:00:0a")
        eid = eid.lower()
        serves = self.serves(raw.get("serves"), join(path, "serves"), networks, number_length)
        imported = None
        if member is not None:
            spec = raw["import"]
            imported = Imported(
                dir=str(member.dir),
                written=str(spec["dir"]),
                peers=tuple((str(k).lower(), str(v)) for k, v in (spec.get("peers") or {}).items()),
            )
            for net, _ctx, _weight in member.mappings:
                if net not in networks:
                    self.fail(
                        join(path, "import"),
                        f"the member's [mappings] name network "
                        f"'{net}', which is not a lab network (add it to networks:)",
                    )
            if not serves:
                serves = [
                    Service(network=net, patterns=patterns)
                    for net, patterns in member.serves
                    if patterns and net in networks
                ]
        peers = []
        for (owner, _target), (peer, _mirror, _where) in explicit.items():
            if owner == name:
                peers.append(peer)
        for (owner, target), (peer, mirror, _where) in explicit.items():
            if target == name and mirror and (name, owner) not in explicit:
                peers.append(_mirrored(peer, owner))
        return Node(
            name=name,
            index=index,
            ip=ip,
            eid=eid,
            version=opts["version"] or "22",
            ttl=opts["ttl"] or 0,
            cachetime=opts["cachetime"] or 0,
            autokill=bool(opts["autokill"]),
            serves=tuple(serves),
            peers=tuple(sorted(peers, key=lambda p: names.index(p.peer))),
            imported=imported,
        )

    def address(
        self, value: Any, path: str, index: int, subnet: ipaddress.IPv4Network | None
    ) -> str:
        """The node's address; "" when it cannot be known (the subnet is invalid)."""
        if subnet is None:
            return ""
        if value is None:
            return str(subnet.network_address + 10 + index)
        try:
            ip = ipaddress.IPv4Address(str(value))
        except ValueError:
            self.fail(path, f"'{value}' is not an IPv4 address")
            return ""
        first, last = subnet.network_address + 2, subnet.broadcast_address - 1
        if not first <= ip <= last:
            self.fail(
                path,
                f"'{ip}' is not a usable address of the lab's subnet (valid: {first} to {last})",
            )
        return str(ip)

    def serves(
        self, value: Any, path: str, networks: list[str], number_length: int
    ) -> list[Service]:
        if value is None:
            return []
        if not isinstance(value, dict):
            self.fail(path, f"must map network names to patterns, not {_kind(value)}")
            return []
        services = []
        for net, spec in value.items():
            where = join(path, str(net))
            if net not in networks:
                self.fail(where, f"unknown network '{net}' (known: {', '.join(networks)})")
                continue
            weight = 0
            if isinstance(spec, dict):
                spec = self.mapping(spec, where, _SERVE_KEYS)
                weight = self.integer(spec.get("weight", 0), join(where, "weight"), 0, 59999) or 0
                where = join(where, "patterns")
                spec = spec.get("patterns")
            patterns = self.string_list(spec, where)
            for i, pattern in enumerate(patterns):
                self.pattern(pattern, join(where, i), number_length)
            services.append(Service(network=str(net), patterns=tuple(patterns), weight=weight))
        return services

    def pattern(self, pattern: str, path: str, number_length: int) -> None:
        if not _PATTERN.match(pattern):
            self.fail(
                path,
                f"'{pattern}' is not a dialplan pattern (valid: digits, or '_' "
                "followed by digits, X, Z, N, [1-5] and an optional final '.' or '!')",
            )
            return
        low, high = pattern_lengths(pattern)
        if not low <= number_length <= (high if high is not None else number_length):
            size = f"{low}-digit" if low == high else f"{low}+-digit"
            self.fail(
                path,
                f"'{pattern}' matches {size} numbers, but this lab's numbers have "
                f"{number_length} digits (number_length)",
            )

    def unique(self, nodes: list[Node | None], attr: str, label: str) -> None:
        seen: dict[str, str] = {}
        for node in nodes:
            if node is None:
                continue
            value = getattr(node, attr)
            if not value:
                continue
            if value in seen:
                self.fail(
                    join(join("nodes", node.name), attr),
                    f"{label} {value} is already used by node '{seen[value]}'",
                )
            seen[value] = node.name


_BUILTIN_DEFAULTS: dict[str, Any] = {"ttl": 32, "cachetime": 5, "autokill": True, "version": "22"}


def _mirrored(peer: Peer, owner: str) -> Peer:
    """The other side of an edge written on one side only."""
    model = {"outbound": "inbound", "inbound": "outbound"}.get(peer.model, "symmetric")
    return Peer(
        peer=owner,
        model=model,
        include=peer.permit if model != "inbound" else (),
        permit=peer.include if model != "outbound" else (),
        qualify=peer.qualify,
        order="primary",
    )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"'{value}'"
