"""The `lab` command: bring labs up and down, look numbers up, place calls.

One module per family of commands; importing them registers them on `main`.
"""

from __future__ import annotations

from . import _inspect, _run, _scenarios  # noqa: F401  (register the commands)
from ._base import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
