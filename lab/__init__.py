"""dundi-lab: a containerized lab of Asterisk servers that route calls with DUNDi and IAX2.

    from lab import up

    with up("scenarios/seed-chain.yaml") as lab:   # a `Lab`, torn down after the block
        lab.call("a", "555000123")

Stages, in the order `lab up` runs them: `topology` (load), `asterisk` (render), `lint`,
`runtime` (deploy), `core` (the pipeline and the running lab), `scenario`, `observe`;
`cli` is the `lab` command. Importing this package is cheap: names load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "Lab": "lab.core.running",
    "LabError": "lab.errors",
    "Topology": "lab.topology.model",
    "load": "lab.topology.validate",
    "start": "lab.core.pipeline",
    "up": "lab.core.pipeline",
}

__all__ = ["Lab", "LabError", "Topology", "__version__", "load", "start", "up"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    if name == "__version__":
        return _version()
    raise AttributeError(f"module 'lab' has no attribute {name!r}")


def _version() -> str:
    """The installed version, read when asked: importlib.metadata takes most of the time
    the `lab` command spends before `entry` can catch a Ctrl-C."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dundi-lab")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0+unknown"
