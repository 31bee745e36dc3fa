"""The Asterisk versions the lab knows are the image recipe's; the model and the topology
schema (kept as a file for editors) must say the same."""

from __future__ import annotations

import json

import yaml

from lab.topology.model import VERSIONS
from tests.support import ROOT


def _enums(node: object) -> list[list[str]]:
    """Every enum in the schema that lists Asterisk versions."""
    found: list[list[str]] = []
    if isinstance(node, dict):
        if "enum" in node and "22" in node["enum"]:
            found.append(node["enum"])
        for value in node.values():
            found += _enums(value)
    elif isinstance(node, list):
        for value in node:
            found += _enums(value)
    return found


def test_the_model_schema_and_image_recipe_know_the_same_versions() -> None:
    recipe = yaml.safe_load((ROOT / "images/asterisk.yaml").read_text())
    assert sorted(VERSIONS) == sorted(recipe["versions"])
    schema = json.loads((ROOT / "lab/topology/schema.json").read_text())
    enums = _enums(schema)
    assert enums, "the topology schema lists no versions"
    assert all(sorted(e) == sorted(VERSIONS) for e in enums)
