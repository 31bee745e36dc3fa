"""The build and up sections: image build and size, lab up/down beside the Docker floor,
memory per node, and the stages of `lab up`."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lab.asterisk import images
from lab.core.pipeline import start
from lab.core.running import Lab
from lab.errors import LabError
from lab.runtime import backend
from lab.topology import generate

from _machine import FLOOR, CpuScope, cpu_delta, docker, floor_down, floor_up, mem_available_mib
from _plan import VERSION, Plan
from _profile import Profile, boot_timeline
from _results import Results, log, timed

# ---- lab helpers --------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:4]}"


def rss_mib(lab: Lab, node: str) -> float:
    result = lab.exec(node, ["sh", "-c", "grep VmRSS /proc/$(pidof asterisk)/status"])
    code, output = result.code, result.output
    kib = [int(m) for m in re.findall(r"VmRSS:\s+(\d+) kB", output)]
    if code != 0 or not kib:
        raise LabError(f"cannot read the RSS of asterisk on {node}: {output.strip()}")
    return max(kib) / 1024  # the daemon, should a remote console be running too


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
    engine = backend()
    memory("image size", ref, "MiB", [engine.image_size(ref) / 2**20])
    other = images.image_ref("16")
    if engine.image_labels(other) is not None:
        memory("image size", other, "MiB", [engine.image_size(other) / 2**20])


def cold_build(ref: str) -> tuple[float, str]:
    """Remove the image and build it again; if containers still use it (other labs),
    rebuild with force=True instead: the same mmdebstrap, import and smoke check."""
    users = docker("ps", "-aq", "--filter", f"ancestor={ref}").split()
    say = lambda m: log.print(f"  {m}")  # noqa: E731
    if users:
        note = f"{len(users)} containers use the image: not removed, rebuilt with force=True"
        log.print(f"cold build: {note}")
        return images.build(VERSION, force=True, progress=say).seconds, note
    if backend().image_labels(ref) is not None:
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
    profile = Profile()
    started = time.perf_counter()
    lab = start(source, name=name, root=tmp, ready_timeout=60 + 3 * count, on_event=profile)
    up = time.perf_counter() - started
    stages = profile.stages(up)  # before the wait below adds to the readiness figures
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
    skip = ("nodes", "run", "up", "links_ok", "down", "floor_up", "floor_down")
    for count in sorted({p["nodes"] for p in profiles}):
        add = res.adder(f"lab up stages, {count} nodes")
        runs = [p for p in profiles if p["nodes"] == count]
        for key in (k for k in runs[0] if k not in skip):
            per = "(median)" in key or "(max)" in key
            if (per or key.startswith("CPU")) and count != largest:
                continue
            note = ""
            if key.startswith("CPU"):
                note = "CPU-seconds during up (2 cores: 2 per second)"
            scale, unit = (1000, "ms") if per else (1, "s")
            add(key, f"{count} nodes", unit, [r[key] * scale for r in runs], note)
