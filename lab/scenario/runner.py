"""Scenarios: a topology plus ordered steps, each with what it expects.

A scenario file is a topology file with `steps:` (or `topology: other.yaml` plus `steps:`),
and optionally `lint: {allow: [DL401, …]}` for the lint errors it reproduces on purpose.
Steps are validated with the topology before any lab starts (`lab.scenario.steps`); `run`
executes them against a running lab and returns one result per step; `execute` does it in
a lab of its own, brought up by the same pipeline as `lab up` (lint included).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lab import topology
from lab.core.events import Listener, ignore
from lab.core.pipeline import Options, bring_up
from lab.core.running import Lab
from lab.errors import LabError, Problem, TopologyError
from lab.lint import RULES
from lab.observe.artifacts import save as artifacts_save
from lab.scenario import kinds  # noqa: F401  (register the step kinds)
from lab.scenario.steps import Context, Step, StepResult, parse_steps
from lab.topology import Topology
from lab.topology.yamlsrc import Located, join, read_located, shown

__all__ = [
    "Outcome",
    "Scenario",
    "Step",
    "StepResult",
    "execute",
    "format_result",
    "is_scenario",
    "load",
    "run",
]

_REFERENCE_KEYS = ("name", "description", "topology", "steps", "lint")


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    description: str
    topology: Topology
    steps: tuple[Step, ...]
    lint_allow: frozenset[str] = frozenset()  # lint errors the scenario reproduces on purpose


def is_scenario(path: Path) -> bool:
    """A YAML file with a top-level `steps:` key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
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
    problems: list[Problem] = []
    if reference is not None:
        problems += [
            located.problem(k, f"unknown key {shown(k)} (valid: {', '.join(_REFERENCE_KEYS)})")
            for k in data
            if k not in _REFERENCE_KEYS
        ]
        own = data.get("name")
        topo = topology.load(
            file.parent / str(reference),
            name=name or (own if isinstance(own, str) else None) or file.stem,
        )
    else:
        topo = topology.from_located(located, name=name)
    ctx = Context(located, topo)
    steps = parse_steps(ctx)
    allow = _lint_allow(located, data.get("lint"), ctx)
    problems += ctx.problems
    if problems:
        raise TopologyError(problems)
    return Scenario(
        name=topo.name,
        file=str(file),
        description=str(data.get("description", "")),
        topology=topo,
        steps=tuple(steps),
        lint_allow=allow,
    )


def _lint_allow(located: Located, value: Any, ctx: Context) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, dict) or set(value) - {"allow"}:
        ctx.fail("lint", "must be a mapping with 'allow: [CODE, …]' (lint errors to let through)")
        return frozenset()
    codes = value.get("allow") or []
    if not isinstance(codes, list):
        ctx.fail("lint.allow", "must be a list of lint codes, like [DL401, DL404]")
        return frozenset()
    for i, code in enumerate(codes):
        if str(code) not in RULES:
            ctx.fail(join("lint.allow", i), f"{shown(code)} is not a lint code (see lab lint)")
    return frozenset(str(c) for c in codes)


# ---- running ---------------------------------------------------------------

Report = Callable[[StepResult], None]


def run(scenario: Scenario, lab: Lab, report: Report = lambda _: None) -> list[StepResult]:
    """Execute the steps in order; stop at the first failure."""
    results = []
    for step in scenario.steps:
        started = time.monotonic()
        try:
            seen = step.run(lab)
            ok, said, expected, skipped = seen.ok, seen.seen, seen.expected, seen.skipped
        except LabError as exc:
            ok, said, expected, skipped = False, f"error: {exc}", "", ""
        result = StepResult(step, ok, time.monotonic() - started, said, expected, skipped)
        results.append(result)
        report(result)
        if not ok:
            break
    return results


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
    on_event: Listener = ignore,
    engine: str = "docker",
    hosts: tuple[str, ...] = (),
) -> Outcome:
    """Start the scenario's lab (on `engine`: a swarm's `hosts`), run its steps, save
    artifacts on failure, always tear down."""
    started = time.monotonic()
    topo = scenario.topology.renamed(lab_name)
    # steps start on a settled network: every trust edge probed and OK, so a step that
    # stops a node or cuts a link sees the same link states on every run
    options = Options(
        root=root,
        engine=engine,
        hosts=hosts,
        ready_timeout=max(90, 3 * len(topo.nodes)),  # 50 nodes on 2 busy cores: ~60 s
        wait_links=True,
        allow=scenario.lint_allow,
    )
    lab = bring_up(topo, options, on_event=on_event)
    dest = artifacts / lab_name if artifacts else None
    try:
        results = tuple(run(scenario, lab, report))
        outcome = Outcome(scenario, lab_name, results, time.monotonic() - started, None)
        if not outcome.passed:
            outcome = replace(outcome, artifacts=artifacts_save(lab, dest))
    except BaseException:
        artifacts_save(lab, dest)
        raise
    finally:
        lab.down()
    return replace(outcome, seconds=time.monotonic() - started)


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
