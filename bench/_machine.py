"""The machine: Docker through its CLI (the floor), where the CPU goes, memory, load and git."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import runtime
from lab.core.running import Lab
from lab.errors import LabError
from lab.runtime import backend

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "bench-floor"  # label value of the bare containers and their network
FLOOR_NET = f"dundi-lab-{FLOOR}"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---- Docker through its CLI (the floor) ---------------------------------------


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"docker {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


def free_subnet() -> str:
    """A /24 in 10.78.0.0/16 (outside the labs' 10.77/16) that no Docker network holds."""
    used = [ipaddress.IPv4Network(s) for s in backend().used_subnets()]
    for octet in range(256):
        candidate = ipaddress.IPv4Network(f"10.78.{octet}.0/24")
        if not any(candidate.overlaps(u) for u in used):
            return str(candidate)
    raise LabError("no free /24 in 10.78.0.0/16 for the floor network")


def floor_up(count: int, image: str, folder: Path) -> float:
    """Start `count` bare containers the way the Docker backend does: same image,
    init, capability, read-only binds, fixed address on an internal bridge, 8 at a time."""
    subnet = ipaddress.IPv4Network(free_subnet())
    etc, keydir = folder / "etc", folder / "keys"
    etc.mkdir(parents=True, exist_ok=True)
    keydir.mkdir(parents=True, exist_ok=True)
    label = f"{runtime.LABEL}={FLOOR}"
    hosts = list(subnet.hosts())

    def one(i: int) -> None:
        node = f"f{i:02d}"
        flags = f"-d --init --cap-add=NET_ADMIN --name={FLOOR_NET}-{node} --hostname={node}"
        flags += f" --network={FLOOR_NET} --ip={hosts[10 + i]} --label={label}"
        mounts = [
            f"--volume={etc}:/etc/asterisk:ro",
            f"--volume={keydir}:/var/lib/asterisk/keys:ro",
        ]
        docker("run", *flags.split(), *mounts, image, "sleep", "infinity")

    started = time.perf_counter()
    flags = f"--driver=bridge --internal --subnet={subnet} --label={label}"
    docker("network", "create", *flags.split(), FLOOR_NET)
    with ThreadPoolExecutor(max_workers=min(8, count)) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - started


def floor_down() -> float:
    """Remove the bare containers and their network the way the Docker backend does."""
    label = f"label={runtime.LABEL}={FLOOR}"
    started = time.perf_counter()
    ids = docker("ps", "-aq", "--filter", label).split()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda c: docker("rm", "-f", "-v", c), ids))
    for network in docker("network", "ls", "-q", "--filter", label).split():
        docker("network", "rm", network)
    return time.perf_counter() - started


# ---- where the CPU goes -------------------------------------------------------


CPUACCT = Path("/sys/fs/cgroup/cpuacct/docker")  # cgroup v1, cgroupfs driver (this host)
DAEMONS, EXECS, FUSE, SHIMS, DOCKER, HOST = (
    "asterisk daemons",
    "commands exec'd in nodes",
    "fuse-overlayfs",
    "containerd-shim + runc",
    "dockerd + containerd",
    "host, all processes",
)

CPU_PARTS = (DAEMONS, EXECS, FUSE, SHIMS, DOCKER)


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the host since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass(frozen=True)
class CpuScope:
    """The host processes and cgroups that work for one lab's containers."""

    ids: tuple[str, ...] = ()
    uppers: tuple[str, ...] = ()

    @classmethod
    def of(cls, lab: Lab) -> CpuScope:
        names = [runtime.container_name(lab.name, n.name) for n in lab.topology.nodes]
        fields = "{{.Id}} {{.GraphDriver.Data.UpperDir}}"
        rows = [line.split() for line in docker("inspect", "--format", fields, *names).splitlines()]
        return cls(tuple(r[0] for r in rows if r), tuple(r[1] for r in rows if len(r) > 1))

    def snapshot(self) -> dict[str, float]:
        """CPU seconds used so far, by part. A process that exited counts in its parent:
        runc in its shim, and so does every exec'd command, because the shim is their
        subreaper; those already count in their node's cgroup, so the shim part is its
        own tree minus them."""
        parts = dict.fromkeys((*CPU_PARTS, HOST), 0.0)
        in_nodes: set[str] = set()
        for cid in self.ids:
            with contextlib.suppress(OSError):
                parts[EXECS] += int((CPUACCT / cid / "cpuacct.usage").read_text()) / 1e9
                in_nodes |= set((CPUACCT / cid / "cgroup.procs").read_text().split())
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
                cmd = (
                    (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
                )
            except OSError:
                continue
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            ticks = [int(v) for v in stat[stat.rindex(")") + 2 :].split()[11:15]]
            own, with_children = sum(ticks[:2]) / CLOCK_TICKS, sum(ticks) / CLOCK_TICKS
            if comm in ("dockerd", "containerd"):
                parts[DOCKER] += with_children
            elif comm.startswith("containerd-shim") and any(c in cmd for c in self.ids):
                parts[SHIMS] += with_children
            elif comm == "fuse-overlayfs" and any(u in cmd for u in self.uppers):
                parts[FUSE] += with_children
            elif proc.name in in_nodes and cmd.startswith("asterisk -f"):
                parts[DAEMONS] += own
        parts[EXECS] -= parts[DAEMONS]  # the cgroup holds both
        parts[SHIMS] = max(0.0, parts[SHIMS] - parts[EXECS])
        parts[HOST] = cpu_times()[0] / CLOCK_TICKS
        return parts


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {part: after[part] - before.get(part, 0.0) for part in after}


def cpu_note(parts: dict[str, float], scale: float = 1.0, unit: str = "") -> str:
    shown = ", ".join(f"{part} {parts[part] * scale:.0f}" for part in CPU_PARTS if parts[part])
    return f"{shown}{unit}; whole host {parts[HOST] * scale:.0f}{unit}"


def cpu_of(scope: CpuScope, action: Callable[[], object], repeat: int = 1) -> dict[str, float]:
    """CPU ms by part per run of `action`."""
    before = scope.snapshot()
    for _ in range(repeat):
        action()
    return {k: v * 1000 / repeat for k, v in cpu_delta(before, scope.snapshot()).items()}


# ---- machine and run facts ----------------------------------------------------


def mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine_state() -> dict[str, Any]:
    names = [n for n in docker("ps", "--format", "{{.Names}}").split() if "-bench-" not in n]
    return {
        "load_avg": Path("/proc/loadavg").read_text().split()[:3],
        "other_containers": len(names),
        "other_labs": sorted({re.sub(r"-[^-]+$", "", n) for n in names}),
    }


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    return done.stdout.strip()
