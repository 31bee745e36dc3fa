"""The files a test call leaves in the nodes' audio folders, read on the host.

For call INDEX of batch BATCH (see lab-contexts.conf.j2):

    <caller>/audio/end-lab-BATCH-INDEX.txt   how it ended, one line:
                                 STATUS|CAUSE|DIALSTATUS|HOST|FAR|START|ANSWER|HANGUP|end
    <caller>/audio/out-lab-BATCH-INDEX.wav   what the caller heard (the callee's tones)
    <callee>/audio/in-lab-BATCH-INDEX.txt    EXT|CALLER|CODE|CODEC|end: the extension that
                                             took the call, the caller number it saw, its
                                             node code, the codec (written at the answer)
    <callee>/audio/in-lab-BATCH-INDEX.wav    what the callee heard (the caller's tones)

A WAV is complete once its data size is written (format_wav writes it on close).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lab.asterisk import tones

__all__ = [
    "Callee",
    "EndRecord",
    "Heard",
    "callee_of",
    "closed_wav",
    "end_file",
    "heard_in",
    "in_file",
    "in_mark",
    "out_file",
    "parse_end",
]

_MARK = re.compile(r"^(?P<ext>\d*)\|(?P<seen>\d*)\|(?P<code>\d*)\|(?P<codec>[a-z0-9]*)\|end$")
_END_FIELDS = ("status", "cause", "dial_status", "host", "far_cause", "start", "answer", "hangup")


def end_file(batch: str, index: int) -> str:
    return f"end-lab-{batch}-{index}.txt"


def out_file(batch: str, index: int) -> str:
    return f"out-lab-{batch}-{index}.wav"


def in_file(batch: str, index: int) -> str:
    return f"in-lab-{batch}-{index}.wav"


def in_mark(batch: str, index: int) -> str:
    return f"in-lab-{batch}-{index}.txt"


@dataclass(frozen=True)
class EndRecord:
    """How a call ended, as the caller's dialplan wrote it."""

    status: str  # FOUND (dialled out), NOT_FOUND, NO_DIAL_PATTERN
    cause: str  # HANGUPCAUSE, a Q.850 number
    dial_status: str  # ANSWER, CHANUNAVAIL, CONGESTION, …
    host: str  # the address dialled (without the dial string: it holds DUNDi's secret)
    far_cause: str  # the far end's reason, e.g. "IAX2 REJECT (58)"
    start: float | None  # epoch seconds, the caller's clock
    answer: float | None
    hangup: float | None

    @property
    def setup_ms(self) -> float | None:
        if self.start is None or self.answer is None:
            return None
        return (self.answer - self.start) * 1000


def parse_end(text: str) -> EndRecord | None:
    """The end line, or None while it is not completely written."""
    text = text.strip()
    if not text.endswith("|end"):
        return None
    values = text.split("|")[:-1]
    if len(values) != len(_END_FIELDS):
        return None
    fields = dict(zip(_END_FIELDS, values, strict=True))
    return EndRecord(
        status=fields["status"],
        cause=fields["cause"],
        dial_status=fields["dial_status"],
        host=fields["host"],
        far_cause=fields["far_cause"],
        start=_seconds(fields["start"]),
        answer=_seconds(fields["answer"]),
        hangup=_seconds(fields["hangup"]),
    )


def _seconds(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def closed_wav(path: Path) -> bytes | None:
    """The file's bytes once Asterisk has closed it (its data size written), else None."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) < 44 or int.from_bytes(data[40:44], "little") == 0:
        return None
    return data


@dataclass(frozen=True)
class Heard:
    """What one side of a call heard: a node's tone pair, or not."""

    code: int | None  # the tone code of the pair heard (None: no pair)
    low_hz: int | None
    high_hz: int | None
    dbfs: float  # the weaker tone's level
    tone_seconds: float  # how long the pair was there
    level_dbfs: float  # the whole recording
    seconds: float  # its length

    @property
    def silent(self) -> bool:
        return self.level_dbfs < tones.SILENCE_DBFS

    def describe(self) -> str:
        if self.code is None:
            what = "silence" if self.silent else f"no node's tones ({self.level_dbfs:.0f} dBFS)"
            return f"{what} in {self.seconds:.2f} s"
        return f"{self.low_hz}+{self.high_hz} Hz {self.dbfs:.0f} dBFS"


def heard_in(data: bytes, source: str = "") -> Heard:
    """The tone pair a recording holds."""
    recording = tones.parse(data, "wav", source)
    found = tones.identify(recording)
    return Heard(
        code=found.code,
        low_hz=found.low_hz,
        high_hz=found.high_hz,
        dbfs=min(found.low_dbfs, found.high_dbfs),
        tone_seconds=found.tone_seconds,
        level_dbfs=found.level_dbfs,
        seconds=recording.seconds,
    )


@dataclass(frozen=True)
class Callee:
    """What the callee wrote when it answered, and where."""

    node: str  # the node whose audio folder holds it
    extension: str
    caller_seen: str
    code: str
    codec: str


def callee_of(mark: Path) -> Callee | None:
    """The callee's line `mark` (<lab>/nodes/<node>/audio/in-…txt), or None while it is not
    completely written."""
    try:
        text = mark.read_text(errors="replace").strip()
    except FileNotFoundError:
        return None
    match = _MARK.match(text)
    if match is None:
        return None
    return Callee(
        node=mark.parent.parent.name,
        extension=match["ext"],
        caller_seen=match["seen"],
        code=match["code"],
        codec=match["codec"],
    )
