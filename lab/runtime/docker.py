"""The Docker seam: the only module that imports `docker`.

Docker's exceptions become LabRuntimeError here. Nothing is printed; callers
get progress through callbacks. Every object created carries the label
`dundi-lab=<lab>` and teardown removes by that label.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import docker
import docker.errors
from docker.types import IPAMConfig, IPAMPool

from lab.errors import LabRuntimeError, NodeDied

__all__ = [
    "LABEL",
    "ContainerSpec",
    "create_network",
    "exec_in",
    "image_labels",
    "image_size",
    "import_image",
    "lab_objects",
    "logs",
    "remove_lab",
    "run_once",
    "start",
    "start_containers",
    "state",
    "stop",
]

LABEL = "dundi-lab"
Filters = dict[str, str | list[str] | bool]
NODE_LABEL = "dundi-lab.node"


@dataclass(frozen=True)
class ContainerSpec:
    """One node's container: what runs, where, and which host folders it sees."""

    lab: str
    node: str
    image: str
    network: str
    ip: str
    etc: Path
    keys: Path

    @property
    def name(self) -> str:
        return container_name(self.lab, self.node)


def container_name(lab: str, node: str) -> str:
    return f"dundi-lab-{lab}-{node}"


def network_name(lab: str) -> str:
    return f"dundi-lab-{lab}"


@cache
def _client() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        raise LabRuntimeError(f"cannot reach the Docker engine: {exc}") from None
    return client


@contextlib.contextmanager
def _docker(what: str) -> Iterator[None]:
    """Translate Docker's exceptions into LabRuntimeError for the block it guards."""
    try:
        yield
    except docker.errors.APIError as exc:
        raise LabRuntimeError(f"{what}: {exc.explanation or exc}") from None
    except docker.errors.DockerException as exc:
        raise LabRuntimeError(f"{what}: {exc}") from None


def _text(output: object) -> str:
    """Docker's output bytes as text (no output: empty)."""
    return output.decode("utf-8", "replace") if isinstance(output, bytes) else ""


def image_labels(ref: str) -> dict[str, str] | None:
    """The labels of image `ref`, or None when there is no such image."""
    try:
        image = _client().images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        raise LabRuntimeError(f"cannot inspect image {ref}: {exc.explanation}") from None
    return dict(image.labels or {})


def image_size(ref: str) -> int:
    with _docker(f"cannot inspect image {ref}"):
        return int(_client().images.get(ref).attrs["Size"])


def import_image(tarball: Path, ref: str, *, labels: dict[str, str], command: list[str]) -> None:
    """Turn a root filesystem tarball into image `ref`."""
    import json

    repository, tag = ref.rsplit(":", 1)
    changes = [f"CMD {json.dumps(command)}"]
    changes += [f"LABEL {key}={json.dumps(value)}" for key, value in labels.items()]
    with _docker(f"cannot import image {ref}"):
        _client().api.import_image_from_file(
            str(tarball), repository=repository, tag=tag, changes=changes
        )


def remove_image(ref: str) -> None:
    try:
        _client().images.remove(ref, force=True)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise LabRuntimeError(f"cannot remove image {ref}: {exc.explanation}") from None


class SubnetTaken(LabRuntimeError):
    """Another Docker network already uses (part of) the subnet."""


def used_subnets() -> list[str]:
    """Every IPv4 subnet a Docker network holds now."""
    found = []
    with _docker("cannot list networks"):
        for network in _client().networks.list():
            for pool in (network.attrs.get("IPAM") or {}).get("Config") or []:
                if pool.get("Subnet"):
                    found.append(str(pool["Subnet"]))
    return found


def create_network(lab: str, subnet: str) -> str:
    """An internal bridge network for the lab (no route out of the lab)."""
    name = network_name(lab)
    ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)])
    try:
        _client().networks.create(
            name, driver="bridge", ipam=ipam, internal=True, labels={LABEL: lab}
        )
    except docker.errors.APIError as exc:
        reason = exc.explanation or str(exc)
        kind = SubnetTaken if "overlap" in str(reason).lower() else LabRuntimeError
        raise kind(f"cannot create network {name} with subnet {subnet}: {reason}") from None
    return name


# A node's Asterisk waits while this file is in its /etc/asterisk: `Lab.start` holds every
# node until the last container runs, so no node probes a peer that is not started yet.
HOLD_FILE = ".lab-hold"
_COMMAND = [
    "sh",
    "-c",
    f"while [ -e /etc/asterisk/{HOLD_FILE} ]; do sleep 0.05; done; exec asterisk -f",
]


def _create(spec: ContainerSpec) -> None:
    api = _client().api
    host_config = api.create_host_config(
        binds={
            str(spec.etc): {"bind": "/etc/asterisk", "mode": "ro"},
            str(spec.keys): {"bind": "/var/lib/asterisk/keys", "mode": "ro"},
        },
        init=True,
        cap_add=["NET_ADMIN"],
    )
    networking = api.create_networking_config(
        {spec.network: api.create_endpoint_config(ipv4_address=spec.ip)}  # type: ignore[arg-type]
    )  # (the stubs say one EndpointConfig; Docker takes a mapping network → config)
    with _docker(f"cannot create node {spec.node}"):
        created = api.create_container(
            spec.image,
            command=_COMMAND,
            name=spec.name,
            hostname=spec.node,
            host_config=host_config,
            networking_config=networking,
            labels={LABEL: spec.lab, NODE_LABEL: spec.node},
        )
        api.start(created["Id"])


def start_containers(
    specs: list[ContainerSpec], progress: Callable[[str], None] = lambda _: None
) -> None:
    """Create and start every node's container in parallel."""
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(specs)))) as pool:
        for spec, _ in zip(specs, pool.map(_create, specs), strict=True):
            progress(f"started {spec.node} ({spec.ip})")


def remove_lab(lab: str) -> tuple[int, int]:
    """Remove every container, network and volume labelled with `lab`; idempotent."""
    client = _client()
    selector: Filters = {"label": f"{LABEL}={lab}"}
    with _docker(f"cannot remove lab {lab}"):
        containers = client.containers.list(all=True, filters=selector)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(_remove_container, containers))
        networks = client.networks.list(filters=selector)
        for network in networks:
            _remove_network(network)
        for volume in client.volumes.list(filters=selector):
            volume.remove(force=True)
    return len(containers), len(networks)


def _remove_network(network: Any, attempts: int = 40) -> None:
    """Remove a network; dockerd can still hold endpoints of just-removed containers
    (seen with 50 nodes), so detach what is left and try again for up to ~10 s."""
    for attempt in range(attempts):
        try:
            network.remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc) or attempt == attempts - 1:
                raise
        with contextlib.suppress(docker.errors.APIError):
            network.reload()
            for container in network.containers:
                _remove_container(container)
        time.sleep(0.25)


def _remove_container(container: Any) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        container.remove(force=True, v=True)


def lab_objects(lab: str | None = None) -> dict[str, list[str]]:
    """Names of containers and networks carrying the lab label (any lab if None)."""
    client = _client()
    selector: Filters = {"label": f"{LABEL}={lab}" if lab else LABEL}
    with _docker("cannot list lab objects"):
        return {
            "containers": [str(c.name) for c in client.containers.list(all=True, filters=selector)],
            "networks": [str(n.name) for n in client.networks.list(filters=selector)],
        }


def labs() -> dict[str, int]:
    """Labs with anything left in Docker, by name, with their container counts
    (a lab whose containers are gone but whose network is not counts 0)."""
    found: dict[str, int] = {}
    with _docker("cannot list labs"):
        for network in _client().networks.list(filters={"label": LABEL}):
            found.setdefault(str((network.attrs.get("Labels") or {}).get(LABEL, "")), 0)
        for container in _client().containers.list(all=True, filters={"label": LABEL}):
            name = container.labels.get(LABEL, "")
            found[name] = found.get(name, 0) + 1
    return {name: count for name, count in found.items() if name and name != "image"}


def state(lab: str, node: str) -> str:
    """'running', 'exited', ... or 'absent'."""
    try:
        container = _client().containers.get(container_name(lab, node))
    except docker.errors.NotFound:
        return "absent"
    except docker.errors.APIError as exc:
        raise LabRuntimeError(f"cannot inspect node {node}: {exc.explanation}") from None
    return str(container.status)


def exec_in(lab: str, node: str, argv: list[str]) -> tuple[int, str]:
    """Run `argv` inside a node; returns (exit code, combined output)."""
    with _docker(f"cannot run a command on node {node}"):
        container = _client().containers.get(container_name(lab, node))
        if container.status != "running":
            raise NodeDied(node, tail_log(lab, node))
        result = container.exec_run(argv, demux=False)
    return int(result.exit_code or 0), _text(result.output)


def tail_log(lab: str, node: str, lines: int = 30) -> str:
    try:
        container = _client().containers.get(container_name(lab, node))
        return _text(container.logs(tail=lines))
    except docker.errors.DockerException:
        return "(no log: the container is gone)"


def log_has(lab: str, node: str, text: str, tail: int = 400) -> bool:
    """Whether the end of a node's log contains `text` (no command runs in the node)."""
    try:
        container = _client().containers.get(container_name(lab, node))
        return text in _text(container.logs(tail=tail))
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        raise LabRuntimeError(f"cannot read the log of node {node}: {exc.explanation}") from None


def logs(
    lab: str, node: str, *, follow: bool = False, tail: int | Literal["all"] = "all"
) -> Iterator[str]:
    """A node's container log, line by line (follows until the node stops)."""
    with _docker(f"cannot read the log of node {node}"):
        container = _client().containers.get(container_name(lab, node))
        stream = container.logs(stream=True, follow=follow, tail=tail)
        buffer = b""
        for chunk in stream:
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield line.decode("utf-8", "replace")
        if buffer:
            yield buffer.decode("utf-8", "replace")


def stop(lab: str, node: str) -> None:
    with _docker(f"cannot stop node {node}"):
        _client().containers.get(container_name(lab, node)).stop(timeout=2)


def start(lab: str, node: str) -> None:
    with _docker(f"cannot start node {node}"):
        _client().containers.get(container_name(lab, node)).start()


def run_once(ref: str, etc: Path, keys: Path, cli_command: str, *, boot_timeout: float = 60) -> str:
    """Boot `ref` with the given config folders, run one CLI command, remove it."""
    client = _client()
    with _docker(f"cannot run image {ref}"):
        container = client.containers.run(
            ref,
            detach=True,
            init=True,
            network_mode="none",
            labels={LABEL: "smoke-check"},
            volumes={
                str(etc): {"bind": "/etc/asterisk", "mode": "ro"},
                str(keys): {"bind": "/var/lib/asterisk/keys", "mode": "ro"},
            },
        )
    try:
        deadline = time.monotonic() + boot_timeout
        while True:
            container.reload()
            if container.status != "running":
                log = bytes(container.logs(tail=30)).decode("utf-8", "replace")
                raise LabRuntimeError(f"image {ref} stopped while booting:\n{log}")
            result = container.exec_run(["asterisk", "-rx", "core waitfullybooted"])
            if result.exit_code == 0:
                break
            if time.monotonic() > deadline:
                raise LabRuntimeError(f"image {ref} did not boot within {boot_timeout:.0f} s")
            time.sleep(0.1)
        result = container.exec_run(["asterisk", "-rx", cli_command])
        return _text(result.output)
    finally:
        container.remove(force=True)


# ---- capture support ----
# For lab/capture.py, which enters a node's network namespace (/proc/<pid>/ns/net).


def container_pid(lab: str, node: str) -> int | None:
    """Host PID of a node's main process; None when the node is absent or not running."""
    try:
        container = _client().containers.get(container_name(lab, node))
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise LabRuntimeError(f"cannot inspect node {node}: {exc.explanation}") from None
    state = container.attrs.get("State") or {}
    pid = int(state.get("Pid") or 0)
    return pid if state.get("Running") and pid > 0 else None
