"""The JSON Schema editors use agrees with the shipped scenarios and with the loader."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from lab import scenario
from tests.support import ROOT

SCHEMA = json.loads((ROOT / "scenarios/schema.json").read_text())
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_satisfies_the_schema_and_loads(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text()), SCHEMA)
    assert scenario.load(path).steps


def test_the_schema_rejects_a_step_with_an_unknown_kind() -> None:
    bad = {"networks": ["n"], "nodes": {"a": {}}, "steps": [{"dial": "1", "from": "a"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_the_committed_schema_is_the_one_the_step_kinds_give() -> None:
    from lab.scenario.schema import text

    assert (ROOT / "scenarios/schema.json").read_text() == text(), (
        "regenerate: python -m lab.scenario.schema > scenarios/schema.json"
    )
