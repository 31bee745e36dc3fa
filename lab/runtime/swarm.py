"""The swarm backend: one lab over the engines of a Docker Swarm.

Each node is a plain container on the engine chosen for it (round-robin over the engines,
or the topology's `host:`), all on one *attachable overlay* network that the first engine (a
swarm manager) creates. Swarm services are not used: a service cannot pin its tasks'
addresses (moby#24170), and DUNDi peers and mappings name addresses. Each engine is a
`DockerBackend` reached through its own API address; this module imports no SDK.

The host has no address on an overlay, so the lab's control connection to a node goes
through the engine's API: a relay run inside the node (bash's /dev/tcp) joined to the exec's
input and output. Images reach engines that lack them by `save` on the first engine and
`load` on the other, through the API. Nodes still see their files through bind mounts, so
every engine must see the lab's folder at the same path (engines on this machine, or a
shared file system).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Literal, TypeVar

from lab.errors import LabRuntimeError
from lab.runtime.docker import DockerBackend
from lab.runtime.protocol import (
    HOST_LABEL,
    ContainerSpec,
    ExecResult,
    LabRecord,
    Mount,
    NetworkSpec,
    Progress,
)

__all__ = ["SwarmBackend", "parse_hosts"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
# Joins the program's input and output to a TCP connection made inside the node: $1 is the
# address, $2 the port. When the input ends, so does the connection.
_RELAY = 'exec 3<>"/dev/tcp/$1/$2" || exit 1; cat <&3 & cat >&3; kill $! 2>/dev/null'

T = TypeVar("T")


def parse_hosts(hosts: str | Sequence[str]) -> list[tuple[str, str]]:
    """`--hosts` as (name, engine address) pairs: `NAME=URL` or `URL` (named after the
    engine's host name), comma-separated or as a list; nothing means this machine's engine."""
    items = hosts.split(",") if isinstance(hosts, str) else list(hosts)
    pairs = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        name, sep, url = item.partition("=")
        if not sep:
            name, url = "", item
        if name and not _NAME.match(name):
            raise LabRuntimeError(
                f"--hosts: {name!r} is not a host name (letters, digits, '.', '_', '-')"
            )
        pairs.append((name, url))
    return pairs or [("", "")]


class SwarmBackend:
    """The engines of one swarm, the first of them a manager."""

    name = "swarm"

    def __init__(
        self,
        hosts: str | Sequence[str] = (),
        placement: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._wanted = parse_hosts(hosts)
        # lab → node → engine name; recorded in the lab's state, learnt again when missing
        self._where: dict[str, dict[str, str]] = {
            lab: dict(nodes) for lab, nodes in (placement or {}).items()
        }
        self._lock = threading.Lock()

    # ---- the engines ---------------------------------------------------------------

    @cached_property
    def engines(self) -> dict[str, DockerBackend]:
        """Every engine by name, the manager first; LabRuntimeError saying what to do when
        one is not part of the first one's swarm."""
        found: dict[str, DockerBackend] = {}
        infos = []
        for name, url in self._wanted:
            engine = DockerBackend(url or None)
            info = engine.info()
            name = name or info.name
            shown = url or "this machine's engine"
            if info.swarm != "active":
                raise LabRuntimeError(
                    f"engine {name} ({shown}) is not in a swarm (state {info.swarm}): run "
                    "`docker swarm init` on the first engine and `docker swarm join` on the others"
                )
            if name in found:
                raise LabRuntimeError(
                    f"two engines are called {name}: name them in --hosts (NAME=URL,…)"
                )
            found[name] = engine
            infos.append((name, info))
        first, info = infos[0]
        if not info.manager:
            raise LabRuntimeError(
                f"the first engine of --hosts ({first}) must be a swarm manager: "
                "it creates the lab's overlay network"
            )
        members = found[first].swarm_nodes()
        for name, other in infos[1:]:
            if other.node_id not in members:
                raise LabRuntimeError(
                    f"engine {name} is in another swarm than {first} "
                    f"(known there: {len(members)} nodes)"
                )
        return found

    @property
    def manager(self) -> DockerBackend:
        return next(iter(self.engines.values()))

    def hosts(self) -> list[str]:
        """The engines' names, the manager first."""
        return list(self.engines)

    def place(self, specs: Sequence[ContainerSpec]) -> list[ContainerSpec]:
        """Each spec on its pinned engine, the others round-robin over all engines."""
        names = self.hosts()
        unknown = sorted({s.placement for s in specs if s.placement and s.placement not in names})
        if unknown:
            pinned = [f"{s.node}→{s.placement}" for s in specs if s.placement in unknown]
            raise LabRuntimeError(
                f"no engine {', '.join(unknown)} in this swarm for {', '.join(pinned)} "
                f"(engines: {', '.join(names)}; name them with --hosts NAME=URL,…)"
            )
        turn = itertools.cycle(names)
        placed = [
            s if s.placement else dataclasses.replace(s, placement=self._known(s) or next(turn))
            for s in specs
        ]
        placed = [
            dataclasses.replace(s, labels={**s.labels, HOST_LABEL: s.placement}) for s in placed
        ]
        with self._lock:
            for spec in placed:
                self._where.setdefault(spec.lab, {})[spec.node] = spec.placement
        return placed

    def _known(self, spec: ContainerSpec) -> str:
        """The engine a node of a lab was placed on before (a node made again goes back)."""
        return self._where.get(spec.lab, {}).get(spec.node, "")

    def settings(self, lab: str) -> dict[str, object]:
        return {
            "hosts": [
                f"{name}={url}" for name, (_, url) in zip(self.engines, self._wanted, strict=True)
            ],
            "placement": {lab: dict(self._where.get(lab, {}))},
        }

    def placement(self, lab: str) -> dict[str, str]:
        """Which engine runs each node of `lab`."""
        return dict(self._where.get(lab, {}))

    def _engine_of(self, lab: str, node: str) -> DockerBackend:
        where = self._where.get(lab, {}).get(node)
        if where is None:  # not recorded: ask every engine
            for name, engine in self.engines.items():
                if node in engine.states(lab):
                    where = name
                    with self._lock:
                        self._where.setdefault(lab, {})[node] = name
                    break
        if where is None or where not in self.engines:
            raise LabRuntimeError(f"node {node} of lab {lab} is on no engine of this swarm")
        return self.engines[where]

    def _each(self, work: Callable[[DockerBackend], T]) -> list[T]:
        engines = list(self.engines.values())
        with ThreadPoolExecutor(max_workers=len(engines)) as pool:
            return list(pool.map(work, engines))

    # ---- images: built on the manager, delivered where needed -----------------------

    def image_labels(self, ref: str) -> dict[str, str] | None:
        return self.manager.image_labels(ref)

    def image_size(self, ref: str) -> int:
        return self.manager.image_size(ref)

    def import_image(
        self, tarball: Path, ref: str, *, labels: Mapping[str, str], command: Sequence[str]
    ) -> None:
        self.manager.import_image(tarball, ref, labels=labels, command=command)

    def remove_image(self, ref: str) -> None:
        self._each(lambda engine: engine.remove_image(ref))

    def run_once(self, ref: str, mounts: Sequence[Mount], ready: Sequence[str],
                 argv: Sequence[str], *, timeout: float = 60) -> str:  # fmt: skip
        return self.manager.run_once(ref, mounts, ready, argv, timeout=timeout)

    def deliver_image(
        self, ref: str, engines: Sequence[str] = (), progress: Progress = lambda _: None
    ) -> None:
        """Copy image `ref` from the manager to every engine in `engines` (default: all)
        that lacks it or has another build under the same name."""
        engines = engines or self.hosts()
        wanted = self.manager.image_labels(ref)
        if wanted is None:
            raise LabRuntimeError(f"image {ref} is not on the first engine ({self.hosts()[0]})")

        def one(name: str) -> None:
            engine = self.engines[name]
            if engine is self.manager or engine.image_labels(ref) == wanted:
                return
            started = time.monotonic()
            engine.load_image(self.manager.save_image(ref))
            if engine.image_labels(ref) != wanted:
                raise LabRuntimeError(f"image {ref} did not arrive on engine {name}")
            progress(f"image {ref} loaded on {name} in {time.monotonic() - started:.0f} s")

        with ThreadPoolExecutor(max_workers=max(1, len(engines))) as pool:
            list(pool.map(one, engines))

    # ---- the overlay ------------------------------------------------------------------

    def used_subnets(self) -> list[str]:
        return sorted({s for found in self._each(DockerBackend.used_subnets) for s in found})

    def create_network(self, spec: NetworkSpec) -> str:
        return self.manager.create_network(spec, overlay=True)

    # ---- containers ---------------------------------------------------------------------

    def start(self, specs: Sequence[ContainerSpec], progress: Progress) -> None:
        """Create each spec's container on its engine (placing unplaced ones first), every
        engine at once."""
        placed = self.place(specs) if any(not s.placement for s in specs) else list(specs)
        groups: dict[str, list[ContainerSpec]] = {}
        for spec in placed:
            groups.setdefault(spec.placement, []).append(spec)
        for ref in sorted({s.image for s in placed}):
            self.deliver_image(ref, sorted(groups), progress)
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            jobs = [
                pool.submit(self.engines[name].start, group, progress)
                for name, group in groups.items()
            ]
            for job in jobs:
                job.result()

    def release(self, specs: Sequence[ContainerSpec]) -> None:
        for spec in specs:
            if spec.hold is not None:
                spec.hold.unlink(missing_ok=True)

    def exec(self, lab: str, node: str, argv: Sequence[str]) -> ExecResult:
        return self._engine_of(lab, node).exec(lab, node, argv)

    def logs(
        self, lab: str, node: str, *, follow: bool = False, tail: int | Literal["all"] = "all"
    ) -> Iterator[str]:
        yield from self._engine_of(lab, node).logs(lab, node, follow=follow, tail=tail)

    def log_has(self, lab: str, node: str, text: str, tail: int = 400) -> bool:
        return self._engine_of(lab, node).log_has(lab, node, text, tail)

    def states(self, lab: str) -> dict[str, str]:
        merged: dict[str, str] = {}
        for found in self._each(lambda engine: engine.states(lab)):
            merged.update(found)
        return merged

    def stop(self, lab: str, node: str) -> None:
        self._engine_of(lab, node).stop(lab, node)

    def start_node(self, lab: str, node: str) -> None:
        self._engine_of(lab, node).start_node(lab, node)

    def remove_node(self, lab: str, node: str) -> None:
        """Remove a node's container wherever it is; nothing to do when it is gone."""
        where = self._where.get(lab, {}).get(node)
        if where in self.engines:
            self.engines[where].remove_node(lab, node)
            return
        self._each(lambda engine: engine.remove_node(lab, node))

    # ---- labs ---------------------------------------------------------------------------

    def labs(self) -> dict[str, LabRecord]:
        """Labs with anything left on any engine: containers counted over all engines."""
        merged: dict[str, LabRecord] = {}
        for found in self._each(DockerBackend.labs):
            for name, record in found.items():
                seen = merged.get(name)
                if seen is None:
                    merged[name] = record
                    continue
                merged[name] = dataclasses.replace(
                    seen,
                    root=seen.root or record.root,
                    engine=seen.engine or record.engine,
                    containers=seen.containers + record.containers,
                    networks=max(seen.networks, record.networks),
                )
        return merged

    def remove_lab(self, lab: str) -> tuple[int, int]:
        """Every engine's containers of `lab`, then its overlay (on the manager); the swarm
        itself stays as it is."""
        containers = sum(self._each(lambda engine: engine.remove_containers(lab)))
        networks = self.manager.remove_networks(lab)
        with self._lock:
            self._where.pop(lab, None)
        return containers, networks

    # ---- inside a node ------------------------------------------------------------------

    def netns_pid(self, lab: str, node: str) -> int | None:
        """The node's PID where its engine runs on this machine; None elsewhere (or when it
        is not running)."""
        engine = self._engine_of(lab, node)
        return engine.netns_pid(lab, node) if engine.info().local else None

    def connect(self, lab: str, node: str, ip: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to a node's `ip`:`port`, made inside the node and carried by its
        engine's API (the host has no address on the overlay)."""
        engine = self._engine_of(lab, node)
        return engine.exec_stream(lab, node, ["bash", "-c", _RELAY, "relay", ip, str(port)])
