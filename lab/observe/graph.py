"""The picture of a topology: nodes with their prefixes and Asterisk versions, trust
edges by what they let through, and the path of a `lab trace` on top.

    topo = topology.load("scenarios/seed-chain.yaml")
    print(to_mermaid(topo))
    Path("seed-chain.svg").write_bytes(render(topo, "svg"))

dundi-lab writes the DOT and Mermaid text itself; Graphviz's `dot` only turns DOT
into SVG or PNG. An edge is drawn by what each side's configuration lets through
(`include` on the asking side, `permit` on the asked side, and `inkey`):

    symmetric        both sides may ask each other        plain line
    one-way          only one side may ask (an arrow: asker → asked)
    one-sided        only one side lists the other         dashed red
    refused / wrong key / closed: a side asks and the other refuses it, a side
                     holds the wrong public key, nobody may ask: dashed red
"""

from __future__ import annotations

import html
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError
from lab.observe.trace import Hop, Trace
from lab.topology import Node, Peer, Topology

__all__ = ["FORMATS", "Edge", "edges", "format_for", "render", "to_dot", "to_mermaid"]

FORMATS = ("svg", "png", "mermaid", "dot")
_SUFFIXES = {".svg": "svg", ".png": "png", ".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot"}
_SUFFIXES[".gv"] = "dot"
BROKEN = ("one-sided", "refused", "wrong key", "closed")
_RED, _BLUE, _GREY = "#cf222e", "#0969da", "#6e7781"
_ANSWERED_FILL, _DEAD_FILL = "#dafbe1", "#ffebe9"
# words Mermaid reads as syntax when they stand alone as a node id
_MERMAID_WORDS = {"end", "graph", "subgraph", "flowchart", "style", "class", "classdef", "click"}


@dataclass(frozen=True)
class Edge:
    """A trust edge between two nodes, judged from both sides' configuration."""

    first: str
    second: str
    kind: str  # symmetric, one-way, or one of BROKEN
    label: str
    asker: str = ""  # one-way and one-sided edges: the side that asks

    @property
    def broken(self) -> bool:
        return self.kind in BROKEN

    @property
    def ends(self) -> tuple[str, str]:
        """The two nodes, the asking side first when only one side asks."""
        if self.asker == self.second:
            return self.second, self.first
        return self.first, self.second


def format_for(path: str | None) -> str:
    """The format an output file's name asks for; Mermaid when there is none."""
    return _SUFFIXES.get(Path(path).suffix.lower(), "mermaid") if path else "mermaid"


def edges(topo: Topology) -> tuple[Edge, ...]:
    """Every pair of nodes that lists the other on at least one side, in node order."""
    order = {n.name: n.index for n in topo.nodes}
    pairs = sorted(
        {tuple(sorted(e, key=order.__getitem__)) for e in topo.edges},
        key=lambda p: (order[p[0]], order[p[1]]),
    )
    return tuple(_edge(topo, topo.node(x), topo.node(y)) for x, y in pairs)


def _entry(node: Node, other: str) -> Peer | None:
    return next((p for p in node.peers if p.peer == other), None)


def _asks(topo: Topology, asker: Peer | None, asked: Peer | None) -> tuple[list[str], list[str]]:
    """Networks the asker asks about that the asked side allows, and those it refuses."""
    wanted = [net for net in topo.networks if asker and net in asker.include]
    allowed = [net for net in wanted if asked and net in asked.permit]
    return allowed, [net for net in wanted if net not in allowed]


def _edge(topo: Topology, x: Node, y: Node) -> Edge:
    px, py = _entry(x, y.name), _entry(y, x.name)
    xy, refused_xy = _asks(topo, px, py)
    yx, refused_yx = _asks(topo, py, px)
    several = len(topo.networks) > 1

    def nets(names: list[str]) -> str:
        return f" ({', '.join(names)})" if several and names != list(topo.networks) else ""

    if px is None or py is None:
        lister, unlisted = (x.name, y.name) if px else (y.name, x.name)
        asks = bool(xy or refused_xy) if px else bool(yx or refused_yx)
        label = f"one-sided: {unlisted} does not list {lister}"
        return Edge(x.name, y.name, "one-sided", label, lister if asks else "")
    wrong = [(a, p, b) for a, p, b in ((x, px, y), (y, py, x)) if p.inkey and p.inkey != b.name]
    if wrong:
        holder, entry, other = wrong[0]
        text = f"wrong key: {holder.name} holds {entry.inkey}'s key for {other.name}"
        return Edge(x.name, y.name, "wrong key", text)
    if refused_xy or refused_yx:
        side, asked, which = (x, y, refused_xy) if refused_xy else (y, x, refused_yx)
        text = f"refused: {asked.name} refuses {side.name}{nets(which)}"
        return Edge(x.name, y.name, "refused", text, side.name)
    if xy and yx:
        if xy == yx:
            return Edge(x.name, y.name, "symmetric", "symmetric" + nets(xy))
        text = f"{x.name}→{y.name}: {', '.join(xy)}; {y.name}→{x.name}: {', '.join(yx)}"
        return Edge(x.name, y.name, "symmetric", text)
    if xy or yx:
        label = "outbound → inbound" + nets(xy or yx)
        return Edge(x.name, y.name, "one-way", label, x.name if xy else y.name)
    return Edge(x.name, y.name, "closed", "closed: neither may ask")


def _node_lines(node: Node, topo: Topology, versions: Mapping[str, str]) -> list[str]:
    several = len(topo.networks) > 1
    served = [f"{p}@{s.network}" if several else p for s in node.serves for p in s.patterns] or [
        "(transit)"
    ]
    version = versions.get(node.name) or node.version
    return [node.name, *served, f"Asterisk {version.split('+')[0]}"]


def _hops(trace: Trace | None, topo: Topology) -> list[tuple[int, Hop]]:
    """The trace's hops between nodes of this topology, numbered in the order asked."""
    names = {n.name for n in topo.nodes}
    if trace is None:
        return []
    walk = [h for h in trace.walk() if h.asker in names and h.peer in names]
    return list(enumerate(walk, start=1))


def _hop_style(hop: Hop) -> tuple[str, str]:
    """(color, label) of a traced hop."""
    if hop.dead:
        text = f"{hop.outcome}, {hop.ms:.0f} ms" if hop.ms is not None else hop.outcome
        return _RED, text
    color = _BLUE if hop.outcome == "answered" else _GREY
    return color, f"{hop.ms:.0f} ms" if hop.ms is not None else hop.outcome


def _title(topo: Topology, trace: Trace | None) -> str:
    title = topo.name + (f": {topo.description}" if topo.description else "")
    if trace is not None:
        best = trace.best
        result = f"found by {best.node or best.eid}" if best else "not found"
        title += f"\ntrace {trace.number}@{trace.network} from {trace.origin}: {result}"
    return title


# ---- Graphviz ----------------------------------------------------------------------


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(
    topo: Topology, *, versions: Mapping[str, str] | None = None, trace: Trace | None = None
) -> str:
    """The topology as Graphviz DOT (a trace's path drawn over it)."""
    hops = _hops(trace, topo)
    answered = trace.best.node if trace and trace.best else None
    dead = {h.peer for h in trace.dead_ends} if trace else set()
    lines = [
        f"// generated by dundi-lab from {Path(topo.source).name}",
        f"digraph {_dot_text(topo.name)} {{",
        f'  graph [rankdir=LR, labelloc=t, fontname="Helvetica", fontsize=12, '
        f"label={_dot_text(_title(topo, trace))}];",
        '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, arrowsize=0.7];',
    ]
    for node in topo.nodes:
        name, *rest, version = (html.escape(t) for t in _node_lines(node, topo, versions or {}))
        label = f'<b>{name}</b><br/>{"<br/>".join(rest)}<br/><font point-size="9">{version}</font>'
        attrs = [f"label=<{label}>"]
        if node.name == answered:
            attrs.append(f'style="rounded,filled", fillcolor="{_ANSWERED_FILL}"')
        elif node.name in dead:
            attrs.append(f'style="rounded,filled", fillcolor="{_DEAD_FILL}"')
        if trace is not None and node.name == trace.origin:
            attrs.append("penwidth=2")
        lines.append(f"  {_dot_text(node.name)} [{', '.join(attrs)}];")
    for edge in edges(topo):
        tail, head = edge.ends
        attrs = [f"label={_dot_text(edge.label)}"]
        if not edge.asker:
            attrs.insert(0, "dir=none")
        if edge.broken:
            attrs += ["style=dashed", f'color="{_RED}"', f'fontcolor="{_RED}"']
        lines.append(f"  {_dot_text(tail)} -> {_dot_text(head)} [{', '.join(attrs)}];")
    for number, hop in hops:
        color, text = _hop_style(hop)
        style = "dotted" if hop.sent_at is None else "bold"
        label = _dot_text(f"{number}. {text}")
        lines.append(
            f"  {_dot_text(hop.asker)} -> {_dot_text(hop.peer)} [label={label}, "
            f'color="{color}", fontcolor="{color}", style={style}, penwidth=2, constraint=false];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(
    topo: Topology,
    fmt: str,
    *,
    versions: Mapping[str, str] | None = None,
    trace: Trace | None = None,
) -> bytes:
    """The picture in one of FORMATS; svg and png go through Graphviz's `dot`."""
    if fmt == "mermaid":
        return to_mermaid(topo, versions=versions, trace=trace).encode()
    dot = to_dot(topo, versions=versions, trace=trace)
    if fmt == "dot":
        return dot.encode()
    if fmt not in FORMATS:
        raise LabError(f"unknown picture format '{fmt}' (valid: {', '.join(FORMATS)})")
    try:
        done = subprocess.run(
            ["dot", f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False, timeout=60
        )
    except FileNotFoundError:
        raise LabError(
            "Graphviz's `dot` is not installed (apt-get install graphviz); "
            "--format dot or mermaid need nothing"
        ) from None
    if done.returncode != 0:
        raise LabError(f"dot -T{fmt} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


# ---- Mermaid -----------------------------------------------------------------------


def _mermaid_id(name: str) -> str:
    ident = name.replace("-", "_")
    return f"n_{ident}" if ident in _MERMAID_WORDS else ident


def _mermaid_text(text: str) -> str:
    return '"' + re.sub(r'"', "#quot;", text).replace("\n", "<br/>") + '"'


def _mermaid_edge_text(text: str) -> str:
    """An edge label, quoted only when plain text would be read as syntax."""
    return text if re.fullmatch(r"[\w .,:'→-]+", text) else _mermaid_text(text)


def to_mermaid(
    topo: Topology, *, versions: Mapping[str, str] | None = None, trace: Trace | None = None
) -> str:
    """The topology as a Mermaid flowchart (GitHub renders it in Markdown)."""
    hops = _hops(trace, topo)
    lines = [f"%% generated by dundi-lab from {Path(topo.source).name}", "flowchart LR"]
    for node in topo.nodes:
        label = "\n".join(_node_lines(node, topo, versions or {}))
        lines.append(f"  {_mermaid_id(node.name)}[{_mermaid_text(label)}]")
    styles: list[str] = []
    for index, edge in enumerate(edges(topo)):
        first, second = (_mermaid_id(end) for end in edge.ends)
        link = (
            ("-.->" if edge.asker else "-.-") if edge.broken else ("-->" if edge.asker else "---")
        )
        lines.append(f"  {first} {link}|{_mermaid_edge_text(edge.label)}| {second}")
        if edge.broken:
            styles.append(f"  linkStyle {index} stroke:{_RED},color:{_RED}")
    offset = len(edges(topo))
    for position, (number, hop) in enumerate(hops):
        color, text = _hop_style(hop)
        link = "==>" if hop.sent_at else "-.->"
        asker, peer = _mermaid_id(hop.asker), _mermaid_id(hop.peer)
        lines.append(f"  {asker} {link}|{_mermaid_edge_text(f'{number}. {text}')}| {peer}")
        styles.append(f"  linkStyle {offset + position} stroke:{color},color:{color}")
    lines += styles
    answered = trace.best.node if trace and trace.best else None
    dead = sorted({h.peer for h in trace.dead_ends} - {answered}) if trace else []
    if answered:
        lines.append(f"  classDef answered fill:{_ANSWERED_FILL},stroke:#1a7f37")
        lines.append(f"  class {_mermaid_id(answered)} answered")
    if dead:
        lines.append(f"  classDef dead fill:{_DEAD_FILL},stroke:{_RED}")
        lines.append(f"  class {','.join(_mermaid_id(d) for d in dead)} dead")
    return "\n".join(lines) + "\n"
