"""pytest collects every scenario file in scenarios/ as one test, named after it.

Enabled with `-p lab.scenario.pytest_plugin` (pyproject's addopts). Each scenario runs in
its own lab (unique name and subnet), so pytest-xdist can run them in parallel.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import scenario
from lab.errors import TopologyError

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if (
        file_path.suffix == ".yaml"
        and file_path.parent.name == "scenarios"
        and scenario.is_scenario(file_path)
    ):
        collector: pytest.Collector = ScenarioFile.from_parent(parent, path=file_path)
        return collector
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            loaded = scenario.load(self.path)
        except TopologyError as exc:
            raise self.CollectError(f"invalid scenario:\n{exc}") from None
        item = ScenarioItem.from_parent(self, name=loaded.name, loaded=loaded)
        item.add_marker(pytest.mark.docker)
        yield item


class ScenarioFailed(Exception):
    def __init__(self, outcome: scenario.Outcome) -> None:
        self.outcome = outcome


class ScenarioItem(pytest.Item):
    def __init__(self, *, loaded: scenario.Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded

    def runtest(self) -> None:
        root = self.config._tmp_path_factory.mktemp("scenario")  # type: ignore[attr-defined]
        lab_name = f"{self.loaded.name[:30]}-{uuid.uuid4().hex[:6]}"
        outcome = scenario.execute(self.loaded, lab_name=lab_name, root=root, artifacts=ARTIFACTS)
        lines = [line for r in outcome.results for line in scenario.format_result(r)]
        self.add_report_section("call", "steps", "\n".join(lines))
        if not outcome.passed:
            raise ScenarioFailed(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            outcome = excinfo.value.outcome
            lines = [
                f"scenario {outcome.scenario.name} ({outcome.scenario.file}) "
                f"failed in lab {outcome.lab}:"
            ]
            lines += [line for r in outcome.results for line in scenario.format_result(r)]
            not_run = outcome.scenario.steps[len(outcome.results) :]
            lines += [f"----  not run  {s.describe()}" for s in not_run]
            if outcome.artifacts:
                lines.append(f"artifacts (logs, configs, dundi show peers): {outcome.artifacts}")
            return "\n".join(lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.name}"
