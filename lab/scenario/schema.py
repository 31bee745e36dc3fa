"""scenarios/schema.json, made from the topology's schema and the registered step kinds.

    python -m lab.scenario.schema > scenarios/schema.json

A unit test keeps the committed file equal to what this prints, so a new step kind reaches
editors (`# yaml-language-server: $schema=schema.json`) without anyone editing JSON by hand.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from typing import Any

from lab.scenario import kinds  # noqa: F401  (register the step kinds)
from lab.scenario.steps import KINDS

__all__ = ["schema", "text"]


def schema() -> dict[str, Any]:
    """The JSON Schema of a topology or scenario file."""
    base: dict[str, Any] = json.loads(
        resources.files("lab.topology").joinpath("schema.json").read_text(encoding="utf-8")
    )
    base["$id"] = "dundi-lab/scenario.schema.json"
    base["title"] = "dundi-lab topology or scenario"
    base["description"] = (
        "A lab topology; with `steps` it is also a scenario (`lab test FILE`). `lab validate` "
        "checks more than this schema can (known nodes, pattern lengths, addresses)."
    )
    base["properties"]["topology"] = {
        "type": "string",
        "description": (
            "A topology file to use instead of an inline one (path relative to this file)"
        ),
    }
    base["properties"]["steps"] = {
        "type": "array",
        "items": {"$ref": "#/$defs/step"},
        "minItems": 1,
    }
    base["properties"]["lint"] = {
        "type": "object",
        "additionalProperties": False,
        "description": "lint errors this scenario reproduces on purpose",
        "properties": {
            "allow": {"type": "array", "items": {"type": "string", "pattern": "^DL[0-9]{3}$"}}
        },
    }
    base["$defs"]["check"] = {"oneOf": [k.schema() for k in KINDS.values() if k.check]}
    base["$defs"]["step"] = {
        "oneOf": [{"$ref": "#/$defs/check"}] + [k.schema() for k in KINDS.values() if not k.check]
    }
    return base


def text() -> str:
    return json.dumps(schema(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(text())
