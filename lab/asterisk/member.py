"""A member's own Asterisk configs as a lab node.

dundi-lab changes only what must change for the files to run in the lab — peer
sections' entity IDs, hosts and key names, the address in mapping lines, bind
addresses, peers outside the lab — keeps every other byte, and reports each
change. It appends its own test-call contexts to extensions.conf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lab.asterisk.conf import ConfFile, Option, Section, dialplan, parse

__all__ = [
    "MEMBER_FILES",
    "Change",
    "Member",
    "MemberPeer",
    "Target",
    "member_from_texts",
    "read_member",
    "read_text",
    "rewrite",
]

MEMBER_FILES = ("dundi.conf", "iax.conf", "extensions.conf")
_EID = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$")
_VALUE = re.compile(r"^(?P<head>\s*[\w-]+\s*=>?\s*)(?P<value>[^;]*?)(?P<tail>\s*(;.*)?)$")
_GOTO = re.compile(r"^Goto\(([^,)]+),", re.IGNORECASE)


@dataclass(frozen=True)
class MemberPeer:
    """A peer section of the member's dundi.conf."""

    eid: str
    line: int
    model: str
    include: tuple[str, ...]
    permit: tuple[str, ...]
    qualify: bool
    order: str


@dataclass(frozen=True)
class Member:
    """What the lab needs to know of a member's configs."""

    dir: Path
    texts: tuple[tuple[str, str], ...]
    entityid: str
    mappings: tuple[tuple[str, str, int], ...]  # (network, context, weight)
    serves: tuple[tuple[str, tuple[str, ...]], ...]  # (network, patterns)
    peers: tuple[MemberPeer, ...]
    lookup: tuple[tuple[str, str], ...]  # (network, context with switch => DUNDi/network)
    outgoing: tuple[tuple[str, str], ...]  # (network, context that Goto()s the lookup context)
    has_internal: bool

    def text(self, name: str) -> str:
        return dict(self.texts).get(name, "")


@dataclass(frozen=True)
class Change:
    """One line dundi-lab changed in a member's file, and why."""

    file: str
    line: int
    before: str
    after: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.why}\n    - {self.before}\n    + {self.after}"


def read_text(path: Path) -> str:
    """A config file as Asterisk reads it: bytes. Whatever is not UTF-8 (a Latin-1 `é` in a
    comment) is kept byte for byte (surrogateescape) and written back the same way."""
    return path.read_bytes().decode("utf-8", "surrogateescape")


def read_member(folder: Path) -> Member:
    """Read a member's folder (dundi.conf, iax.conf, extensions.conf); OSError if missing."""
    texts = {name: read_text(folder / name) for name in MEMBER_FILES}
    for extra in sorted(folder.glob("*.conf")):
        texts.setdefault(extra.name, read_text(extra))
    return member_from_texts(folder, tuple(texts.items()))


def member_from_texts(folder: Path, files: tuple[tuple[str, str], ...]) -> Member:
    """What the lab needs of a member's files, already read (file name → text)."""
    texts = dict(files)
    dundi = parse(texts["dundi.conf"], "dundi.conf")
    ext = parse(texts["extensions.conf"], "extensions.conf")
    contexts = dialplan(ext)
    general = dundi.section("general")
    mappings = []
    for option in _options(dundi.section("mappings")):
        fields = [f.strip() for f in option.value.split(",")]
        weight = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
        mappings.append((option.name, fields[0] if fields else "", weight))
    serves = tuple(
        (net, tuple(e.pattern for e in contexts.get(ctx, ()) if e.priority == "1"))
        for net, ctx, _ in mappings
    )
    lookup = tuple(
        (o.value.split("/", 1)[1], s.name)
        for s in ext.browse()
        for o in s.options
        if o.name.lower() == "switch" and o.value.lower().startswith("dundi/")
    )
    lookup_names = {ctx: net for net, ctx in lookup}
    outgoing = []
    for name, extensions in contexts.items():
        for e in extensions:
            target = _GOTO.match(f"{e.app}({','.join(e.args)})")
            if target and target.group(1) in lookup_names:
                outgoing.append((lookup_names[target.group(1)], name))
                break
    return Member(
        dir=folder,
        texts=tuple(texts.items()),
        entityid=general.value("entityid") if general else "",
        mappings=tuple(mappings),
        serves=serves,
        peers=tuple(_peer(s) for s in dundi.browse() if _EID.match(s.name)),
        lookup=lookup,
        outgoing=tuple(outgoing),
        has_internal="internal" in contexts,
    )


def _options(section: Section | None) -> tuple[Option, ...]:
    return section.options if section else ()


def _peer(section: Section) -> MemberPeer:
    qualify = section.value("qualify", "no").lower()
    return MemberPeer(
        eid=section.name.lower(),
        line=section.line,
        model=section.value("model", "symmetric").lower(),
        include=tuple(o.value for o in section.all("include")),
        permit=tuple(o.value for o in section.all("permit")),
        qualify=qualify not in ("no", "false", "0", ""),
        order=section.value("order", "primary").lower(),
    )


@dataclass(frozen=True)
class Target:
    """What a rewrite needs of the lab: this node and its mapped peers."""

    node: str
    ip: str
    eid: str
    peers: tuple[tuple[str, str, str, str], ...]  # (member EID, lab node, its EID, its IP)


def rewrite(member: Member, target: Target) -> tuple[dict[str, str], list[Change]]:
    """The member's files as they run in the lab, and every change made to them."""
    changes: list[Change] = []
    files = dict(member.texts)
    files["dundi.conf"] = _rewrite_dundi(member.text("dundi.conf"), target, changes)
    files["iax.conf"] = _rewrite_iax(member.text("iax.conf"), changes)
    return files, changes


class _Lines:
    """A file's lines, changed one at a time with a record of each change."""

    def __init__(self, text: str, file: str, changes: list[Change]) -> None:
        self.lines = text.splitlines(keepends=True)
        self.file = file
        self.changes = changes

    def set(self, number: int, new: str, why: str) -> None:
        old = self.lines[number - 1]
        ending = old[len(old.rstrip("\r\n")) :] or "\n"
        if old.rstrip("\r\n") != new:
            self.lines[number - 1] = new + ending
            self.changes.append(Change(self.file, number, old.rstrip("\r\n"), new, why))

    def value(self, number: int, value: str, why: str) -> None:
        match = _VALUE.match(self.lines[number - 1].rstrip("\r\n"))
        if match:
            self.set(number, match["head"] + value + match["tail"], why)

    def insert_after(self, number: int, new: str, why: str) -> None:
        self.lines.insert(number, new + "\n")
        self.changes.append(Change(self.file, number + 1, "(nothing)", new, why))

    def text(self) -> str:
        return "".join(self.lines)


def _rewrite_dundi(text: str, target: Target, changes: list[Change]) -> str:
    dundi = parse(text, "dundi.conf")
    lines = _Lines(text, "dundi.conf", changes)
    mapped = {eid.lower(): (node, peer_eid, ip) for eid, node, peer_eid, ip in target.peers}
    sections = list(dundi.sections)
    ends = [s.line for s in sections[1:]] + [len(lines.lines) + 1]
    inserts: list[tuple[int, str, str]] = []
    for section, end in zip(sections, ends, strict=True):
        if section.name == "general":
            if section.get("entityid") is None:
                inserts.append(
                    (
                        section.line,
                        f"entityid = {target.eid}",
                        "a fixed entity ID (Docker does not keep MAC addresses)",
                    )
                )
            for option in section.all("bindaddr"):
                lines.value(option.line, "0.0.0.0", "bind where the lab's address is")
        elif section.name == "mappings":
            for option in section.options:
                new = re.sub(r"@[^/,]+/", f"@{target.ip}/", option.value, count=1)
                if new != option.value:
                    lines.value(option.line, new, "callers reach this node at its lab address")
        elif _EID.match(section.name) and section.name.lower() in mapped:
            node, peer_eid, ip = mapped[section.name.lower()]
            header = lines.lines[section.line - 1].rstrip("\r\n")
            lines.set(
                section.line,
                header.replace(f"[{section.name}]", f"[{peer_eid}]", 1),
                f"this peer is lab node {node}",
            )
            for option in section.all("host"):
                lines.value(option.line, ip, f"{node}'s lab address")
            for option in section.all("inkey"):
                lines.value(option.line, node, f"{node}'s public key in the lab ({node}.pub)")
            for option in section.all("outkey"):
                lines.value(
                    option.line,
                    target.node,
                    f"this node's private key in the lab ({target.node}.key)",
                )
        elif _EID.match(section.name):
            for number in range(section.line, end):
                raw = lines.lines[number - 1].rstrip("\r\n")
                if raw.strip() and not raw.lstrip().startswith(";"):
                    lines.set(
                        number,
                        f";dundi-lab: {raw}",
                        "a peer outside the lab (map it under import.peers to keep it)",
                    )
    for number, new, why in reversed(inserts):
        lines.insert_after(number, new, why)
    return lines.text()


def _rewrite_iax(text: str, changes: list[Change]) -> str:
    iax = parse(text, "iax.conf")
    lines = _Lines(text, "iax.conf", changes)
    general = iax.section("general")
    if general:
        for option in general.all("bindaddr"):
            lines.value(option.line, "0.0.0.0", "bind where the lab's address is")
        for option in general.all("register"):
            raw = lines.lines[option.line - 1].rstrip("\r\n")
            lines.set(option.line, f";dundi-lab: {raw}", "no registration outside the lab")
    return lines.text()


def read_conf(member: Member, name: str) -> ConfFile:
    return parse(member.text(name), name)
