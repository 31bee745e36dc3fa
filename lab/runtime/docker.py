"""The Docker backend: the only module that imports `docker`.

Docker's exceptions become LabRuntimeError here. Nothing is printed; callers get progress
through callbacks. Every object created carries the label `dundi-lab=<lab>` and teardown
removes by that label. Nodes see their files through bind mounts, so the engine must run on
this machine (or see the same folders).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import docker
import docker.errors
import requests
from docker.types import IPAMConfig, IPAMPool

from lab.errors import LabRuntimeError, NodeDied, StaleNetworkWarning
from lab.runtime.protocol import (
    ENGINE_LABEL,
    LABEL,
    NODE_LABEL,
    ROOT_LABEL,
    ContainerSpec,
    EngineInfo,
    ExecResult,
    LabRecord,
    Mount,
    NetworkSpec,
    Progress,
    SubnetTaken,
    container_name,
)

__all__ = ["DockerBackend"]

Filters = dict[str, str | list[str] | bool]


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


def _lines(stream: Iterator[bytes]) -> Iterator[str]:
    buffer = b""
    for chunk in stream:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode("utf-8", "replace")
    if buffer:
        yield buffer.decode("utf-8", "replace")


class DockerBackend:
    """One Docker engine, reached as `docker` itself is (DOCKER_HOST, or the local socket)."""

    name = "docker"

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = base_url

    # ---- where nodes run: one engine runs them all ----------------------------------

    def place(self, specs: Sequence[ContainerSpec]) -> list[ContainerSpec]:
        return list(specs)

    def settings(self, lab: str) -> dict[str, object]:
        return {"base_url": self.base_url} if self.base_url else {}

    def info(self) -> EngineInfo:
        """This engine and its place in a swarm."""
        with _docker("cannot ask the Docker engine about itself"):
            info = self.client.info()
        swarm = info.get("Swarm") or {}
        return EngineInfo(
            name=str(info.get("Name", "")),
            swarm=str(swarm.get("LocalNodeState", "inactive")),
            node_id=str(swarm.get("NodeID", "")),
            manager=bool(swarm.get("ControlAvailable")),
            local=not self.base_url or self.base_url.startswith("unix://"),
        )

    def swarm_nodes(self) -> dict[str, str]:
        """The nodes of the swarm this engine manages: id → state (ready, down, …)."""
        with _docker("cannot list the swarm's nodes"):
            return {
                str(n.id): str((n.attrs.get("Status") or {}).get("State", ""))
                for n in self.client.nodes.list()
            }

    @cached_property
    def client(self) -> docker.DockerClient:
        try:
            client = (
                docker.DockerClient(base_url=self.base_url, timeout=120)
                if self.base_url
                else docker.from_env(timeout=120)
            )
            client.ping()
        except docker.errors.DockerException as exc:
            raise LabRuntimeError(f"cannot reach the Docker engine: {exc}") from None
        return client

    # ---- images ----------------------------------------------------------------

    def image_labels(self, ref: str) -> dict[str, str] | None:
        try:
            image = self.client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            raise LabRuntimeError(f"cannot inspect image {ref}: {exc.explanation}") from None
        return dict(image.labels or {})

    def image_size(self, ref: str) -> int:
        with _docker(f"cannot inspect image {ref}"):
            return int(self.client.images.get(ref).attrs["Size"])

    def import_image(
        self, tarball: Path, ref: str, *, labels: Mapping[str, str], command: Sequence[str]
    ) -> None:
        repository, tag = ref.rsplit(":", 1)
        changes = [f"CMD {json.dumps(list(command))}"]
        changes += [f"LABEL {key}={json.dumps(value)}" for key, value in labels.items()]
        with _docker(f"cannot import image {ref}"):
            self.client.api.import_image_from_file(
                str(tarball), repository=repository, tag=tag, changes=changes
            )

    def save_image(self, ref: str) -> Iterator[bytes]:
        """The image as the tar stream `docker save` writes, in chunks."""
        with _docker(f"cannot save image {ref}"):
            yield from self.client.images.get(ref).save(chunk_size=1 << 20, named=ref)

    def load_image(self, chunks: Iterable[bytes]) -> None:
        """Load a tar stream `save_image` gave (of this engine or another)."""
        with _docker("cannot load an image"):
            for message in self.client.api.load_image(chunks):  # type: ignore[no-untyped-call]
                if isinstance(message, dict) and message.get("error"):
                    raise LabRuntimeError(f"cannot load an image: {message['error']}")

    def remove_image(self, ref: str) -> None:
        try:
            self.client.images.remove(ref, force=True)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            raise LabRuntimeError(f"cannot remove image {ref}: {exc.explanation}") from None

    def run_once(
        self,
        ref: str,
        mounts: Sequence[Mount],
        ready: Sequence[str],
        argv: Sequence[str],
        *,
        timeout: float = 60,
    ) -> str:
        """Start `ref` with no network, wait until `ready` exits 0, run `argv`, remove it."""
        with _docker(f"cannot run image {ref}"):
            container = self.client.containers.run(
                ref,
                detach=True,
                init=True,
                network_mode="none",
                labels={LABEL: "smoke-check"},
                volumes=_volumes(mounts),
            )
        try:
            deadline = time.monotonic() + timeout
            while True:
                container.reload()
                if container.status != "running":
                    log = _text(container.logs(tail=30))
                    raise LabRuntimeError(f"image {ref} stopped while booting:\n{log}")
                if container.exec_run(list(ready)).exit_code == 0:
                    break
                if time.monotonic() > deadline:
                    raise LabRuntimeError(f"image {ref} did not boot within {timeout:.0f} s")
                time.sleep(0.1)
            return _text(container.exec_run(list(argv)).output)
        finally:
            container.remove(force=True)

    # ---- networks ------------------------------------------------------------

    def used_subnets(self) -> list[str]:
        found = []
        with _docker("cannot list networks"):
            for network in self.client.networks.list():
                for pool in (network.attrs.get("IPAM") or {}).get("Config") or []:
                    if pool.get("Subnet"):
                        found.append(str(pool["Subnet"]))
        return found

    def create_network(self, spec: NetworkSpec, *, overlay: bool = False) -> str:
        """An internal network (no route out of the lab): a bridge on this engine, or with
        `overlay` an attachable overlay across its swarm (this engine must manage it)."""
        if spec.encrypted and not overlay:
            raise LabRuntimeError(
                "only an overlay network (lab up --engine swarm) can be encrypted"
            )
        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=spec.subnet)])
        labels = {LABEL: spec.lab, ENGINE_LABEL: self.name, **spec.labels}
        driver = {"driver": "overlay", "attachable": True} if overlay else {"driver": "bridge"}
        options = {"encrypted": ""} if spec.encrypted else None
        try:
            self.client.networks.create(
                spec.name, ipam=ipam, internal=True, labels=labels, options=options, **driver
            )
        except docker.errors.APIError as exc:
            reason = exc.explanation or str(exc)
            kind = SubnetTaken if "overlap" in str(reason).lower() else LabRuntimeError
            raise kind(
                f"cannot create network {spec.name} with subnet {spec.subnet}: {reason}"
            ) from None
        return spec.name

    # ---- containers ----------------------------------------------------------

    def start(self, specs: Sequence[ContainerSpec], progress: Progress) -> None:
        """Create and start every container in parallel, each held at its barrier."""
        for spec in specs:
            if spec.hold is not None:
                spec.hold.touch()
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(specs)))) as pool:
            for spec, _ in zip(specs, pool.map(self._create, specs), strict=True):
                progress(f"started {spec.node} ({spec.ip})")

    def release(self, specs: Sequence[ContainerSpec]) -> None:
        for spec in specs:
            if spec.hold is not None:
                spec.hold.unlink(missing_ok=True)

    def _create(self, spec: ContainerSpec) -> None:
        api = self.client.api
        binds: dict[str, Mapping[str, str]] = dict(_volumes(spec.mounts))
        host_config = api.create_host_config(binds=binds, init=True, cap_add=list(spec.cap_add))
        endpoint = api.create_endpoint_config(
            ipv4_address=spec.ip, aliases=list(spec.aliases) or None
        )
        # (the stubs say one EndpointConfig; Docker takes a mapping network → config)
        networking = api.create_networking_config({spec.network: endpoint})  # type: ignore[arg-type]
        labels = {LABEL: spec.lab, NODE_LABEL: spec.node, **spec.labels}
        with _docker(f"cannot create node {spec.node}"):
            created = api.create_container(
                spec.image,
                command=list(spec.command),
                name=spec.name,
                hostname=spec.node,
                host_config=host_config,
                networking_config=networking,
                labels=labels,
            )
            api.start(created["Id"])

    def _container(self, lab: str, node: str) -> Any:
        return self.client.containers.get(container_name(lab, node))

    def exec(self, lab: str, node: str, argv: Sequence[str]) -> ExecResult:
        with _docker(f"cannot run a command on node {node}"):
            container = self._container(lab, node)
            if container.status != "running":
                raise NodeDied(node, self._tail(container))
            result = container.exec_run(list(argv), demux=False)
        return ExecResult(int(result.exit_code or 0), _text(result.output))

    def exec_stream(self, lab: str, node: str, argv: Sequence[str]) -> socket.socket:
        """Run `argv` in a node with its standard input and output joined to the socket
        returned (through the engine's API: no address of the node is needed). Closing the
        socket closes the program's input."""
        with _docker(f"cannot run a command on node {node}"):
            container = self._container(lab, node)
            if container.status != "running":
                raise NodeDied(node, self._tail(container))
            api = self.client.api
            made = api.exec_create(container.id, list(argv), stdin=True, stderr=False, tty=False)
            raw = api.exec_start(made["Id"], socket=True)
        remote: socket.socket = getattr(raw, "_sock", None) or raw  # type: ignore[assignment]
        remote.settimeout(None)
        mine, theirs = socket.socketpair()
        for pump in (_from_exec, _to_exec):
            threading.Thread(target=pump, args=(remote, theirs), daemon=True).start()
        return mine

    def _tail(self, container: Any, lines: int = 30) -> str:
        try:
            return _text(container.logs(tail=lines))
        except docker.errors.DockerException:
            return "(no log: the container is gone)"

    def logs(
        self, lab: str, node: str, *, follow: bool = False, tail: int | Literal["all"] = "all"
    ) -> Iterator[str]:
        with _docker(f"cannot read the log of node {node}"):
            stream = self._container(lab, node).logs(stream=True, follow=follow, tail=tail)
            yield from _lines(stream)

    def log_has(self, lab: str, node: str, text: str, tail: int = 400) -> bool:
        try:
            return text in _text(self._container(lab, node).logs(tail=tail))
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            raise LabRuntimeError(
                f"cannot read the log of node {node}: {exc.explanation}"
            ) from None

    def _summaries(self, selector: Filters, what: str) -> list[dict[str, Any]]:
        """Containers as one listing call gives them (no inspect of each, so one that is
        removed meanwhile does not fail the listing)."""
        with _docker(what):
            return list(self.client.api.containers(all=True, filters=selector))

    def states(self, lab: str) -> dict[str, str]:
        """Each node's container state ('running', 'exited', 'created', …), by node name."""
        found = self._summaries({"label": f"{LABEL}={lab}"}, f"cannot list the nodes of {lab}")
        return {
            str(c["Labels"][NODE_LABEL]): str(c["State"])
            for c in found
            if NODE_LABEL in (c.get("Labels") or {})
        }

    def stop(self, lab: str, node: str) -> None:
        with _docker(f"cannot stop node {node}"):
            self._container(lab, node).stop(timeout=2)

    def start_node(self, lab: str, node: str) -> None:
        with _docker(f"cannot start node {node}"):
            self._container(lab, node).start()

    def remove_node(self, lab: str, node: str) -> None:
        """Remove a node's container, whatever its state; nothing to do when it is gone."""
        try:
            self.client.api.remove_container(container_name(lab, node), force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            raise LabRuntimeError(f"cannot remove node {node}: {exc.explanation}") from None

    # ---- labs ------------------------------------------------------------------

    def labs(self) -> dict[str, LabRecord]:
        """Labs with anything left in the engine (a lab whose containers are gone but whose
        network is not has 0 containers)."""
        found: dict[str, dict[str, Any]] = {}
        with _docker("cannot list labs"):
            for network in self.client.networks.list(filters={"label": LABEL}):
                labels = network.attrs.get("Labels") or {}
                entry = found.setdefault(str(labels.get(LABEL, "")), _empty())
                entry["networks"] += 1
                entry["root"] = str(labels.get(ROOT_LABEL, "")) or entry["root"]
                entry["engine"] = str(labels.get(ENGINE_LABEL, "")) or entry["engine"]
        for container in self._summaries({"label": LABEL}, "cannot list labs"):
            labels = container.get("Labels") or {}
            entry = found.setdefault(str(labels.get(LABEL, "")), _empty())
            entry["containers"] += 1
            entry["root"] = entry["root"] or str(labels.get(ROOT_LABEL, ""))
        return {
            name: LabRecord(name=name, **entry)
            for name, entry in found.items()
            if name and name not in ("image", "smoke-check")
        }

    def remove_lab(self, lab: str) -> tuple[int, int]:
        """Remove every container, network and volume labelled with `lab`; idempotent."""
        containers = self.remove_containers(lab)
        return containers, self.remove_networks(lab)

    def remove_containers(self, lab: str) -> int:
        """Remove every container and volume labelled with `lab`; how many containers."""
        selector: Filters = {"label": f"{LABEL}={lab}"}
        containers = [c["Id"] for c in self._summaries(selector, f"cannot remove lab {lab}")]
        with _docker(f"cannot remove lab {lab}"):
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(self._remove_by_id, containers))
            for volume in self.client.volumes.list(filters=selector):
                volume.remove(force=True)
        return len(containers)

    def remove_networks(self, lab: str) -> int:
        """Remove every network labelled with `lab`; how many."""
        with _docker(f"cannot remove the network of lab {lab}"):
            networks = self.client.networks.list(filters={"label": f"{LABEL}={lab}"})
            return sum(_remove_network(network) for network in networks)

    def _remove_by_id(self, container_id: str) -> None:
        """Kill, wait for the exit, then remove (as `docker compose down` stops before it
        removes): dockerd releases the container's network endpoint when it sees the exit,
        not also inside a forced removal racing with that; lab networks have been left
        counting endpoints of removed containers (moby#42119)."""
        api = self.client.api
        with contextlib.suppress(docker.errors.NotFound):
            with contextlib.suppress(docker.errors.APIError, requests.RequestException):
                api.kill(container_id)  # APIError: not running, nothing to kill
                api.wait(container_id, timeout=10)  # RequestException: no exit in 10 s
            api.remove_container(container_id, force=True, v=True)

    # ---- inside a node ---------------------------------------------------------

    def netns_pid(self, lab: str, node: str) -> int | None:
        """Host PID of a node's main process (its /proc/PID/ns/net is the node's network
        namespace); None when the node is absent or not running."""
        try:
            container = self._container(lab, node)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise LabRuntimeError(f"cannot inspect node {node}: {exc.explanation}") from None
        state = container.attrs.get("State") or {}
        pid = int(state.get("Pid") or 0)
        return pid if state.get("Running") and pid > 0 else None

    def connect(self, lab: str, node: str, ip: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to a node: the host holds the lab network's gateway address."""
        try:
            return socket.create_connection((ip, port), timeout=timeout)
        except OSError as exc:
            raise LabRuntimeError(f"cannot connect to node {node} at {ip}:{port}: {exc}") from None


def _from_exec(remote: socket.socket, local: socket.socket) -> None:
    """Copy a program's standard output (Docker frames it: 8-byte headers, stream 1 is
    stdout) from the engine's socket to the local one; close it when the program ends."""
    stream = remote.makefile("rb")
    try:
        while len(header := stream.read(8)) == 8:
            kind, size = struct.unpack(">BxxxL", header)
            payload = stream.read(size)
            if kind == 1:
                local.sendall(payload)
    except OSError:
        pass
    finally:
        _end_writing(local)
        local.close()
        remote.close()


def _to_exec(remote: socket.socket, local: socket.socket) -> None:
    """Copy what is written to the local socket to the program's standard input; at its
    end, close that input (the program sees end of file)."""
    try:
        while chunk := local.recv(65536):
            remote.sendall(chunk)
    except OSError:
        pass
    finally:
        _end_writing(remote)


def _end_writing(sock: socket.socket) -> None:
    """Tell the far end no more is coming (it reads end of file)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def _empty() -> dict[str, Any]:
    return {"root": "", "engine": "", "containers": 0, "networks": 0}


def _volumes(mounts: Sequence[Mount]) -> dict[str, dict[str, str]]:
    return {
        str(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in mounts
    }


def _remove_network(network: Any, attempts: int = 40) -> bool:
    """Remove a network (True) or say why it stays (a StaleNetworkWarning, False); dockerd
    can still hold endpoints of just-removed containers (seen with 50 nodes), so detach
    what is left and try again for up to ~10 s."""
    for attempt in range(attempts):
        try:
            network.remove()
            return True
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc):
                raise
            if attempt == attempts - 1:
                network.reload()
                if network.containers:
                    raise
                # the lab is down; failing here would only fail whatever comes next
                warnings.warn(
                    f"network {network.name} has no container left, yet Docker still counts "
                    "endpoints on it (moby#42119, seen under heavy load); it stays, with its "
                    "subnet, until dockerd restarts",
                    StaleNetworkWarning,
                    stacklevel=2,
                )
                return False
        with contextlib.suppress(docker.errors.APIError):
            network.reload()
            for container in network.containers:
                _remove_container(container)
        time.sleep(0.25)
    return False


def _remove_container(container: Any) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        container.remove(force=True, v=True)
