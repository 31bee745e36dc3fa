"""The `lab` command: bring labs up and down, look numbers up, place calls.

One module per family of commands; importing them registers them on `main`.
"""

from __future__ import annotations

from lab.cli import inspect, run, scenarios  # noqa: F401  (register the commands)
from lab.cli.app import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
