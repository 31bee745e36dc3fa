"""Scenarios: a topology plus ordered steps, each with what it expects.

A scenario file is a topology file with `steps:` (or `topology: other.yaml`
plus `steps:`). Steps are validated with the topology before any lab starts
(`_steps.py`); `run` executes them against a running lab (`_checks.py`) and
returns one result per step; `execute` does it in a lab of its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from lab import topology
from lab.core.running import Lab
from lab.errors import LabError, Problem, TopologyError
from lab.scenario.checks import execute_step
from lab.scenario.steps import Expect, Step, StepParser, StepResult
from lab.topology.validate import Topology
from lab.topology.yamlsrc import Located, read_located

__all__ = [
    "Expect",
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


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    description: str
    topology: Topology
    steps: tuple[Step, ...]


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
        problems += StepParser(located, topo).problems
        if problems:
            raise TopologyError(problems)
    else:
        # validate the inline topology and the steps together: one report
        topo = _inline(located, name)
    steps = StepParser(located, topo)
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


# ---- running ---------------------------------------------------------------

Report = Callable[[StepResult], None]


def run(scenario: Scenario, lab: Lab, report: Report = lambda _: None) -> list[StepResult]:
    """Execute the steps in order; stop at the first failure."""
    results = []
    for step in scenario.steps:
        started = time.monotonic()
        try:
            ok, seen, expected, skipped = execute_step(step, lab)
        except LabError as exc:
            ok, seen, expected, skipped = False, f"error: {exc}", "", ""
        result = StepResult(step, ok, time.monotonic() - started, seen, expected, skipped)
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
    progress: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """Start the scenario's lab, run its steps, save artifacts on failure, always tear down."""
    started = time.monotonic()
    # steps start on a settled network: every trust edge probed and OK, so a step that
    # stops a node or cuts a link sees the same link states on every run
    topo = scenario.topology.renamed(lab_name)
    lab = Lab.start(
        topo,
        root=root,
        ready_timeout=max(90, 3 * len(topo.nodes)),  # 50 nodes on 2 busy cores: ~60 s
        wait_links=True,
        progress=progress,
    )
    dest = artifacts / lab_name if artifacts else None
    try:
        results = tuple(run(scenario, lab, report))
        outcome = Outcome(scenario, lab_name, results, time.monotonic() - started, None)
        if not outcome.passed:
            outcome = replace(outcome, artifacts=lab.save_artifacts(dest))
    except BaseException:
        lab.save_artifacts(dest)
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
