"""Scenarios: a topology plus ordered steps, each with what it expects.

A scenario file is a topology file with `steps:` (or `topology: other.yaml`
plus `steps:`). Steps are validated with the topology before any lab starts;
`run` executes them against a running lab and returns one result per step.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import topology
from ._yamlsrc import Located, join, read_located
from .errors import LabError, Problem, TopologyError
from .lifecycle import Lab
from .topology import Topology

__all__ = ["Scenario", "Step", "StepResult", "is_scenario", "load", "run"]

LINK_STATES = ("OK", "UNREACHABLE", "UNMONITORED", "LAGGED", "UNKNOWN", "ABSENT")
CALL_STATUSES = ("FOUND", "NOT_FOUND", "NO_DIAL_PATTERN")
_EXPECT = {
    "lookup": ("found", "answered_by", "best", "host", "weight", "answers"),
    "call": ("answered", "callee", "media", "status"),
    "link": ("status",),
    "cli": ("match", "not_match"),
}
_MODIFIERS = {
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
KINDS = tuple(_MODIFIERS)


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
class Scenario:
    name: str
    file: str
    description: str
    topology: Topology
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class StepResult:
    step: Step
    ok: bool
    seconds: float
    seen: str
    expected: str = ""
    skipped: str = ""


def is_scenario(path: Path) -> bool:
    """A YAML file with a top-level `steps:` key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return False
    return re.search(r"^steps\s*:", text, re.MULTILINE) is not None


def load(path: str | Path, *, name: str | None = None) -> Scenario:
    """Read a scenario file; every problem in topology and steps is reported at once."""
    file = Path(path)
    located = read_located(file)
    if located.data is None or not isinstance(located.data, dict):
        raise TopologyError(located.problems or [Problem(str(file), 1, "", "not a scenario")])
    data = located.data
    reference = data.get("topology")
    if reference is not None:
        unknown = [k for k in data if k not in ("name", "description", "topology", "steps")]
        problems = [
            located.problem(k, f"unknown key '{k}' (valid: name, description, topology, steps)")
            for k in unknown
        ]
        target = file.parent / str(reference)
        topo = topology.load(target, name=name or data.get("name") or file.stem)
        problems += _StepParser(located, topo).problems
        if problems:
            raise TopologyError(problems)
    else:
        # validate the inline topology and the steps together: one report
        topo = _inline(located, name)
    steps = _StepParser(located, topo)
    if steps.problems:
        raise TopologyError(steps.problems)
    return Scenario(
        name=topo.name,
        file=str(file),
        description=str(data.get("description", "")),
        topology=topo,
        steps=tuple(steps.steps),
    )


def _inline(located: Located, name: str | None) -> Topology:
    try:
        topo = topology.from_located(located, name=name)
    except TopologyError as exc:
        raise TopologyError(exc.problems) from None
    return topo


class _StepParser:
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
        if inner and kind not in _EXPECT:
            self.fail(
                join(path, kind),
                f"wait_until waits for a check (valid: {', '.join(_EXPECT)}), not '{kind}'",
            )
            return None
        for key in entry:
            if key != kind and key not in _MODIFIERS[kind]:
                valid = ", ".join(_MODIFIERS[kind]) or "nothing else"
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
        if kind in _EXPECT:
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
            self.fail(path, f"must be a mapping (valid keys: {', '.join(_EXPECT[kind])})")
            return Expect()
        values: dict[str, Any] = {}
        for key, value in raw.items():
            where = join(path, str(key))
            if key not in _EXPECT[kind]:
                self.fail(
                    where,
                    f"unknown expectation '{key}' for a {kind} step "
                    f"(valid: {', '.join(_EXPECT[kind])})",
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


# ---- running ---------------------------------------------------------------

Report = Callable[[StepResult], None]


def run(scenario: Scenario, lab: Lab, report: Report = lambda _: None) -> list[StepResult]:
    """Execute the steps in order; stop at the first failure."""
    results = []
    for step in scenario.steps:
        started = time.monotonic()
        try:
            ok, seen, expected, skipped = _execute(step, lab)
        except LabError as exc:
            ok, seen, expected, skipped = False, f"error: {exc}", "", ""
        result = StepResult(step, ok, time.monotonic() - started, seen, expected, skipped)
        results.append(result)
        report(result)
        if not ok:
            break
    return results


def _execute(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    """(passed, what was seen, what was expected, skip reason)."""
    nodes = step.nodes
    if step.kind == "stop":
        lab.stop_node(nodes[0])
    elif step.kind == "start":
        lab.start_node(nodes[0])
    elif step.kind == "restart":
        lab.restart_node(nodes[0])
    elif step.kind == "partition":
        lab.partition(*nodes)
    elif step.kind == "heal":
        lab.heal(*nodes)
    elif step.kind == "impair":
        try:
            lab.impair(*nodes, delay_ms=step.delay_ms, loss_pct=step.loss_pct)
        except LabError as exc:
            return True, "", "", f"the kernel cannot impair links here ({exc})"
    elif step.kind == "wait_until":
        return _wait(step, lab)
    else:
        return _check(step, lab)
    return True, "done", "", ""


def _wait(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    assert step.inner is not None
    deadline = time.monotonic() + step.within
    tries = 0
    while True:
        tries += 1
        ok, seen, expected, _ = _check(step.inner, lab)
        if ok:
            return True, f"{seen} (after {tries} tries)", expected, ""
        if time.monotonic() > deadline:
            return False, f"{seen} (still, after {step.within:.0f} s)", expected, ""
        time.sleep(1)


def _check(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    if step.kind == "lookup":
        return _check_lookup(step, lab)
    if step.kind == "call":
        return _check_call(step, lab)
    if step.kind == "link":
        return _check_link(step, lab)
    return _check_cli(step, lab)


def _verdict(checks: list[tuple[bool, str]], seen: str) -> tuple[bool, str, str, str]:
    failed = [what for ok, what in checks if not ok]
    expected = "; ".join(what for _, what in checks)
    return not failed, seen, ("" if not failed else "; ".join(failed)) or expected, ""


def _name(lab: Lab, host_or_eid: str) -> str:
    node = lab.node_for(host_or_eid)
    return node.name if node else host_or_eid


def _check_lookup(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    result = lab.lookup(step.number, step.network, from_node=step.nodes[0], bypass=step.bypass)
    e = step.expect
    by = sorted(_name(lab, a.eid) for a in result.answers)
    best = result.best
    if result.found and best is not None:
        seen = (
            f"found by {', '.join(by)}; best {_name(lab, best.eid)} at {best.host} "
            f"weight {best.weight} ({result.asterisk_ms} ms)"
        )
    else:
        seen = f"not found ({result.asterisk_ms} ms)"
    checks: list[tuple[bool, str]] = []
    if e.found is not None:
        checks.append((result.found == e.found, "found" if e.found else "not found"))
    if e.answered_by is not None:
        checks.append((by == sorted(e.answered_by), f"answered by {', '.join(e.answered_by)}"))
    if e.best is not None:
        checks.append((best is not None and _name(lab, best.eid) == e.best, f"best {e.best}"))
    if e.host is not None:
        ip = lab.topology.node(e.host).ip
        checks.append((best is not None and best.host == ip, f"host {e.host} ({ip})"))
    if e.weight is not None:
        checks.append((best is not None and best.weight == e.weight, f"weight {e.weight}"))
    if e.answers is not None:
        checks.append((len(result.answers) == e.answers, f"{e.answers} answers"))
    return _verdict(checks, seen)


def _check_call(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    result = lab.call(step.nodes[0], step.number, step.network)
    e = step.expect
    callee = lab.node_for(result.host or "")
    if result.answered:
        seen = (
            f"answered by {callee.name if callee else result.host} in "
            f"{result.setup_ms:.0f} ms, digits {result.digits or '(none)'}"
        )
    else:
        seen = (
            f"not answered: {result.status}, cause {result.cause or '?'}"
            f"{', dial ' + result.dial_status if result.dial_status else ''}"
        )
    media = (
        callee is not None
        and result.callee_code == callee.code
        and result.callee_extension == step.number[-4:]
        and result.callee_saw_caller == result.caller
    )
    checks: list[tuple[bool, str]] = []
    if e.answered is not None:
        checks.append((result.answered == e.answered, "answered" if e.answered else "not answered"))
    if e.callee is not None:
        want = lab.topology.node(e.callee)
        checks.append(
            (
                callee is not None and callee.name == e.callee and result.callee_code == want.code,
                f"answered by {e.callee}",
            )
        )
    if e.media is not None:
        checks.append(
            (
                media == e.media,
                "media verified (extension, caller, node code)"
                if e.media
                else "media not verified",
            )
        )
    if e.status is not None:
        checks.append((result.status == e.status, f"status {e.status}"))
    return _verdict(checks, seen)


def _check_link(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    node, peer = step.nodes
    links = {ln.peer: ln for ln in lab.links(node)}
    status = links[peer].status if peer in links else "ABSENT"
    want = step.expect.status or "OK"
    return _verdict(
        [(status.upper().startswith(want), f"status {want}")], f"{node} sees {peer} as {status}"
    )


def _check_cli(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    output = lab.cli(step.nodes[0], step.command)
    e = step.expect
    checks: list[tuple[bool, str]] = []
    if e.match is not None:
        checks.append(
            (re.search(e.match, output, re.MULTILINE) is not None, f"output matches /{e.match}/")
        )
    if e.not_match is not None:
        checks.append(
            (
                re.search(e.not_match, output, re.MULTILINE) is None,
                f"output does not match /{e.not_match}/",
            )
        )
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    shown = next((ln for ln in lines if e.match and re.search(e.match, ln)), None)
    seen = shown or " | ".join(lines[:2])
    return _verdict(checks, seen[:160])


@dataclass(frozen=True)
class Outcome:
    """A scenario run: its lab, each step's result, and where artifacts went on failure."""

    scenario: Scenario
    lab: str
    results: tuple[StepResult, ...]
    seconds: float
    artifacts: Path | None

    @property
    def passed(self) -> bool:
        return len(self.results) == len(self.scenario.steps) and all(r.ok for r in self.results)


def execute(
    scenario: Scenario,
    *,
    lab_name: str,
    root: Path | None = None,
    artifacts: Path | None = None,
    report: Report = lambda _: None,
    progress: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """Start the scenario's lab, run its steps, save artifacts on failure, always tear down."""
    started = time.monotonic()
    topo = scenario.topology.renamed(lab_name)
    lab = Lab.start(topo, root=root, progress=progress)
    saved = None
    try:
        results = run(scenario, lab, report)
        outcome_ok = len(results) == len(scenario.steps) and all(r.ok for r in results)
        if not outcome_ok:
            saved = lab.save_artifacts(artifacts / lab_name if artifacts else None)
    except BaseException:
        saved = lab.save_artifacts(artifacts / lab_name if artifacts else None)
        raise
    finally:
        lab.down()
    return Outcome(scenario, lab_name, tuple(results), time.monotonic() - started, saved)


def format_result(result: StepResult) -> list[str]:
    """Lines for one step: verdict, time, what it did and saw; on failure what was expected."""
    verdict = "SKIP" if result.skipped else ("PASS" if result.ok else "FAIL")
    lines = [
        f"{verdict}  {result.seconds:6.2f}s  {result.step.describe()}"
        + (f"  → {result.seen}" if result.seen and result.ok else "")
    ]
    if result.skipped:
        lines.append(f"      skipped: {result.skipped}")
    if not result.ok:
        where = f" (line {result.step.line})" if result.step.line else ""
        lines.append(f"      expected: {result.expected or 'success'}{where}")
        lines.append(f"      seen:     {result.seen}")
    return lines
