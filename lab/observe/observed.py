"""What each member's server showed when its files were collected, next to what the lab shows.

A member brought up from dundi-collect's archive carries `observed/`: the server's own
`dundi show peers`, `mappings`, `cache` … at collection time. For every such member:

    peers     each peer's state there and here: reachable there but not here, and the reverse
    mappings  the mapping lines there and here (hosts aside: the lab runs on its own addresses)
    cache     every number the real server held an answer for, looked up here from the same
              member: answered by the same member, by another, or not found

Every output is parsed against its header and its closing count; text that cannot be read is
an ERROR line, never "nothing there". A command the server did not know (older Asterisk) or
could not run is said so.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from lab.core.running import Lab
from lab.errors import LabError
from lab.topology import Node

__all__ = [
    "CacheEntry",
    "MemberView",
    "Unreadable",
    "compare",
    "parse_cache",
    "parse_mappings",
    "parse_peer_list",
]

PEERS, MAPPINGS, CACHE = "dundi show peers", "dundi show mappings", "dundi show cache"
MAX_CACHE_LOOKUPS = 50
_T = TypeVar("_T")
_PEER_LINE = re.compile(
    r"^(?P<eid>[0-9a-f]{2}(?::[0-9a-f]{2}){5})\s+(?P<host>\S+)\s+\((?P<dyn>[SD])\)\s+"
    r"(?P<port>\d+)\s+(?P<model>\S+)\s+(?P<avg>Unavail|\d+ ms)\s+(?P<status>\S.*?)\s*$",
    re.IGNORECASE,
)
_PEERS_END = re.compile(r"^(?P<count>\d+) dundi peers \[")
_CACHE_LINE = re.compile(
    r"^(?P<number>\S+)\s+(?P<context>\S+)\s+(?P<expires>-?\d+) sec\s+(?P<eid>\S+)\s+"
    r"(?P<weight>-?\d+)\s+(?P<tech>[^/\s]+)/(?P<dest>\S*)\s+\((?P<flags>[^)]*)\)\s*$"
)
_ENTRIES = re.compile(r"^Number of entries: (?P<count>\d+)\s*$")
_NO_COMMAND = re.compile(r"^No such command", re.MULTILINE)


class Unreadable(LabError):
    """An output that does not read as the command's table."""


@dataclass(frozen=True)
class CacheEntry:
    """One line of `dundi show cache`: a number's answer as the server held it."""

    number: str  # cut at 12 characters by Asterisk
    context: str  # cut at 16
    eid: str  # who answered
    tech: str
    dest: str


@dataclass
class MemberView:
    """One member: what its server showed next to the lab, line by line."""

    member: str
    collected: str  # when and from what Asterisk
    same: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return not self.different and not self.errors


def _table(text: str, command: str) -> list[str]:
    if _NO_COMMAND.search(text):
        raise Unreadable(f"the server's Asterisk did not know '{command}'")
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise Unreadable(f"'{command}' printed nothing (not even its header)")
    return lines


def parse_peer_list(text: str) -> dict[str, str]:
    """`dundi show peers` → status by entity ID (OK, UNREACHABLE, LAGGED, UNKNOWN,
    Unmonitored); Unreadable unless every line reads and the count line agrees."""
    lines = _table(text, PEERS)
    if not lines[0].split()[:2] == ["EID", "Host"]:
        raise Unreadable(f"no header line: {lines[0][:80]!r}")
    peers: dict[str, str] = {}
    for line in lines[1:]:
        end = _PEERS_END.match(line)
        if end:
            if int(end["count"]) != len(peers):
                raise Unreadable(f"{end['count']} peers announced, {len(peers)} read")
            return peers
        match = _PEER_LINE.match(line.strip())
        if not match:
            raise Unreadable(f"cannot read the line {line.strip()[:80]!r}")
        peers[match["eid"].lower()] = match["status"].split(" (")[0]
    raise Unreadable("no closing 'N dundi peers' line: the output was cut")


def parse_mappings(text: str) -> list[tuple[str, ...]]:
    """`dundi show mappings` → (network, weight, local context, options, tech, destination)
    per line, as Asterisk prints them (networks and contexts cut at 12, destinations at 25)."""
    lines = _table(text, MAPPINGS)
    if not lines[0].startswith("DUNDi Cntxt"):
        raise Unreadable(f"no header line: {lines[0][:80]!r}")
    found = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) not in (5, 6):
            raise Unreadable(f"cannot read the line {line.strip()[:80]!r}")
        found.append(tuple(fields) + (("",) if len(fields) == 5 else ()))
    return found


def parse_cache(text: str) -> list[CacheEntry]:
    """`dundi show cache` → its entries; Unreadable unless every line reads and the count
    line agrees."""
    lines = _table(text, CACHE)
    if not lines[0].startswith("Number"):
        raise Unreadable(f"no header line: {lines[0][:80]!r}")
    entries: list[CacheEntry] = []
    for line in lines[1:]:
        end = _ENTRIES.match(line)
        if end:
            if int(end["count"]) != len(entries):
                raise Unreadable(f"{end['count']} entries announced, {len(entries)} read")
            return entries
        match = _CACHE_LINE.match(line)
        if not match:
            raise Unreadable(f"cannot read the line {line.strip()[:80]!r}")
        entries.append(
            CacheEntry(
                match["number"],
                match["context"],
                match["eid"].lower(),
                match["tech"],
                match["dest"],
            )
        )
    raise Unreadable("no closing 'Number of entries' line: the output was cut")


def compare(lab: Lab, *, settle: float = 10.0) -> list[MemberView]:
    """Every member with observed state, next to the lab (see the module's docstring).
    `settle`: how long to wait for the lab's first probe of a peer still UNKNOWN."""
    views = []
    for node in lab.topology.nodes:
        if node.imported is None or not node.imported.observed:
            continue
        seen = dict(node.imported.observed)
        view = MemberView(node.name, _collected(seen))
        _peers(lab, node, seen, view, settle)
        _mappings(lab, node, seen, view)
        _cache(lab, node, seen, view)
        views.append(view)
    return views


def _collected(seen: dict[str, str]) -> str:
    try:
        manifest = json.loads(seen.get("manifest.json", "{}"))
    except ValueError:
        manifest = {}
    version = re.search(r"Asterisk (\S+)", seen.get("core-show-version.txt", ""))
    when = manifest.get("created", "at an unknown time") if isinstance(manifest, dict) else ""
    return f"collected {when}" + (f", Asterisk {version.group(1)}" if version else "")


def _observed(
    seen: dict[str, str], command: str, parse: Callable[[str], _T], view: MemberView
) -> _T | None:
    """What the server showed for `command`, parsed; None (and an ERROR line) when it was
    not collected or cannot be read."""
    name = re.sub(r"[^a-z0-9]+", "-", command) + ".txt"
    if name not in seen:
        view.errors.append(f"{command}: not collected on the server (no observed/{name})")
        return None
    try:
        return parse(seen[name])
    except Unreadable as exc:
        view.errors.append(f"observed/{name}: {exc}")
        return None


def _name(lab: Lab, eid: str) -> str:
    node = lab.topology.node_by_eid(eid)
    return f"{node.name} ({eid})" if node else f"{eid} (no member)"


def _peers(lab: Lab, node: Node, seen: dict[str, str], view: MemberView, settle: float) -> None:
    there = _observed(seen, PEERS, parse_peer_list, view)
    if there is None:
        return
    deadline = time.monotonic() + settle
    while True:
        try:
            here = parse_peer_list(lab.cli(node.name, PEERS))
        except LabError as exc:
            view.errors.append(f"{PEERS} in the lab: {str(exc).splitlines()[0]}")
            return
        waiting = [e for e, s in here.items() if s == "UNKNOWN" and there.get(e) != "UNKNOWN"]
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(1)
    for eid in sorted(set(there) | set(here)):
        a, b = there.get(eid, "absent"), here.get(eid, "absent")
        if a == b:
            continue
        if b == "absent" and lab.topology.node_by_eid(eid) is None:
            b = "not in the lab (no member has this entity ID)"
        elif a == "OK":
            b += ": reachable there, not here"
        elif b == "OK":
            b += ": reachable here, not there"
        view.different.append(f"peer {_name(lab, eid)}: {a} there, {b}")
    if there == here:
        states = Counter(there.values())
        view.same.append(
            f"peers: the same {len(there)} ("
            + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            + ")"
        )


def _mapping_key(fields: tuple[str, ...]) -> tuple[str, ...]:
    """A mapping line without its host: the lab runs members on its own addresses."""
    dest = fields[5]
    return (*fields[:5], dest.split("@")[0] + "@…" if "@" in dest else dest)


def _mappings(lab: Lab, node: Node, seen: dict[str, str], view: MemberView) -> None:
    lines = _observed(seen, MAPPINGS, parse_mappings, view)
    if lines is None:
        return
    there = Counter(_mapping_key(m) for m in lines)
    try:
        here = Counter(_mapping_key(m) for m in parse_mappings(lab.cli(node.name, MAPPINGS)))
    except LabError as exc:
        view.errors.append(f"{MAPPINGS} in the lab: {str(exc).splitlines()[0]}")
        return
    for key in sorted((there - here) + (here - there)):
        where = "there, not here" if there[key] > here[key] else "here, not there"
        view.different.append(f"mapping {' '.join(k for k in key if k)}: {where}")
    if there == here:
        view.same.append(f"mappings: the same {sum(there.values())}")


def _cache(lab: Lab, node: Node, seen: dict[str, str], view: MemberView) -> None:
    entries = _observed(seen, CACHE, parse_cache, view)
    if entries is None:
        return
    held: dict[tuple[str, str], set[str]] = {}
    for entry in entries:
        held.setdefault((entry.number, entry.context), set()).add(entry.eid)
    asked = sorted(held)[:MAX_CACHE_LOOKUPS]
    same = 0
    for number, context in asked:
        label = f"{number}@{context}"
        network = next((n for n in lab.topology.networks if n[:16] == context), None)
        if network is None or not number.isdigit():
            view.different.append(f"cache {label}: not asked here (no such network in the lab)")
            continue
        try:
            found = lab.lookup(number, network, from_node=node.name)
        except LabError as exc:
            view.errors.append(f"cache {label}: the lookup here failed: {exc}")
            continue
        here = {a.eid.lower() for a in found.answers}
        there = held[(number, context)]
        if there <= here:
            same += 1
            continue
        names = ", ".join(_name(lab, e) for e in sorted(there))
        now = ", ".join(_name(lab, e) for e in sorted(here)) if here else "not found"
        view.different.append(f"cache {label}: answered by {names} there; here {now}")
    if len(held) > len(asked):
        view.different.append(
            f"cache: {len(held) - len(asked)} more numbers held there, not asked here"
        )
    view.same.append(
        f"cache: {len(entries)} entries there, {same} of {len(asked)} numbers answered alike here"
        if held
        else "cache: empty there"
    )
