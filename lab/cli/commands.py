"""Every `lab` command, registered on the group `main`."""

from __future__ import annotations

from lab.cli import inspect, network, nodes, run, scenarios  # noqa: F401  (register the commands)
from lab.cli.app import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
