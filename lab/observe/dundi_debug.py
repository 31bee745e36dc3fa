"""The frames `dundi set debug on` writes to a node's log, parsed.

pbx_dundi prints every frame it sends or receives as a block of log lines:

    [2026-11-26 13:14:02.382] VERBOSE[156] pbx_dundi.c:     ETx-Frame -- OSeqno: 000 ...
    [2026-11-26 13:14:02.382] VERBOSE[156] pbx_dundi.c:           Flags: 00 STrans: 20444 ...
    [2026-11-26 13:14:02.382] VERBOSE[156] pbx_dundi.c:         CALLED NUMBER   : 555000123

`Tx`/`Rx` blocks are frames on the wire (ENCRYPT when keys are used, ACK, NULL for
qualify, ENCREJ ...); `ETx`/`Erx` blocks are the clear text inside an encrypted
frame, logged just before encryption or just after decryption. Lines of concurrent
threads interleave, so blocks are assembled per thread id. A few NOTICE/WARNING
lines matter too: the autokill of a transaction nobody acknowledged, and failed
sends. `exchanges` pairs what both ends of each DPDISCOVER logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "QUERIES",
    "REPLIES",
    "Exchange",
    "LoggedAnswer",
    "LoggedFrame",
    "Notice",
    "exchanges",
    "parse_answer",
    "parse_log",
    "parse_time",
]

_LINE = re.compile(
    r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\] (?P<level>[A-Z]+)\[(?P<thread>\d+)\]"
    r" pbx_dundi\.c: (?P<text>.*?)\s*$"
)
_HEAD = re.compile(
    r"^\s*(?P<view>Tx|Rx|ETx|Erx)-Frame -- OSeqno: \d+ ISeqno: \d+ "
    r"Type: (?P<command>.+?)\s+\((?:Command|Response)\)$"
)
_FLAGS = re.compile(
    r"^\s*Flags: \S+ STrans: (?P<strans>\d+)\s+DTrans: (?P<dtrans>\d+) "
    r"\[(?P<ip>[0-9.]+):\d+\](?P<final> \(Final\))?$"
)
_IE = re.compile(r"^\s*(?P<name>[A-Z][A-Za-z0-9 ]*?)\s*: (?P<value>.*)$")
_AUTOKILL = re.compile(r"Transaction to '(?P<eid>[0-9a-f:]{17})' took too long to ACK")
_RETRIES = re.compile(
    r"Max retries exceeded to host '(?P<ip>[0-9.]+):\d+' msg \d+ on call (?P<t>\d+)"
)
_SEND_FAILED = re.compile(r"Failed to transmit to '(?P<ip>[0-9.]+):\d+': (?P<reason>.*)$")
_ANSWER = re.compile(
    r"^\[(?P<flags>[A-Z|]*)\] (?P<weight>\d+) <(?P<tech>[^/>]+)/(?P<dest>[^>]*)> "
    r"from \[(?P<eid>[0-9a-f:]{17})\]$"
)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

# the frames that ask about a number: a lookup, and a precache push of its answers
QUERIES = ("DPDISCOVER", "PRECACHERQ")
# the frames that end a transaction someone else started (an ACK only acknowledges)
REPLIES = ("DPRESPONSE", "EIDRESPONSE", "PRECACHERP", "REGRESPONSE", "INVALID", "UNKNOWN CMD")


def parse_time(text: str) -> datetime:
    """A timestamp as the lab's logger.conf writes it (`%F %T.%3q`)."""
    return datetime.strptime(text.strip(), TIME_FORMAT)


@dataclass(frozen=True)
class LoggedFrame:
    """One DUNDi frame one node logged."""

    node: str
    at: datetime
    thread: int
    view: str  # Tx, Rx (on the wire) or ETx, Erx (inside encryption)
    command: str  # DPDISCOVER, DPRESPONSE, ACK, ENCRYPT, ENCREJ, NULL, ...
    final: bool
    strans: int
    dtrans: int
    ip: str  # the other end
    ies: tuple[tuple[str, str], ...]

    @property
    def sent(self) -> bool:
        return self.view in ("Tx", "ETx")

    def ie(self, name: str) -> str | None:
        """The first information element called `name`."""
        return next((value for key, value in self.ies if key == name), None)

    def all(self, name: str) -> tuple[str, ...]:
        return tuple(value for key, value in self.ies if key == name)

    @property
    def eids(self) -> tuple[str, ...]:
        """The entity IDs a query carries: the asker first, the root last."""
        return tuple(v for k, v in self.ies if k in ("DIRECT EID", "ENTITY IDENT"))


@dataclass(frozen=True)
class Notice:
    """A NOTICE/WARNING line about a transaction that failed."""

    node: str
    at: datetime
    kind: str  # autokill, retries, send-failed
    eid: str = ""
    ip: str = ""
    strans: int = 0
    reason: str = ""


@dataclass(frozen=True)
class LoggedAnswer:
    """An ANSWER element: where to call, and the entity that said so."""

    flags: tuple[str, ...]
    weight: int
    tech: str
    dest: str
    eid: str


def parse_answer(value: str) -> LoggedAnswer | None:
    """`[EXISTS|CANMATCH] 0 <IAX/dundi:…@10.77.0.13/555000123> from [02:00:00:00:00:04]`."""
    match = _ANSWER.match(value.strip())
    if not match:
        return None
    return LoggedAnswer(
        flags=tuple(f for f in match["flags"].split("|") if f),
        weight=int(match["weight"]),
        tech="IAX2" if match["tech"] == "IAX" else match["tech"],
        dest=match["dest"],
        eid=match["eid"],
    )


class _Block:
    def __init__(self, at: datetime, thread: int, view: str, command: str) -> None:
        self.at, self.thread, self.view, self.command = at, thread, view, command
        self.flags: re.Match[str] | None = None
        self.ies: list[tuple[str, str]] = []

    def frame(self, node: str) -> LoggedFrame | None:
        if self.flags is None:
            return None
        return LoggedFrame(
            node=node,
            at=self.at,
            thread=self.thread,
            view=self.view,
            command=self.command.strip(),
            final=bool(self.flags["final"]),
            strans=int(self.flags["strans"]),
            dtrans=int(self.flags["dtrans"]),
            ip=self.flags["ip"],
            ies=tuple(self.ies),
        )


def parse_log(node: str, lines: Iterable[str]) -> tuple[list[LoggedFrame], list[Notice]]:
    """Every DUNDi frame and transaction failure in a node's log lines, in log order."""
    frames: list[LoggedFrame] = []
    notices: list[Notice] = []
    open_blocks: dict[int, _Block] = {}

    def close(thread: int) -> None:
        block = open_blocks.pop(thread, None)
        if block and (frame := block.frame(node)):
            frames.append(frame)

    for line in lines:
        match = _LINE.match(line)
        if not match:
            continue  # boot lines, other modules, the bare newline after ENCDATA
        at, thread, text = parse_time(match["at"]), int(match["thread"]), match["text"]
        if match["level"] != "VERBOSE":
            if notice := _notice(node, at, text):
                notices.append(notice)
            continue
        if head := _HEAD.match(text):
            close(thread)
            open_blocks[thread] = _Block(at, thread, head["view"], head["command"])
            continue
        block = open_blocks.get(thread)
        if block is None:
            continue
        if block.flags is None and (flags := _FLAGS.match(text)):
            block.flags = flags
        elif block.flags is not None and (ie := _IE.match(text)):
            block.ies.append((ie["name"], ie["value"]))
        else:
            close(thread)  # the blank line that ends a block, or something unexpected
    for thread in list(open_blocks):
        close(thread)
    frames.sort(key=lambda f: f.at)  # stable: same-millisecond frames keep log order
    return frames, notices


def _notice(node: str, at: datetime, text: str) -> Notice | None:
    if match := _AUTOKILL.search(text):
        return Notice(node, at, "autokill", eid=match["eid"])
    if match := _RETRIES.search(text):
        return Notice(node, at, "retries", ip=match["ip"], strans=int(match["t"]))
    if match := _SEND_FAILED.search(text):
        return Notice(node, at, "send-failed", ip=match["ip"], reason=match["reason"])
    return None


@dataclass(frozen=True)
class Exchange:
    """One DPDISCOVER (or PRECACHERQ) as both ends logged it, and how it ended for the
    asker."""

    asker: str
    peer: str  # a node name, or the address when it is no lab node
    query: LoggedFrame  # the asker's DPDISCOVER or PRECACHERQ
    received: LoggedFrame | None  # the peer's copy
    reply: LoggedFrame | None  # the peer's reply (DPRESPONSE, INVALID, UNKNOWN CMD ...)
    response: LoggedFrame | None  # the asker's copy of that reply: None when it was lost
    acked: bool  # the peer's ACK reached the asker
    rejected: LoggedFrame | None  # an ENCREJ the asker got
    resent: LoggedFrame | None  # after an ENCREJ: the same query again, with the full key
    gave_up: Notice | None  # the asker's autokill or retransmission give-up

    @property
    def answer_frame(self) -> LoggedFrame | None:
        """The reply, preferably as the asker got it (else as the peer sent it)."""
        return self.response or self.reply

    @property
    def lost(self) -> bool:
        """The peer replied, and the reply never reached the asker."""
        return self.reply is not None and self.response is None

    @property
    def answers(self) -> tuple[LoggedAnswer, ...]:
        frame = self.answer_frame
        parsed = (parse_answer(v) for v in (frame.all("ANSWER") if frame else ()))
        return tuple(a for a in parsed if a)


def exchanges(
    frames: Mapping[str, Sequence[LoggedFrame]],
    notices: Mapping[str, Sequence[Notice]],
    number: str,
    context: str,
    addresses: Mapping[str, str],
    eids: Mapping[str, str],
) -> list[Exchange]:
    """Every DPDISCOVER or PRECACHERQ for `number@context` any node sent, with the other
    end's frames.

    Frames pair up by address and transaction number: the query carries the
    asker's STrans, the response and ACKs carry it back as DTrans. A peer that
    does not know the session key (it restarted) answers ENCREJ; the asker then
    sends the same encrypted query again with the full key, under a new STrans
    and without a new ETx block: the two ENCRYPT frames share their ENCDATA.
    """
    names = {ip: name for name, ip in addresses.items()}

    def find(node: str, command: str, sent: bool, ip: str, **ids: int) -> LoggedFrame | None:
        return next(
            (
                f
                for f in frames.get(node, ())
                if (f.sent, f.ip) == (sent, ip)
                and (f.command in REPLIES if command == "reply" else f.command == command)
                and all(getattr(f, key) == value for key, value in ids.items())
            ),
            None,
        )

    def resent(asker: str, q: LoggedFrame, rejected: LoggedFrame) -> LoggedFrame | None:
        first = find(asker, "ENCRYPT", True, q.ip, strans=q.strans)
        return next(
            (
                f
                for f in frames.get(asker, ())
                if (f.command, f.sent, f.ip) == ("ENCRYPT", True, q.ip)
                and f.strans != q.strans
                and f.at >= rejected.at
                and first is not None
                and f.ie("ENCDATA") == first.ie("ENCDATA")
            ),
            None,
        )

    def gave_up(asker: str, peer: str, q: LoggedFrame, strans: int) -> Notice | None:
        return next(
            (
                n
                for n in notices.get(asker, ())
                if n.at >= q.at
                and (
                    (n.kind == "autokill" and n.eid == eids.get(peer))
                    or (n.kind == "retries" and (n.ip, n.strans) == (q.ip, strans))
                )
            ),
            None,
        )

    found: dict[tuple[str, str, int], Exchange] = {}
    for asker, sent in frames.items():
        for q in sent:
            wanted = (q.ie("CALLED NUMBER"), q.ie("CALLED CONTEXT")) == (number, context)
            key = (asker, q.ip, q.strans)
            if not (q.sent and q.command in QUERIES and wanted) or key in found:
                continue  # (a second copy is an unencrypted retransmission)
            peer, here = names.get(q.ip, q.ip), addresses.get(asker, "")
            rejected = find(asker, "ENCREJ", False, q.ip, dtrans=q.strans)
            again = resent(asker, q, rejected) if rejected else None
            strans = again.strans if again else q.strans
            found[key] = Exchange(
                asker=asker,
                peer=peer,
                query=q,
                received=find(peer, q.command, False, here, strans=strans),
                reply=find(peer, "reply", True, here, dtrans=strans),
                response=find(asker, "reply", False, q.ip, dtrans=strans),
                acked=find(asker, "ACK", False, q.ip, dtrans=strans) is not None,
                rejected=rejected,
                resent=again,
                gave_up=gave_up(asker, peer, q, strans),
            )
    return sorted(found.values(), key=lambda e: e.query.at)
