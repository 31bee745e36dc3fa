"""Profiling `lab up` without touching lab/: Profile times its stages, boot_timeline
times each node's boot by the clocks of Docker and Asterisk."""

from __future__ import annotations

import contextlib
import re
import statistics
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from _machine import docker

from lab import runtime, topology
from lab.asterisk import images, keys, render
from lab.core import running
from lab.core.running import Lab

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
        self._wrap(running.Lab, "_requalify_early", "re-probe early nodes")
        client = getattr(runtime, "_client", None)  # to split create from start per container
        if client is not None:
            self._per_call(client().api, "create_container", "create")
            self._per_call(client().api, "start", "start")
        self._per_call(runtime, "_remove_container", "remove")
        original_wait, original_booted = running.Lab.wait_ready, running.Lab._wait_booted
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

        self._stack.enter_context(mock.patch.object(running.Lab, "wait_ready", wait_ready))
        self._stack.enter_context(mock.patch.object(running.Lab, "_wait_booted", wait_booted))
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
