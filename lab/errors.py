"""The lab's exception tree; every error a user can see derives from LabError.

LabError
├── TopologyError        the topology file is invalid (carries every Problem)
├── LintFailed           lint found errors in the files a lab would mount (carries them)
├── ImageError           building or finding the Asterisk image failed
├── LabRuntimeError      the container engine refused or failed an operation
│   └── NodeDied         a node's container exited (carries its log tail)
└── ReadinessTimeout     the lab did not become ready within its bound
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ImageError",
    "LabError",
    "LabRuntimeError",
    "LintFailed",
    "NodeDied",
    "Problem",
    "ReadinessTimeout",
    "TopologyError",
]


class LabError(Exception):
    """Base of every error dundi-lab reports to a user."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file: where it is and what is wrong."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class TopologyError(LabError):
    """The topology is invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class LintFailed(LabError):
    """Lint found errors in the files a lab would mount; nothing was started."""

    def __init__(self, findings: Sequence[Any]) -> None:
        self.findings = tuple(findings)
        count = len(self.findings)
        super().__init__(
            f"lab lint: {count} error{'s' * (count != 1)} in the files the lab would mount; "
            "fix them, or start anyway with --no-lint"
        )


class ImageError(LabError):
    """The Asterisk image could not be built or found."""


class LabRuntimeError(LabError):
    """Docker refused or failed an operation on the lab."""


class StaleNetworkWarning(UserWarning):
    """dockerd still counts endpoints on a lab network that has no container left (a known
    engine bug, moby#42119, seen under heavy load): the network stays until dockerd
    restarts. The lab itself is down; only its network's name and subnet stay taken."""


class NodeDied(LabRuntimeError):
    """A node's container exited while the lab needed it."""

    def __init__(self, node: str, log_tail: str) -> None:
        self.node = node
        self.log_tail = log_tail
        super().__init__(f"node {node!r} exited; last log lines:\n{log_tail}")


class ReadinessTimeout(LabError):
    """The lab was not ready (booted, peers reachable) within the bound."""
