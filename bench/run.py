"""dundi-lab benchmark: how fast the lab comes up, how large it gets, how fast DUNDi answers.

    .venv/bin/python bench/run.py            # default: about 10-15 min on 2 cores
    .venv/bin/python bench/run.py --quick    # 4 and 16 nodes, 1 run each, 10 concurrent calls
    .venv/bin/python bench/run.py --cold     # also time a from-scratch image build (~60 s)

Prints one table (median, min and max of each figure) and writes it, with every sample,
to bench/results/bench-<date>.json, plus bench-<date>.png (up time by node count, lookup
time by hop count) when matplotlib is installed (`pip install -e '.[bench]'`).

The "floor" rows are what Docker alone needs for the same number of containers of the
same image, running `sleep infinity` instead of Asterisk, on a network of the same kind.
They are driven through the `docker` CLI (only lab/runtime.py may import the SDK), which
adds one CLI process per container; the `docker CLI round trip` row says how much.

Everything the bench creates carries the label dundi-lab=<lab> (bare containers:
dundi-lab=bench-floor) and is removed on exit, Ctrl-C included; `lab down --all` finds
anything a killed run left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from rich.console import Console
from rich.table import Table

from lab import generate, images, keys, lifecycle, render, runtime, scenario, topology
from lab.errors import LabError
from lab.lifecycle import Lab
from lab.probes import CallResult

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VERSION = "22"
FLOOR = "bench-floor"  # label value of the bare containers and their network
FLOOR_NET = f"dundi-lab-{FLOOR}"
CHAIN = 7  # nodes in the lookup/call chain: hops 1..6 from its first node
SECTIONS = ("build", "up", "chain", "scenario")
RING50 = Path(__file__).resolve().parent.parent / "scenarios" / "ring-50.yaml"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

log = Console(stderr=True, highlight=False)


# ---- figures -----------------------------------------------------------------


@dataclass
class Figure:
    """One row of the table: every sample of one measure, summarised."""

    section: str
    measure: str
    case: str
    unit: str
    samples: list[float]
    note: str = ""

    def summary(self) -> dict[str, Any]:
        values = self.samples
        return {
            "section": self.section,
            "measure": self.measure,
            "case": self.case,
            "unit": self.unit,
            "runs": len(values),
            "median": statistics.median(values) if values else None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "samples": [round(v, 3) for v in values],
            "note": self.note,
        }


Adder = Callable[..., None]  # (measure, case, unit, samples, note="")


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def adder(self, section: str) -> Adder:
        """`add(measure, case, unit, samples, note="")` for rows of one section."""

        def add(measure: str, case: str, unit: str, samples: list[float], note: str = "") -> None:
            self.figures.append(Figure(section, measure, case, unit, list(samples), note))

        return add


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p50 of 10 values is the 5th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# ---- plan --------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]
    up_runs: dict[int, int]
    lookup_runs: int
    call_runs: int
    concurrency: tuple[int, ...]
    batch_runs: dict[int, int]
    cold: bool
    sections: tuple[str, ...]


def plan_from(args: argparse.Namespace) -> Plan:
    sections = tuple(args.only.split(",")) if args.only else SECTIONS
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(
            f"error: unknown section(s) {', '.join(sorted(unknown))} (valid: {', '.join(SECTIONS)})"
        )
    if args.quick:
        plan = Plan((4, 16), {4: 1, 16: 1}, 1, 1, (10,), {10: 1}, args.cold, sections)
    else:
        plan = Plan(
            (4, 16, 50), {4: 3, 16: 3, 50: 2}, 5, 5, (10, 50), {10: 3, 50: 2}, args.cold, sections
        )
    if args.calls:
        counts = tuple(int(n) for n in args.calls.split(","))
        plan = replace(
            plan, concurrency=counts, batch_runs={n: plan.batch_runs.get(n, 1) for n in counts}
        )
    return plan


# ---- Docker through its CLI (the floor) ---------------------------------------


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"docker {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


def free_subnet() -> str:
    """A /24 in 10.78.0.0/16 (outside the labs' 10.77/16) that no Docker network holds."""
    used = [ipaddress.IPv4Network(s) for s in runtime.used_subnets()]
    for octet in range(256):
        candidate = ipaddress.IPv4Network(f"10.78.{octet}.0/24")
        if not any(candidate.overlaps(u) for u in used):
            return str(candidate)
    raise LabError("no free /24 in 10.78.0.0/16 for the floor network")


def floor_up(count: int, image: str, folder: Path) -> float:
    """Start `count` bare containers the way runtime.start_containers does: same image,
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
    """Remove the bare containers and their network the way runtime.remove_lab does."""
    label = f"label={runtime.LABEL}={FLOOR}"
    started = time.perf_counter()
    ids = docker("ps", "-aq", "--filter", label).split()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda c: docker("rm", "-f", "-v", c), ids))
    for network in docker("network", "ls", "-q", "--filter", label).split():
        docker("network", "rm", network)
    return time.perf_counter() - started


# ---- profiling `lab up` without touching lab/ -------------------------------


class Profile:
    """Wraps the functions Lab.start calls (module attributes, so patching reaches
    them) and records how long each stage took; restored on exit."""

    STAGES = (
        ("load + validate", topology, "load"),
        ("check for a running lab", runtime, "lab_objects"),
        ("image check", images, "build"),
        ("network create", runtime, "create_network"),
        ("render configs", render, "write_lab"),
        ("keys", keys, "ensure_keys"),
        ("containers create+start", runtime, "start_containers"),
    )

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.ready_started = 0.0
        self.booted_at: dict[str, float] = {}  # node → when `core waitfullybooted` passed
        self.per_container: dict[str, list[float]] = {"create": [], "start": [], "remove": []}
        self.execs: list[float] = []
        self._lock = threading.Lock()
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Profile:
        for stage, module, attr in self.STAGES:
            self._wrap(module, attr, stage)
        self._wrap(lifecycle.Lab, "_requalify_early", "re-probe early nodes")
        client = getattr(runtime, "_client", None)  # to split create from start per container
        if client is not None:
            self._per_call(client().api, "create_container", "create")
            self._per_call(client().api, "start", "start")
        self._per_call(runtime, "_remove_container", "remove")
        original_wait, original_booted = lifecycle.Lab.wait_ready, lifecycle.Lab._wait_booted
        profile = self

        def wait_ready(lab: Lab, *args: Any, **kw: Any) -> float:
            started = time.monotonic()
            try:
                return original_wait(lab, *args, **kw)
            finally:
                profile.seconds["readiness (total)"] += time.monotonic() - started
                profile.ready_started = started

        def wait_booted(lab: Lab, node: str, deadline: float) -> float:
            at = original_booted(lab, node, deadline)
            with profile._lock:
                profile.booted_at[node] = at
            return at

        original_exec = runtime.exec_in

        def exec_in(*args: Any, **kw: Any) -> tuple[int, str]:
            started = time.perf_counter()
            try:
                return original_exec(*args, **kw)
            finally:
                with profile._lock:
                    profile.execs.append(time.perf_counter() - started)

        self._stack.enter_context(mock.patch.object(lifecycle.Lab, "wait_ready", wait_ready))
        self._stack.enter_context(mock.patch.object(lifecycle.Lab, "_wait_booted", wait_booted))
        self._stack.enter_context(mock.patch.object(runtime, "exec_in", exec_in))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _wrap(self, owner: Any, attr: str, stage: str) -> None:
        original = getattr(owner, attr, None)
        if original is None:  # lab/ changed: that stage goes unmeasured, into "other"
            return

        def wrapper(*args: Any, **kw: Any) -> Any:
            started = time.monotonic()
            try:
                return original(*args, **kw)
            finally:
                with self._lock:
                    self.seconds[stage] += time.monotonic() - started

        self._stack.enter_context(mock.patch.object(owner, attr, wrapper))

    def _per_call(self, owner: Any, attr: str, kind: str) -> None:
        original = getattr(owner, attr, None)
        if original is None:
            return

        def wrapper(*args: Any, **kw: Any) -> Any:
            started = time.monotonic()
            result = original(*args, **kw)
            with self._lock:
                self.per_container[kind].append(time.monotonic() - started)
            return result

        self._stack.enter_context(mock.patch.object(owner, attr, wrapper))

    def stages(self, total: float) -> dict[str, float]:
        """Seconds per stage of one `lab up`; 'other' is what no stage covers."""
        out = {stage: self.seconds[stage] for stage, _, _ in self.STAGES}
        out["keys"] = self.seconds["keys"]
        out["render configs"] -= out["keys"]  # write_lab calls ensure_keys
        ready = self.seconds["readiness (total)"]
        boot = (max(self.booted_at.values()) - self.ready_started) if self.booted_at else 0.0
        requalify = self.seconds["re-probe early nodes"]
        out["boot (all fully booted)"] = boot
        out["re-probe early nodes"] = requalify
        out["peer links usable"] = ready - boot - requalify
        out["other"] = total - sum(out.values())
        out["_execs"] = float(len(self.execs))
        median = statistics.median
        out["per container create (median)"] = median(self.per_container["create"] or [0])
        out["per container start (median)"] = median(self.per_container["start"] or [0])
        out["per container remove (median)"] = median(self.per_container["remove"] or [0])
        out["docker exec (median)"] = median(self.execs or [0])
        return out


# ---- lab helpers --------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:4]}"


def chain_yaml(length: int) -> str:
    """n01 — n02 — … — n0<length>; each node serves its own 9-digit prefix."""
    lines = ["networks: [network1]", "defaults: {cachetime: 300}", "nodes:"]
    for i in range(length):
        peers = f", peers: [{generate.name(i + 1)}]" if i + 1 < length else ""
        lines.append(f"  {generate.name(i)}: {{serves: {{network1: [_{100 + i}XXXXXX]}}{peers}}}")
    return "\n".join(lines) + "\n"


def rss_mib(lab: Lab, node: str) -> float:
    code, output = runtime.exec_in(
        lab.name, node, ["sh", "-c", "grep VmRSS /proc/$(pidof asterisk)/status"]
    )
    kib = [int(m) for m in re.findall(r"VmRSS:\s+(\d+) kB", output)]
    if code != 0 or not kib:
        raise LabError(f"cannot read the RSS of asterisk on {node}: {output.strip()}")
    return max(kib) / 1024  # the daemon, should a remote console be running too


def mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the host since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


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


# ---- sections -----------------------------------------------------------------


def bench_build(res: Results, plan: Plan) -> None:
    image, memory = res.adder("image"), res.adder("memory")
    ref = images.image_ref(VERSION)
    if plan.cold:
        seconds, note = cold_build(ref)
        image("cold build", f"Asterisk {VERSION}", "s", [seconds], note)
    images.build(VERSION)  # present from here on
    warm = [images.build(VERSION).seconds * 1000 for _ in range(5)]
    image("warm build (inputs unchanged: skipped)", f"Asterisk {VERSION}", "ms", warm)
    memory("image size", ref, "MiB", [runtime.image_size(ref) / 2**20])
    other = images.image_ref("16")
    if runtime.image_labels(other) is not None:
        memory("image size", other, "MiB", [runtime.image_size(other) / 2**20])


def cold_build(ref: str) -> tuple[float, str]:
    """Remove the image and build it again; if containers still use it (other labs),
    rebuild with force=True instead: the same mmdebstrap, import and smoke check."""
    users = docker("ps", "-aq", "--filter", f"ancestor={ref}").split()
    say = lambda m: log.print(f"  {m}")  # noqa: E731
    if users:
        note = f"{len(users)} containers use the image: not removed, rebuilt with force=True"
        log.print(f"cold build: {note}")
        return images.build(VERSION, force=True, progress=say).seconds, note
    if runtime.image_labels(ref) is not None:
        log.print(f"cold build: docker rmi {ref}")
        docker("rmi", ref)
    return images.build(VERSION, progress=say).seconds, "image removed first (docker rmi)"


def bench_up(res: Results, plan: Plan, tmp: Path, created: set[str]) -> None:
    add = res.adder("up/down")
    ref = images.build(VERSION).ref
    profiles: list[dict[str, Any]] = []
    res.details["up_profiles"] = profiles
    for count in plan.sizes:
        runs = plan.up_runs[count]
        mine: list[dict[str, Any]] = []
        for run in range(runs):
            # lab and floor take turns, so both see the same background load
            up, links_ok, down, stages = up_down_once(res, count, run == 0, tmp, created)
            created.add(FLOOR)
            floor = {"floor_up": floor_up(count, ref, tmp / FLOOR), "floor_down": floor_down()}
            mine.append(
                {"nodes": count, "run": run + 1, "up": up, "links_ok": links_ok, "down": down}
                | floor
                | stages
            )
            log.print(
                f"{count:>2} nodes, run {run + 1}/{runs}: up {up:.1f} s, down {down:.1f} s; "
                f"floor up {floor['floor_up']:.1f} s, down {floor['floor_down']:.1f} s"
            )
        profiles += mine
        case = f"{count} nodes"
        add("lab up → ready", case, "s", [r["up"] for r in mine])
        add("lab up → every trust edge OK (--wait-links)", case, "s", [r["links_ok"] for r in mine])
        add("floor: docker run ×N (sleep)", case, "s", [r["floor_up"] for r in mine])
        add("lab down", case, "s", [r["down"] for r in mine])
        add("floor: docker rm -f ×N", case, "s", [r["floor_down"] for r in mine])
    add_profile_rows(res, profiles)


def up_down_once(
    res: Results, count: int, measure_memory: bool, tmp: Path, created: set[str]
) -> tuple[float, float, float, dict[str, float]]:
    """One ring of `count` nodes: time `lab up` to ready (profiled), on to every trust
    edge OK (what `lab up --wait-links` waits for), and `lab down`."""
    name = unique(f"bench-up{count}")
    source = tmp / f"{name}.yaml"
    source.write_text(generate.ring_with_chords(count))
    created.add(name)
    before, cpu_before = mem_available_mib(), CpuScope().snapshot()
    with Profile() as profile:
        started = time.perf_counter()
        lab = Lab.start(source, name=name, root=tmp, ready_timeout=60 + 3 * count)
        up = time.perf_counter() - started
        stages = profile.stages(up)
    try:
        cpu = cpu_delta(cpu_before, CpuScope.of(lab).snapshot())
        lab.wait_ready(60 + 3 * count, wait_links=True)
        links_ok = time.perf_counter() - started
        if measure_memory:
            memory(res, lab, before)
        boots = boot_timeline(lab)
    finally:
        down = timed(lab.down)
    return up, links_ok, down, stages | boots | {f"CPU: {k}": v for k, v in cpu.items()}


def boot_timeline(lab: Lab) -> dict[str, float]:
    """Per node, from Docker's StartedAt to Asterisk's first log line and on to
    "Asterisk Ready." (fully booted), by the clocks of Docker and Asterisk, not polling."""
    names = [runtime.container_name(lab.name, n.name) for n in lab.topology.nodes]
    started = {}
    for line in docker("inspect", "--format", "{{.Name}} {{.State.StartedAt}}", *names).split("\n"):
        if line.strip():
            name, stamp = line.split()
            started[name.lstrip("/")] = utc_seconds(stamp[:26].replace("T", " "))
    to_log, to_ready = [], []
    for node, container in zip(lab.topology.nodes, names, strict=True):
        lines = list(runtime.logs(lab.name, node.name))
        first = next((m[1] for line in lines if (m := LOG_STAMP.match(line))), None)
        ready = next(
            (m[1] for line in lines if "Asterisk Ready." in line and (m := LOG_STAMP.match(line))),
            None,
        )
        if first and ready:
            to_log.append(utc_seconds(first) - started[container])
            to_ready.append(utc_seconds(ready) - utc_seconds(first))
    median = statistics.median
    return {
        "per node: container start → asterisk runs (median)": median(to_log or [0]),
        "per node: asterisk runs → fully booted (median)": median(to_ready or [0]),
        "per node: container start → fully booted (max)": max(
            (a + b for a, b in zip(to_log, to_ready, strict=True)), default=0
        ),
    }


LOG_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\]")


def utc_seconds(stamp: str) -> float:
    """'2026-11-26 13:23:39.840[123456]' (UTC) → seconds since the epoch."""
    return datetime.fromisoformat(stamp[:26]).replace(tzinfo=UTC).timestamp()


def memory(res: Results, lab: Lab, mem_before: float) -> None:
    add = res.adder("memory")
    count = len(lab.topology.nodes)
    used = (mem_before - mem_available_mib()) / count
    with ThreadPoolExecutor(max_workers=8) as pool:
        rss = list(pool.map(lambda n: rss_mib(lab, n.name), lab.topology.nodes))
    add("asterisk RSS per node", f"{count} nodes", "MiB", rss, "samples are nodes")
    add("host MemAvailable drop per node", f"{count} nodes", "MiB", [used], "noisy: whole host")


def add_profile_rows(res: Results, profiles: list[dict[str, Any]]) -> None:
    """Stages of `lab up` for each size; per-container medians for the largest only."""
    largest = max(p["nodes"] for p in profiles)
    skip = ("nodes", "run", "up", "links_ok", "down", "floor_up", "floor_down", "_execs")
    for count in sorted({p["nodes"] for p in profiles}):
        add = res.adder(f"lab up stages, {count} nodes")
        runs = [p for p in profiles if p["nodes"] == count]
        for key in (k for k in runs[0] if k not in skip):
            per = "(median)" in key or "(max)" in key
            if (per or key.startswith("CPU")) and count != largest:
                continue
            note = ""
            if key == "docker exec (median)":
                note = f"{statistics.median(r['_execs'] for r in runs):.0f} execs per up"
            if key.startswith("CPU"):
                note = "CPU-seconds during up (2 cores: 2 per second)"
            scale, unit = (1000, "ms") if per else (1, "s")
            add(key, f"{count} nodes", unit, [r[key] * scale for r in runs], note)


def bench_chain(res: Results, plan: Plan, tmp: Path, created: set[str]) -> None:
    name = unique("bench-chain")
    source = tmp / f"{name}.yaml"
    source.write_text(chain_yaml(CHAIN))
    created.add(name)
    lab = Lab.start(source, name=name, root=tmp)
    try:
        log.print(f"chain of {CHAIN} nodes up: lookups")
        overheads(res, lab, plan.lookup_runs)
        lookups(res, lab, plan.lookup_runs)
        log.print("calls")
        calls(res, lab, plan.call_runs)
        for count in plan.concurrency:
            for batch in range(plan.batch_runs[count]):
                log.print(f"{count} concurrent calls, batch {batch + 1}/{plan.batch_runs[count]}")
                concurrent_batch(res, lab, count)
        summarise_batches(res, plan)
    finally:
        lab.down()


def overheads(res: Results, lab: Lab, runs: int) -> None:
    """What every probe pays before Asterisk does anything."""
    add = res.adder("overheads")
    node, image = lab.topology.nodes[0].name, images.image_ref(VERSION)

    def ms(action: Callable[[], object]) -> list[float]:
        return [timed(action) * 1000 for _ in range(max(3, runs))]

    add(
        "docker exec round trip",
        "true",
        "ms",
        ms(lambda: runtime.exec_in(lab.name, node, ["true"])),
    )
    add(
        "docker exec + asterisk -rx",
        "core show uptime",
        "ms",
        ms(lambda: lab.cli(node, "core show uptime")),
    )
    scope = CpuScope.of(lab)
    per_exec = cpu_of(scope, lambda: runtime.exec_in(lab.name, node, ["true"]), 20)
    add(
        "CPU per docker exec",
        "true, ×20",
        "ms",
        [sum(per_exec[p] for p in CPU_PARTS)],
        cpu_note(per_exec),
    )
    loop = (
        "i=0; while [ $i -lt 20 ]; do asterisk -rx 'core show uptime' >/dev/null; i=$((i+1)); done"
    )
    per_rx = {
        k: v / 20
        for k, v in cpu_of(
            scope, lambda: runtime.exec_in(lab.name, node, ["sh", "-c", loop])
        ).items()
    }
    add(
        "CPU per asterisk -rx",
        "20 in one exec",
        "ms",
        [sum(per_rx[p] for p in CPU_PARTS)],
        cpu_note(per_rx) + " (Lab.call runs one per 50 ms while it waits)",
    )
    add(
        "docker CLI round trip",
        "docker inspect",
        "ms",
        ms(lambda: docker("inspect", image)),
        "paid once per floor container",
    )


def lookups(res: Results, lab: Lab, runs: int) -> None:
    """From n01 to the node `hops` trust hops away; bypass skips every cache on the way."""
    add = res.adder("lookups")
    first = lab.topology.nodes[0].name
    details: list[dict[str, Any]] = []
    res.details["lookups"] = details
    for hops in range(1, CHAIN):
        target, number = lab.topology.nodes[hops], generate.number(hops)
        for bypass in (True, False):
            # warm-up: with bypass it pays the key exchange of a new hop; without, fills the cache
            attempts = [lab.lookup(number, from_node=first, bypass=bypass) for _ in range(runs + 1)]
            details += [
                {
                    "hops": hops,
                    "bypass": bypass,
                    "warmup": i == 0,
                    "found": r.found,
                    "asterisk_ms": r.asterisk_ms,
                    "wall_ms": round(r.wall_ms, 2),
                }
                for i, r in enumerate(attempts)
            ]
            good = [r for r in attempts[1:] if r.best is not None and r.best.eid == target.eid]
            missed = runs - len(good)
            note = f"{missed} of {runs} not answered by {target.name}" if missed else ""
            mode, case = "bypass" if bypass else "cached", f"{hops} hops"
            add(
                f"lookup, Asterisk-reported ({mode})",
                case,
                "ms",
                [float(r.asterisk_ms or 0) for r in good],
                note,
            )
            add(f"lookup, caller wall ({mode})", case, "ms", [r.wall_ms for r in good], note)


def failure(lab: Lab, result: CallResult, number: str, callee_name: str) -> str | None:
    """Why a call did not prove its media path (None: it did), judged as
    lab/_checks.py (_check_call) judges `expect: {callee, media: true}`."""
    if not result.answered:
        dial = f", dial {result.dial_status}" if result.dial_status else ""
        return f"not answered: {result.status}, cause {result.cause or '?'}{dial}"
    callee = lab.node_for(result.host or "")
    if callee is None or callee.name != callee_name:
        return f"answered by {result.host}, not {callee_name}"
    if not result.digits:
        return "answered, no DTMF heard (lab-checker Read timed out after 5 s)"
    if (
        result.callee_code != callee.code
        or result.callee_extension != number[-4:]
        or result.callee_saw_caller != result.caller
    ):
        return f"media mismatch: digits {result.digits!r}"
    return None


def calls(res: Results, lab: Lab, runs: int) -> None:
    """One call at a time from n01; with the answer cached, or every node's cache flushed."""
    add = res.adder("calls")
    first = lab.topology.nodes[0].name
    walls: list[float] = []
    lengths: list[float] = []
    for hops in (1, 4):
        target, number = lab.topology.nodes[hops], generate.number(hops)
        lab.lookup(number, from_node=first)  # answer cached for the first series
        for flushed in (False, True):
            setups, failures = [], Counter[str]()
            for _ in range(runs):
                if flushed:
                    with ThreadPoolExecutor(max_workers=CHAIN) as pool:
                        list(pool.map(lambda n: lab.cli(n.name, "dundi flush"), lab.topology.nodes))
                started = time.perf_counter()
                result = lab.call(first, number)
                walls.append(time.perf_counter() - started)
                why = failure(lab, result, number, target.name)
                if why:
                    failures[why] += 1
                elif result.setup_ms is not None:
                    setups.append(result.setup_ms)
                    start, end = call_span(result)
                    lengths.append(end - start)
            case = f"{hops} hop{'s' if hops > 1 else ''}, " + (
                "caches flushed" if flushed else "answer cached"
            )
            note = "; ".join(f"{n}× {why}" for why, n in failures.items())
            add("call setup (originate → answered)", case, "ms", setups, note)
    add(
        "call length in Asterisk (start → hangup)",
        "every call above",
        "s",
        lengths,
        "the callee's DTMF report sets it",
    )
    add("Lab.call wall (one docker exec)", "every call above", "s", walls)


def call_span(result: CallResult) -> tuple[float, float]:
    """When the call started and ended by the caller's clock (epoch seconds)."""
    start = float(result.fields.get("start", "nan"))
    return start, float(result.fields.get("end", "nan"))


def concurrent_batch(res: Results, lab: Lab, count: int) -> None:
    """`count` calls n01 → n07 (6 trust hops) originated at once in one exec (Lab.calls)."""
    first, last = lab.topology.nodes[0].name, lab.topology.nodes[CHAIN - 1]
    number = generate.number(CHAIN - 1)
    lab.lookup(number, from_node=first)  # answer cached: the batch measures the calls

    scope = CpuScope.of(lab)
    busy0, total0 = cpu_times()
    cpu_before = scope.snapshot()
    since, started = time.time(), time.perf_counter()
    try:
        results = lab.calls(first, [number] * count, timeout=60)
        trouble = ""
    except LabError as exc:
        results, trouble = [], f"call script failed: {str(exc).splitlines()[0][:120]}"
    wall = time.perf_counter() - started
    outcomes: list[dict[str, Any]] = (
        [{"ok": False, "why": trouble, "wall_s": wall} for _ in range(count)] if trouble else []
    )
    for result in results:
        why_not = failure(lab, result, number, last.name)
        outcomes.append(
            {
                "ok": why_not is None,
                "why": why_not,
                "span": call_span(result),
                "setup_ms": result.setup_ms,
                "wall_s": wall,
                "status": result.status,
                "cause": result.cause,
                "digits": result.digits,
            }
        )
    cpu = cpu_delta(cpu_before, scope.snapshot())
    busy1, total1 = cpu_times()
    ok = sum(o["ok"] for o in outcomes)
    batch = {
        "n": count,
        "ok": ok,
        "wall_s": wall,
        "cpu_busy_pct": 100 * (busy1 - busy0) / max(1, total1 - total0),
        "cpu_ms_per_call": {k: v * 1000 / count for k, v in cpu.items()},
        "calls": outcomes,
    }
    if ok < count:
        batch["log_warnings"] = warnings_since(lab, since, (first, last.name))
    res.details.setdefault("concurrent", []).append(batch)
    log.print(f"  {ok}/{count} ok in {wall:.1f} s, host CPU {batch['cpu_busy_pct']:.0f}% busy")


def warnings_since(lab: Lab, since: float, nodes: tuple[str, ...]) -> dict[str, int]:
    """WARNING/ERROR lines the nodes logged since `since`, counted by message."""
    found: Counter[str] = Counter()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(since - 1))  # nodes log in UTC
    line_re = re.compile(r"^\[(\S+ \S+)\] (WARNING|ERROR)\[\d+\](?:\[[^\]]*\])?: (.*)$")
    for node in nodes:
        for line in runtime.logs(lab.name, node, tail=3000):
            match = line_re.match(line)
            if match and match[1] >= stamp:
                message = re.sub(r"\d+", "N", match[3])[:160]  # alike messages count together
                found[f"{node}: {match[2]} {message}"] += 1
    return dict(found.most_common(10))


def summarise_batches(res: Results, plan: Plan) -> None:
    add = res.adder("concurrent calls n01→n07")
    batches = res.details.get("concurrent", [])
    for count in plan.concurrency:
        mine = [b for b in batches if b["n"] == count]
        if not mine:
            continue
        case = f"N={count}"
        failures = Counter(o["why"] for b in mine for o in b["calls"] if not o["ok"])
        note = "; ".join(f"{n}× {why}" for why, n in failures.most_common(3))
        add(
            "answered, media verified",
            case,
            "calls",
            [b["ok"] for b in mine],
            note or f"all {count}, every batch",
        )
        for pct, label in ((50, "p50"), (90, "p90"), (100, "max")):
            per_batch = []
            for b in mine:
                setups = [o["setup_ms"] for o in b["calls"] if o.get("setup_ms") is not None]
                if setups:
                    per_batch.append(percentile(setups, pct))
            add(f"call setup {label}", case, "ms", per_batch, "of each batch; median over batches")
        add(
            "peak calls up at once in Asterisk",
            case,
            "calls",
            [peak(b["calls"]) for b in mine],
            "from the calls' start/end records",
        )
        add(
            "docker exec per call, p50",
            case,
            "s",
            [percentile([o["wall_s"] for o in b["calls"]], 50) for b in mine],
        )
        add("batch wall (all returned)", case, "s", [b["wall_s"] for b in mine])
        add("host CPU busy during batch", case, "%", [b["cpu_busy_pct"] for b in mine])
        per_call = {
            part: statistics.median(b["cpu_ms_per_call"][part] for b in mine)
            for part in mine[0]["cpu_ms_per_call"]
        }
        add(
            "CPU per call",
            case,
            "ms",
            [sum(b["cpu_ms_per_call"][p] for p in CPU_PARTS) for b in mine],
            cpu_note(per_call),
        )


def peak(calls: list[dict[str, Any]]) -> float:
    """Most calls that were up at the same moment."""
    edges = sorted(
        (t, step)
        for c in calls
        if "span" in c and not any(math.isnan(x) for x in c["span"])
        for t, step in ((c["span"][0], 1), (c["span"][1], -1))
    )
    level = top = 0
    for _, step in edges:
        level += step
        top = max(top, level)
    return float(top)


# ---- output -------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("calls", "steps", "%") or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def table(res: Results, caption: str) -> Table:
    out = Table(title="dundi-lab benchmark", caption=caption, caption_justify="left")
    for column in ("section", "measure", "case", "runs", "median", "min", "max", "unit", "note"):
        numeric = column in ("runs", "median", "min", "max")
        out.add_column(column, justify="right" if numeric else "left", no_wrap=column != "note")
    order = list(dict.fromkeys(f.section for f in res.figures))  # sections as first seen
    rows = sorted((f.summary() for f in res.figures), key=lambda r: order.index(r["section"]))
    for i, row in enumerate(rows):
        first = i == 0 or rows[i - 1]["section"] != row["section"]
        last = i + 1 == len(rows) or rows[i + 1]["section"] != row["section"]
        numbers = [fmt(row[k], row["unit"]) for k in ("median", "min", "max")]
        out.add_row(
            row["section"] if first else "",
            row["measure"],
            row["case"],
            str(row["runs"]),
            *numbers,
            row["unit"],
            row["note"],
            end_section=last,
        )
    return out


def plot(res: Results, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.print("no plot: matplotlib is not installed (pip install -e '.[bench]')")
        return False
    if not any(f.section in ("up/down", "lookups") for f in res.figures):
        return False  # nothing to draw
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for measure, style in (
        ("lab up → ready", "o-"),
        ("lab up → every trust edge OK (--wait-links)", "^-"),
        ("floor: docker run ×N (sleep)", "o--"),
    ):
        series(left, res, measure, r"(\d+) nodes", style)
    for measure in ("lab down", "floor: docker rm -f ×N"):
        series(left, res, measure, r"(\d+) nodes", "s-" if measure.startswith("lab") else "s--")
    left.set(xlabel="nodes", ylabel="seconds", title="lab up / down vs node count")
    for mode, marker in (("bypass", "o"), ("cached", "s")):
        series(right, res, f"lookup, Asterisk-reported ({mode})", r"(\d+) hops", marker + "-")
        series(right, res, f"lookup, caller wall ({mode})", r"(\d+) hops", marker + "--")
    right.set(xlabel="trust hops", ylabel="ms (symlog)", title="DUNDi lookup vs hop count")
    right.set_yscale("symlog", linthresh=1)  # Asterisk's 0-10 ms beside the caller's ~100 ms
    for axes in (left, right):
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def series(axes: Any, res: Results, measure: str, pattern: str, style: str) -> None:
    """Median with a min–max bar for every row of `measure`; x from the case."""
    points = []
    for f in res.figures:
        match = re.fullmatch(pattern, f.case)
        if f.measure == measure and match and f.samples:
            s = f.summary()
            points.append(
                (int(match[1]), s["median"], s["median"] - s["min"], s["max"] - s["median"])
            )
    if points:
        x, mid, below, above = zip(*sorted(points), strict=True)
        axes.errorbar(x, mid, yerr=[below, above], fmt=style, capsize=3, label=measure)


# ---- machine and run facts ----------------------------------------------------


def finite(value: Any) -> Any:
    """`value` with NaN replaced by None, so the JSON is strict."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


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


def meta_data(args: argparse.Namespace, plan: Plan, before: dict[str, Any]) -> dict[str, Any]:
    after = machine_state()
    revision = git("rev-parse", "--short", "HEAD") + (
        "+dirty" if git("status", "--porcelain") else ""
    )
    others = sorted(set(before["other_labs"]) | set(after["other_labs"]))
    busy = [lab for lab in others if lab != "dundi-lab-try1"]
    state = (
        f"BUSY (other labs running: {', '.join(others)})"
        if busy
        else (f"idle apart from {', '.join(others)}" if others else "idle")
    )
    flags = [f"--{k}" if v is True else f"--{k} {v}" for k, v in vars(args).items() if v]
    options = " ".join(flags) or "default"
    caption = (
        f"run: {options}; machine {state}; load "
        f"{' '.join(before['load_avg'])} → {' '.join(after['load_avg'])}; "
        f"image {images.image_ref(VERSION)}; git {revision}"
    )
    return {
        "date": datetime.now().isoformat(timespec="seconds"),
        "options": vars(args),
        "plan": {
            k: {str(a): b for a, b in v.items()} if isinstance(v, dict) else v
            for k, v in asdict(plan).items()
        },
        "docker": docker("version", "--format", "{{.Server.Version}}").strip(),
        "storage_driver": docker("info", "--format", "{{.Driver}}").strip(),
        "cpus": len(re.findall(r"^processor", Path("/proc/cpuinfo").read_text(), re.M)),
        "machine_before": before,
        "machine_after": after,
        "busy": bool(busy),
        "git": revision,
        "caption": caption,
    }


# ---- main ---------------------------------------------------------------------


def bench_scenario(res: Results, tmp: Path, created: set[str]) -> None:
    """The shipped 50-node scenario as `lab test` runs it: up until every trust edge is
    OK, every node looks up its farthest node (bypass), down."""
    add = res.adder("scenario")
    ring = scenario.load(RING50)
    name = unique("bench-ring50")
    created.add(name)
    log.print(f"scenario {ring.name}: {len(ring.topology.nodes)} nodes, {len(ring.steps)} steps")
    outcome = scenario.execute(ring, lab_name=name, root=tmp)
    case = f"{len(ring.topology.nodes)} nodes"
    failed = [r.step.describe() for r in outcome.results if not r.ok]
    note = f"of {len(ring.steps)}" + (f"; failed: {', '.join(failed)}" if failed else "")
    add("ring-50 scenario: steps passed", case, "steps", [sum(r.ok for r in outcome.results)], note)
    add(
        "ring-50 scenario: lookup step (wall)",
        case,
        "ms",
        [r.seconds * 1000 for r in outcome.results],
    )
    add("ring-50 scenario: up + steps + down", case, "s", [outcome.seconds])


def run_sections(res: Results, plan: Plan, tmp: Path, created: set[str]) -> None:
    """Each section on its own: a failure is recorded (and shown), the next one still runs."""
    steps = {
        "build": lambda: bench_build(res, plan),
        "up": lambda: bench_up(res, plan, tmp, created),
        "chain": lambda: bench_chain(res, plan, tmp, created),
        "scenario": lambda: bench_scenario(res, tmp, created),
    }
    for section in plan.sections:
        try:
            steps[section]()
        except LabError as exc:
            res.errors.append(f"{section}: {exc}")
            log.print(f"[red]error[/] in {section}: {exc}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="4 and 16 nodes, one run each, 10 concurrent calls only",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="also time a from-scratch image build (removes the image first)",
    )
    parser.add_argument(
        "--only", metavar="SECTIONS", help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    parser.add_argument("--calls", metavar="N,N", help="concurrent call counts (default 10,50)")
    args = parser.parse_args(argv)
    plan = plan_from(args)
    before = machine_state()
    if before["other_containers"]:
        log.print(
            f"note: {before['other_containers']} other containers are running "
            f"({', '.join(before['other_labs'])}): timings will be noisy"
        )
    res, created, started = Results(), set[str](), time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="dundi-lab-bench-") as folder:
            try:
                run_sections(res, plan, Path(folder), created)
            finally:
                for name in sorted(created):  # idempotent; also after a Ctrl-C anywhere above
                    runtime.remove_lab(name)
    except KeyboardInterrupt:
        log.print("interrupted: everything the bench started was removed")
        return 130
    meta = meta_data(args, plan, before)
    meta["total_s"] = round(time.perf_counter() - started)
    caption = meta["caption"] + f"; took {meta['total_s']} s"
    if res.errors:
        caption += "\nERRORS: " + "\n".join(res.errors)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"bench-{datetime.now():%Y-%m-%d-%H%M%S}"
    document = {
        "meta": meta,
        "errors": res.errors,
        "figures": [f.summary() for f in res.figures],
        "details": res.details,
    }
    stem.with_suffix(".json").write_text(json.dumps(finite(document), indent=1, default=str) + "\n")
    out = Console() if sys.stdout.isatty() else Console(width=220)
    out.print(table(res, caption))
    drew = plot(res, stem.with_suffix(".png"))
    log.print(f"wrote {stem}.json" + (f" and {stem}.png" if drew else ""))
    return 1 if res.errors else 0


if __name__ == "__main__":
    sys.exit(main())
