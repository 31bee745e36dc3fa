"""From the frames nodes logged to the hops of a lookup: the trace model and its builder.

The public face is `lab.trace`; this module holds what it is built from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from lab.asterisk import probes
from lab.observe.dundi_debug import (
    Exchange,
    LoggedAnswer,
    LoggedFrame,
    Notice,
    exchanges,
    parse_log,
)
from lab.topology import Topology

__all__ = ["DEAD", "Capture", "Hop", "Trace", "TraceAnswer", "build"]

DEAD = (
    "no reply",
    "no response",
    "answer lost",
    "rejected",
    "refused",
    "ttl expired",
    "not asked",
)
# what a peer means by a reply other than DPRESPONSE
_ODD_REPLIES = {
    "INVALID": "it holds no such transaction",
    "UNKNOWN CMD": "it does not know the command",
}


@dataclass(frozen=True)
class TraceAnswer:
    """One answer: where to call the number, and which entity gave it."""

    tech: str
    dest: str
    flags: tuple[str, ...]
    weight: int
    eid: str
    node: str | None  # the lab node with that entity ID

    def describe(self) -> str:
        """The answer with the rotating IAX2 secret left out."""
        dest = re.sub(r":[^:@/]+@", ":<secret>@", self.dest)
        return f"{self.tech}/{dest} ({'|'.join(self.flags)}) weight {self.weight}"


@dataclass(frozen=True)
class Hop:
    """One query from `asker` to `peer`, and the queries `peer` sent for it."""

    asker: str
    peer: str
    outcome: str  # answered, no answer, or one of DEAD
    detail: str
    ttl: int | None = None
    sent_at: datetime | None = None  # the asker sent the DPDISCOVER (None: never asked)
    received_at: datetime | None = None  # the peer logged it
    replied_at: datetime | None = None  # the peer sent its DPRESPONSE
    closed_at: datetime | None = None  # the response reached the asker, or it gave up
    answers: tuple[TraceAnswer, ...] = ()
    hint: str = ""
    hops: tuple[Hop, ...] = ()

    @property
    def ms(self) -> float | None:
        """How long the asker waited for this hop."""
        if self.sent_at is None or self.closed_at is None:
            return None
        return (self.closed_at - self.sent_at).total_seconds() * 1000

    @property
    def dead(self) -> bool:
        return self.outcome in DEAD


@dataclass(frozen=True)
class Trace:
    """A lookup from `origin` and every hop it made."""

    lab: str
    number: str
    network: str
    origin: str
    started_at: datetime
    asterisk_ms: int | None
    wall_ms: float
    answers: tuple[TraceAnswer, ...]
    hops: tuple[Hop, ...]
    notes: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return bool(self.answers)

    @property
    def best(self) -> TraceAnswer | None:
        return min(self.answers, key=lambda a: a.weight) if self.answers else None

    def walk(self) -> Iterator[Hop]:
        """Every hop, depth first, in the order they were asked."""
        stack = list(reversed(self.hops))
        while stack:
            hop = stack.pop()
            yield hop
            stack.extend(reversed(hop.hops))

    @property
    def path(self) -> tuple[str, ...]:
        """The nodes the best answer came back through: origin first, answerer last."""
        best = self.best
        nodes = [self.origin]
        hops = self.hops
        while best is not None:
            hop = next((h for h in hops if any(a.eid == best.eid for a in h.answers)), None)
            if hop is None:
                break
            nodes.append(hop.peer)
            hops = hop.hops
        return tuple(nodes)

    @property
    def dead_ends(self) -> tuple[Hop, ...]:
        """Where the lookup went no further: dead hops that have no hops below them."""
        return tuple(h for h in self.walk() if h.dead and not h.hops)


@dataclass(frozen=True)
class Capture:
    """What `collect` read from a lab; `build` makes a Trace of it (unit tests use saved ones)."""

    lab: str
    number: str
    network: str
    origin: str
    started_at: datetime
    ended_at: datetime
    lookup_output: str  # `dundi lookup` on the origin
    wall_ms: float
    logs: dict[str, tuple[str, ...]]  # node → its log lines of the window
    peers: dict[str, str]  # node → `dundi show peers` right after
    states: dict[str, str]  # node → container state


# ---- from frames to hops ---------------------------------------------------


def build(topo: Topology, capture: Capture) -> Trace:
    """Pair the logged frames into the hops of the lookup."""
    return _Builder(topo, capture).trace()


class _Builder:
    def __init__(self, topo: Topology, capture: Capture) -> None:
        self.topo, self.cap = topo, capture
        frames: dict[str, list[LoggedFrame]] = {}
        notices: dict[str, list[Notice]] = {}
        start, end = capture.started_at, capture.ended_at
        for node, lines in capture.logs.items():
            parsed, noted = parse_log(node, lines)
            frames[node] = [f for f in parsed if start <= f.at <= end]
            notices[node] = [n for n in noted if start <= n.at <= end]
        self.frames = frames
        self.eids = {n.name: n.eid for n in topo.nodes}
        found = exchanges(
            frames,
            notices,
            capture.number,
            capture.network,
            {n.name: n.ip for n in topo.nodes},
            self.eids,
        )
        self.exchanges = [x for x in found if x.query.command == "DPDISCOVER"]
        self.pushes = [x for x in found if x.query.command != "DPDISCOVER"]
        self.parents = {id(x): self._parent(x) for x in self.exchanges}

    def _parent(self, x: Exchange) -> Exchange | None:
        """The query `x.asker` was answering when it sent `x`: the one whose response
        came from the same thread, else the last one it received before."""
        incoming = [
            q
            for q in self.exchanges
            if q.peer == x.asker and q.received and q.received.at <= x.query.at
        ]
        same_thread = [q for q in incoming if q.reply and q.reply.thread == x.query.thread]
        chosen = same_thread or incoming
        return chosen[-1] if chosen else None

    def node_name(self, eid: str) -> str:
        node = self.topo.node_by_eid(eid)
        return node.name if node else eid

    def answer(self, a: LoggedAnswer | probes.Answer) -> TraceAnswer:
        node = self.topo.node_by_eid(a.eid)
        return TraceAnswer(a.tech, a.dest, a.flags, a.weight, a.eid, node.name if node else None)

    def trace(self) -> Trace:
        cap = self.cap
        lookup = probes.parse_lookup(cap.number, cap.network, cap.lookup_output, cap.wall_ms)
        roots = [x for x in self.exchanges if x.asker == cap.origin and not self.parents[id(x)]]
        return Trace(
            lab=cap.lab,
            number=cap.number,
            network=cap.network,
            origin=cap.origin,
            started_at=roots[0].query.at if roots else cap.started_at,
            asterisk_ms=lookup.asterisk_ms,
            wall_ms=cap.wall_ms,
            answers=tuple(self.answer(a) for a in lookup.answers),
            hops=self._hops(cap.origin, roots, None),
            notes=tuple(
                f"{n} is not running ({s})" for n, s in cap.states.items() if s != "running"
            )
            + self._side_transactions(),
        )

    def _hops(self, node: str, asked: list[Exchange], via: Exchange | None) -> tuple[Hop, ...]:
        hops = [self._hop(x) for x in asked]
        return tuple(hops + self._not_asked(node, {x.peer for x in asked}, via))

    def _hop(self, x: Exchange) -> Hop:
        children = [c for c in self.exchanges if self.parents[id(c)] is x]
        outcome, detail, closed = self._outcome(x, asked_on=bool(children))
        state = self.cap.states.get(x.peer, "running")
        if state != "running":
            detail += f"; {x.peer} is not running ({state})"
        frame = x.answer_frame
        return Hop(
            asker=x.asker,
            peer=x.peer,
            outcome=outcome,
            detail=detail,
            ttl=_int(x.query.ie("TTL")),
            sent_at=x.query.at,
            received_at=x.received.at if x.received else None,
            replied_at=x.reply.at if x.reply else None,
            closed_at=closed,
            answers=tuple(self.answer(a) for a in x.answers),
            hint=(frame.ie("HINT") or "") if frame else "",
            hops=self._hops(x.peer, children, x) if x.received else (),
        )

    def _outcome(self, x: Exchange, *, asked_on: bool) -> tuple[str, str, datetime | None]:
        """What came of a query, why, and when the asker was done with it."""
        outcome, detail, closed = self._ending(x, asked_on=asked_on)
        if x.resent:
            detail += (
                f" (after {x.peer} asked for the full key with ENCREJ and {x.asker} resent it)"
            )
        return outcome, detail, closed

    def _ending(self, x: Exchange, *, asked_on: bool) -> tuple[str, str, datetime | None]:
        """The outcome from the frames that ended the query."""
        peer, asker, frame = x.peer, x.asker, x.answer_frame
        if frame is not None and x.lost:
            said = _said(frame, len(x.answers))
            ended = self._gave_up(x) or f"{asker} waited in vain"
            return (
                "answer lost",
                f"{peer} replied ({said}); it never reached {asker}: {ended}",
                (x.gave_up.at if x.gave_up else None),
            )
        if frame is not None and frame.command not in ("DPRESPONSE", "PRECACHERP"):
            why = _ODD_REPLIES.get(frame.command, "an unexpected reply")
            text = f"{peer} replied {frame.command}: {why}"
            if frame.ie("CAUSE"):
                text += f" ({frame.ie('CAUSE')})"
            return "refused", text, x.response.at if x.response else None
        if frame is not None:
            closed = x.response.at if x.response else None
            hint = frame.ie("HINT") or ""
            if cause := frame.ie("CAUSE"):
                return "refused", f"{peer} refused the query: {cause}", closed
            if x.answers:
                if any(a.eid == self.eids.get(peer) for a in x.answers):
                    said = f"{peer} answers itself"
                else:
                    said = "from " + ", ".join(sorted({self.node_name(a.eid) for a in x.answers}))
                count = len(x.answers)
                return "answered", f"{count} answer{'s' * (count > 1)}, {said}", closed
            if "TTLEXPIRED" in hint and not asked_on:
                ttl = x.received.ie("TTL") if x.received else x.query.ie("TTL")
                return "ttl expired", f"{peer} got ttl {ttl} and may ask no one further", closed
            spent = " (the ttl ran out further on)" if "TTLEXPIRED" in hint else ""
            return "no answer", f"{peer} found nothing{spent}", closed
        if x.rejected and not x.resent:
            why = f"{peer} does not trust {asker}, or holds another key for it"
            return "rejected", f"{peer} rejected {asker}'s key (ENCREJ): {why}", x.rejected.at
        if gave_up := self._gave_up(x):
            assert x.gave_up is not None
            return "no reply", f"{peer} never acknowledged; {gave_up}", x.gave_up.at
        if x.acked:
            return "no response", f"{peer} acknowledged but did not answer in time", None
        return "no reply", f"{peer} never acknowledged the query", None

    def _side_transactions(self) -> tuple[str, ...]:
        """Registrations and precache pushes logged during the lookup: they share the
        peers' queues and can explain a slow or odd hop."""
        names = {n.ip: n.name for n in self.topo.nodes}
        notes = []
        for node, frames in self.frames.items():
            for f in frames:
                if f.sent and f.command == "REGREQ":
                    notes.append(f"{node} registered with {names.get(f.ip, f.ip)} at {_hms(f.at)}")
        for x in self.pushes:
            number = x.query.ie("CALLED NUMBER")
            outcome, detail, _ = self._ending(x, asked_on=False)
            if outcome in ("answered", "no answer"):  # a PRECACHERP without a cause
                count = len(x.query.all("ANSWER"))
                detail = f"{x.peer} took {count} answer{'s' * (count != 1)} (PRECACHERP)"
            notes.append(
                f"{x.asker} pushed {number} to {x.peer} (precache) at {_hms(x.query.at)}: {detail}"
            )
        return tuple(notes)

    @staticmethod
    def _gave_up(x: Exchange) -> str:
        """How and when the asker gave up on `x`, or "" when its log does not say."""
        if x.gave_up is None:
            return ""
        waited = (x.gave_up.at - x.query.at).total_seconds() * 1000
        how = "autokill" if x.gave_up.kind == "autokill" else "retransmissions"
        return f"{x.asker} gave up after {waited:.0f} ms ({how})"

    def _not_asked(self, node: str, asked: set[str], via: Exchange | None) -> list[Hop]:
        """Peers `node` could ask about this network but did not, with the reason."""
        me = self.topo.node_by_eid(self.eids.get(node, ""))
        if me is None:
            return []
        received = via.received if via else None
        avoid = set(received.eids) if received else set()  # the path so far
        ttl_in = _int(received.ie("TTL")) if received else None
        has_own = via is not None and any(a.eid == me.eid and a.weight == 0 for a in via.answers)
        seen = probes.parse_peers(self.cap.peers.get(node, ""))
        hops = []
        for peer in me.peers:
            other = self.topo.node(peer.peer)
            if self.cap.network not in peer.include or other.eid in avoid or peer.peer in asked:
                continue
            status = seen[other.eid].status if other.eid in seen else ""
            outcome = "not asked"
            if ttl_in is not None and ttl_in <= 1:
                outcome, why = "ttl expired", f"{node} got ttl {ttl_in}, so it may not ask on"
            elif has_own:
                why = f"{node} has the answer itself (weight 0) and asks no one"
            elif status.startswith(("UNREACHABLE", "LAGGED", "UNKNOWN")):
                word, ms = status.split()[0], re.search(r"\d+ ms", status)
                seen_as = f"{word} (qualify: {ms[0]})" if ms else f"{word} (qualify)"
                why = f"{node} marks {peer.peer} {seen_as}, so it skips it"
            elif peer.order != "primary":
                why = f"{peer.peer} is {peer.order}: asked only when no primary can be"
            else:
                why = f"{node} did not ask {peer.peer} (no reason in the logs)"
            state = self.cap.states.get(peer.peer, "running")
            if state != "running":
                why += f"; {peer.peer} is not running ({state})"
            hops.append(Hop(asker=node, peer=peer.peer, outcome=outcome, detail=why))
        return hops


def _hms(at: datetime) -> str:
    return at.strftime("%H:%M:%S.%f")[:-3]


def _said(frame: LoggedFrame, answers: int) -> str:
    if frame.command not in ("DPRESPONSE", "PRECACHERP"):
        return frame.command
    if cause := frame.ie("CAUSE"):
        return f"refusing: {cause}"
    return f"{answers} answer{'s' * (answers != 1)}" if answers else "nothing found"


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None
