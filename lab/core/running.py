"""A running lab: bring it up, probe it, take it down.

    with Lab.up("scenarios/seed-chain.yaml") as lab:
        lab.lookup("555000123", "network1", from_node="a")
        lab.call("a", "555000123")

Anything that fails or is interrupted while a lab comes up removes what was
created; `down` removes by label and can be run any number of times.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lab import runtime, topology
from lab.asterisk import images, probes, render
from lab.errors import LabError, LabRuntimeError, NodeDied, ReadinessTimeout
from lab.paths import LabPaths
from lab.redact import redact
from lab.topology.validate import Node, Topology

__all__ = ["Lab", "LinkState", "NodeState"]

Progress = Callable[[str], None]
# a node that booted this much before the last one may have probed a peer that was down
EARLY_BOOT_S = 3.0
# links still not OK this long after the last re-probe get another (first probe is at +5 s)
REPROBE_AFTER_S = 9.0


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class LinkState:
    """One side's view of a trust edge."""

    node: str
    peer: str
    status: str
    latency_ms: int | None
    mutual: bool

    @property
    def ok(self) -> bool:
        return self.status.startswith("OK")

    @property
    def usable(self) -> bool:
        """pbx_dundi sends queries over it: the peer answered its last probe in time,
        has not been probed yet (the first probe is 5 s after loading), or is not probed."""
        return self.ok or self.status.startswith(("UNKNOWN", "Unmonitored"))

    def ready(self, settled: bool) -> bool:
        """Usable; when `settled`, also probed (or never probed: qualify=no)."""
        return self.usable and (not settled or not self.status.startswith("UNKNOWN"))


@dataclass(frozen=True)
class NodeState:
    node: Node
    state: str
    asterisk_version: str
    links: tuple[LinkState, ...]


class Lab:
    """A lab whose containers run (or ran) under Docker."""

    def __init__(self, topo: Topology, paths: LabPaths) -> None:
        self.topology = topo
        self.paths = paths

    @property
    def name(self) -> str:
        return self.topology.name

    # ---- lifecycle -------------------------------------------------------

    @classmethod
    def start(
        cls,
        source: Topology | str | Path,
        *,
        name: str | None = None,
        subnet: str | None = None,
        root: Path | None = None,
        ready_timeout: float = 90,
        wait_links: bool = False,
        progress: Progress = _quiet,
    ) -> Lab:
        """Validate, render, start and wait until ready (see `wait_ready`); on any failure
        remove it all."""
        topo = (
            source
            if isinstance(source, Topology)
            else topology.load(source, name=name, subnet=subnet)
        )
        paths = LabPaths.of(topo.name, root)
        if runtime.lab_objects(topo.name)["containers"]:
            raise LabRuntimeError(
                f"a lab named '{topo.name}' is already up; "
                f"take it down first (lab down --name {topo.name})"
            )
        for version in sorted({n.version for n in topo.nodes}):
            result = images.build(version, progress=progress)
            if result.built:
                progress(f"built {result.ref} in {result.seconds:.0f} s")
        lab = cls(topo, paths)
        try:
            topo, network = cls._claim_subnet(topo)
            lab = cls(topo, paths)
            progress(f"network {network} ({topo.subnet})")
            progress(f"rendering configs and keys into {paths.root}")
            for node, changes in render.write_lab(topo, paths).items():
                progress(
                    f"{node}: {len(changes)} lines of the member's files changed for the lab "
                    f"(see {paths.import_report(node)})"
                )
            holds = [paths.etc(n.name) / runtime.HOLD_FILE for n in topo.nodes]
            for hold in holds:
                hold.touch()
            try:
                runtime.start_containers(
                    [
                        runtime.ContainerSpec(
                            lab=topo.name,
                            node=n.name,
                            image=images.image_ref(n.version),
                            network=network,
                            ip=n.ip,
                            etc=paths.etc(n.name),
                            keys=paths.keys(n.name),
                        )
                        for n in topo.nodes
                    ],
                    progress,
                )
            finally:  # every Asterisk starts now, within a second of the others
                for hold in holds:
                    hold.unlink(missing_ok=True)
            lab.wait_ready(ready_timeout, progress, wait_links=wait_links)
        except BaseException as failure:
            try:
                lab.down()
            except LabError as cleanup:  # keep the first error; say what was left
                failure.add_note(f"and cleaning up failed too: {cleanup}")
            raise
        return lab

    @staticmethod
    def _claim_subnet(topo: Topology) -> tuple[Topology, str]:
        """Create the lab network; a subnet the file did not fix moves to a free /24."""
        if topo.subnet_fixed:
            return topo, runtime.create_network(topo.name, topo.subnet)
        first = ipaddress.IPv4Network(topo.subnet)
        for step in range(256):
            octet = (first.network_address.packed[2] + step) % 256
            candidate = f"10.77.{octet}.0/24"
            if step and any(
                ipaddress.IPv4Network(candidate).overlaps(ipaddress.IPv4Network(u))
                for u in runtime.used_subnets()
            ):
                continue
            try:
                moved = topo if step == 0 else topo.with_subnet(candidate)
                return moved, runtime.create_network(moved.name, moved.subnet)
            except runtime.SubnetTaken:
                continue  # another lab took it meanwhile: try the next one
        raise LabRuntimeError(
            "no free /24 in 10.77.0.0/16 for the lab network; "
            "set `subnet:` in the topology or pass --subnet"
        )

    @classmethod
    @contextmanager
    def up(cls, source: Topology | str | Path, **options: object) -> Iterator[Lab]:
        """A lab for the length of a `with` block; always torn down after."""
        lab = cls.start(source, **options)  # type: ignore[arg-type]
        try:
            yield lab
        finally:
            lab.down()

    @classmethod
    def attach(cls, name: str, root: Path | None = None) -> Lab:
        """The lab `name` that `lab up` started earlier."""
        paths = LabPaths.of(name, root)
        if not paths.state_file.exists():
            raise LabError(
                f"no lab named '{name}' here ({paths.state_file} is missing); "
                "start one with `lab up`"
            )
        state = json.loads(paths.state_file.read_text())
        topo = topology.load(paths.topology_file, name=name, subnet=state["subnet"])
        return cls(topo, paths)

    def down(self) -> tuple[int, int]:
        """Remove the lab's containers and network; safe to call again."""
        return runtime.remove_lab(self.name)

    def wait_ready(
        self, timeout: float = 90, progress: Progress = _quiet, *, wait_links: bool = False
    ) -> float:
        """Wait until every node is fully booted and every mutual trust edge is usable:
        pbx_dundi will send queries over it (`LinkState.usable`). With `wait_links`,
        wait until every edge is OK, which takes pbx_dundi's first probe, 5 s after it
        loads."""
        wanted = "OK" if wait_links else "usable"
        started = time.monotonic()
        deadline = started + timeout
        names = [n.name for n in self.topology.nodes]
        with ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
            booted = dict(
                zip(names, pool.map(lambda n: self._wait_booted(n, deadline), names), strict=True)
            )
            progress(f"all {len(names)} nodes booted ({time.monotonic() - started:.1f} s)")
            self._requalify_early(booted, pool, progress)
            kicked = time.monotonic()
            pending = names
            while pending:
                views = dict(zip(pending, pool.map(self.links, pending), strict=True))
                waiting = {
                    node: [
                        f"{node}→{s.peer} {s.status}"
                        for s in links
                        if s.mutual and not s.ready(wait_links)
                    ]
                    for node, links in views.items()
                }
                pending = [node for node, bad in waiting.items() if bad]
                if pending and time.monotonic() > deadline:
                    raise ReadinessTimeout(
                        f"lab '{self.name}': peer links not {wanted} after {timeout:.0f} s: "
                        + ", ".join(x for node in pending for x in waiting[node])
                    )
                if pending and time.monotonic() - kicked > REPROBE_AFTER_S:
                    # a probe lost to a busy peer is retried only 60 s later: ask again
                    progress(f"re-probing peers of {len(pending)} nodes with links not {wanted}")
                    list(pool.map(lambda n: self.cli(n, "module reload pbx_dundi.so"), pending))
                    kicked = time.monotonic()
                if pending:
                    time.sleep(0.5)
        elapsed = time.monotonic() - started
        progress(f"every peer link {wanted} ({elapsed:.1f} s)")
        return elapsed

    def _requalify_early(
        self, booted: dict[str, float], pool: ThreadPoolExecutor, progress: Progress
    ) -> None:
        """Reload DUNDi on nodes that booted well before the last one.

        A node probes its peers 5 s after DUNDi loads. If a peer was not up yet, the
        next probe comes only 60 s later (pbx_dundi schedules it before the first
        one fails), so that link would stay down for a minute. A reload schedules a
        fresh probe 5 s on, when every peer is listening.
        """
        last = max(booted.values())
        early = [node for node, at in booted.items() if last - at > EARLY_BOOT_S]
        if early:
            progress(f"re-probing peers of {len(early)} nodes that booted early")
            list(pool.map(lambda n: self.cli(n, "module reload pbx_dundi.so"), early))

    def _wait_booted(self, node: str, deadline: float) -> float:
        """Poll until Asterisk on `node` is fully booted; when that was seen.

        Reading the log is cheap; a `docker exec` costs ~100 ms of CPU, so the exec
        that confirms the boot runs only once the log says "Asterisk Ready.".
        """
        while True:
            if runtime.state(self.name, node) not in ("running", "created", "restarting"):
                raise NodeDied(node, runtime.tail_log(self.name, node))
            if not runtime.log_has(self.name, node, "Asterisk Ready."):
                if time.monotonic() > deadline:
                    raise ReadinessTimeout(
                        f"node {node} did not boot: {runtime.tail_log(self.name, node)}"
                    )
                time.sleep(0.1)
                continue
            code, _ = runtime.exec_in(self.name, node, ["asterisk", "-rx", "core waitfullybooted"])
            if code == 0:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise ReadinessTimeout(
                    f"node {node} did not boot: {runtime.tail_log(self.name, node)}"
                )
            time.sleep(0.1)

    # ---- faults ----------------------------------------------------------

    def stop_node(self, node: str) -> None:
        """Stop a node's container (its address stays reserved)."""
        self._known(node)
        runtime.stop(self.name, node)

    def start_node(self, node: str, timeout: float = 60) -> None:
        """Start a stopped node and wait until Asterisk is fully booted."""
        self._known(node)
        runtime.start(self.name, node)
        self._wait_booted(node, time.monotonic() + timeout)

    def restart_node(self, node: str, timeout: float = 60) -> None:
        self.stop_node(node)
        self.start_node(node, timeout)

    def partition(self, first: str, second: str) -> None:
        """Cut all traffic between two nodes (both directions); both stay up."""
        self._route_between(first, second, "add")

    def heal(self, first: str, second: str) -> None:
        """Undo `partition`."""
        self._route_between(first, second, "del")

    def _route_between(self, first: str, second: str, verb: str) -> None:
        for here, there in ((first, second), (second, first)):
            self._known(here)
            peer_ip = self.topology.node(there).ip
            code, output = runtime.exec_in(
                self.name, here, ["ip", "route", verb, "blackhole", f"{peer_ip}/32"]
            )
            if code != 0 and not (verb == "del" and "No such process" in output):
                raise LabRuntimeError(f"cannot {verb} the cut {here}→{there}: {output.strip()}")

    def impair(self, first: str, second: str, *, delay_ms: int = 0, loss_pct: float = 0) -> None:
        """Delay and/or drop packets between two nodes (netem); LabRuntimeError if the
        kernel has no netem."""
        for here, there in ((first, second), (second, first)):
            peer_ip = self.topology.node(there).ip
            script = (
                "tc qdisc show dev eth0 | grep -q 'qdisc prio 1:' || "
                "tc qdisc add dev eth0 root handle 1: prio bands 4 priomap "
                "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 && "
                f"tc qdisc replace dev eth0 parent 1:4 handle 40: netem delay {delay_ms}ms "
                f"loss {loss_pct}% && "
                f"tc filter add dev eth0 protocol ip parent 1:0 prio 4 u32 "
                f"match ip dst {peer_ip}/32 flowid 1:4"
            )
            code, output = runtime.exec_in(self.name, here, ["sh", "-c", script])
            if code != 0:
                raise LabRuntimeError(f"cannot impair {here}→{there}: {output.strip()}")

    # ---- probes ----------------------------------------------------------

    def cli(self, node: str, command: str) -> str:
        """Run one Asterisk CLI command on `node` and return its output."""
        self._known(node)
        code, output = runtime.exec_in(self.name, node, ["asterisk", "-rx", command])
        if code != 0 or output.startswith("No such command"):
            raise LabRuntimeError(f"asterisk on {node} refused '{command}': {output.strip()}")
        return output

    def links(self, node: str) -> list[LinkState]:
        """The node's view of each of its configured peers."""
        me = self.topology.node(node)
        seen = probes.parse_peers(self.cli(node, "dundi show peers"))
        result = []
        for peer in me.peers:
            other = self.topology.node(peer.peer)
            state = seen.get(other.eid)
            mutual = any(p.peer == node for p in other.peers)
            result.append(
                LinkState(
                    node=node,
                    peer=peer.peer,
                    status=state.status if state else "ABSENT",
                    latency_ms=state.latency_ms if state else None,
                    mutual=mutual,
                )
            )
        return result

    def lookup(
        self, number: str, network: str | None = None, *, from_node: str, bypass: bool = False
    ) -> probes.LookupResult:
        """`dundi lookup` from a node; answers carry the answering entity ID."""
        self._known(from_node)
        network = self._network(network)
        started = time.monotonic()
        output = self.cli(from_node, probes.show_lookup(number, network, bypass=bypass))
        return probes.parse_lookup(number, network, output, (time.monotonic() - started) * 1000)

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

        Every command is an argv list: the numbers (digits only, checked first) reach
        Asterisk's CLI, never a shell.
        """
        self._known(from_node)
        network = self._network(network)
        batch = str(secrets.randbelow(10**8)).zfill(8)
        commands = [probes.originate(batch, i, n, network) for i, n in enumerate(numbers)]
        if not commands:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(commands))) as pool:
            list(pool.map(lambda command: self.cli(from_node, command), commands))
        deadline = time.monotonic() + timeout
        show = f"database show labcall {batch}"
        while True:
            output = self.cli(from_node, show)
            if probes.ended_calls(output) >= len(numbers) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.cli(from_node, f"database deltree labcall {batch}")
        caller = render.caller_number(self.topology, self.topology.node(from_node))
        return [
            probes.parse_call(number, caller, output, f"{batch}/{i}")
            for i, number in enumerate(numbers)
        ]

    def node_for(self, host_or_eid: str) -> Node | None:
        """The lab node with this address or entity ID."""
        return self.topology.node_by_ip(host_or_eid) or self.topology.node_by_eid(host_or_eid)

    def status(self) -> list[NodeState]:
        """Every node's container state, Asterisk version and peer links."""

        def one(node: Node) -> NodeState:
            state = runtime.state(self.name, node.name)
            version, links = "", tuple[LinkState, ...]()
            if state == "running":
                try:
                    version = self.cli(node.name, "core show version").split()[1]
                    links = tuple(self.links(node.name))
                except (LabRuntimeError, NodeDied, IndexError):
                    state = "starting"
            return NodeState(node=node, state=state, asterisk_version=version, links=links)

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(one, self.topology.nodes))

    def save_artifacts(self, dest: Path | None = None) -> Path:
        """Each node's log, `dundi show peers` and configs (public keys only) into a folder."""
        dest = dest or self.paths.artifacts
        for node in self.topology.nodes:
            folder = dest / node.name
            folder.mkdir(parents=True, exist_ok=True)
            try:
                log = "\n".join(runtime.logs(self.name, node.name))
            except LabError as exc:
                log = f"(no log: {exc})"
            (folder / "asterisk.log").write_text(redact(log) + "\n")
            for command in ("dundi show peers", "dundi show mappings", "iax2 show peers"):
                try:
                    text = self.cli(node.name, command)
                except LabError as exc:
                    text = f"(not available: {exc})"
                (folder / (command.replace(" ", "-") + ".txt")).write_text(redact(text))
            for conf in self.paths.etc(node.name).glob("*.conf"):
                (folder / conf.name).write_bytes(conf.read_bytes())
            for pub in self.paths.keys(node.name).glob("*.pub"):
                (folder / pub.name).write_bytes(pub.read_bytes())
        return dest

    def _network(self, network: str | None) -> str:
        """The named DUNDi network (default: the lab's first); LabError if unknown."""
        if network is None:
            return self.topology.networks[0]
        if network not in self.topology.networks:
            known = ", ".join(self.topology.networks)
            raise LabError(f"no network '{network}' in lab '{self.name}' (known: {known})")
        return network

    def _known(self, node: str) -> None:
        try:
            self.topology.node(node)
        except KeyError:
            known = ", ".join(n.name for n in self.topology.nodes)
            raise LabError(f"no node '{node}' in lab '{self.name}' (known: {known})") from None
