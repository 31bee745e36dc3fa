"""Every invalid topology under errors/ is reported exactly as its .log file says.

Each errors/<case>.yaml is a bad topology; errors/<case>.log is the text a user
sees: one `file:line path: message` line per problem, every problem listed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lab import topology
from lab.errors import TopologyError

ERRORS = Path(__file__).parent / "errors"
ROOT = Path(__file__).resolve().parents[2]
CASES = sorted(path.stem for path in ERRORS.glob("*.yaml"))

GoldenCheck = Callable[[Path, str], None]


def test_there_are_error_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_invalid_topology_is_reported_as_in_its_log(
    case: str, golden: GoldenCheck, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # messages name the file as the user typed it
    with pytest.raises(TopologyError) as raised:
        topology.load(Path("tests/unit/errors") / f"{case}.yaml")
    golden(ERRORS / f"{case}.log", str(raised.value) + "\n")
