"""What the lab needs of a container engine, as a protocol.

`Lab` and the pipeline talk to a `Backend`, never to an engine's SDK: Docker is the first
implementation (`lab.runtime.docker`), a swarm of Docker engines the second, and unit tests
drive `Lab` against a fake. Backends are registered by name (`register`, `backend`), as
containerlab registers its runtimes.

A backend knows containers, networks, images and labels; it knows nothing of Asterisk. What
runs in a node (command, mounts, readiness) comes in a `ContainerSpec` built by
`lab.asterisk.node`.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from lab.errors import LabRuntimeError

__all__ = [
    "LABEL",
    "NODE_LABEL",
    "ROOT_LABEL",
    "Backend",
    "ContainerSpec",
    "EngineInfo",
    "ExecResult",
    "LabRecord",
    "Mount",
    "NetworkSpec",
    "SubnetTaken",
    "backend",
    "container_name",
    "network_name",
    "register",
]

# Every container, network and volume of a lab carries LABEL=<lab>; teardown removes by it.
LABEL = "dundi-lab"
NODE_LABEL = "dundi-lab.node"
# Where the lab's files live on the host, so any folder can find a running lab.
ROOT_LABEL = "dundi-lab.root"
ENGINE_LABEL = "dundi-lab.engine"
# Which engine of a cluster runs a node (a swarm lab's containers carry it).
HOST_LABEL = "dundi-lab.host"

Progress = Callable[[str], None]


def container_name(lab: str, node: str) -> str:
    return f"dundi-lab-{lab}-{node}"


def network_name(lab: str) -> str:
    return f"dundi-lab-{lab}"


@dataclass(frozen=True)
class Mount:
    """A host folder a container sees at `target`."""

    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    """One node's container: what runs, where, which host folders it sees.

    `hold` is the start barrier: a file (in one of the mounted folders) whose presence keeps
    the node's program waiting; the backend creates it before the container starts and
    removes it in `release`, so every node starts its program within a moment of the others.
    """

    lab: str
    node: str
    image: str
    command: tuple[str, ...]
    network: str
    ip: str
    mounts: tuple[Mount, ...]
    aliases: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ("NET_ADMIN",)
    hold: Path | None = None
    placement: str = ""  # which engine of a cluster runs it ("" = the backend's choice)
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return container_name(self.lab, self.node)


@dataclass(frozen=True)
class NetworkSpec:
    """The lab's one network: every node reaches every other node by address."""

    lab: str
    subnet: str
    labels: Mapping[str, str] = field(default_factory=dict)
    encrypted: bool = False

    @property
    def name(self) -> str:
        return network_name(self.lab)


@dataclass(frozen=True)
class ExecResult:
    """What a command run inside a node returned."""

    code: int
    output: str


@dataclass(frozen=True)
class LabRecord:
    """A lab as the engine knows it, from its labels."""

    name: str
    root: str  # the host folder of its files ("" when unknown)
    engine: str
    containers: int
    networks: int


@dataclass(frozen=True)
class EngineInfo:
    """One engine as its own `docker info` describes it, for joining it to a cluster."""

    name: str  # its host name
    swarm: str  # its swarm state: inactive, pending, active, error, locked
    node_id: str  # its id in the swarm ("" outside one)
    manager: bool  # it can create swarm-scoped (overlay) networks
    local: bool  # it runs on this machine: its containers' PIDs are this machine's


class SubnetTaken(LabRuntimeError):
    """Another network already uses (part of) the subnet."""


class Backend(Protocol):
    """A container engine the lab runs on."""

    name: str

    # images
    def image_labels(self, ref: str) -> dict[str, str] | None: ...
    def image_size(self, ref: str) -> int: ...
    def import_image(
        self, tarball: Path, ref: str, *, labels: Mapping[str, str], command: Sequence[str]
    ) -> None: ...
    def remove_image(self, ref: str) -> None: ...
    def run_once(self, ref: str, mounts: Sequence[Mount], ready: Sequence[str],
                 argv: Sequence[str], *, timeout: float = 60) -> str: ...  # fmt: skip

    # where nodes run: `place` says which engine runs each spec (before anything is
    # written, so the lab's state records it); `settings` is what recreates this backend
    # for the lab later (`backend(name, **settings)`)
    def place(self, specs: Sequence[ContainerSpec]) -> list[ContainerSpec]: ...
    def settings(self, lab: str) -> dict[str, object]: ...

    # networks
    def used_subnets(self) -> list[str]: ...
    def create_network(self, spec: NetworkSpec) -> str: ...

    # containers
    def start(self, specs: Sequence[ContainerSpec], progress: Progress) -> None: ...
    def release(self, specs: Sequence[ContainerSpec]) -> None: ...
    def exec(self, lab: str, node: str, argv: Sequence[str]) -> ExecResult: ...
    def logs(
        self, lab: str, node: str, *, follow: bool = False, tail: int | Literal["all"] = "all"
    ) -> Iterator[str]: ...
    def log_has(self, lab: str, node: str, text: str, tail: int = 400) -> bool: ...
    def states(self, lab: str) -> dict[str, str]: ...
    def stop(self, lab: str, node: str) -> None: ...
    def start_node(self, lab: str, node: str) -> None: ...
    def remove_node(self, lab: str, node: str) -> None: ...

    # labs
    def labs(self) -> dict[str, LabRecord]: ...
    def remove_lab(self, lab: str) -> tuple[int, int]: ...

    # reaching inside a node: its network namespace (capture, control connections)
    def netns_pid(self, lab: str, node: str) -> int | None: ...
    def connect(self, lab: str, node: str, ip: str, port: int, timeout: float) -> socket.socket: ...


# The built-in backends, loaded on first use (the Docker SDK is not imported before then).
_BUILTIN = {
    "docker": "lab.runtime.docker:DockerBackend",
    "swarm": "lab.runtime.swarm:SwarmBackend",
}
_BACKENDS: dict[str, Callable[..., Backend]] = {}


def register(name: str, factory: Callable[..., Backend]) -> None:
    """Make a backend available under `name` (`lab up --engine NAME`)."""
    _BACKENDS[name] = factory


def backend(name: str = "docker", **options: object) -> Backend:
    """A backend by name; LabRuntimeError naming the known ones if there is none."""
    if name not in _BACKENDS and name in _BUILTIN:
        module, _, attr = _BUILTIN[name].partition(":")
        register(name, getattr(importlib.import_module(module), attr))
    if name not in _BACKENDS:
        known = ", ".join(sorted({*_BACKENDS, *_BUILTIN}))
        raise LabRuntimeError(f"no engine '{name}' (known: {known})")
    return _BACKENDS[name](**options)
