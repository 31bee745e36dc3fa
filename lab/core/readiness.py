"""When a lab is ready: every node booted, then every trust edge usable (or probed OK).

A node is booted when its control channel answers and `core waitfullybooted` returns; a
node whose container stops meanwhile fails at once with its log (no waiting out the
timeout). Trust edges are read from each node's `dundi show peers`: pbx_dundi probes a peer
5 s after it loads and, when a probe is lost, only 60 s later, so nodes that booted well
before the last one, and links still not OK 9 s after the last probe, get a fresh probe
(`module reload pbx_dundi.so`).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from lab.asterisk.ami import Ami
from lab.core.events import Listener, NodeBooted, Note, StageDone
from lab.core.state import LinkState
from lab.errors import LabRuntimeError, NodeDied, ReadinessTimeout
from lab.runtime.protocol import Backend
from lab.topology import Topology

__all__ = ["EARLY_BOOT_S", "REPROBE_AFTER_S", "Probed", "wait_booted", "wait_ready"]


class Probed(Protocol):
    """What readiness needs of a running lab (`lab.core.running.Lab` is one)."""

    topology: Topology
    backend: Backend

    @property
    def name(self) -> str: ...
    def control(self, node: str) -> Ami: ...
    def cli(self, node: str, command: str, *, timeout: float = 60) -> str: ...
    def links(self, node: str) -> list[LinkState]: ...
    def log_tail(self, node: str, lines: int = 30) -> str: ...


# a node that booted this much before the last one may have probed a peer that was down
EARLY_BOOT_S = 3.0
# links still not OK this long after the last re-probe get another (first probe is at +5 s)
REPROBE_AFTER_S = 9.0
REPROBE = "module reload pbx_dundi.so"
POLL_S = 0.5  # between two looks at every node's links
_RUNNING = ("running", "created", "restarting")


def wait_ready(lab: Probed, timeout: float, on_event: Listener, *, wait_links: bool) -> float:
    """Wait until every node is booted and every mutual trust edge is usable (`wait_links`:
    probed and OK); seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    names = [n.name for n in lab.topology.nodes]
    with ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
        booted = dict(
            zip(names, pool.map(lambda n: wait_booted(lab, n, deadline), names), strict=True)
        )
        for node, at in booted.items():
            on_event(NodeBooted(node, at - started))
        on_event(StageDone("boot", time.monotonic() - started, f"{len(names)} nodes booted"))
        links_started = time.monotonic()
        _reprobe_early(lab, booted, pool, on_event)
        _wait_links(lab, names, pool, deadline, timeout, wait_links, on_event)
        wanted = "probed OK" if wait_links else "usable"
        on_event(StageDone("links", time.monotonic() - links_started, f"every trust edge {wanted}"))
    return time.monotonic() - started


def wait_booted(lab: Probed, node: str, deadline: float) -> float:
    """Poll until Asterisk on `node` is fully booted; when that was seen."""
    checked = 0.0
    while True:
        now = time.monotonic()
        if now - checked > 1.0:  # the container's state: cheap, but not free
            state = lab.backend.states(lab.name).get(node, "absent")
            if state not in _RUNNING:
                raise NodeDied(node, lab.log_tail(node))
            checked = now
        try:
            lab.control(node).command("core waitfullybooted", timeout=30)
            return time.monotonic()
        except LabRuntimeError:
            if time.monotonic() > deadline:
                raise ReadinessTimeout(f"node {node} did not boot: {lab.log_tail(node)}") from None
            time.sleep(0.1)


def _reprobe_early(
    lab: Probed, booted: dict[str, float], pool: ThreadPoolExecutor, on_event: Listener
) -> None:
    """A node probes its peers 5 s after DUNDi loads. If a peer was not up yet, the next
    probe comes only 60 s later (pbx_dundi schedules it before the first one fails); a
    reload schedules a fresh probe 5 s on, when every peer is listening."""
    last = max(booted.values())
    early = [node for node, at in booted.items() if last - at > EARLY_BOOT_S]
    if early:
        on_event(Note(f"re-probing peers of {len(early)} nodes that booted early"))
        list(pool.map(lambda n: lab.cli(n, REPROBE), early))


def _wait_links(
    lab: Probed,
    names: list[str],
    pool: ThreadPoolExecutor,
    deadline: float,
    timeout: float,
    wait_links: bool,
    on_event: Listener,
) -> None:
    wanted = "OK" if wait_links else "usable"
    kicked = time.monotonic()
    pending = names
    while pending:
        views = dict(zip(pending, pool.map(lab.links, pending), strict=True))
        waiting = {
            node: [
                f"{node}→{s.peer} {s.status}" for s in links if s.mutual and not s.ready(wait_links)
            ]
            for node, links in views.items()
        }
        pending = [node for node, bad in waiting.items() if bad]
        if pending and time.monotonic() > deadline:
            raise ReadinessTimeout(
                f"lab '{lab.name}': peer links not {wanted} after {timeout:.0f} s: "
                + ", ".join(x for node in pending for x in waiting[node])
            )
        if pending and time.monotonic() - kicked > REPROBE_AFTER_S:
            # a probe lost to a busy peer is retried only 60 s later: ask again
            on_event(Note(f"re-probing peers of {len(pending)} nodes with links not {wanted}"))
            list(pool.map(lambda n: lab.cli(n, REPROBE), pending))
            kicked = time.monotonic()
        if pending:
            time.sleep(POLL_S)
