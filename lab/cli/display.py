"""How the CLI shows a lab: status tables, the trust-edge matrix, JSON for scripts.

Every cell is a `Text` (never markup), so a name or pattern with brackets prints as written.
On a terminal the tables fit its width; into a file or a pipe they are never wrapped.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from lab.core.state import LinkState, NodeState, summary
from lab.observe.reach import Matrix

MATRIX_MAX_NODES = 16


def print_status(name: str, states: list[NodeState]) -> None:
    print_view(status_view(name, states))


def status_json(name: str, states: list[NodeState]) -> dict[str, Any]:
    ok, total, down, unprobed = summary(states)
    return {
        "lab": name,
        "links": {"ok": ok, "total": total, "down": down, "not_probed": unprobed},
        "nodes": [
            {
                "name": s.node.name,
                "ip": s.node.ip,
                "eid": s.node.eid,
                "state": s.state,
                "detail": s.detail,
                "asterisk": s.asterisk_version,
                "serves": {sv.network: list(sv.patterns) for sv in s.node.serves},
                "links": [
                    {
                        "peer": ln.peer,
                        "status": ln.status,
                        "latency_ms": ln.latency_ms,
                        "mutual": ln.mutual,
                        "why": ln.why,
                    }
                    for ln in s.links
                ],
            }
            for s in states
        ],
    }


def _short(link: LinkState) -> Text:
    """A link's state in a few characters, coloured."""
    if link.ok:
        ms = f" {link.latency_ms}ms" if link.latency_ms is not None else ""
        return Text(f"OK{ms}", style="green")
    word = link.status.split()[0] if link.status else "?"
    style = "yellow" if word.startswith(("LAGGED", "Unmonitored", "UNKNOWN")) else "red"
    return Text(word, style=style)


def status_view(name: str, states: list[NodeState]) -> Group:
    """The node table, then (up to 16 nodes) each side's view of every trust edge."""
    table = Table(title=Text(f"lab {name}"), title_justify="left")
    for column in ("node", "address", "entity ID", "Asterisk", "state", "serves", "peer links"):
        table.add_column(column)
    for s in states:
        serves = " ".join(f"{p}@{sv.network}" for sv in s.node.serves for p in sv.patterns)
        links = Text("  ").join(Text(f"{ln.peer} ") + _short(ln) for ln in s.links)
        state = Text(s.state, style="green" if s.running else "red")
        table.add_row(
            Text(s.node.name),
            Text(s.node.ip),
            Text(s.node.eid),
            Text(re.split(r"[+~]", s.asterisk_version)[0]),
            state,
            Text(serves),
            links if s.links else Text("-"),
        )
    parts: list[Any] = [table]
    if 1 < len(states) <= MATRIX_MAX_NODES:
        parts.append(matrix(states))
    ok, total, down, unprobed = summary(states)
    line = f"{len(states)} nodes, {ok}/{total} peer links OK"
    if down:
        why = sorted({ln.why for s in states for ln in s.links if ln.down})
        line += f", {down} down ({'; '.join(why)})"
    if unprobed:
        line += f", {unprobed} not probed yet (pbx_dundi probes a peer 5 s after loading)"
    for s in states:
        if s.detail:
            line += f"\n{s.node.name}: {s.state}: {s.detail}"
    parts.append(Text(line))
    return Group(*parts)


def matrix(states: list[NodeState]) -> Table:
    """Row node's view of column node: OK and latency, LAGGED, UNREACHABLE, DOWN, …; '·' no
    edge."""
    names = [s.node.name for s in states]
    table = Table(title=Text("trust edges (row's view of column)"), title_justify="left")
    table.add_column("")
    for column in names:
        table.add_column(Text(column), justify="center")
    for s in states:
        views = {ln.peer: ln for ln in s.links}
        cells = [_short(views[c]) if c in views else Text("·", style="dim") for c in names]
        table.add_row(Text(s.node.name), *cells)
    return table


def reach_table(matrix: Matrix) -> Group:
    """Members down, prefixes across; then a line for every cell that is not OK."""
    table = Table(
        title=Text(f"lab {matrix.lab}: who reaches whom (row asks, column serves)"),
        title_justify="left",
    )
    table.add_column("")
    for prefix in matrix.prefixes:
        table.add_column(Text(f"{prefix.pattern}\n{', '.join(prefix.owners)}"), justify="center")
    for member in matrix.members:
        cells = []
        for prefix in matrix.prefixes:
            cell = matrix.cell(member, prefix.label)
            word = "·" if cell.verdict == "SELF" else cell.verdict
            cells.append(Text(word, style=_REACH_STYLE.get(cell.verdict, "")))
        table.add_row(Text(member), *cells)
    lines = [
        f"{c.asker} → {c.prefix}: {c.verdict}: {c.detail}"
        + (f" (path {' → '.join(c.path)})" if c.path else "")
        for c in matrix.cells
        if c.verdict not in ("OK", "SELF")
    ]
    counts = ", ".join(f"{n} {v}" for v, n in sorted(matrix.counts().items()) if v != "SELF")
    calls = " with calls" if matrix.calls else ""
    again = (
        f"; {matrix.rechecked} lookups that found nothing asked again alone"
        if matrix.rechecked
        else ""
    )
    summary = Text(f"{counts}{calls} ({matrix.seconds:.1f} s{again})")
    return Group(table, *(Text(line) for line in lines), summary)


_REACH_STYLE = {
    "OK": "green",
    "WRONG": "yellow",
    "NOT FOUND": "red",
    "CALL FAILED": "magenta",
    "ERROR": "bold red",
}


def print_view(view: Any) -> None:
    tty = sys.stdout.isatty()
    console = Console(highlight=False, width=None if tty else 400, no_color=not tty)
    console.print(view, soft_wrap=not tty)
