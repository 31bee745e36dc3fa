"""Generated topologies: a ring with chords, for larger labs and benchmarks.

lab generate ring --nodes 12 --steps > scenarios/mesh-12.yaml
"""

from __future__ import annotations

from collections import deque
from typing import Any

import yaml

__all__ = ["distances", "farthest", "ring_with_chords"]


def ring_edges(count: int, chord_every: int, chord_span: int) -> list[tuple[int, int]]:
    """Ring i—i+1, plus a chord i—i+span from every `chord_every`-th node."""
    edges = {(i, (i + 1) % count) for i in range(count)}
    if chord_every and count > 4:
        for i in range(0, count, chord_every):
            j = (i + chord_span) % count
            if j != i and (j, i) not in edges and (i, j) not in edges:
                edges.add((i, j))
    return sorted((min(a, b), max(a, b)) for a, b in edges)


def distances(count: int, edges: list[tuple[int, int]], start: int) -> list[int]:
    """Hops from `start` to every node (breadth first)."""
    near: dict[int, list[int]] = {i: [] for i in range(count)}
    for a, b in edges:
        near[a].append(b)
        near[b].append(a)
    hops = [-1] * count
    hops[start] = 0
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for there in near[here]:
            if hops[there] < 0:
                hops[there] = hops[here] + 1
                queue.append(there)
    return hops


# Trust hops a lookup may need at most: DUNDi's default ttl in the lab is 32 (each hop
# forwards ttl-1), and every hop adds to the time a lookup waits.
_MAX_HOPS = 20


def default_span(count: int, chord_every: int) -> int:
    """How far chords reach by default: across the ring (nodes/2 - 1) while that keeps every
    node within `_MAX_HOPS` trust hops of every other; past that (about 160 nodes, as the
    ring's quarter grows) the multiple of `chord_every` that keeps the lab the fewest hops
    across, so that chords chain (a chord ends where the next one starts)."""
    across = max(2, count // 2 - 1)
    if not chord_every or count <= 4 or _hops_across(count, chord_every, across) <= _MAX_HOPS:
        return across
    spans = range(chord_every, count // 2, chord_every)
    return min(spans, key=lambda s: (_hops_across(count, chord_every, s), s), default=across)


def _hops_across(count: int, chord_every: int, span: int) -> int:
    """The most trust hops between two nodes (from every start of one chord period: the
    ring repeats past it)."""
    edges = ring_edges(count, chord_every, span)
    starts = range(min(count, chord_every + 1))
    return max(max(distances(count, edges, start)) for start in starts)


def farthest(count: int, edges: list[tuple[int, int]], start: int) -> int:
    """The node most trust hops away from `start` (the lowest index among equals)."""
    hops = distances(count, edges, start)
    return max(range(count), key=lambda j: (hops[j], -j))


def name(i: int) -> str:
    return f"n{i + 1:02d}"


def prefix_digits(count: int) -> int:
    """How many digits a server prefix needs so that `count` nodes each get one: 3 (100 to
    999) up to 900 nodes, then 4, 5, … (numbers are the prefix and 6 more digits)."""
    digits = 3
    while 10 ** (digits - 1) + count - 1 >= 10**digits:
        digits += 1
    return digits


def prefix(i: int, count: int) -> str:
    """Node i's server prefix: 100 + i for up to 900 nodes, 1000 + i up to 9000, …"""
    return str(10 ** (prefix_digits(count) - 1) + i)


def number(i: int, count: int = 0) -> str:
    """A number on node i: its server prefix and 6 digits."""
    return f"{prefix(i, count)}{i + 1:06d}"


def ring_with_chords(
    count: int,
    *,
    chord_every: int = 6,
    chord_span: int | None = None,
    steps: bool = False,
    lookups: bool = False,
    lab_name: str | None = None,
) -> str:
    """YAML text of a ring of `count` nodes with chords; with `lookups`, every node looks
    up a number of the node farthest from it (in trust hops, every hop asked again);
    with `steps`, every node calls that node and checks the media."""
    span = chord_span if chord_span is not None else default_span(count, chord_every)
    edges = ring_edges(count, chord_every, span)
    data: dict[str, Any] = {
        "name": lab_name or f"ring-{count}",
        "description": f"A ring of {count} nodes with chords every {chord_every} nodes "
        f"spanning {span} (generated).",
        "networks": ["network1"],
    }
    if prefix_digits(count) != 3:  # past 900 nodes: longer prefixes, longer numbers
        data["number_length"] = prefix_digits(count) + 6
    data["nodes"] = {}
    if prefix_digits(count) != 3:
        data = {
            **{k: v for k, v in data.items() if k != "nodes"},
            "number_length": prefix_digits(count) + 6,
            "nodes": {},
        }
    for i in range(count):
        peers = [name(b) for a, b in edges if a == i]
        node: dict[str, Any] = {"serves": {"network1": [f"_{prefix(i, count)}XXXXXX"]}}
        if peers:
            node["peers"] = peers
        data["nodes"][name(i)] = node
    far_of = [farthest(count, edges, i) for i in range(count)] if lookups or steps else []
    if lookups or steps:
        data["steps"] = []
    if lookups:
        data["steps"] += [
            {
                "lookup": number(far, count),
                "from": name(i),
                "bypass": True,
                "expect": {"answered_by": name(far)},
            }
            for i, far in enumerate(far_of)
        ]
    if steps:
        data["steps"] += [
            {"call": number(far, count), "from": name(i), "expect": {"callee": name(far)}}
            for i, far in enumerate(far_of)
        ]
    flags = (" --lookups" if lookups else "") + (" --steps" if steps else "")
    header = (
        f"# generated by: lab generate ring --nodes {count} --chord-every {chord_every} "
        f"--chord-span {span}{flags}"
        f"{' --name ' + lab_name if lab_name else ''}\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, width=100)
