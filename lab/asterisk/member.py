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

from lab.asterisk.conf import (
    ConfFile,
    Includer,
    Option,
    Section,
    ast_eid,
    ast_true,
    dialplan,
    parse,
)

__all__ = [
    "MEMBER_FILES",
    "Change",
    "Member",
    "MemberPeer",
    "PeerTarget",
    "Target",
    "member_from_texts",
    "peer_of",
    "read_member",
    "read_text",
    "rewrite",
]

MEMBER_FILES = ("dundi.conf", "iax.conf", "extensions.conf")
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
    precache: str = "none"  # as written: none, outbound, inbound (symmetric)
    register: bool = False  # it registers its address with this peer
    dynamic: bool = False  # `host = dynamic`: the peer registers with it


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
    """Read a member's folder: dundi.conf, iax.conf, extensions.conf, every other .conf in
    it, and every file they #include (followed like Asterisk, paths relative to the
    folder, or to /etc/asterisk); OSError if one of the three is missing."""
    texts = {name: read_text(folder / name) for name in MEMBER_FILES}
    for extra in sorted(folder.glob("*.conf")):
        texts.setdefault(extra.name, read_text(extra))
    pending = list(texts)
    while pending:
        for target in _include_targets(texts[pending.pop()]):
            name = config_name(target)
            path = folder / name
            if name not in texts and path.is_file() and folder.resolve() in path.resolve().parents:
                texts[name] = read_text(path)
                pending.append(name)
    return member_from_texts(folder, tuple(texts.items()))


def config_name(target: str) -> str:
    """Where an #include target lives in a member's folder: relative to it, and
    /etc/asterisk/x.conf as x.conf."""
    return target.removeprefix("/etc/asterisk/").lstrip("/")


def includer(texts: dict[str, str]) -> Includer:
    """How `conf.parse` reads a member's #include targets: from the files read with it."""

    def read(target: str) -> tuple[str, str] | None:
        name = config_name(target)
        return (name, texts[name]) if name in texts else None

    return read


def _include_targets(text: str) -> list[str]:
    return [d.target for d in parse(text, "").directives if d.kind in ("include", "tryinclude")]


def member_from_texts(folder: Path, files: tuple[tuple[str, str], ...]) -> Member:
    """What the lab needs of a member's files, already read (file name → text)."""
    texts = dict(files)
    follow = includer(texts)
    dundi = parse(texts["dundi.conf"], "dundi.conf", include=follow)
    ext = parse(texts["extensions.conf"], "extensions.conf", include=follow)
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
        entityid=_entityid(general.value("entityid") if general else ""),
        mappings=tuple(mappings),
        serves=serves,
        peers=tuple(peer_of(s) for s in dundi.browse() if ast_eid(s.name)),
        lookup=lookup,
        outgoing=tuple(outgoing),
        has_internal="internal" in contexts,
    )


def _entityid(written: str) -> str:
    """The member's entity ID as pbx_dundi reads it; as written when it reads none (lint
    tells the member)."""
    return ast_eid(written) or written


def _options(section: Section | None) -> tuple[Option, ...]:
    return section.options if section else ()


def peer_of(section: Section) -> MemberPeer:
    """A [EID] section of dundi.conf, as pbx_dundi reads its options."""
    qualify = section.value("qualify", "no").lower()
    return MemberPeer(
        eid=ast_eid(section.name),
        line=section.line,
        model=section.value("model", "symmetric").lower(),
        include=tuple(o.value for o in section.all("include")),
        permit=tuple(o.value for o in section.all("permit")),
        qualify=qualify not in ("no", "false", "0", ""),
        order=section.value("order", "primary").lower(),
        precache=section.value("precache", "none").lower(),
        register=ast_true(section.value("register", "no")),
        dynamic=section.value("host", "").lower() == "dynamic",
    )


@dataclass(frozen=True)
class PeerTarget:
    """Where one of the member's peer sections points in the lab."""

    node: str  # the lab node
    eid: str  # its entity ID in the lab
    ip: str  # its lab address


@dataclass(frozen=True)
class Target:
    """What a rewrite needs of the lab: this node and its peers, by the member's EIDs.

    `names` are host names that resolve in the lab (its network aliases): a `host` or a
    mapping written with one of them is kept. `lab_keys`: key names become the lab nodes'
    (a node imported into a hand-written topology); otherwise the member's key names stay
    and the lab makes its pairs under them (a network folder).
    """

    node: str
    ip: str
    eid: str
    peers: dict[str, PeerTarget]
    names: frozenset[str] = frozenset()
    lab_keys: bool = True
    outside: str = "map it under import.peers to keep it"


def rewrite(member: Member, target: Target) -> tuple[dict[str, str], list[Change]]:
    """The member's files as they run in the lab, and every change made to them."""
    changes: list[Change] = []
    files = _Files(dict(member.texts), changes)
    follow = includer(dict(member.texts))
    _rewrite_dundi(parse(member.text("dundi.conf"), "dundi.conf", include=follow), files, target)
    _rewrite_iax(parse(member.text("iax.conf"), "iax.conf", include=follow), files)
    _rewrite_extensions(
        parse(member.text("extensions.conf"), "extensions.conf", include=follow), files
    )
    return files.texts(), changes


# The lab answers its test calls in [internal] (where the seed's incoming context sends
# them); a member's own [internal] (its phones, which the lab does not have) is kept under
# this name.
MEMBER_INTERNAL = "internal-member"


def _rewrite_extensions(extensions: ConfFile, files: _Files) -> None:
    for section in extensions.sections:
        if section.name.lower() == "internal":
            header = files[section.file].lines[section.line - 1].rstrip("\r\n")
            renamed = header.replace(f"[{section.name}]", f"[{MEMBER_INTERNAL}]", 1)
            why = "the lab's responder answers test calls in [internal]; the member's phones stay"
            files[section.file].set(section.line, renamed, why)


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

    def comment(self, number: int, why: str) -> None:
        raw = self.lines[number - 1].rstrip("\r\n")
        if raw.strip() and not raw.lstrip().startswith(";"):
            self.set(number, f";dundi-lab: {raw}", why)

    def insert_after(self, number: int, new: str, why: str) -> None:
        self.lines.insert(number, new + "\n")
        self.changes.append(Change(self.file, number + 1, "(nothing)", new, why))

    def text(self) -> str:
        return "".join(self.lines)


class _Files:
    """Every file of the member (included ones too), each changed through its `_Lines`."""

    def __init__(self, texts: dict[str, str], changes: list[Change]) -> None:
        self.texts_in = texts
        self.changes = changes
        self.edited: dict[str, _Lines] = {}

    def __getitem__(self, file: str) -> _Lines:
        if file not in self.edited:
            self.edited[file] = _Lines(self.texts_in[file], file, self.changes)
        return self.edited[file]

    def texts(self) -> dict[str, str]:
        return {**self.texts_in, **{name: lines.text() for name, lines in self.edited.items()}}


def _host_of(value: str) -> str:
    """The host a mapping's destination dials: `user:secret@HOST/number` → HOST."""
    match = re.search(r"@([^/,]+)/", value)
    return match.group(1) if match else ""


def _rewrite_dundi(dundi: ConfFile, files: _Files, target: Target) -> None:
    inserts: list[tuple[str, int, str, str]] = []
    for section in dundi.sections:
        if section.name == "general":
            if section.get("entityid") is None:
                why = "a fixed entity ID (Docker does not keep MAC addresses)"
                inserts.append((section.file, section.line, f"entityid = {target.eid}", why))
            for o in section.all("bindaddr"):
                files[o.file].value(o.line, "0.0.0.0", "bind where the lab's address is")
        elif section.name == "mappings":
            for o in section.options:
                host = _host_of(o.value)
                if host and host not in target.names:
                    new = o.value.replace(f"@{host}/", f"@{target.ip}/", 1)
                    why = "callers reach this node at its lab address"
                    if "${IPADDR}" in host.upper():
                        why += " (${IPADDR} is the host name resolved, not a reliable address)"
                    files[o.file].value(o.line, new, why)
        elif ast_eid(section.name) in target.peers:
            _rewrite_peer(section, target.peers[ast_eid(section.name)], files, target)
        elif ast_eid(section.name):
            why = f"a peer outside the lab ({target.outside})"
            files[section.file].comment(section.line, why)
            for o in section.options:
                files[o.file].comment(o.line, why)
    for file, number, new, why in reversed(inserts):
        files[file].insert_after(number, new, why)


def _rewrite_peer(section: Section, peer: PeerTarget, files: _Files, target: Target) -> None:
    if ast_eid(section.name) != peer.eid:
        header = files[section.file].lines[section.line - 1].rstrip("\r\n")
        renamed = header.replace(f"[{section.name}]", f"[{peer.eid}]", 1)
        files[section.file].set(section.line, renamed, f"this peer is lab node {peer.node}")
    for o in section.all("host"):
        if o.value.lower() != "dynamic" and o.value not in target.names:
            files[o.file].value(o.line, peer.ip, f"{peer.node}'s lab address")
    if not target.lab_keys:
        return
    for o in section.all("inkey"):
        files[o.file].value(
            o.line, peer.node, f"{peer.node}'s public key in the lab ({peer.node}.pub)"
        )
    for o in section.all("outkey"):
        why = f"this node's private key in the lab ({target.node}.key)"
        files[o.file].value(o.line, target.node, why)


def _rewrite_iax(iax: ConfFile, files: _Files) -> None:
    general = iax.section("general")
    if general:
        for o in general.all("bindaddr"):
            files[o.file].value(o.line, "0.0.0.0", "bind where the lab's address is")
        for o in general.all("register"):
            files[o.file].comment(o.line, "no registration outside the lab")


def read_conf(member: Member, name: str) -> ConfFile:
    return parse(member.text(name), name)
