"""What a lab's status says, derived from the truth: the container's state first, then what
pbx_dundi reports. A link whose either end is not running is DOWN, whatever the other side's
pbx_dundi still believes (it notices only on its next probe, up to 60 s later)."""

from __future__ import annotations

from dataclasses import dataclass

from lab.topology import Node

__all__ = ["LinkState", "NodeState"]

DOWN = "DOWN"
UNREGISTERED = "UNREGISTERED"  # a dynamic peer that has not told us its address yet


@dataclass(frozen=True)
class LinkState:
    """One side's view of a trust edge."""

    node: str
    peer: str
    status: str  # pbx_dundi's word (OK, UNKNOWN, UNREACHABLE, …), ABSENT, or DOWN
    latency_ms: int | None
    mutual: bool
    why: str = ""  # for DOWN: which end is not running

    @property
    def ok(self) -> bool:
        return self.status.startswith("OK")

    @property
    def down(self) -> bool:
        return self.status == DOWN

    @property
    def usable(self) -> bool:
        """pbx_dundi sends queries over it: the peer answered its last probe in time,
        has not been probed yet (the first probe is 5 s after loading), or is not probed."""
        return self.ok or self.status.startswith(("UNKNOWN", "Unmonitored"))

    def ready(self, settled: bool) -> bool:
        """Usable; when `settled`, also probed (or never probed: qualify=no)."""
        return self.usable and (not settled or not self.status.startswith("UNKNOWN"))


@dataclass(frozen=True)
class NodeState:
    """A node as it is now: its container's state, its Asterisk, its view of each peer."""

    node: Node
    state: str  # running, starting (Asterisk not booted yet), held, exited, absent, …
    asterisk_version: str
    links: tuple[LinkState, ...]
    detail: str = ""

    @property
    def running(self) -> bool:
        return self.state == "running"


def down_links(
    node: Node, state: str, peers_state: dict[str, str], mutual: set[str]
) -> tuple[LinkState, ...]:
    """Every configured link of a node that does not run Asterisk: DOWN, and why."""
    return tuple(
        LinkState(
            node=node.name,
            peer=p.peer,
            status=DOWN,
            latency_ms=None,
            mutual=p.peer in mutual,
            why=f"{node.name} is {state}",
        )
        for p in node.peers
    )


def summary(states: list[NodeState]) -> tuple[int, int, int, int]:
    """(links OK, all configured links, links down, links not probed yet)."""
    links = [ln for s in states for ln in s.links]
    return (
        sum(ln.ok for ln in links),
        len(links),
        sum(ln.down for ln in links),
        sum(ln.status.startswith("UNKNOWN") for ln in links),
    )
