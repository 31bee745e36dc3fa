"""Whether a test call proved what it should: one verdict for the CLI, the API and scenarios.

A call is verified when it was answered by the node the DUNDi answer pointed to, and what
that node sent back over the call's media names it: its node code, the extension that took
the call (the number's last four digits) and the caller number it saw (the caller's own).
Each of those is a `Check` that says what was expected and what was seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.asterisk.probes import CallResult
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
    checks: tuple[Check, ...]

    @property
    def answered(self) -> bool:
        return self.result.answered

    @property
    def verified(self) -> bool:
        """Answered, and the callee's identity and what it heard are all right."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def identity_of(self, node: str) -> bool:
        """Answered by `node`, and the code it sent back is that node's."""
        return (
            self.callee is not None
            and self.callee.name == node
            and self.result.callee_code == self.callee.code
        )


def judge_call(topo: Topology, result: CallResult) -> CallVerdict:
    """The checks of one call placed to `result.number`."""
    callee = topo.node_by_host(result.host or "")
    checks = [Check("answered", result.answered, "answered", _status(result))]
    if result.answered:
        where = callee.name if callee else f"{result.host or '?'} (not a lab node)"
        checks += [
            Check("callee", callee is not None, "a lab node's address", where),
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
        ]
    return CallVerdict(result, callee, tuple(checks))


def _status(result: CallResult) -> str:
    if result.answered:
        return "answered"
    dial = f", dial {result.dial_status}" if result.dial_status else ""
    return f"not answered: {result.status}, cause {result.cause or '?'}{dial}"
