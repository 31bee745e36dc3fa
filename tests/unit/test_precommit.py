"""The pre-commit hooks are the checks `make lint` (and CI) runs, in a file pre-commit reads."""

from __future__ import annotations

import re

import yaml

from tests.unit.conftest import ROOT


def test_pre_commit_runs_what_make_lint_runs() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    makefile = (ROOT / "Makefile").read_text()
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert lint is not None
    for command in lint.group(1).split("\n"):
        tool = command.strip().split(" lab ")[0]  # e.g. $(VENV)/bin/ruff format --check
        if tool:
            assert tool.replace("$(VENV)", ".venv") in entries
    assert any("lab.scenario.schema" in e for e in entries)
