"""Stage 6, scenarios: a topology plus ordered steps, run against a real lab.

Takes a scenario file; gives a `Scenario` (validated with its topology before any lab starts)
and, run in a lab of its own, an `Outcome` with one `StepResult` per step. Step kinds are
registered classes (`lab.scenario.steps.KINDS`).
"""

from lab.scenario.runner import (
    Outcome,
    Scenario,
    Step,
    StepResult,
    execute,
    format_result,
    is_scenario,
    load,
    run,
)

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
