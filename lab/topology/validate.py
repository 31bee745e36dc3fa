"""Topology file → validated `Topology`: every value's type and range, with defaults.

The whole file is checked before anything else happens; every problem is collected and
reported as `file:line path: what is wrong (valid: …)`, quoting what the user wrote.
Overrides given on the command line (`--name`, `--subnet`) are reported as such, not as a
line of the file. Work is linear in the size of the file. Imported members' folders are read
by `lab.topology.imports`; no raw dict leaves this package.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.errors import Problem, TopologyError
from lab.topology import imports
from lab.topology.model import (
    CODECS,
    EID,
    MODELS,
    ORDERS,
    PRECACHE,
    VERSIONS,
    Imported,
    Node,
    Peer,
    Service,
    Topology,
    address,
    capacity,
    default_eid,
    default_subnet,
    pattern_lengths,
)
from lab.topology.yamlsrc import Located, join, listed, load_located, read_located, shown

__all__ = ["SCENARIO_KEYS", "from_located", "load", "parse"]

# keys a scenario file adds to a topology; the scenario layer validates them
SCENARIO_KEYS = ("steps", "lint")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}\Z")
_LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}\Z")
_NETWORK = re.compile(r"^[a-z][a-z0-9_-]{0,39}\Z")
_PATTERN = re.compile(r"^(_(\[[0-9-]+\]|[0-9XZN])+[.!]?|[0-9]+)\Z")
_OPTION_BOUNDS = {"ttl": (1, 119), "cachetime": (1, 86400)}
ALL = "all"  # dundi.conf's include/permit = all: every network

_LAB_KEYS = ("name", "description", "subnet", "number_length", "networks", "defaults", "nodes")
_DEFAULT_KEYS = ("ttl", "cachetime", "autokill", "version", "codecs")
_NODE_KEYS = ("serves", "peers", "ip", "eid", "host", "description", "import", *_DEFAULT_KEYS)
# an engine's name in a swarm (lab up --engine swarm --hosts NAME=URL,…)
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_PEER_KEYS = (
    "node",
    "model",
    "include",
    "permit",
    "qualify",
    "order",
    "mirror",
    "inkey",
    "precache",
    "register",
    "dynamic",
)
_SERVE_KEYS = ("patterns", "weight")
_BUILTIN_DEFAULTS: dict[str, Any] = {
    "ttl": 32,
    "cachetime": 5,
    "autokill": True,
    "version": "22",
    "codecs": ("ulaw",),
}


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


@dataclass(frozen=True)
class _Edge:
    """A peer entry as written: `owner`'s side of the edge, and whether to mirror it."""

    owner: str
    side: Peer
    mirror: bool


class _Validator:
    """Walks the located data once, collecting problems, then builds the model."""

    def __init__(
        self,
        located: Located,
        name: str | None,
        subnet: str | None,
        extra_keys: tuple[str, ...],
        problems: list[Problem],
    ) -> None:
        self.src = located
        self.extra_keys = extra_keys
        self.problems: list[Problem] = list(located.problems) + problems
        self.name_override = name
        self.subnet_override = subnet

    # ---- type checks -------------------------------------------------------

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
                self.fail(
                    join(path, str(key)), f"unknown key {shown(key)} (valid: {', '.join(keys)})"
                )
        return {k: v for k, v in value.items() if k in keys}

    def integer(self, value: Any, path: str, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            shown_value = self.src.written(path, value) if value is not None else "nothing"
            self.fail(path, f"must be a whole number from {low} to {high}, not {shown_value}")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.fail(path, f"must be yes or no, not {self.src.written(path, value)}")
            return None
        return value

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str | None:
        text = str(value)
        if isinstance(value, (dict, list)) or text not in choices:
            self.fail(
                path,
                f"{self.src.written(path, value)} is not one of the choices "
                f"(valid: {', '.join(choices)})",
            )
            return None
        return text

    def text(self, value: Any, path: str) -> str:
        """A plain string: names, folders, descriptions."""
        if isinstance(value, (dict, list)) or value is None:
            self.fail(path, f"must be text, not {_kind(value)}")
            return ""
        return str(value)

    def string_list(self, value: Any, path: str) -> list[str]:
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            self.fail(path, f"must be a list of names, not {_kind(value)}")
            return []
        return [str(v) for v in value]

    # ---- the lab ------------------------------------------------------------

    def lab(self) -> Topology:
        if not isinstance(self.src.data, dict):
            keys = ", ".join(_LAB_KEYS + self.extra_keys)
            self.fail("", f"must be a mapping with keys {keys}, not {_kind(self.src.data)}")
            raise TopologyError(self.problems)  # nothing below would make sense
        top = self.mapping(self.src.data, "", _LAB_KEYS + self.extra_keys)
        name = self.lab_name(top)
        number_length = self.integer(top.get("number_length", 9), "number_length", 1, 20) or 9
        networks = self.networks(top.get("networks"))
        defaults = self.options(
            self.mapping(top.get("defaults"), "defaults", _DEFAULT_KEYS), "defaults"
        )
        raw_nodes = top.get("nodes")
        if not isinstance(raw_nodes, dict) or not raw_nodes:
            self.fail("nodes", "a lab needs a mapping of at least one node")
            raw_nodes = {}
        names = [str(n) for n in raw_nodes]
        subnet = self.subnet(top, name, len(names))
        for node_name in names:
            if not _NAME.match(node_name):
                self.fail(
                    join("nodes", node_name),
                    f"node name {shown(node_name)} must start with a "
                    "lowercase letter and use only a-z, 0-9 and '-' (30 characters at most)",
                )
        raw = {n: raw_nodes[n] if isinstance(raw_nodes[n], dict) else {} for n in names}
        members = imports.Reader(self, Path(self.src.file).parent, names)
        edges = self.edges(raw, names, networks, members)
        mirrors: dict[str, list[_Edge]] = {}
        for (_owner, target), edge in edges.items():
            if edge.mirror and (target, edge.owner) not in edges:
                mirrors.setdefault(target, []).append(edge)
        own: dict[str, list[Peer]] = {}
        for (owner, _target), edge in edges.items():
            own.setdefault(owner, []).append(edge.side)
        order = {n: i for i, n in enumerate(names)}
        nodes = []
        for index, node_name in enumerate(names):
            peers = own.get(node_name, []) + [
                _mirrored(e.side, e.owner) for e in mirrors.get(node_name, [])
            ]
            nodes.append(
                self.node(
                    node_name,
                    index,
                    raw_nodes[node_name],
                    defaults,
                    networks,
                    subnet,
                    number_length,
                    tuple(sorted(peers, key=lambda p: order[p.peer])),
                    members,
                )
            )
        self.unique(nodes, "ip", "address")
        self.unique(nodes, "eid", "entity ID")
        if self.problems:
            raise TopologyError(sorted(self.problems, key=lambda p: p.line or 0))
        fixed = bool(self.subnet_override or top.get("subnet")) or any(n.ip_fixed for n in nodes)
        return Topology(
            name=name,
            description=self.text(top.get("description", ""), "description"),
            source=self.src.file,
            subnet=str(subnet),
            number_length=number_length,
            networks=tuple(networks),
            nodes=tuple(nodes),
            subnet_fixed=fixed,
        )

    def lab_name(self, top: dict[str, Any]) -> str:
        message = "must be lowercase letters, digits and '-', at most 40 characters"
        if self.name_override is not None:
            if not _LAB_NAME.match(self.name_override):
                self.problems.append(
                    Problem("--name", None, "", f"lab name {shown(self.name_override)} {message}")
                )
                return "invalid"
            return self.name_override
        name = top.get("name", Path(self.src.file).stem)
        if not isinstance(name, str) or not _LAB_NAME.match(name):
            self.fail("name", f"lab name {self.src.written('name', name)} {message}")
            return "invalid"
        return name

    def networks(self, value: Any) -> list[str]:
        if value is None:
            self.fail("networks", "list the DUNDi networks of the lab, e.g. [network1]")
            return []
        names = self.string_list(value, "networks")
        if not names and isinstance(value, list):
            self.fail("networks", "list at least one DUNDi network, e.g. [network1]")
        for i, net in enumerate(names):
            if not _NETWORK.match(net):
                self.fail(
                    join("networks", i),
                    f"network name {shown(net)} must be lowercase letters, digits, '_' or '-'",
                )
        return [net for net in names if _NETWORK.match(net)]

    def subnet(self, top: dict[str, Any], name: str, count: int) -> ipaddress.IPv4Network | None:
        given = self.subnet_override is not None
        value = self.subnet_override if given else top.get("subnet")
        where = "--subnet" if given else "subnet"
        if value is None:
            return ipaddress.IPv4Network(default_subnet(name, count))

        def problem(message: str) -> None:
            if given:
                self.problems.append(Problem("--subnet", None, "", message))
            else:
                self.fail(where, message)

        try:
            net = ipaddress.IPv4Network(str(value))
        except ValueError:
            problem(f"{shown(value)} is not an IPv4 subnet like 10.77.5.0/24")
            return None
        if not net.is_private or net.prefixlen > 28:
            problem(f"{shown(value)} must be a private IPv4 subnet of /28 or larger")
            return None
        if capacity(net) < count:
            problem(
                f"{net} is too small for {count} nodes (nodes start at the 10th address; "
                "use a larger subnet)"
            )
            return None
        return net

    def options(
        self, raw: dict[str, Any], path: str, base: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = dict(base or _BUILTIN_DEFAULTS)
        for key, value in raw.items():
            where = join(path, key)
            if key in _OPTION_BOUNDS:
                result[key] = self.integer(value, where, *_OPTION_BOUNDS[key])
            elif key == "autokill":
                result[key] = self.boolean(value, where)
            elif key == "version":
                result[key] = self.choice(value, where, VERSIONS)
            elif key == "codecs":
                result[key] = self.codecs(value, where)
        return result

    def codecs(self, value: Any, path: str) -> tuple[str, ...]:
        """A codec or a list of them, in the node's order of preference."""
        listed = value if isinstance(value, list) else [value]
        for i, item in enumerate(listed):
            self.choice(item, f"{path}[{i}]" if isinstance(value, list) else path, CODECS)
        if not listed:
            self.fail(path, f"name at least one codec (valid: {', '.join(CODECS)})")
        elif len(set(map(str, listed))) != len(listed):
            self.fail(path, "a codec is listed twice")
        return tuple(str(c) for c in listed if str(c) in CODECS) or ("ulaw",)

    # ---- trust edges -----------------------------------------------------------

    def edges(
        self,
        raw: dict[str, dict[str, Any]],
        names: list[str],
        networks: list[str],
        members: imports.Reader,
    ) -> dict[tuple[str, str], _Edge]:
        """Every peer entry as written, by (owner, peer)."""
        known = set(names)
        found: dict[tuple[str, str], _Edge] = {}
        for name in names:
            node = raw[name]
            if "import" in node:
                if "peers" in node:
                    self.fail(
                        join(join("nodes", name), "peers"),
                        "an imported node's peers come from its dundi.conf: "
                        "map them under import.peers (entity ID: node)",
                    )
                for peer in members.peers(
                    name, node["import"], join(join("nodes", name), "import")
                ):
                    found[(name, peer.peer)] = _Edge(name, peer, True)
                continue
            peers = node.get("peers") or []
            base = join(join("nodes", name), "peers")
            if not isinstance(peers, list):
                self.fail(base, f"must be a list of peer names or mappings, not {_kind(peers)}")
                continue
            for i, entry in enumerate(peers):
                parsed = self.peer(entry, join(base, i), name, names, known, networks)
                if parsed is None:
                    continue
                if (name, parsed.side.peer) in found:
                    self.fail(
                        join(base, i),
                        f"'{parsed.side.peer}' is listed twice as a peer of '{name}'",
                    )
                    continue
                found[(name, parsed.side.peer)] = parsed
        return found

    def peer(
        self,
        entry: Any,
        path: str,
        owner: str,
        names: list[str],
        known: set[str],
        networks: list[str],
    ) -> _Edge | None:
        raw = {"node": entry} if isinstance(entry, str) else self.mapping(entry, path, _PEER_KEYS)
        target = raw.get("node")
        if target is None:
            self.fail(path, "a peer needs 'node: NAME'")
            return None
        target = str(target)
        if target not in known:
            self.fail(
                path if isinstance(entry, str) else join(path, "node"),
                f"unknown node {shown(target)} (known: {listed(names)})",
            )
            return None
        if target == owner:
            self.fail(path, f"node '{owner}' cannot peer with itself")
            return None
        precache = self.choice(raw.get("precache", "none"), join(path, "precache"), PRECACHE)
        # a pusher (precache outbound) must be an outbound peer, a receiver an inbound one:
        # pbx_dundi discards a peer that mixes them
        default_model = {"outbound": "outbound", "inbound": "inbound"}.get(
            precache or "", "symmetric"
        )
        model = self.choice(raw.get("model", default_model), join(path, "model"), MODELS)
        model = model or "symmetric"
        if precache in ("outbound", "inbound") and model != precache:
            self.fail(
                join(path, "precache"),
                f"precache {precache} needs model {precache} (pbx_dundi discards a peer that "
                f"mixes model {model} with precache {precache})",
            )
        lists = {key: self.network_list(raw, key, path, networks) for key in ("include", "permit")}
        # pbx_dundi reads include/permit only where the model (or the precache model) uses
        # them: a pusher sends to peers it permits, a receiver takes pushes it includes
        if model == "inbound" and precache != "inbound":
            lists["include"] = []
        if model == "outbound" and precache != "outbound":
            lists["permit"] = []
        qualify = self.boolean(raw.get("qualify", True), join(path, "qualify"))
        order = self.choice(raw.get("order", "primary"), join(path, "order"), ORDERS)
        mirror = self.boolean(raw.get("mirror", True), join(path, "mirror"))
        register = self.boolean(raw.get("register", False), join(path, "register"))
        dynamic = self.boolean(raw.get("dynamic", False), join(path, "dynamic"))
        if register and dynamic:
            self.fail(
                join(path, "dynamic"),
                "a side cannot both register with its peer and wait for the peer to register",
            )
        inkey = self.text(raw.get("inkey", ""), join(path, "inkey"))
        if inkey and inkey not in known:
            self.fail(
                join(path, "inkey"),
                f"unknown node {shown(inkey)} (known: {listed(names)}): "
                "inkey names the node whose public key to expect",
            )
            inkey = ""
        side = Peer(
            peer=target,
            model=model,
            include=tuple(lists["include"]),
            permit=tuple(lists["permit"]),
            qualify=bool(qualify),
            order=order or "primary",
            inkey=inkey if inkey != target else "",
            precache=precache or "none",
            register=bool(register),
            dynamic=bool(dynamic),
        )
        return _Edge(owner, side, bool(mirror))

    def network_list(
        self, raw: dict[str, Any], key: str, path: str, networks: list[str]
    ) -> list[str]:
        """include/permit: network names, or `all` (pbx_dundi's word for every network)."""
        where = join(path, key)
        names = self.string_list(raw.get(key, networks), where)
        if names == [ALL]:
            return list(networks)
        for i, net in enumerate(names):
            if net not in networks:
                self.fail(
                    join(where, i),
                    f"unknown network {shown(net)} (known: {listed(networks)}, or all)",
                )
        return names

    # ---- a node -------------------------------------------------------------

    def node(
        self,
        name: str,
        index: int,
        raw_value: Any,
        defaults: dict[str, Any],
        networks: list[str],
        subnet: ipaddress.IPv4Network | None,
        number_length: int,
        peers: tuple[Peer, ...],
        members: imports.Reader,
    ) -> Node:
        path = join("nodes", name)
        raw = self.mapping(raw_value, path, _NODE_KEYS)
        opts = self.options({k: v for k, v in raw.items() if k in _DEFAULT_KEYS}, path, defaults)
        ip = self.address(raw.get("ip"), join(path, "ip"), index, subnet)
        member = members.member(name)
        eid = self.eid(raw, path, member.entityid if member else "", index)
        serves = self.serves(raw.get("serves"), join(path, "serves"), networks, number_length)
        imported = None
        if member is not None and "codecs" in raw:
            self.fail(
                join(path, "codecs"),
                "an imported node offers the codecs its own iax.conf allows; edit that file",
            )
        if member is not None:
            spec = raw["import"]
            imported = Imported(
                dir=str(member.dir),
                written=str(spec["dir"]),
                peers=tuple(members.mapping(name)),
                files=member.texts,
            )
            for net, _ctx, _weight in member.mappings:
                if net not in networks:
                    self.fail(
                        join(path, "import"),
                        f"the member's [mappings] name network {shown(net)}, which is not a "
                        "lab network (add it to networks:)",
                    )
            if not serves:
                serves = [
                    Service(network=net, patterns=patterns)
                    for net, patterns in member.serves
                    if patterns and net in networks
                ]
        return Node(
            name=name,
            index=index,
            ip=ip,
            eid=eid,
            version=opts["version"] or "22",
            ttl=opts["ttl"] or 0,
            cachetime=opts["cachetime"] or 0,
            autokill=bool(opts["autokill"]),
            codecs=tuple(opts["codecs"]),
            serves=tuple(serves),
            peers=peers,
            imported=imported,
            ip_fixed=raw.get("ip") is not None,
            host=self.host(raw, path),
        )

    def host(self, raw: dict[str, Any], path: str) -> str:
        """The engine of a swarm that runs the node ("": round-robin)."""
        if "host" not in raw:
            return ""
        what = "an engine name (letters, digits, '.', '_', '-'; as in --hosts NAME=URL)"
        return self.matching(raw, join(path, "host"), "host", _HOST, what)

    def eid(self, raw: dict[str, Any], path: str, member_eid: str, index: int) -> str:
        if "eid" not in raw:
            return (member_eid or default_eid(index)).lower()
        return self.matching(
            raw, join(path, "eid"), "eid", EID, "an entity ID like 02:00:00:00:00:0a", lower=True
        )

    def matching(
        self,
        raw: dict[str, Any],
        path: str,
        key: str,
        pattern: re.Pattern[str],
        what: str,
        *,
        lower: bool = False,
    ) -> str:
        """`raw[key]` as text that `pattern` matches (problem at `path`: it is not `what`)."""
        text = self.text(raw[key], path)
        text = text.lower() if lower else text
        if text and not pattern.match(text):
            self.fail(path, f"{self.src.written(path, raw[key])} is not {what}")
        return text

    def address(
        self, value: Any, path: str, index: int, subnet: ipaddress.IPv4Network | None
    ) -> str:
        """The node's address; "" when it cannot be known (the subnet is invalid)."""
        if subnet is None:
            return ""
        if value is None:
            return address(subnet, index)
        try:
            ip = ipaddress.IPv4Address(str(value))
        except ValueError:
            self.fail(path, f"{self.src.written(path, value)} is not an IPv4 address")
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
                self.fail(where, f"unknown network {shown(net)} (known: {listed(networks)})")
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
                f"{shown(pattern)} is not a dialplan pattern (valid: digits, or '_' "
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

    def unique(self, nodes: list[Node], attr: str, label: str) -> None:
        seen: dict[str, str] = {}
        for node in nodes:
            value = getattr(node, attr)
            if not value:
                continue
            if value in seen:
                self.fail(
                    join(join("nodes", node.name), attr),
                    f"{label} {value} is already used by node '{seen[value]}'",
                )
            seen[value] = node.name


def _mirrored(peer: Peer, owner: str) -> Peer:
    """The other side of an edge written on one side only."""
    model = {"outbound": "inbound", "inbound": "outbound"}.get(peer.model, "symmetric")
    precache = {"outbound": "inbound", "inbound": "outbound"}.get(peer.precache, "none")
    return Peer(
        peer=owner,
        model=model,
        include=peer.permit if model != "inbound" or precache == "inbound" else (),
        permit=peer.include if model != "outbound" or precache == "outbound" else (),
        qualify=peer.qualify,
        order="primary",
        precache=precache,
        register=peer.dynamic,  # it waits for us to register: we register
        dynamic=peer.register,  # it registers with us: we learn its address from that
    )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return shown(value)
