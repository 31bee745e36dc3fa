"""Commands for a network of members' own configs: import-network, reach, diff."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click

from lab.cli.app import event_printer, fail, main, name_option, note, resolve_name, say
from lab.cli.display import print_view, reach_table
from lab.core.events import Event, Listener, Note
from lab.core.running import Lab
from lab.observe import diff, heatmap, observed, reach
from lab.topology import network


@main.command("import-network")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
def import_network_command(folder: str) -> None:
    """Print the lab a network folder describes: members matched by entity ID, the host
    names that will resolve to each, the key names, and what was left out (and why)."""
    topo, findings = network.load_network(Path(folder))
    sys.stdout.write(network.describe(topo, findings))


@main.command("reach")
@click.option("--calls", is_flag=True, help="Also place a real, verified call for every cell.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="Also write the matrix to FILE: .svg or .png (a heat map), .json.",
)
@click.option(
    "--observed",
    "with_observed",
    is_flag=True,
    help="Also show, per member collected with dundi-collect, what its server showed next "
    "to what the lab shows: peers, mappings, cached answers.",
)
@name_option
def reach_command(
    calls: bool, fmt: str, out_file: str | None, with_observed: bool, name: str | None
) -> None:
    """Every member × every prefix any member serves: a lookup as the dialplan switch does
    it (caches included) and one bypassing the caches; who answered and the path; with
    --calls a real call; with --observed the members' servers next to the lab. Exit 0 when
    every cell is OK (and, with --observed, the lab shows what every server showed), 3 when
    not."""
    lab = Lab.attach(resolve_name(name))
    views = observed.compare(lab) if with_observed else []
    if with_observed and not views:
        fail(
            f"no member of lab {lab.name} carries observed state: bring the lab up from "
            "archives made by scripts/dundi-collect (see docs/report-a-bug.md)"
        )
    matrix = reach.compute(lab, calls=calls)
    if out_file:
        write_matrix(matrix, Path(out_file))
        note(f"wrote {out_file}")
    if fmt == "json":
        data = reach.to_json(matrix)
        if with_observed:
            data["observed"] = [vars(v) | {"reproduced": v.reproduced} for v in views]
        say(json.dumps(data, indent=2))
    else:
        print_view(reach_table(matrix))
        for line in _observed_text(views):
            say(line)
    sys.exit(0 if matrix.all_ok and all(v.reproduced for v in views) else 3)


def _observed_text(views: list[observed.MemberView]) -> list[str]:
    """Each member's server next to the lab: differences and errors first, then what agrees."""
    if not views:
        return []
    lines = ["", "what the members' servers showed, next to the lab:"]
    for view in views:
        verdict = "as there" if view.reproduced else "NOT as there"
        lines.append(f"{view.member} ({view.collected}): {verdict}")
        lines += [f"  ERROR {e}" for e in view.errors]
        lines += [f"  DIFFERENT {d}" for d in view.different]
        lines += [f"  {s}" for s in view.same]
    shown_ok = sum(v.reproduced for v in views)
    lines.append(f"{shown_ok} of {len(views)} members as their servers showed")
    return lines


def write_matrix(matrix: reach.Matrix, path: Path) -> None:
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "json":
        data = (json.dumps(reach.to_json(matrix), indent=2) + "\n").encode()
    elif suffix in ("svg", "png", "dot"):
        data = heatmap.render(matrix, suffix)
    else:
        fail(f"--out {path}: write .svg, .png, .dot or .json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@main.command("diff")
@click.argument("base", required=False, type=click.Path(exists=True, file_okay=False))
@click.argument("head", required=False, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--git", "revision", help="Compare FOLDER (BASE) at this git revision with it as it is now."
)
@click.option("--calls", is_flag=True, help="Also place a real, verified call for every cell.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def diff_command(
    base: str | None, head: str | None, revision: str | None, calls: bool, fmt: str
) -> None:
    """What a change does to every route: BASE and HEAD network folders (or, with --git REV,
    one folder at REV and as it is now) both brought up, both matrices compared. Exit 1 when
    a route is lost or a lint error is new; 0 otherwise."""
    with tempfile.TemporaryDirectory(prefix="dundi-lab-git-") as tmp:
        if revision:
            if head is not None:
                fail("with --git, name one folder: the network folder to compare with REV")
            head = base or "."
            base = str(diff.checkout(Path(head), revision, Path(tmp)))
        if base is None or head is None:
            fail("name BASE and HEAD network folders, or use --git REV [FOLDER]")
        result = diff.run(Path(base), Path(head), calls=calls, on_event=_quiet_printer())
    if fmt == "json":
        say(json.dumps(_as_json(result), indent=2))
    else:
        for line in _as_text(result):
            say(line)
    sys.exit(1 if result.failed else 0)


def _quiet_printer() -> Listener:
    """Only what matters while two labs come up at once: each ready, and the notes."""
    show = event_printer()

    def printer(event: Event) -> None:
        if isinstance(event, Note) and event.text.startswith(("network:", "base:", "head:")):
            show(event)

    return printer


def _as_text(result: diff.Diff) -> list[str]:
    lines = [
        f"routes: {len(result.base.cells)} cells before, {len(result.head.cells)} after"
        f" ({result.base.seconds:.1f} s and {result.head.seconds:.1f} s)"
    ]
    for title, changes in (
        ("routes lost", result.lost),
        ("routes gained", result.gained),
        ("answered by someone else", result.elsewhere),
        ("paths changed", result.paths),
    ):
        if changes:
            lines.append(f"{title} ({len(changes)}):")
            lines += [f"  {c}" for c in changes]
    for title, found in (("lint: new", result.lint_new), ("lint: fixed", result.lint_fixed)):
        if found:
            lines.append(f"{title} ({len(found)}):")
            lines += [f"  {line}" for line in found]
    if not result.changed:
        lines.append("no change: every route and every lint finding is as it was")
    lines.append(result.verdict)
    return lines


def _as_json(result: diff.Diff) -> dict[str, object]:
    def changes(items: tuple[diff.RouteChange, ...]) -> list[dict[str, str]]:
        return [vars(c) for c in items]

    return {
        "failed": result.failed,
        "lost": changes(result.lost),
        "gained": changes(result.gained),
        "answered_elsewhere": changes(result.elsewhere),
        "paths_changed": changes(result.paths),
        "lint_new": list(result.lint_new),
        "lint_fixed": list(result.lint_fixed),
        "base": reach.to_json(result.base),
        "head": reach.to_json(result.head),
    }
