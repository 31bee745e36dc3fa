"""dundi-lab benchmark: how fast the lab comes up, how large it gets, how fast DUNDi answers.

    .venv/bin/python bench/run.py            # default: about 10-15 min on 2 cores
    .venv/bin/python bench/run.py --quick    # 4 and 16 nodes, 1 run each, 10 concurrent calls
    .venv/bin/python bench/run.py --cold     # also time a from-scratch image build (~60 s)

Prints one table (median, min and max of each figure) and writes it, with every sample,
to bench/results/bench-<date>.json, plus bench-<date>.png (up time by node count, lookup
time by hop count) when matplotlib is installed (`pip install -e '.[bench]'`).

The "floor" rows are what Docker alone needs for the same number of containers of the
same image, running `sleep infinity` instead of Asterisk, on a network of the same kind.
They are driven through the `docker` CLI (only lab/runtime/docker.py may import the SDK), which
adds one CLI process per container; the `docker CLI round trip` row says how much.

Everything the bench creates carries the label dundi-lab=<lab> (bare containers:
dundi-lab=bench-floor) and is removed on exit, Ctrl-C included; `lab down --all` finds
anything a killed run left behind.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from lab.asterisk import images
from lab.errors import LabError
from lab.runtime import backend

from _chain import bench_chain, bench_scenario
from _machine import ROOT, docker, git, machine_state
from _network import bench_network
from _plan import SECTIONS, VERSION, Plan, plan_from
from _results import Results, log, plot, table
from _swarm import bench_swarm
from _up import bench_build, bench_up

RESULTS = ROOT / "bench" / "results"


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


def run_sections(res: Results, plan: Plan, tmp: Path, created: set[str]) -> None:
    """Each section on its own: a failure is recorded (and shown), the next one still runs."""
    steps = {
        "build": lambda: bench_build(res, plan),
        "up": lambda: bench_up(res, plan, tmp, created),
        "chain": lambda: bench_chain(res, plan, tmp, created),
        "scenario": lambda: bench_scenario(res, tmp, created),
        "network": lambda: bench_network(res, plan, tmp, created),
        "swarm": lambda: bench_swarm(res, plan, tmp, created),
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
    parser.add_argument(
        "--sizes", metavar="N,N", help="lab sizes of the up section (default 4,16,50,100,200)"
    )
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
                    backend().remove_lab(name)
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
