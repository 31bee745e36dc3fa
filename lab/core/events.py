"""What bringing a lab up reports while it works: typed events, not progress strings.

The CLI prints them, the bench times the stages from them, tests collect them. A listener
is any callable taking an `Event`; raising from it (Ctrl-C) stops the bring-up, which then
removes what it created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lab.lint import Finding

__all__ = [
    "STAGES",
    "Event",
    "LintDone",
    "Listener",
    "NodeBooted",
    "NodeStarted",
    "Note",
    "StageDone",
    "ignore",
]

# The stages of `lab up`, in order.
STAGES = (
    "load",  # topology file → validated model
    "image",  # the Asterisk images the nodes run, built if missing
    "resolve",  # the lab's subnet and addresses
    "render",  # every node's files and keys, in memory
    "lint",  # those exact files and keys
    "claim",  # the lab's network (the lab's name and subnet are now taken)
    "write",  # the files, under the lab's folder
    "deploy",  # containers started, held until the last one runs, then released
    "boot",  # every Asterisk fully booted
    "links",  # every trust edge usable (or probed OK, with wait_links)
)


@dataclass(frozen=True)
class StageDone:
    """A stage finished after `seconds`; `detail` says what it did."""

    stage: str
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class NodeStarted:
    """A node's container runs (its Asterisk still held at the barrier)."""

    node: str
    ip: str


@dataclass(frozen=True)
class NodeBooted:
    """A node's Asterisk is fully booted, `seconds` after the containers were released."""

    node: str
    seconds: float


@dataclass(frozen=True)
class LintDone:
    """What lint found in the files about to be mounted, or (`as_written`) in imported
    members' own files as they wrote them (reported, never blocking)."""

    findings: tuple[Finding, ...]
    as_written: bool = False


@dataclass(frozen=True)
class Note:
    """Anything else worth a line: an image build step, a re-probe, an import's changes."""

    text: str


Event = StageDone | NodeStarted | NodeBooted | LintDone | Note
Listener = Callable[[Event], None]


def ignore(_: Event) -> None:
    return None
