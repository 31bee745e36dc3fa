"""Scenario steps: what each kind takes and expects, and their validation.

A step is a mapping with exactly one kind key (`lookup`, `call`, `stop`, …) plus
that kind's modifiers; `StepParser` turns the located YAML into frozen `Step`s and
collects every problem with its file, line and path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from lab.errors import Problem
from lab.topology.validate import Topology
from lab.topology.yamlsrc import Located, join

__all__ = ["CALL_STATUSES", "KINDS", "LINK_STATES", "Expect", "Step", "StepParser", "StepResult"]

LINK_STATES = ("OK", "UNREACHABLE", "UNMONITORED", "LAGGED", "UNKNOWN", "ABSENT")
CALL_STATUSES = ("FOUND", "NOT_FOUND", "NO_DIAL_PATTERN")
EXPECT = {
    "lookup": ("found", "answered_by", "best", "host", "weight", "answers"),
    "call": ("answered", "callee", "media", "status"),
    "link": ("status",),
    "cli": ("match", "not_match"),
}
MODIFIERS = {
    "lookup": ("from", "bypass", "expect"),
    "call": ("from", "network", "expect"),
    "link": ("expect",),
    "cli": ("node", "expect"),
    "stop": (),
    "start": (),
    "restart": (),
    "partition": (),
    "heal": (),
    "impair": ("delay_ms", "loss_pct"),
    "wait_until": ("within",),
}
KINDS = tuple(MODIFIERS)


@dataclass(frozen=True)
class Expect:
    """What a check step must see; None means 'not checked'."""

    found: bool | None = None
    answered_by: tuple[str, ...] | None = None
    best: str | None = None
    host: str | None = None
    weight: int | None = None
    answers: int | None = None
    answered: bool | None = None
    callee: str | None = None
    media: bool | None = None
    status: str | None = None
    match: str | None = None
    not_match: str | None = None


@dataclass(frozen=True)
class Step:
    """One step: a check, a fault, or a wait around a check."""

    kind: str
    line: int | None
    nodes: tuple[str, ...] = ()
    number: str = ""
    network: str = ""
    command: str = ""
    bypass: bool = False
    delay_ms: int = 0
    loss_pct: float = 0
    within: float = 90
    expect: Expect = field(default_factory=Expect)
    inner: Step | None = None

    def describe(self) -> str:
        if self.kind == "lookup":
            via = " bypass" if self.bypass else ""
            return f"lookup {self.number}@{self.network} from {self.nodes[0]}{via}"
        if self.kind == "call":
            return f"call {self.number}@{self.network} from {self.nodes[0]}"
        if self.kind == "link":
            return f"link {self.nodes[0]}->{self.nodes[1]}"
        if self.kind == "cli":
            return f"cli '{self.command}' on {self.nodes[0]}"
        if self.kind == "wait_until" and self.inner is not None:
            return f"wait until {self.inner.describe()} (≤ {self.within:.0f} s)"
        if self.kind == "impair":
            return f"impair {'-'.join(self.nodes)} delay {self.delay_ms} ms loss {self.loss_pct}%"
        return f"{self.kind} {'-'.join(self.nodes)}"


@dataclass(frozen=True)
class StepResult:
    step: Step
    ok: bool
    seconds: float
    seen: str
    expected: str = ""
    skipped: str = ""


class StepParser:
    def __init__(self, located: Located, topo: Topology) -> None:
        self.src = located
        self.topo = topo
        self.names = [n.name for n in topo.nodes]
        self.problems: list[Problem] = []
        self.steps: list[Step] = []
        raw = located.data.get("steps")
        if not isinstance(raw, list) or not raw:
            self.fail("steps", "a scenario needs a list of at least one step")
            return
        for i, entry in enumerate(raw):
            step = self.step(entry, join("steps", i))
            if step is not None:
                self.steps.append(step)

    def fail(self, path: str, message: str) -> None:
        self.problems.append(self.src.problem(path, message))

    def step(self, entry: Any, path: str, inner: bool = False) -> Step | None:
        if not isinstance(entry, dict):
            self.fail(
                path,
                f"a step is a mapping like {{lookup: NUMBER@NETWORK, from: a}} "
                f"(kinds: {', '.join(KINDS)})",
            )
            return None
        kinds = [k for k in entry if k in KINDS]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            self.fail(
                path, f"a step needs exactly one kind (found: {found}; valid: {', '.join(KINDS)})"
            )
            return None
        kind = kinds[0]
        if inner and kind not in EXPECT:
            self.fail(
                join(path, kind),
                f"wait_until waits for a check (valid: {', '.join(EXPECT)}), not '{kind}'",
            )
            return None
        for key in entry:
            if key != kind and key not in MODIFIERS[kind]:
                valid = ", ".join(MODIFIERS[kind]) or "nothing else"
                self.fail(
                    join(path, str(key)), f"unknown key '{key}' for a {kind} step (valid: {valid})"
                )
        line = self.src.line(path)
        value, where = entry[kind], join(path, kind)
        step = Step(kind=kind, line=line)
        if kind in ("lookup", "call"):
            step = self.number_step(step, value, entry, where, path)
        elif kind == "link":
            pair = self.pair(value, where, separator="->")
            step = replace(step, nodes=pair)
        elif kind == "cli":
            step = replace(
                step, command=str(value), nodes=(self.node(entry.get("node"), join(path, "node")),)
            )
        elif kind in ("stop", "start", "restart"):
            step = replace(step, nodes=(self.node(value, where),))
        elif kind in ("partition", "heal", "impair"):
            step = replace(step, nodes=self.pair(value, where, separator="-"))
            if kind == "impair":
                step = replace(
                    step,
                    delay_ms=self.number(entry.get("delay_ms", 0), join(path, "delay_ms"), 0, 5000),
                    loss_pct=self.number(entry.get("loss_pct", 0), join(path, "loss_pct"), 0, 100),
                )
        elif kind == "wait_until":
            inner_step = self.step(value, where, inner=True)
            within = self.number(entry.get("within", 90), join(path, "within"), 1, 600)
            step = replace(step, inner=inner_step, within=within)
        if kind in EXPECT:
            step = replace(
                step, expect=self.expect(kind, entry.get("expect"), join(path, "expect"))
            )
        return step

    def number_step(
        self, step: Step, value: Any, entry: dict[str, Any], where: str, path: str
    ) -> Step:
        target = str(value)
        number, _, network = target.partition("@")
        network = network or str(entry.get("network", self.topo.networks[0]))
        if not number.isdigit():
            self.fail(where, f"'{target}' must be digits, optionally @NETWORK")
        if network not in self.topo.networks:
            self.fail(
                where, f"unknown network '{network}' (known: {', '.join(self.topo.networks)})"
            )
        node = self.node(entry.get("from"), join(path, "from"))
        return replace(
            step,
            number=number,
            network=network,
            nodes=(node,),
            bypass=bool(entry.get("bypass", False)),
        )

    def node(self, value: Any, path: str) -> str:
        if value is None:
            self.fail(path, f"name the node (known: {', '.join(self.names)})")
            return ""
        if str(value) not in self.names:
            self.fail(path, f"unknown node '{value}' (known: {', '.join(self.names)})")
        return str(value)

    def pair(self, value: Any, path: str, separator: str) -> tuple[str, ...]:
        parts = value if isinstance(value, list) else str(value).split(separator)
        if len(parts) != 2:
            self.fail(path, f"name two nodes, like a{separator}b or [a, b]")
            return ("", "")
        return tuple(self.node(p.strip() if isinstance(p, str) else p, path) for p in parts)

    def number(self, value: Any, path: str, low: float, high: float) -> Any:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (low <= value <= high)
        ):
            self.fail(path, f"must be a number from {low:g} to {high:g}, not {value!r}")
            return low
        return value

    def expect(self, kind: str, raw: Any, path: str) -> Expect:
        defaults: dict[str, Any] = {
            "lookup": {"found": True},
            "call": {"answered": True, "media": True},
        }.get(kind, {})
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.fail(path, f"must be a mapping (valid keys: {', '.join(EXPECT[kind])})")
            return Expect()
        values: dict[str, Any] = {}
        for key, value in raw.items():
            where = join(path, str(key))
            if key not in EXPECT[kind]:
                self.fail(
                    where,
                    f"unknown expectation '{key}' for a {kind} step "
                    f"(valid: {', '.join(EXPECT[kind])})",
                )
            elif key in ("found", "answered", "media"):
                if not isinstance(value, bool):
                    self.fail(where, f"must be yes or no, not {value!r}")
                values[key] = value
            elif key in ("best", "host", "callee"):
                values[key] = self.node(value, where)
            elif key == "answered_by":
                names = value if isinstance(value, list) else [value]
                values[key] = tuple(self.node(v, where) for v in names)
            elif key in ("weight", "answers"):
                values[key] = int(self.number(value, where, 0, 65535))
            elif key == "status":
                choices = LINK_STATES if kind == "link" else CALL_STATUSES
                if str(value) not in choices:
                    self.fail(
                        where, f"'{value}' is not a {kind} status (valid: {', '.join(choices)})"
                    )
                values[key] = str(value)
            elif key in ("match", "not_match"):
                try:
                    re.compile(str(value))
                except re.error as exc:
                    self.fail(where, f"not a regular expression: {exc}")
                values[key] = str(value)
        if values.get("answered") is False or values.get("found") is False:
            defaults = {}
        return Expect(**{**defaults, **values})
