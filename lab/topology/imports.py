"""The `import:` key of a node: a member's own config folder, read from disk.

The one place where loading a topology reads files other than the topology itself: each
imported node's folder (dundi.conf, iax.conf, extensions.conf, …) is read once, and its peer
sections are matched to lab nodes through `import.peers` (entity ID → node).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

from lab.asterisk.conf import ast_eid
from lab.asterisk.member import Member, MemberPeer, read_member
from lab.topology.model import MODELS, ORDERS, PRECACHE, Peer
from lab.topology.yamlsrc import join, listed, shown

__all__ = ["Reader", "lab_peer"]

_KEYS = ("dir", "peers")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Checker(Protocol):
    def fail(self, path: str, message: str) -> None: ...
    def mapping(self, value: Any, path: str, keys: tuple[str, ...]) -> dict[str, Any]: ...
    def text(self, value: Any, path: str) -> str: ...


class Reader:
    """Reads imported members' folders (each once) and maps their peers to lab nodes."""

    def __init__(self, checker: Checker, base: Path, names: list[str]) -> None:
        self.check = checker
        self.base = base
        self.names = names
        self.members: dict[str, Member] = {}
        self.mapped: dict[str, list[tuple[str, str]]] = {}

    def member(self, node: str) -> Member | None:
        return self.members.get(node)

    def mapping(self, node: str) -> list[tuple[str, str]]:
        """(member's entity ID, lab node) for each peer the topology maps."""
        return self.mapped.get(node, [])

    def peers(self, node: str, value: Any, path: str) -> list[Peer]:
        """The peers an imported node's own dundi.conf declares, mapped to lab nodes."""
        spec = self.check.mapping(value, path, _KEYS)
        member = self.read(node, spec, path)
        if member is None:
            return []
        mapping = spec.get("peers") or {}
        if not isinstance(mapping, dict):
            self.check.fail(
                join(path, "peers"),
                "must map the member's peer entity IDs to lab nodes "
                '(e.g. {"02:00:00:00:00:0c": c}), not a list or text',
            )
            return []
        known = {p.eid: p for p in member.peers}
        others = [n for n in self.names if n != node]
        result = []
        for eid, target in mapping.items():
            where = join(join(path, "peers"), str(eid))
            key = ast_eid(str(eid)) or str(eid).lower()
            if key not in known:
                theirs = listed(list(known))
                self.check.fail(
                    where,
                    f"no peer [{eid}] in {member.dir / 'dundi.conf'} (its peers: {theirs})",
                )
            elif str(target) not in others:
                self.check.fail(
                    where,
                    f"{shown(target)} is not another node of the lab (known: {listed(others)})",
                )
            else:
                p = known[key]
                self.mapped.setdefault(node, []).append((key, str(target)))
                result.append(lab_peer(p, str(target)))
        return result

    def read(self, node: str, spec: dict[str, Any], path: str) -> Member | None:
        if "dir" not in spec:
            self.check.fail(
                path, "an import needs 'dir: FOLDER' (with dundi.conf, iax.conf, extensions.conf)"
            )
            return None
        text = self.check.text(spec["dir"], join(path, "dir"))
        if not text:
            return None
        written = Path(text)
        if _CONTROL.search(text):
            self.check.fail(join(path, "dir"), f"{shown(text)} is not a folder name")
            return None
        if written.is_absolute() or ".." in written.parts:
            self.check.fail(
                join(path, "dir"),
                f"{shown(text)} must be a folder below the topology file's folder "
                "(so bundles and lab copies can carry it)",
            )
            return None
        folder = (self.base / written).resolve()
        try:
            member = read_member(folder)
        except OSError as exc:
            self.check.fail(
                join(path, "dir"),
                f"cannot read the member's configs: "
                f"{exc.strerror or exc}: {exc.filename or folder}",
            )
            return None
        self.members[node] = member
        return member


def lab_peer(p: MemberPeer, node: str) -> Peer:
    """A member's peer section as the lab's trust edge towards `node`; values pbx_dundi
    would not accept fall back to its defaults (lint tells the member about them)."""
    return Peer(
        peer=node,
        model=p.model if p.model in MODELS else "symmetric",
        include=p.include,
        permit=p.permit,
        qualify=p.qualify,
        order=p.order if p.order in ORDERS else "primary",
        precache=p.precache if p.precache in PRECACHE else "none",
        register=p.register,
        dynamic=p.dynamic,
    )
