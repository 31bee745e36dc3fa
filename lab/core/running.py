"""A running lab: probe it, break it, take it down.

    from lab import up

    with up("scenarios/seed-chain.yaml") as lab:
        lab.lookup("555000123", "network1", from_node="a")
        lab.call("a", "555000123")

`lab.start`/`lab.up` run the pipeline (`lab.core.pipeline`) and give a `Lab`; `Lab.attach`
finds a lab that is up from any folder (its containers and network carry the path of its
files). Every
command reaches a node through its control channel (the Asterisk manager) or as an argv
list through the backend; no user text reaches a shell.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab.asterisk import node as asterisk_node
from lab.asterisk import probes
from lab.asterisk.ami import Ami
from lab.asterisk.render import caller_number
from lab.core import faults, readiness
from lab.core.calls import collect as collect_calls
from lab.core.events import Listener, ignore
from lab.core.state import DOWN, UNREGISTERED, LinkState, NodeState
from lab.errors import LabError, LabRuntimeError, NodeDied
from lab.paths import LabPaths
from lab.runtime.protocol import Backend, ExecResult
from lab.runtime.protocol import backend as make_backend
from lab.topology import Node, Topology
from lab.topology.model import from_json

__all__ = ["Lab", "LinkState", "NodeState"]

# How often a lookup whose output cannot be read is asked again before it is an error.
_LOOKUP_TRIES = 3


def _status(peer: probes.PeerState) -> str:
    """pbx_dundi's word for a peer; a dynamic peer that has not registered has no address
    ("(Unspecified)"): pbx_dundi cannot send to it, whatever the status column says."""
    return UNREGISTERED if peer.host == "(Unspecified)" else peer.status


class Lab:
    """A lab whose containers run (or ran) on a backend."""

    def __init__(
        self, topo: Topology, paths: LabPaths, backend: Backend, control_secret: str
    ) -> None:
        self.topology = topo
        self.paths = paths
        self.backend = backend
        self._secret = control_secret
        self._controls: dict[str, Ami] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.topology.name

    # ---- finding and making labs --------------------------------------------------

    @classmethod
    def attach(cls, name: str, *, root: Path | None = None, backend: Backend | None = None) -> Lab:
        """The lab `name` that is up, found from any folder; LabError saying what is up
        otherwise."""
        engine = backend or make_backend()
        record = engine.labs().get(name)
        if backend is None and (record is None or record.engine not in ("", engine.name)):
            elsewhere = cls.elsewhere(name, record.root if record else "", root)
            if elsewhere is not None:
                return elsewhere
        if record is None or not record.containers:
            local = LabPaths.of(name, root)
            up = sorted(n for n, r in engine.labs().items() if r.containers)
            hint = f" (labs up: {', '.join(up)})" if up else " (no lab is up)"
            if local.state_file.exists():
                raise LabError(f"lab '{name}' is not up; its files are in {local.root}{hint}")
            raise LabError(f"no lab named '{name}' is up{hint}")
        paths = LabPaths(name, Path(record.root)) if record.root else LabPaths.of(name, root)
        return cls.from_folder(paths, engine)

    @classmethod
    def elsewhere(cls, name: str, folder: str = "", root: Path | None = None) -> Lab | None:
        """The lab `name` if it is up on an engine other than this machine's (a swarm): its
        state names the engine and where each node runs; None otherwise."""
        paths = LabPaths(name, Path(folder)) if folder else LabPaths.of(name, root)
        try:
            state = json.loads(paths.state_file.read_text(encoding="utf-8"))
            if state.get("engine", "docker") == "docker":
                return None
            lab = cls.from_folder(paths)
            record = lab.backend.labs().get(name)
        except (OSError, ValueError, LabError):
            return None
        return lab if record is not None and record.containers else None

    @classmethod
    def from_folder(cls, paths: LabPaths, backend: Backend | None = None) -> Lab:
        """The lab whose files `lab up` (or `lab render`) wrote in `paths`."""
        try:
            state = json.loads(paths.state_file.read_text(encoding="utf-8"))
            topo = from_json(state["topology"])
            secret = str(state["control_secret"])
            settings = dict(state.get("engine_settings") or {})
            engine = backend or make_backend(str(state.get("engine", "docker")), **settings)
        except OSError as exc:
            raise LabError(f"no lab files in {paths.root} ({exc.strerror})") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise LabError(f"{paths.state_file} is not a state dundi-lab wrote ({exc})") from None
        return cls(topo, paths, engine, secret)

    def down(self) -> tuple[int, int]:
        """Remove the lab's containers and network; safe to call again."""
        self._close_controls()
        return self.backend.remove_lab(self.name)

    # ---- reaching a node ---------------------------------------------------------

    def control(self, node: str) -> Ami:
        """The manager connection to `node` (made on first use, again after a restart)."""
        with self._lock:
            ami = self._controls.get(node)
            if ami is not None and ami.alive:
                return ami
        me = self._node(node)
        sock = self.backend.connect(self.name, node, me.ip, asterisk_node.AMI_PORT, timeout=5)
        ami = Ami.connect(sock, user=asterisk_node.AMI_USER, secret=self._secret, node=node)
        with self._lock:
            self._controls[node] = ami
        return ami

    def cli(self, node: str, command: str, *, timeout: float = 60) -> str:
        """Run one Asterisk CLI command on `node`; LabRuntimeError if Asterisk refuses it
        (unknown command, or its usage text) or the node is not running."""
        self._node(node)
        try:
            accepted, output = self.control(node).command(command, timeout=timeout)
        except LabRuntimeError:
            state = self.backend.states(self.name).get(node, "absent")
            if state != "running":
                raise NodeDied(node, self.log_tail(node)) from None
            self._drop_control(node)
            accepted, output = self.control(node).command(command, timeout=timeout)
        if not accepted:
            raise LabRuntimeError(f"asterisk on {node} refused '{command}': {output.strip()}")
        return output

    def exec(self, node: str, argv: list[str]) -> ExecResult:
        """Run a program inside `node` (an argv list; no shell)."""
        self._node(node)
        return self.backend.exec(self.name, node, argv)

    def log_tail(self, node: str, lines: int = 30) -> str:
        try:
            return "\n".join(list(self.backend.logs(self.name, node, tail=lines)))
        except LabError:
            return "(no log: the container is gone)"

    # ---- probes --------------------------------------------------------------------

    def links(self, node: str) -> list[LinkState]:
        """The node's view of each of its configured peers, as pbx_dundi reports it."""
        me = self._node(node)
        try:
            seen = probes.parse_peers(self.cli(node, "dundi show peers"))
        except probes.Unreadable:
            try:
                seen = probes.parse_peers(self.cli(node, "dundi show peers"))
            except probes.Unreadable as exc:
                raise LabRuntimeError(f"cannot read {node}'s `dundi show peers`: {exc}") from None
        links = []
        for peer in me.peers:
            state = seen.get(self.topology.node(peer.peer).eid)
            links.append(
                LinkState(
                    node=node,
                    peer=peer.peer,
                    status=_status(state) if state else "ABSENT",
                    latency_ms=state.latency_ms if state else None,
                    mutual=self._mutual(node, peer.peer),
                )
            )
        return links

    def status(self) -> list[NodeState]:
        """Every node: its container's state first; for running nodes the Asterisk version
        and each link as pbx_dundi sees it, except that a link to a node that is not
        running is DOWN."""
        states = self.backend.states(self.name)

        def one(node: Node) -> NodeState:
            state = states.get(node.name, "absent")
            if state != "running":
                return NodeState(node, state, "", self._down(node, f"{node.name} is {state}"))
            try:
                version = self.cli(node.name, "core show version").split()[1]
                links = self.links(node.name)
            except (LabError, IndexError):
                held = (self.paths.etc(node.name) / asterisk_node.HOLD_FILE).exists()
                word = "held" if held else "starting"
                detail = (
                    "waiting for `lab up` to release it (starts by itself within 120 s)"
                    if held
                    else "Asterisk is not answering yet"
                )
                why = f"{node.name} is {word}"
                return NodeState(node, word, "", self._down(node, why), detail)
            for i, link in enumerate(links):
                peer_state = states.get(link.peer, "absent")
                if peer_state != "running":
                    links[i] = LinkState(
                        node.name,
                        link.peer,
                        DOWN,
                        None,
                        link.mutual,
                        f"{link.peer} is {peer_state}",
                    )
            return NodeState(node, state, version, tuple(links))

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(one, self.topology.nodes))

    def lookup(
        self, number: str, network: str | None = None, *, from_node: str, bypass: bool = False
    ) -> probes.LookupResult:
        """`dundi lookup` from a node; answers carry the answering entity ID. An output that
        cannot be read is asked again, then an error, never "not found"."""
        self._node(from_node)
        command = probes.show_lookup(number, self._network(network), bypass=bypass)
        for attempt in range(_LOOKUP_TRIES):
            started = time.monotonic()
            output = self.cli(from_node, command)
            wall = (time.monotonic() - started) * 1000
            try:
                return probes.parse_lookup(number, self._network(network), output, wall)
            except probes.Unreadable as exc:
                if attempt == _LOOKUP_TRIES - 1:
                    raise LabRuntimeError(
                        f"the lookup on {from_node} printed what dundi-lab cannot read "
                        f"({exc}); asked {_LOOKUP_TRIES} times"
                    ) from None
        raise AssertionError("unreachable")

    def call(
        self, from_node: str, number: str, network: str | None = None, *, timeout: float = 20
    ) -> probes.CallResult:
        """Place a real IAX2 call through the DUNDi switch and read what the callee sent back."""
        return self.calls(from_node, [number], network, timeout=timeout)[0]

    def calls(
        self,
        from_node: str,
        numbers: list[str],
        network: str | None = None,
        *,
        timeout: float = 30,
    ) -> list[probes.CallResult]:
        """Place one call per number from `from_node`, all at once; their results in order.

        The numbers (digits only, checked first) reach Asterisk as manager actions, queued
        back to back on one connection. Each side of a call plays its node's tones and
        records what it hears into its node's audio folder; the caller writes how the call
        ended there too. Those files are read on the host as they close (or until
        `timeout`), analysed and removed.
        """
        started = time.monotonic()
        self._node(from_node)
        network = self._network(network)
        batch = str(secrets.randbelow(10**8)).zfill(8)
        channels = [probes.call_channel(batch, i, n, network) for i, n in enumerate(numbers)]
        if not channels:
            return []
        control = self.control(from_node)
        for channel in channels:
            queued = control.action("Originate", probes.originate_fields(channel))
            if not queued.ok:
                raise LabRuntimeError(
                    f"{from_node} refused to start a test call: {queued.fields.get('Message', '?')}"
                )
        try:
            return collect_calls(
                self.paths,
                [n.name for n in self.topology.nodes],
                from_node,
                caller_number(self.topology, self.topology.node(from_node)),
                batch,
                numbers,
                deadline=started + timeout,
                started=started,
            )
        finally:
            self.cli(from_node, f"database deltree labcall {batch}")

    def node_for(self, host_or_eid: str) -> Node | None:
        """The lab node with this address or entity ID."""
        return self.topology.node_by_host(host_or_eid) or self.topology.node_by_eid(host_or_eid)

    # ---- nodes and faults ------------------------------------------------------------

    def wait_ready(
        self, timeout: float = 90, on_event: Listener = ignore, *, wait_links: bool = False
    ) -> float:
        """Wait until every node is fully booted and every mutual trust edge is usable
        (`wait_links`: probed and OK, pbx_dundi's first probe 5 s after it loads)."""
        return readiness.wait_ready(self, timeout, on_event, wait_links=wait_links)

    def stop_node(self, node: str) -> None:
        """Stop a node's container (its address stays reserved)."""
        self._node(node)
        self._drop_control(node)
        self.backend.stop(self.name, node)

    def start_node(self, node: str, timeout: float = 60) -> None:
        """Start a stopped node and wait until Asterisk is fully booted."""
        self._node(node)
        self._drop_control(node)
        self.backend.start_node(self.name, node)
        readiness.wait_booted(self, node, time.monotonic() + timeout)

    def restart_node(self, node: str, timeout: float = 60) -> None:
        self.stop_node(node)
        self.start_node(node, timeout)

    def recreate_node(self, node: str, timeout: float = 60) -> None:
        """Remove a node's container (whatever state it is in) and create it again from the
        lab's files, at the same address; wait until Asterisk is fully booted."""
        from lab.asterisk import images

        me = self._node(node)
        self._drop_control(node)
        self.backend.remove_node(self.name, node)
        spec = asterisk_node.container_spec(
            self.topology, me, self.paths, images.image_ref(me.version), self._network_name()
        )
        spec = dataclasses.replace(spec, hold=None)
        self.backend.start([spec], lambda _: None)
        readiness.wait_booted(self, node, time.monotonic() + timeout)

    def partition(
        self,
        first: str,
        second: str,
        *,
        only: str | None = None,
        oneway: bool = False,
        reject: bool = False,
    ) -> None:
        """Cut the traffic between two nodes; both stay up. `only`: "dundi" or "iax2" (default
        all traffic); `oneway`: only what `first` sends is lost; `reject`: refused with ICMP
        port unreachable, as a firewall that rejects, instead of dropped silently."""
        self._filter(faults.cuts(first, second, only=only, oneway=oneway, reject=reject))

    def heal(
        self, first: str, second: str, *, only: str | None = None, oneway: bool = False
    ) -> None:
        """Remove the cuts and losses the lab put between two nodes (narrowed by `only` and
        `oneway` as for `partition`), and a delay made by `impair`."""
        for receiver in (second,) if oneway else (first, second):
            listing = self._iptables(receiver, ["-S", "INPUT"])
            for argv in faults.ours(listing, first, second, only=only, oneway=oneway):
                self._iptables(receiver, argv)
        for node in (first, second):
            qdisc = self.exec(node, ["tc", "qdisc", "show", "dev", "eth0"]).output
            if "qdisc prio 1:" in qdisc:
                self.exec(node, ["tc", "qdisc", "del", "dev", "eth0", "root"])

    def impair(
        self,
        first: str,
        second: str,
        *,
        delay_ms: int = 0,
        jitter_ms: int = 0,
        loss_pct: float = 0,
        only: str | None = None,
        oneway: bool = False,
    ) -> None:
        """Drop `loss_pct` % of the packets between two nodes at random (packet filter, works
        on any kernel) and/or delay them by `delay_ms` ± `jitter_ms` (netem: LabRuntimeError
        naming the kernel's reason where it has none)."""
        if delay_ms or jitter_ms:
            self._delay(first, second, delay_ms, jitter_ms, oneway)
        if loss_pct:
            self._filter(faults.cuts(first, second, only=only, oneway=oneway, loss_pct=loss_pct))

    def _filter(self, cuts: list[faults.Cut]) -> None:
        for cut in cuts:
            rule = cut.rule(self._node(cut.sender).ip)
            listing = self._iptables(cut.receiver, ["-S", "INPUT"])
            if not any(cut.tag() in line for line in listing.splitlines()):
                self._iptables(cut.receiver, ["-A", "INPUT", *rule])

    def _iptables(self, node: str, argv: list[str]) -> str:
        result = self.exec(node, ["iptables", "-w", "5", *argv])
        if result.code != 0:
            raise LabRuntimeError(f"{node}: iptables {' '.join(argv)}: {result.output.strip()}")
        return result.output

    def _delay(self, first: str, second: str, delay_ms: int, jitter_ms: int, oneway: bool) -> None:
        for cut in faults.cuts(first, second, oneway=oneway):  # delayed on the way out
            here, there = cut.sender, cut.receiver
            peer_ip = self._node(there).ip
            tc = ["tc", "qdisc", "replace", "dev", "eth0"]
            for argv in (
                [*tc, "root", "handle", "1:", "prio", "bands", "4", "priomap", *["1"] * 16],
                [*tc, "parent", "1:4", "handle", "40:", "netem", "delay", f"{int(delay_ms)}ms"]
                + ([f"{int(jitter_ms)}ms"] if jitter_ms else []),
                [
                    *["tc", "filter", "add", "dev", "eth0", "protocol", "ip", "parent", "1:0"],
                    *["prio", "4", "u32", "match", "ip", "dst", f"{peer_ip}/32", "flowid", "1:4"],
                ],
            ):
                result = self.exec(here, argv)
                if result.code != 0:
                    self.exec(here, ["tc", "qdisc", "del", "dev", "eth0", "root"])
                    raise LabRuntimeError(f"cannot delay {here}→{there}: {result.output.strip()}")

    # ---- helpers -------------------------------------------------------------------------

    def node(self, node: str) -> Node:
        """The lab's node called `node`; LabError naming the known nodes if there is none."""
        return self._node(node)

    def _node(self, node: str) -> Node:
        try:
            return self.topology.node(node)
        except KeyError:
            known = ", ".join(n.name for n in self.topology.nodes)
            raise LabError(f"no node '{node}' in lab '{self.name}' (known: {known})") from None

    def _network(self, network: str | None) -> str:
        """The named DUNDi network (default: the lab's first); LabError if unknown."""
        if network is None:
            return self.topology.networks[0]
        if network not in self.topology.networks:
            known = ", ".join(self.topology.networks)
            raise LabError(f"no network '{network}' in lab '{self.name}' (known: {known})")
        return network

    def _network_name(self) -> str:
        from lab.runtime.protocol import network_name

        return network_name(self.name)

    def _mutual(self, node: str, peer: str) -> bool:
        return any(p.peer == node for p in self.topology.node(peer).peers)

    def _down(self, node: Node, why: str) -> tuple[LinkState, ...]:
        return tuple(
            LinkState(node.name, p.peer, DOWN, None, self._mutual(node.name, p.peer), why)
            for p in node.peers
        )

    def _drop_control(self, node: str) -> None:
        with self._lock:
            ami = self._controls.pop(node, None)
        if ami is not None:
            ami.close()

    def _close_controls(self) -> None:
        with self._lock:
            controls, self._controls = list(self._controls.values()), {}
        for ami in controls:
            ami.close()
