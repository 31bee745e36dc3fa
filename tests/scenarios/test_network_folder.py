"""The members' own network in the lab: examples/network comes up from the members' files as
they wrote them, every route is OK, calls reach the dynamic and the precaching member, and
`lab diff` names exactly the routes three realistic edits lose (and none for a comment)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.cli.commands import main
from lab.core import pipeline
from lab.core.running import Lab
from lab.core.verdict import judge_call
from lab.observe import diff, reach
from lab.topology import network
from tests.support import ROOT, unique

pytestmark = pytest.mark.docker

EXAMPLE = ROOT / "examples/network"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, reach.Matrix]]:
    topo, _ = network.load_network(EXAMPLE)
    lab = pipeline.start(topo, name=unique("net"), root=tmp_path_factory.mktemp("net"))
    try:
        yield lab, reach.compute(lab)
    finally:
        lab.down()


def head(tmp_path: Path, edit: Callable[[Path], None]) -> reach.Matrix:
    """The matrix of the example network with one edit to a copy of its files."""
    folder = tmp_path / "network"
    shutil.copytree(EXAMPLE, folder)
    edit(folder)
    topo, _ = network.load_network(folder)
    # lint reports but never stops a diff's lab: a diff shows what a broken file does
    with pipeline.up(topo, name=unique("head"), root=tmp_path / "labs", lint=False) as lab:
        return reach.compute(lab)


def replace(path: Path, old: str, new: str, after: str = "") -> None:
    text = path.read_text()
    start = text.index(after) if after else 0
    assert old in text[start:], (path, old)
    path.write_text(text[:start] + text[start:].replace(old, new, 1))


def test_every_route_of_the_example_network_is_ok(base: tuple[Lab, reach.Matrix]) -> None:
    _, matrix = base
    assert matrix.counts() == {"OK": 63, "SELF": 9}, [c for c in matrix.cells if c.verdict != "OK"]
    # foxtrot's numbers are only in delta's cache (precache): bypassing the caches finds nothing
    cell = matrix.cell("golf", "888000100@network1")
    assert cell.bypass_by == () and cell.path == (
        "golf",
        "charlie",
        "alpha",
        "bravo",
        "delta",
        "foxtrot",
    )


def test_calls_reach_the_dynamic_member_and_the_precaching_one(
    base: tuple[Lab, reach.Matrix],
) -> None:
    lab, _ = base
    for caller, number, callee in (("golf", "777000123", "echo"), ("echo", "888000200", "foxtrot")):
        judged = judge_call(lab.topology, lab.call(caller, number))
        assert judged.verified and judged.identity_of(callee), judged


MEMBERS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
PREFIXES = (
    "_034XXXXXX", "_420XXXXXX", "_310XXXXXX", "_555XXXXXX", "_777XXXXXX", "888000100",
    "888000200", "_222XXXXXX", "_999XXXXXX",
)  # fmt: skip


def cells(askers: tuple[str, ...] | str, prefixes: tuple[str, ...] | str) -> set[tuple[str, str]]:
    """(asker, prefix) of every asker × prefix given (one name or several)."""
    askers = (askers,) if isinstance(askers, str) else askers
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return {(a, f"{p}@network1") for a in askers for p in prefixes}


def others(*members: str) -> tuple[str, ...]:
    return tuple(m for m in MEMBERS if m not in members)


@pytest.mark.parametrize(
    ("edit", "lost"),
    [
        (  # golf drops its mapping line: nobody finds golf's numbers
            lambda f: replace(f / "golf/dundi.conf", "network1 =>", ";network1 =>"),
            cells(others("golf"), "_222XXXXXX"),
        ),
        (  # charlie mistypes hotel's entity ID: hotel is cut off both ways
            lambda f: replace(
                f / "charlie/dundi.conf", "[00:16:3e:08:00:08]", "[00:16:3e:08:00:80]"
            ),
            cells(others("hotel"), "_999XXXXXX")
            | cells("hotel", tuple(p for p in PREFIXES if p != "_999XXXXXX")),
        ),
        (  # delta stops permitting bravo: delta's numbers and foxtrot's (in delta's cache) are lost
            lambda f: replace(
                f / "delta/dundi.conf", "permit = network1\n", "", after="[00:16:3e:b2:00:02]"
            ),
            cells(others("delta", "foxtrot"), ("_555XXXXXX", "888000100", "888000200")),
        ),
        (  # a comment: nothing changes
            lambda f: replace(f / "alpha/dundi.conf", "[general]", "; reviewed 2026-11\n[general]"),
            set(),
        ),
    ],
    ids=["mapping-dropped", "eid-typo", "permit-narrowed", "comment-only"],
)  # fmt: skip
def test_a_diff_names_exactly_the_routes_an_edit_loses(
    base: tuple[Lab, reach.Matrix],
    tmp_path: Path,
    edit: Callable[[Path], None],
    lost: set[tuple[str, str]],
) -> None:
    _, before = base
    result = diff.compare(before, head(tmp_path, edit))
    assert {(c.asker, c.prefix) for c in result.lost} == lost
    assert not result.gained and not result.elsewhere
    assert result.failed == bool(lost)


def test_lab_diff_against_a_git_revision_fails_on_a_lost_route(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo / "network")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@example.net", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.net", "commit", "-qm", "the network")
    replace(repo / "network/golf/dundi.conf", "network1 =>", ";network1 =>")
    result = CliRunner().invoke(main, ["diff", "--git", "HEAD", str(repo / "network")])
    assert result.exit_code == 1, result.output
    assert "routes lost (7):" in result.output
    assert "alpha → _222XXXXXX@network1: OK (golf) → (not in this version)" in result.output
    assert "golf/dundi.conf: error DL401" in result.output  # the lint error it brings


def test_every_route_of_the_example_network_carries_a_verified_call(
    base: tuple[Lab, reach.Matrix],
) -> None:
    """`lab reach --calls`: a real call per OK cell, voice both ways, each member's calls at
    once; 16 ↔ 22 and the dynamic and precaching members included."""
    lab, _ = base
    matrix = reach.compute(lab, calls=True)
    assert matrix.counts() == {"OK": 63, "SELF": 9}, [
        (c.asker, c.prefix, c.detail) for c in matrix.cells if c.verdict not in ("OK", "SELF")
    ]
    assert all(c.call == "verified" for c in matrix.cells if c.verdict == "OK")
