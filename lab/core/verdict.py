"""Whether a test call proved what it should: one verdict for the CLI, the API and scenarios.

A call is verified when it was answered by the node the DUNDi answer pointed to, that node
says so by its recording's place and name (its node code, the extension that took the call
— the number's last four digits — and the caller number it saw), and voice went both ways:
the caller heard the callee's tone pair and the callee heard the caller's. Each of those is
a `Check` that says what was expected and what was seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.asterisk import tones
from lab.asterisk.probes import CallResult
from lab.asterisk.recordings import Heard
from lab.topology import Node, Topology

__all__ = ["CallVerdict", "Check", "judge_call"]


@dataclass(frozen=True)
class Check:
    """One thing a call must show."""

    name: str
    ok: bool
    expected: str
    seen: str


@dataclass(frozen=True)
class CallVerdict:
    """A call and every check of it."""

    result: CallResult
    callee: Node | None  # the lab node whose address the call dialled
    caller: Node | None  # the lab node that placed it
    checks: tuple[Check, ...]

    @property
    def answered(self) -> bool:
        return self.result.answered

    @property
    def verified(self) -> bool:
        """Answered, the callee's identity right, and voice heard both ways."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def identity_of(self, node: str) -> bool:
        """Answered by `node`: dialled there, recorded there, and its code written."""
        return (
            self.callee is not None
            and self.callee.name == node
            and self.result.answered_by == node
            and self.result.callee_code == self.callee.code
        )

    def audio(self) -> str:
        """`audio: d→a 450+1700 Hz -13 dBFS ✓, a→d 400+1700 Hz -13 dBFS ✓, codec ulaw`."""
        if not self.result.answered:
            return "audio: none (not answered)"
        callee = self.callee.name if self.callee else "?"
        caller = self.caller.name if self.caller else "?"
        checks = {c.name: c for c in self.checks}
        parts = []
        for name, way, heard in (
            ("voice to caller", f"{callee}→{caller}", self.result.caller_heard),
            ("voice to callee", f"{caller}→{callee}", self.result.callee_heard),
        ):
            text = heard.describe() if heard else "no recording"
            parts.append(f"{way} {text} {'✓' if checks[name].ok else '✗'}")
        return f"audio: {', '.join(parts)}, codec {self.result.codec or '?'}"


def judge_call(topo: Topology, result: CallResult) -> CallVerdict:
    """The checks of one call placed to `result.number`."""
    callee = topo.node_by_host(result.host or "")
    caller = next((n for n in topo.nodes if n.name == result.from_node), None)
    checks = [Check("answered", result.answered, "answered", _status(result))]
    if result.answered:
        where = callee.name if callee else f"{result.host or '?'} (not a lab node)"
        checks += [
            Check("callee", callee is not None, "a lab node's address", where),
            Check(
                "answered by",
                callee is not None and result.answered_by == callee.name,
                f"{where} recorded the call",
                f"{result.answered_by or 'no single node'} recorded it",
            ),
            Check(
                "node code",
                callee is not None and result.callee_code == callee.code,
                f"code {callee.code if callee else '?'} (from {where})",
                f"code {result.callee_code or '(none)'}",
            ),
            Check(
                "extension",
                result.callee_extension == result.number[-4:],
                f"extension {result.number[-4:]}",
                f"extension {result.callee_extension or '(none)'}",
            ),
            Check(
                "caller seen",
                result.callee_saw_caller == result.caller,
                f"caller {result.caller}",
                f"caller {result.callee_saw_caller or '(none)'}",
            ),
            _voice("voice to caller", callee, result.caller_heard),
            _voice("voice to callee", caller, result.callee_heard),
        ]
    return CallVerdict(result, callee, caller, tuple(checks))


def _voice(name: str, speaker: Node | None, heard: Heard | None) -> Check:
    """The listener heard `speaker`'s tone pair."""
    if speaker is None:
        return Check(name, False, "a lab node's tones", "no lab node to expect")
    code = tones.tone_code(speaker.code)
    low, high = tones.code_tones(code)
    expected = f"{speaker.name}'s tones {low}+{high} Hz"
    if heard is None:
        return Check(name, False, expected, "no recording")
    return Check(name, heard.code == code, expected, heard.describe())


def _status(result: CallResult) -> str:
    if result.answered:
        return "answered"
    dial = f", dial {result.dial_status}" if result.dial_status else ""
    far = f", far end: {result.far_cause}" if result.far_cause else ""
    return f"not answered: {result.status}, cause {result.cause or '?'}{dial}{far}"
