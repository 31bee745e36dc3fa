"""The `lab` command: bring labs up and down, look numbers up, place calls.

One module per family of commands (`run`, `nodes`, `inspect`, `scenarios`); `commands`
imports them all onto the group `main`. `entry` is what the installed `lab` runs: Ctrl-C
while Python is still importing ends quietly too.
"""

from __future__ import annotations

import sys


def entry() -> None:
    """The `lab` executable."""
    try:
        from lab.cli.commands import main
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    main()
