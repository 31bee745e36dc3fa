"""Reading a batch of test calls back from the nodes' audio folders, on the host.

A call is over for the lab when the caller's end line is written and, if the call was
answered, the callee's line and both recordings are there; a recording still missing
`GRACE_S` after the end line never comes (Asterisk opens a recording at the first voice
frame: a side that heard nothing has none). Past the deadline a call is what was seen by
then (TIMEOUT if the end line never came).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lab.asterisk import recordings
from lab.asterisk.probes import CallResult
from lab.asterisk.recordings import Callee, EndRecord
from lab.paths import LabPaths

__all__ = ["GRACE_S", "collect"]

GRACE_S = 3.0
_POLL_S = 0.01


@dataclass
class _Call:
    index: int
    number: str
    end: EndRecord | None = None
    ended_at: float = 0.0  # when the host saw the end line
    out: bytes | None = None
    callee: Callee | None = None
    mark: Path | None = None
    inbound: bytes | None = None
    others: list[str] = field(default_factory=list)  # more nodes that wrote a callee line

    def answered(self) -> bool:
        return self.end is not None and self.end.dial_status == "ANSWER" and bool(self.end.answer)

    def done(self, now: float) -> bool:
        if self.end is None:
            return False
        if not self.answered():
            return True
        complete = self.out is not None and self.callee is not None and self.inbound is not None
        return complete or now - self.ended_at > GRACE_S


def collect(
    paths: LabPaths,
    nodes: Sequence[str],
    caller: str,
    caller_number: str,
    batch: str,
    numbers: Sequence[str],
    deadline: float,
    started: float,
) -> list[CallResult]:
    """Wait for every call of `batch` (placed from `caller`) to be over; read, analyse and
    remove its files; the results in the order of `numbers`."""
    calls = [_Call(i, n) for i, n in enumerate(numbers)]
    mine = paths.audio(caller)
    while True:
        now = time.monotonic()
        pending = [c for c in calls if not c.done(now)]
        marks = _marks(paths, nodes, batch) if any(c.callee is None for c in pending) else {}
        for call in pending:
            _look(call, mine, batch, marks.get(call.index, []), now)
        if not pending or now > deadline:
            break
        time.sleep(_POLL_S)
    results = [_result(c, caller, caller_number, started) for c in calls]
    for call in calls:
        _remove(call, mine, batch)
    return results


def _marks(paths: LabPaths, nodes: Sequence[str], batch: str) -> dict[int, list[Path]]:
    """Every callee line of `batch` so far, by call index (one folder listing a node)."""
    found: dict[int, list[Path]] = {}
    head = f"in-lab-{batch}-"
    for node in nodes:
        try:
            names = os.listdir(paths.audio(node))
        except FileNotFoundError:
            continue
        for name in names:
            index = name[len(head) : -len(".txt")]
            if name.startswith(head) and name.endswith(".txt") and index.isdigit():
                found.setdefault(int(index), []).append(paths.audio(node) / name)
    return found


def _look(call: _Call, mine: Path, batch: str, marks: list[Path], now: float) -> None:
    if call.end is None:
        try:
            text = (mine / recordings.end_file(batch, call.index)).read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        call.end = recordings.parse_end(text)
        call.ended_at = now
    if call.out is None:
        call.out = recordings.closed_wav(mine / recordings.out_file(batch, call.index))
    if call.callee is None:
        written = [(m, c) for m in marks if (c := recordings.callee_of(m)) is not None]
        if written:
            call.mark, call.callee = written[0]
            call.others = [c.node for _, c in written[1:]]
    if call.mark is not None and call.inbound is None:
        call.inbound = recordings.closed_wav(call.mark.with_suffix(".wav"))


def _result(call: _Call, caller: str, caller_number: str, started: float) -> CallResult:
    end, callee = call.end, call.callee
    return CallResult(
        number=call.number,
        caller=caller_number,
        answered=call.answered(),
        status=end.status if end is not None else "TIMEOUT",
        cause=end.cause if end else "",
        dial_status=end.dial_status if end else "",
        host=(end.host or None) if end else None,
        setup_ms=end.setup_ms if end else None,
        far_cause=end.far_cause if end else "",
        answered_by=callee.node if callee and not call.others else None,
        callee_extension=callee.extension if callee else None,
        callee_saw_caller=callee.caller_seen if callee else None,
        callee_code=callee.code if callee else None,
        codec=callee.codec if callee else None,
        caller_heard=recordings.heard_in(call.out, "caller") if call.out else None,
        callee_heard=recordings.heard_in(call.inbound, "callee") if call.inbound else None,
        wall_ms=(time.monotonic() - started) * 1000,
        from_node=caller,
        span=(end.start, end.hangup) if end and end.start and end.hangup else None,
    )


def _remove(call: _Call, mine: Path, batch: str) -> None:
    for name in (recordings.end_file(batch, call.index), recordings.out_file(batch, call.index)):
        (mine / name).unlink(missing_ok=True)
    if call.mark is not None:
        call.mark.unlink(missing_ok=True)
        call.mark.with_suffix(".wav").unlink(missing_ok=True)
