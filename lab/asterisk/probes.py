"""Checks as a command plus a verdict: `show_*` builds the Asterisk command,
`parse_*` turns its output into a structured result the tests and CLI read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.asterisk.recordings import Heard
from lab.errors import LabError

__all__ = [
    "Answer",
    "CallResult",
    "LookupResult",
    "PeerState",
    "Unreadable",
    "call_channel",
    "check_number",
    "originate",
    "originate_fields",
    "parse_lookup",
    "parse_peers",
    "show_lookup",
]

_ANSWER = re.compile(
    r"^\s*\d+\.\s+(?P<weight>\d+)\s+(?P<tech>[A-Za-z0-9]+)/(?P<dest>\S+)\s+\((?P<flags>[A-Z|]*)\)"
)
_FROM = re.compile(r"^\s*from (?P<eid>[0-9a-f:]{17}), expires in (?P<expires>-?\d+) s")
_PEERS_END = re.compile(r"^\d+ dundi peers \[", re.MULTILINE)
_TOOK = re.compile(r"DUNDi lookup completed in (?P<ms>\d+) ms")
_PEER = re.compile(
    r"^(?P<eid>[0-9a-f]{2}(?::[0-9a-f]{2}){5})\s+(?P<host>\S+)\s+\((?P<dyn>[SD])\)\s+"
    r"(?P<port>\d+)\s+(?P<model>\S+)\s+(?P<avg>Unavail|\d+ ms)\s+(?P<status>.+?)\s*$"
)


@dataclass(frozen=True)
class Answer:
    """One DUNDi answer: where to call the number, and who said so."""

    weight: int
    tech: str
    dest: str
    flags: tuple[str, ...]
    eid: str
    expires: int

    @property
    def host(self) -> str:
        """The address the dial string names (`user:secret@HOST/number`)."""
        return self.dest.split("@", 1)[-1].split("/", 1)[0]

    @property
    def number(self) -> str:
        return self.dest.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class LookupResult:
    """What `dundi lookup` said."""

    number: str
    network: str
    answers: tuple[Answer, ...]
    asterisk_ms: int | None
    wall_ms: float
    raw: str

    @property
    def found(self) -> bool:
        return bool(self.answers)

    @property
    def best(self) -> Answer | None:
        """The answer a call would use: the lowest weight."""
        return min(self.answers, key=lambda a: a.weight) if self.answers else None


@dataclass(frozen=True)
class PeerState:
    """One line of `dundi show peers`."""

    eid: str
    host: str
    model: str
    status: str
    latency_ms: int | None

    @property
    def ok(self) -> bool:
        return self.status.startswith("OK")


@dataclass(frozen=True)
class CallResult:
    """A test call: how it ended, who took it, and what each side heard."""

    number: str
    caller: str  # the caller number the call carried
    answered: bool
    status: str  # FOUND (dialled out), NOT_FOUND, NO_DIAL_PATTERN, TIMEOUT, NO_RECORD
    cause: str  # HANGUPCAUSE on the caller's side
    dial_status: str  # ANSWER, CHANUNAVAIL, CONGESTION, …
    host: str | None  # the address dialled
    setup_ms: float | None  # originate → answered
    far_cause: str = ""  # the far end's reason, e.g. "IAX2 REJECT (58)"
    answered_by: str | None = None  # the node whose audio folder holds the callee's recording
    callee_extension: str | None = None  # the internal extension that took the call
    callee_saw_caller: str | None = None  # the caller number the callee saw
    callee_code: str | None = None  # the node code the callee wrote
    codec: str | None = None  # the codec the call arrived in at the callee
    caller_heard: Heard | None = None  # the callee's tones, as the caller recorded them
    callee_heard: Heard | None = None  # the caller's tones, as the callee recorded them
    wall_ms: float | None = None  # the caller's command until everything was read
    from_node: str = ""  # the lab node that placed the call
    span: tuple[float, float] | None = None  # started, hung up (epoch s, the caller's clock)


# The longest number a lab takes: 20 digits (the largest number_length) and room for
# "a digit too long" tests; anything else is refused before it reaches a node.
MAX_DIGITS = 24


def check_number(number: str) -> str:
    """`number` if it is 1 to MAX_DIGITS digits; LabError (one line) otherwise."""
    if not (isinstance(number, str) and number.isascii() and number.isdigit()):
        raise LabError(f"{number!r} is not a number: digits 0-9 only")
    if len(number) > MAX_DIGITS:
        raise LabError(
            f"'{number[:30]}…' has {len(number)} digits; a number has at most {MAX_DIGITS}"
        )
    return number


def show_lookup(number: str, network: str, *, bypass: bool = False) -> str:
    return f"dundi lookup {check_number(number)}@{network}" + (" bypass" if bypass else "")


class Unreadable(ValueError):
    """Output that does not have the shape Asterisk gives it (cut short, or something else)."""


def parse_lookup(number: str, network: str, output: str, wall_ms: float) -> LookupResult:
    """What `dundi lookup` printed; Unreadable unless it ends with "completed in N ms", so a
    cut-short reply is never read as "not found"."""
    answers: list[Answer] = []
    pending: dict[str, str] | None = None
    took = None
    for line in output.splitlines():
        if match := _ANSWER.match(line):
            pending = match.groupdict()
        elif (match := _FROM.match(line)) and pending is not None:
            answers.append(
                Answer(
                    weight=int(pending["weight"]),
                    tech=pending["tech"],
                    dest=pending["dest"],
                    flags=tuple(pending["flags"].split("|")),
                    eid=match["eid"],
                    expires=int(match["expires"]),
                )
            )
            pending = None
        elif match := _TOOK.search(line):
            took = int(match["ms"])
    if took is None:
        raise Unreadable(f"no 'DUNDi lookup completed' line in {output.strip()[:80]!r}")
    if pending is not None:
        raise Unreadable(f"an answer without its 'from' line in {output.strip()[:80]!r}")
    return LookupResult(
        number=number,
        network=network,
        answers=tuple(answers),
        asterisk_ms=took,
        wall_ms=wall_ms,
        raw=output,
    )


def parse_peers(output: str) -> dict[str, PeerState]:
    """`dundi show peers` → state by entity ID; Unreadable without the closing count line."""
    if not _PEERS_END.search(output):
        raise Unreadable(f"no 'N dundi peers' line in {output.strip()[:80]!r}")
    peers = {}
    for line in output.splitlines():
        if match := _PEER.match(line.strip()):
            status = match["status"]
            latency = re.search(r"\((\d+) ms", status)  # Asterisk cuts the column at 15
            peers[match["eid"]] = PeerState(
                eid=match["eid"],
                host=match["host"],
                model=match["model"],
                status=status,
                latency_ms=int(latency.group(1)) if latency else None,
            )
    return peers


def call_channel(batch: str, index: int, number: str, network: str) -> str:
    """The Local channel that places test call `index` of `batch` to `number`.

    Each side records what it hears into its node's audio folder, and the caller writes how
    the call ended there too (lab.asterisk.recordings reads them).
    """
    return f"Local/{batch}*{index}*{check_number(number)}@lab-call-{network}"


def originate_fields(channel: str) -> dict[str, str]:
    """A manager Originate of a test call: the channel dials out, the answered call runs
    the caller's checker (s@lab-checker)."""
    return {
        "Channel": channel,
        "Context": "lab-checker",
        "Exten": "s",
        "Priority": "1",
        "Async": "true",
        "Timeout": "30000",
    }


def originate(batch: str, index: int, number: str, network: str) -> str:
    """The same call as a CLI command (`channel originate`), for a console."""
    return (
        f"channel originate {call_channel(batch, index, number, network)} extension s@lab-checker"
    )
