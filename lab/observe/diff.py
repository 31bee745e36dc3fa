"""What a change to a network's files does to every route: two network folders (or one at a
git revision and as it is now), both brought up, both matrices computed, compared.

    routes lost        a cell OK before and not after (or gone with its member or prefix)
    routes gained      a cell not OK before and OK after (or new)
    answered elsewhere OK before and after, but by another member
    paths changed      the same answer over other hops
    lint new / fixed   findings of the members' files as written

A diff *fails* (for a config repository's CI) when a route is lost or a lint error is new.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lab import lint
from lab.core import pipeline
from lab.core.events import Listener, Note, ignore
from lab.core.running import Lab
from lab.errors import LabError
from lab.lint import Finding
from lab.observe import reach
from lab.topology import Topology, network

__all__ = ["Diff", "RouteChange", "checkout", "compare", "run"]


@dataclass(frozen=True)
class RouteChange:
    asker: str
    prefix: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.asker} → {self.prefix}: {self.before} → {self.after}"


@dataclass(frozen=True)
class Diff:
    base: reach.Matrix
    head: reach.Matrix
    lost: tuple[RouteChange, ...] = ()
    gained: tuple[RouteChange, ...] = ()
    elsewhere: tuple[RouteChange, ...] = ()
    paths: tuple[RouteChange, ...] = ()
    lint_new: tuple[str, ...] = ()
    lint_fixed: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> bool:
        """A route lost, or a lint error that was not there before."""
        return bool(self.lost) or any(" error " in line for line in self.lint_new)

    @property
    def verdict(self) -> str:
        """One line: why the diff fails, or that it passes."""
        errors = sum(" error " in line for line in self.lint_new)
        why = [f"{len(self.lost)} route{'s' * (len(self.lost) != 1)} lost"] if self.lost else []
        why += [f"{errors} new lint error{'s' * (errors != 1)}"] if errors else []
        return f"FAIL: {', '.join(why)}" if why else "ok: no route lost, no new lint error"

    @property
    def changed(self) -> bool:
        return any(
            (self.lost, self.gained, self.elsewhere, self.paths, self.lint_new, self.lint_fixed)
        )


def _describe(cell: reach.Cell | None) -> str:
    if cell is None:
        return "(not in this version)"
    if cell.verdict == reach.OK:
        return f"OK ({cell.answered_by[0]})"
    return f"{cell.verdict}" + (f" ({cell.detail})" if cell.detail else "")


def compare(
    base: reach.Matrix,
    head: reach.Matrix,
    base_lint: list[Finding] = (),  # type: ignore[assignment]
    head_lint: list[Finding] = (),  # type: ignore[assignment]
) -> Diff:
    """The changes from `base` to `head`, cell by cell, and in lint."""
    before = {(c.asker, c.prefix): c for c in base.cells if c.verdict != reach.SELF}
    after = {(c.asker, c.prefix): c for c in head.cells if c.verdict != reach.SELF}
    lost, gained, elsewhere, paths = [], [], [], []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        was_ok = old is not None and old.verdict == reach.OK
        is_ok = new is not None and new.verdict == reach.OK
        change = RouteChange(key[0], key[1], _describe(old), _describe(new))
        if was_ok and not is_ok:
            lost.append(change)
        elif is_ok and not was_ok:
            gained.append(change)
        elif was_ok and is_ok and old and new:
            if old.answered_by[:1] != new.answered_by[:1]:
                elsewhere.append(change)
            elif old.path and new.path and old.path != new.path:
                was, now = " → ".join(old.path), " → ".join(new.path)
                paths.append(RouteChange(key[0], key[1], was, now))
    old_lint, new_lint = _lint_lines(base_lint), _lint_lines(head_lint)
    return Diff(
        base,
        head,
        tuple(lost),
        tuple(gained),
        tuple(elsewhere),
        tuple(paths),
        tuple(sorted(new_lint - old_lint)),
        tuple(sorted(old_lint - new_lint)),
    )


def _lint_lines(findings: list[Finding]) -> set[str]:
    """Findings as comparable text: the member's file (not the folder) and no line number
    (an edit above a line moves it), so a finding that stays is not new."""
    lines = set()
    for f in findings:
        where = "/".join(Path(f.file).parts[-2:])
        lines.add(f"{where}: {f.severity} {f.code} {f.message}")
    return lines


def run(
    base: Path,
    head: Path,
    *,
    calls: bool = False,
    root: Path | None = None,
    on_event: Listener = ignore,
) -> Diff:
    """Bring both networks up at once, compute both matrices, compare; always tear down."""
    tops = {}
    for side, folder in (("base", base), ("head", head)):
        topo, _ = network.load_network(folder)
        tops[side] = topo.renamed(f"{topo.name[:24]}-{side}-{uuid.uuid4().hex[:4]}")
    lints = {side: lint.lint_members(topo) for side, topo in tops.items()}
    with tempfile.TemporaryDirectory(prefix="dundi-lab-diff-") as tmp:
        where = root or Path(tmp)
        with _labs(tops, where, on_event) as labs, ThreadPoolExecutor(len(labs)) as pool:
            jobs = {
                side: pool.submit(reach.compute, lab, calls=calls) for side, lab in labs.items()
            }
            matrices = {side: job.result() for side, job in jobs.items()}
    return compare(matrices["base"], matrices["head"], lints["base"], lints["head"])


@contextmanager
def _labs(tops: dict[str, Topology], root: Path, on_event: Listener) -> Iterator[dict[str, Lab]]:
    """Both labs up at once (lint reported, never blocking: a diff shows what a broken file
    does); both always taken down, also when one fails to come up or on Ctrl-C (a lab still
    coming up is waited for, then taken down)."""

    def up(side: str) -> Lab:
        started = time.monotonic()
        lab = pipeline.bring_up(
            tops[side], pipeline.Options(root=root / side, lint=False), on_event=on_event
        )
        took, count = time.monotonic() - started, len(tops[side].nodes)
        on_event(Note(f"{side}: lab {tops[side].name} up, {count} nodes, in {took:.1f} s"))
        return lab

    with ThreadPoolExecutor(len(tops)) as pool:
        coming = {side: pool.submit(up, side) for side in tops}
        try:
            yield {side: job.result() for side, job in coming.items()}
        finally:
            for job in coming.values():
                try:
                    lab = job.result()
                except BaseException:
                    continue
                lab.down()


def checkout(folder: Path, revision: str, dest: Path) -> Path:
    """`folder` as it was at git `revision`, written below `dest`; LabError if git cannot."""
    folder = folder.resolve()

    def git(*args: str, at: Path = folder) -> bytes:
        done = subprocess.run(["git", "-C", str(at), *args], capture_output=True, check=False)
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            raise LabError(f"git {args[0]}: {message[-1] if message else 'failed'}")
        return done.stdout

    top = Path(git("rev-parse", "--show-toplevel").decode().strip())
    relative = folder.relative_to(top).as_posix()
    archive = dest / "base.tar"
    archive.write_bytes(git("archive", "--format=tar", revision, "--", relative or ".", at=top))
    with tarfile.open(archive) as tar:
        tar.extractall(dest / "tree", filter="data")
    base = dest / "tree" / relative
    if not base.is_dir():
        raise LabError(f"{relative} does not exist at {revision}")
    return base
