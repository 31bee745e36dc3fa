"""Who reaches whom: every member × every prefix any member serves, on a running lab.

Each cell is a real lookup of a sample number from the member: first as the dialplan switch
does it (caches included), then one that bypasses the caches; with `calls`, a real IAX2
call verified as `lab call` verifies it. A cell is

    OK           answered (best answer) by the member that serves the prefix
    WRONG        answered by another member
    NOT FOUND    no answer
    CALL FAILED  (with --calls) the lookup found it but the call did not prove it
    ERROR        the lab could not run the lookup (the member is down, …)

and the member's own prefixes are not asked (a node never answers itself). The path of an
answer is read from the cache each hop keeps of it (pbx_dundi stores an answer under the
peer it came from), so no debug logging is needed.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from lab.asterisk.probes import CallResult
from lab.core.running import Lab
from lab.core.verdict import judge_call
from lab.errors import LabError
from lab.topology import Topology

__all__ = ["OK", "Cell", "Matrix", "Prefix", "compute", "from_json", "prefixes", "sample"]

OK, WRONG, NOT_FOUND, CALL_FAILED, ERROR, SELF = (
    "OK",
    "WRONG",
    "NOT FOUND",
    "CALL FAILED",
    "ERROR",
    "SELF",
)
# a cached answer: /dundi/cache/<peer it came from>/<number>/<network>/e<crc>: expiry|answers
_CACHE = re.compile(
    r"^/dundi/cache/(?P<peer>[0-9A-Fa-f]{12})/(?P<number>\d+)/(?P<net>[^/\s]+)/e\w+\s*:"
    r"\s*\d+\|(?P<answers>\S*)",
    re.M,
)
# a cached "nobody has it": the key of an entry without answers
_EMPTY = re.compile(r"^(?P<key>/dundi/cache/\S+?)\s*:\s*\d+\|\s*$", re.M)


@dataclass(frozen=True)
class Prefix:
    """A pattern some member serves, and the number the matrix tries for it."""

    network: str
    pattern: str
    owners: tuple[str, ...]
    number: str

    @property
    def label(self) -> str:
        return f"{self.pattern}@{self.network}"


@dataclass(frozen=True)
class Cell:
    asker: str
    prefix: str  # Prefix.label
    verdict: str
    answered_by: tuple[str, ...] = ()  # the best answer first
    bypass_by: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    lookup_ms: int | None = None
    call: str = ""  # with --calls: "verified", or why not
    detail: str = ""


@dataclass(frozen=True)
class Matrix:
    lab: str
    members: tuple[str, ...]
    prefixes: tuple[Prefix, ...]
    cells: tuple[Cell, ...]
    calls: bool
    seconds: float
    rechecked: int = 0  # lookups that found nothing in the burst, asked again alone

    def cell(self, asker: str, prefix: str) -> Cell:
        return next(c for c in self.cells if c.asker == asker and c.prefix == prefix)

    @property
    def all_ok(self) -> bool:
        return all(c.verdict in (OK, SELF) for c in self.cells)

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for c in self.cells:
            found[c.verdict] = found.get(c.verdict, 0) + 1
        return found


def sample(pattern: str, length: int) -> str:
    """A number a pattern matches: X → 1, Z → 1, N → 2, [a-b] → a, `.`/`!` → 1s up to the
    lab's length; a literal number is itself."""
    if not pattern.startswith("_"):
        return pattern
    body = re.sub(r"\[(.)[^\]]*\]", r"\1", pattern[1:])
    digits = body.rstrip(".!").replace("X", "1").replace("Z", "1").replace("N", "2")
    return digits.ljust(length, "1") if body[-1:] in (".", "!") else digits


def prefixes(topo: Topology) -> list[Prefix]:
    """Every pattern any member serves, with its owners and a sample number (network.yaml's
    `numbers:` first)."""
    given = dict(topo.samples)
    owners: dict[tuple[str, str], list[str]] = {}
    for node in topo.nodes:
        for service in node.serves:
            for pattern in service.patterns:
                owners.setdefault((service.network, pattern), []).append(node.name)
    return [
        Prefix(
            net,
            pattern,
            tuple(who),
            (given.get(pattern) or (sample(pattern, topo.number_length),))[0],
        )
        for (net, pattern), who in owners.items()
    ]


def compute(
    lab: Lab,
    *,
    calls: bool = False,
    workers: int = 16,
    progress: Callable[[Cell], None] = lambda _: None,
) -> Matrix:
    """The matrix of a running lab (see the module's docstring)."""
    started = time.monotonic()
    topo = lab.topology
    found = prefixes(topo)
    # Members ask in parallel, each one prefix at a time (a lookup's path is read from the
    # caches before the member's next lookup can change them), each starting at another
    # prefix, and never two members the same number at once: pbx_dundi makes a query that
    # meets a similar one in flight wait for it (spinning) and take its cached result, which
    # can be "nothing" for the path the first one took. Every lookup as the switch does it
    # comes before any bypassing one: a bypassing lookup leaves "nobody has it" in the
    # caches of the hops it crossed, which would hide from the lookups after it what only a
    # cache holds (numbers pushed with precache).
    asked = {
        n.name: [p for p in found[i:] + found[:i] if n.name not in p.owners]
        for i, n in enumerate(topo.nodes)
    }
    locks = {p.label: threading.Lock() for p in found}

    def one_at_a_time(look: Callable[[Lab, str, Prefix], _Looked]) -> Callable[[str], Any]:
        def member(asker: str) -> tuple[str, dict[str, _Looked]]:
            results = {}
            for p in asked[asker]:
                with locks[p.label]:
                    results[p.label] = look(lab, asker, p)
            return asker, results

        return member

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(asked)))) as pool:
        cached = dict(pool.map(one_at_a_time(_cached), asked))
        bypass = dict(pool.map(one_at_a_time(_bypass), asked))
        # A burst of lookups makes pbx_dundi cache "nobody has it" for answers a quiet
        # network finds (a transit node's reply while it was busy): every lookup that found
        # nothing is asked again, alone, once those entries are gone; first the ones as the
        # switch does them, then the bypassing ones (see above).
        rechecked = 0
        for results, look in ((cached, _cached), (bypass, _bypass)):
            again = [(m, p) for m in asked for p in asked[m] if results[m][p.label].missed]
            rechecked += len(again)
            if again:
                list(pool.map(lambda m: _forget_misses(lab, m), asked))
                for m, p in again:
                    results[m][p.label] = look(lab, m, p)
        list(pool.map(lambda m: _forget_misses(lab, m), asked))
    cells = []
    for node in topo.nodes:
        looked = {label: (c, bypass[node.name][label]) for label, c in cached[node.name].items()}
        for prefix in found:
            if prefix.label in looked:
                cell = _judge(node.name, prefix, *looked[prefix.label])
            else:
                cell = Cell(node.name, prefix.label, SELF, detail="its own prefix")
            cells.append(cell)
    if calls:
        cells = _with_calls(lab, cells, found)
    for cell in cells:
        progress(cell)
    return Matrix(
        lab=lab.name,
        members=tuple(n.name for n in topo.nodes),
        prefixes=tuple(found),
        cells=tuple(cells),
        calls=calls,
        seconds=time.monotonic() - started,
        rechecked=rechecked,
    )


@dataclass(frozen=True)
class _Looked:
    """One lookup: who answered (best first), how long DUNDi took, the path, or an error."""

    by: tuple[str, ...] = ()
    ms: int | None = None
    path: tuple[str, ...] = ()
    error: str = ""

    @property
    def missed(self) -> bool:
        """Nobody answered (and the reply was read)."""
        return not self.by and not self.error


def _cached(lab: Lab, asker: str, prefix: Prefix) -> _Looked:
    try:
        result = lab.lookup(prefix.number, prefix.network, from_node=asker)
        best = result.best.eid if result.best else ""
        path = _path(lab, asker, prefix, best)
    except LabError as exc:
        return _Looked(error=str(exc).splitlines()[0])
    by = _names(lab, [a.eid for a in sorted(result.answers, key=lambda a: a.weight)])
    return _Looked(tuple(by), result.asterisk_ms, path)


def _bypass(lab: Lab, asker: str, prefix: Prefix) -> _Looked:
    try:
        result = lab.lookup(prefix.number, prefix.network, from_node=asker, bypass=True)
    except LabError as exc:
        return _Looked(error=str(exc).splitlines()[0])
    by = _names(lab, [a.eid for a in sorted(result.answers, key=lambda a: a.weight)])
    return _Looked(tuple(by), result.asterisk_ms)


def _forget_misses(lab: Lab, node: str) -> None:
    """Remove the "nobody has it" entries the matrix left in a node's cache, so a second
    matrix (or a call) right after sees what the first saw; answers stay cached."""
    try:
        text = lab.cli(node, "database show dundi/cache")
        for match in _EMPTY.finditer(text):
            family, _, key = match["key"].lstrip("/").partition("/")
            lab.cli(node, f"database del {family} {key}")
    except LabError:
        return  # a node that is down keeps nothing to forget


def _judge(asker: str, prefix: Prefix, cached: _Looked, bypass: _Looked) -> Cell:
    if cached.error:
        return Cell(asker, prefix.label, ERROR, detail=cached.error)
    by = cached.by
    if not by:
        verdict, detail = NOT_FOUND, "no answer"
    elif by[0] in prefix.owners:
        verdict, detail = OK, f"answered by {by[0]}"
    else:
        verdict, detail = WRONG, f"answered by {by[0]}, not {', '.join(prefix.owners)}"
    if by and not bypass.by and not bypass.error:
        detail += " (from a cache only: bypassing the caches finds nothing)"
    return Cell(
        asker,
        prefix.label,
        verdict,
        answered_by=by,
        bypass_by=bypass.by,
        path=cached.path,
        lookup_ms=cached.ms,
        detail=detail,
    )


def _with_calls(lab: Lab, cells: list[Cell], found: list[Prefix]) -> list[Cell]:
    """A real, verified call for every OK cell. Each member places its calls all at once;
    one member after the other, because calls from several nodes at once through the DUNDi
    switch stall each other (the switch holds the dialplan lock during its lookup)."""
    prefixes = {p.label: p for p in found}
    called: dict[tuple[str, str], str] = {}
    for asker in dict.fromkeys(c.asker for c in cells):
        mine = [prefixes[c.prefix] for c in cells if c.asker == asker and c.verdict == OK]
        for network in dict.fromkeys(p.network for p in mine):
            batch = [p for p in mine if p.network == network]
            try:
                results = lab.calls(asker, [p.number for p in batch], network)
            except LabError as exc:
                results = []
                for p in batch:
                    called[(asker, p.label)] = f"error: {str(exc).splitlines()[0]}"
            for p, result in zip(batch, results, strict=False):
                called[(asker, p.label)] = _called(lab, p, result)
    out = []
    for cell in cells:
        call = called.get((cell.asker, cell.prefix))
        if call is None:
            out.append(cell)
        elif call == "verified":
            out.append(dataclasses.replace(cell, call=call))
        else:
            out.append(dataclasses.replace(cell, verdict=CALL_FAILED, call=call, detail=call))
    return out


def _called(lab: Lab, prefix: Prefix, result: CallResult) -> str:
    """ "verified", or what the call showed instead."""
    judged = judge_call(lab.topology, result)
    if judged.verified and judged.callee is not None and judged.callee.name in prefix.owners:
        return "verified"
    if judged.verified and judged.callee is not None:
        return f"answered by {judged.callee.name}"
    return "; ".join(f"{c.name}: {c.seen}" for c in judged.failed())


def _names(lab: Lab, eids: list[str]) -> list[str]:
    names = []
    for eid in eids:
        node = lab.topology.node_by_eid(eid)
        names.append(node.name if node else eid)
    return names


def _path(lab: Lab, asker: str, prefix: Prefix, answerer: str) -> tuple[str, ...]:
    """The hops of the answer, from each hop's cache: asker → … → answerer ((): unknown).
    A hop's cache holds the answer under the peer it came from."""
    end = lab.topology.node_by_eid(answerer) if answerer else None
    if end is None:
        return ()
    hops = [asker]
    origin = answerer.replace(":", "").lower()
    while hops[-1] != end.name and len(hops) <= len(lab.topology.nodes):
        text = lab.cli(hops[-1], "database show dundi/cache")
        nxt = ""
        for match in _CACHE.finditer(text):
            if (
                match["number"] == prefix.number
                and match["net"] == prefix.network
                and origin in match["answers"].lower()
            ):
                peer = lab.topology.node_by_eid(_long(match["peer"]))
                if peer is not None and peer.name not in hops:
                    nxt = peer.name
                    break
        if not nxt:
            return ()
        hops.append(nxt)
    return tuple(hops)


def _long(short: str) -> str:
    """pbx_dundi's short EID (00163EB20002) as 00:16:3e:b2:00:02."""
    return ":".join(short[i : i + 2] for i in range(0, 12, 2)).lower()


# ---- kept and read back ----------------------------------------------------------------


def to_json(matrix: Matrix) -> dict[str, Any]:
    return asdict(matrix)


def from_json(data: dict[str, Any]) -> Matrix:
    return Matrix(
        lab=data["lab"],
        members=tuple(data["members"]),
        prefixes=tuple(
            Prefix(p["network"], p["pattern"], tuple(p["owners"]), p["number"])
            for p in data["prefixes"]
        ),
        cells=tuple(
            Cell(
                **{
                    **c,
                    "answered_by": tuple(c["answered_by"]),
                    "bypass_by": tuple(c["bypass_by"]),
                    "path": tuple(c["path"]),
                }
            )
            for c in data["cells"]
        ),
        calls=bool(data["calls"]),
        seconds=float(data["seconds"]),
        rechecked=int(data.get("rechecked", 0)),
    )
