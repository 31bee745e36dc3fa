"""Scenario steps: a registry of kinds, each one class that parses, runs, describes itself and
gives its JSON Schema fragment (`lab.scenario.schema` builds schema.json from them).

A step is a mapping with exactly one kind key (`lookup`, `call`, `stop`, …) plus that kind's
modifiers. `parse_steps` turns the located YAML into frozen steps and collects every problem
with its file, line and path; nothing runs until the whole file is valid. Adding a kind is
one class with `@register`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from lab.errors import Problem
from lab.topology import Topology
from lab.topology.yamlsrc import Located, join, shown

__all__ = [
    "KINDS",
    "Context",
    "Seen",
    "Step",
    "StepResult",
    "check_kinds",
    "parse_steps",
    "register",
]


@dataclass(frozen=True)
class Seen:
    """What running a step showed: passed or not, what was seen, what was expected (on
    failure), and why it was skipped (the lab cannot do it here)."""

    ok: bool
    seen: str
    expected: str = ""
    skipped: str = ""


@dataclass(frozen=True)
class StepResult:
    step: Step
    ok: bool
    seconds: float
    seen: str
    expected: str = ""
    skipped: str = ""


@dataclass
class Context:
    """What parsing a step needs: the file's lines, the lab's nodes and networks, and where
    problems go."""

    src: Located
    topology: Topology
    problems: list[Problem] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.topology.nodes]

    def fail(self, path: str, message: str) -> None:
        self.problems.append(self.src.problem(path, message))

    def node(self, value: Any, path: str) -> str:
        if value is None:
            self.fail(path, f"name the node (known: {', '.join(self.names)})")
            return ""
        if str(value) not in self.names:
            self.fail(path, f"unknown node {shown(value)} (known: {', '.join(self.names)})")
        return str(value)

    def pair(self, value: Any, path: str, separator: str) -> tuple[str, str]:
        parts = value if isinstance(value, list) else str(value).split(separator)
        if len(parts) != 2:
            self.fail(path, f"name two nodes, like a{separator}b or [a, b]")
            return ("", "")
        first, second = (self.node(p.strip() if isinstance(p, str) else p, path) for p in parts)
        return first, second

    def number(self, value: Any, path: str, low: float, high: float) -> Any:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not low <= value <= high
        ):
            self.fail(
                path,
                f"must be a number from {low:g} to {high:g}, not {self.src.written(path, value)}",
            )
            return low
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"must be yes or no, not {self.src.written(path, value)}")
            return False
        return value

    def choice(self, value: Any, path: str, choices: tuple[str, ...], what: str) -> str:
        if str(value) not in choices:
            self.fail(path, f"{shown(value)} is not a {what} (valid: {', '.join(choices)})")
        return str(value)

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be some text, not {self.src.written(path, value)}")
            return ""
        return value

    def pattern(self, value: Any, path: str) -> str:
        try:
            re.compile(str(value))
        except re.error as exc:
            self.fail(path, f"not a regular expression: {exc}")
        return str(value)


class Step(ABC):
    """One step of a scenario. Subclasses are frozen dataclasses registered by `key`."""

    key: ClassVar[str]
    summary: ClassVar[str]
    modifiers: ClassVar[dict[str, dict[str, Any]]] = {}  # extra keys → schema fragment
    expects: ClassVar[dict[str, dict[str, Any]]] = {}  # `expect:` keys → schema fragment
    value_schema: ClassVar[dict[str, Any]] = {"type": "string"}
    check: ClassVar[bool] = False  # a check (wait_until may repeat it), not an action

    line: int | None

    @classmethod
    @abstractmethod
    def parse(cls, value: Any, entry: dict[str, Any], ctx: Context, path: str) -> Step:
        """The step from its YAML mapping (`value` is the kind key's value); problems go to
        `ctx`."""

    @abstractmethod
    def run(self, lab: Any) -> Seen:
        """Do the step on a running lab."""

    @abstractmethod
    def describe(self) -> str:
        """The step in a few words, for reports."""

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """This kind's step mapping as a JSON Schema fragment."""
        properties: dict[str, Any] = {cls.key: {**cls.value_schema, "description": cls.summary}}
        properties.update(cls.modifiers)
        if cls.expects:
            properties["expect"] = {
                "type": "object",
                "additionalProperties": False,
                "properties": cls.expects,
            }
        return {
            "type": "object",
            "required": [cls.key],
            "additionalProperties": False,
            "properties": properties,
        }

    @classmethod
    def allowed(cls) -> tuple[str, ...]:
        return (*cls.modifiers, *(("expect",) if cls.expects else ()))


KINDS: dict[str, type[Step]] = {}
_S = TypeVar("_S", bound=type[Step])


def register(kind: _S) -> _S:
    """Make a step kind available to scenario files under `kind.key`."""
    KINDS[kind.key] = kind
    return kind


def check_kinds() -> tuple[str, ...]:
    return tuple(key for key, kind in KINDS.items() if kind.check)


def parse_steps(ctx: Context) -> list[Step]:
    """Every step of the scenario; problems go to `ctx.problems`."""
    raw = ctx.src.data.get("steps")
    if not isinstance(raw, list) or not raw:
        ctx.fail("steps", "a scenario needs a list of at least one step")
        return []
    steps = [parse_step(entry, join("steps", i), ctx) for i, entry in enumerate(raw)]
    return [s for s in steps if s is not None]


def parse_step(
    entry: Any, path: str, ctx: Context, allowed: Callable[[type[Step]], bool] = lambda _: True
) -> Step | None:
    if not isinstance(entry, dict):
        ctx.fail(
            path,
            f"a step is a mapping like {{lookup: NUMBER@NETWORK, from: a}} "
            f"(kinds: {', '.join(KINDS)})",
        )
        return None
    kinds = [k for k in entry if k in KINDS]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        ctx.fail(path, f"a step needs exactly one kind (found: {found}; valid: {', '.join(KINDS)})")
        return None
    kind = KINDS[kinds[0]]
    if not allowed(kind):
        ctx.fail(
            join(path, kind.key),
            f"wait_until waits for a check (valid: {', '.join(check_kinds())}), not '{kind.key}'",
        )
        return None
    for key in entry:
        if key != kind.key and key not in kind.allowed():
            valid = ", ".join(kind.allowed()) or "nothing else"
            ctx.fail(
                join(path, str(key)),
                f"unknown key {shown(key)} for a {kind.key} step (valid: {valid})",
            )
    return kind.parse(entry[kind.key], entry, ctx, path)


def expectations(kind: type[Step], raw: Any, ctx: Context, path: str) -> dict[str, Any]:
    """The `expect:` mapping of a check step, keys checked against the kind's."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        ctx.fail(path, f"must be a mapping (valid keys: {', '.join(kind.expects)})")
        return {}
    for key in raw:
        if key not in kind.expects:
            ctx.fail(
                join(path, str(key)),
                f"unknown expectation {shown(key)} for a {kind.key} step "
                f"(valid: {', '.join(kind.expects)})",
            )
    return {k: v for k, v in raw.items() if k in kind.expects}


def verdict(checks: list[tuple[bool, str]], seen: str) -> Seen:
    """Passed when every (ok, what) check holds; on failure, what failed is what was
    expected."""
    failed = [what for ok, what in checks if not ok]
    expected = "; ".join(failed) if failed else "; ".join(what for _, what in checks)
    return Seen(not failed, seen, expected)
