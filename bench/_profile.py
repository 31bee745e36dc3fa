"""Profiling `lab up`: Profile reads the stages from the events it reports, boot_timeline
times each node's boot by the clocks of Docker and Asterisk."""

from __future__ import annotations

import re
import statistics
from datetime import UTC, datetime

from lab.core.events import STAGES, Event, NodeBooted, StageDone
from lab.core.running import Lab
from lab.runtime import container_name

from _machine import docker

# ---- profiling `lab up` from the events it reports ------------------------------


class Profile:
    """Listens to the events `lab up` reports and keeps how long each stage took; no
    function of lab/ is wrapped or patched."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.booted: list[float] = []  # each node: seconds from release to fully booted

    def __call__(self, event: Event) -> None:
        if isinstance(event, StageDone):
            self.seconds[event.stage] = self.seconds.get(event.stage, 0.0) + event.seconds
        elif isinstance(event, NodeBooted):
            self.booted.append(event.seconds)

    def stages(self, total: float) -> dict[str, float]:
        """Seconds per stage of one `lab up`; 'other' is what no stage covers."""
        out = {f"stage: {stage}": self.seconds.get(stage, 0.0) for stage in STAGES}
        out["other"] = total - sum(out.values())
        if self.booted:
            out["per node: released → fully booted (median)"] = statistics.median(self.booted)
        return out


def boot_timeline(lab: Lab) -> dict[str, float]:
    """Per node, from Docker's StartedAt to Asterisk's first log line and on to
    "Asterisk Ready." (fully booted), by the clocks of Docker and Asterisk, not polling."""
    names = [container_name(lab.name, n.name) for n in lab.topology.nodes]
    started = {}
    for line in docker("inspect", "--format", "{{.Name}} {{.State.StartedAt}}", *names).split("\n"):
        if line.strip():
            name, stamp = line.split()
            started[name.lstrip("/")] = utc_seconds(stamp[:26].replace("T", " "))
    to_log, to_ready = [], []
    for node, container in zip(lab.topology.nodes, names, strict=True):
        lines = list(lab.backend.logs(lab.name, node.name))
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
