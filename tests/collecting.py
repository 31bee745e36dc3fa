"""Running scripts/dundi-collect inside a lab node, as a member runs it on their server."""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from lab.core.pipeline import start
from lab.core.running import Lab
from lab.observe import reach
from lab.runtime.protocol import container_name
from lab.topology import Topology
from tests.support import ROOT

SCRIPT = ROOT / "scripts/dundi-collect"


@dataclass(frozen=True)
class Run:
    """One run of the collector in a node: its archive (copied out), exit status, output."""

    archive: Path
    status: int
    output: str

    def entries(self) -> dict[str, bytes]:
        """Every file in the archive, by name."""
        with tarfile.open(self.archive) as tar:
            return {
                m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile()
            }

    def unpacked(self) -> bytes:
        """The archive's bytes as gunzip gives them (every name and byte in it)."""
        return gzip.decompress(self.archive.read_bytes())


def collect_in(lab: Lab, node: str, dest: Path, *args: str) -> Run:
    """Copy the collector into `node`, run it with python3 there, copy its archive to
    `dest/<node>.tar.gz`."""
    container = docker.from_env().containers.get(container_name(lab.name, node))
    script = SCRIPT.read_bytes()
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as tar:
        info = tarfile.TarInfo("dundi-collect")
        info.size, info.mode = len(script), 0o755
        tar.addfile(info, io.BytesIO(script))
    container.put_archive("/tmp", payload.getvalue())
    inside = f"/tmp/{node}.tar.gz"
    argv = ["python3", "/tmp/dundi-collect", "--member", node, "--out", inside, "--force", *args]
    result = container.exec_run(argv, workdir="/tmp")
    if result.exit_code in (126, 127):  # the image has no python3
        pytest.fail(
            f"cannot run python3 in node {node}: the Asterisk image needs python3-minimal "
            "(images/asterisk.yaml packages)"
        )
    stream, _ = container.get_archive(inside)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        copied = tar.extractfile(f"{node}.tar.gz")
        assert copied is not None
        dest.mkdir(parents=True, exist_ok=True)
        (dest / f"{node}.tar.gz").write_bytes(copied.read())
    output = result.output if isinstance(result.output, bytes) else b""
    return Run(dest / f"{node}.tar.gz", int(result.exit_code or 0), output.decode())


@dataclass(frozen=True)
class Collected:
    """A lab whose every node ran the collector, with what was known before it ran."""

    lab: Lab
    matrix: reach.Matrix  # who reached whom before collecting
    folder: Path  # the network folder the archives were copied to
    runs: dict[str, Run]
    secrets: dict[str, tuple[str, ...]]  # each node's, read from it before collecting


def node_secrets(lab: Lab, node: str) -> tuple[str, ...]:
    """The node's DUNDi secret(s) (AstDB) and every `secret =` of the iax.conf it runs."""
    dundi = lab.cli(node, "database get dundi secret").split("Value:")[-1].strip().split(";")
    iax = lab.backend.exec(lab.name, node, ["cat", "/etc/asterisk/iax.conf"]).output
    found = (*dundi, *re.findall(r"^\s*secret\s*=\s*(\S+)", iax, re.M))
    assert all(len(s) >= 8 for s in found), found
    return found


@contextmanager
def collected(
    topo: Topology, root: Path, before: Callable[[Lab], object] = lambda _: None
) -> Iterator[Collected]:
    """`topo` up (links probed), its matrix, every node's secrets, then `before(lab)` and
    the collector on every node; the lab is taken down after."""
    lab = start(topo, root=root, wait_links=True)
    try:
        matrix = reach.compute(lab)
        secrets = {n.name: node_secrets(lab, n.name) for n in topo.nodes}
        before(lab)
        runs = {n.name: collect_in(lab, n.name, root / "network") for n in topo.nodes}
        yield Collected(lab, matrix, root / "network", runs, secrets)
    finally:
        lab.down()
