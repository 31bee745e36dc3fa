"""The configs of `lab lint`'s nodes as pbx_dundi reads them: peer sections, [mappings] lines,
contexts and DUNDi switches, and the lab they belong to. The public face is `lab.lint`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab import topology
from lab.asterisk.conf import (
    EID_PATTERN,
    ConfFile,
    Extension,
    Option,
    Section,
    ast_eid,
    ast_true,
    dialplan,
)

__all__ = [
    "DEFAULT_VERSION",
    "EID_PATTERN",
    "IN",
    "MODELS",
    "OUT",
    "KeyData",
    "LintLab",
    "LintNode",
    "LintPeer",
    "MappingLine",
    "NodeFiles",
    "keys_in",
    "model_name",
    "public_numbers",
]

DEFAULT_VERSION = "22"
IN, OUT = 1, 2  # pbx_dundi's DUNDI_MODEL_INBOUND / _OUTBOUND bits
MODELS = {"none": 0, "inbound": IN, "outbound": OUT, "symmetric": IN | OUT}
_SPECIAL_EXTENS = {"s", "i", "h", "t", "T", "o", "a", "e"}


@dataclass(frozen=True)
class KeyData:
    """A file of a node's key folder as it is (or will be) mounted: bytes and mode."""

    path: Path
    data: bytes
    mode: int

    @property
    def private(self) -> bool:
        return self.path.suffix == ".key"


def keys_in(folder: Path) -> dict[str, KeyData]:
    """The .key and .pub files of a key folder on disk (none if there is no folder)."""
    found = {}
    for path in sorted([*folder.glob("*.key"), *folder.glob("*.pub")]) if folder.is_dir() else ():
        found[path.name] = KeyData(path, path.read_bytes(), path.stat().st_mode & 0o7777)
    return found


@dataclass(frozen=True)
class NodeFiles:
    """One Asterisk server's parsed files; `keys` (file name → key) None skips the key
    checks."""

    name: str
    dundi: ConfFile
    iax: ConfFile | None
    extensions: ConfFile | None
    keys: dict[str, KeyData] | None
    version: str = DEFAULT_VERSION


@dataclass(frozen=True)
class LintPeer:
    """A `[EID]` section: model bits and permission lists as build_peer keeps them."""

    eid: str
    section: Section
    model: int
    precache: int
    include: tuple[tuple[str, bool], ...]  # (network or "all", allowed) in file order
    permit: tuple[tuple[str, bool], ...]

    @classmethod
    def of(cls, section: Section) -> LintPeer:
        def entries(yes: str, no: str) -> tuple[tuple[str, bool], ...]:
            return tuple(
                (o.value, o.name.lower() == yes)
                for o in section.options
                if o.name.lower() in (yes, no)
            )

        model, precache = (MODELS.get(section.value(k).lower(), 0) for k in ("model", "precache"))
        return cls(
            ast_eid(section.name),
            section,
            model,
            precache,
            entries("include", "noinclude"),
            entries("permit", "deny"),
        )

    def includes(self, network: str) -> bool:
        """This node asks the peer about `network`."""
        return bool(self.model & OUT) and _has_permission(self.include, network)

    def permits(self, network: str) -> bool:
        """The peer may ask this node about `network`."""
        return bool(self.model & IN) and _has_permission(self.permit, network)

    def pushes(self, network: str) -> bool:
        """This node pushes its answers for `network` to the peer (precache)."""
        return bool(self.precache & OUT) and _has_permission(self.permit, network)

    def takes_pushes(self, network: str) -> bool:
        """The peer may push answers for `network` to this node."""
        return bool(self.precache & IN) and _has_permission(self.include, network)

    @property
    def dynamic(self) -> bool:
        """`host = dynamic`: the peer's address comes from its registrations."""
        return self.section.value("host").lower() == "dynamic"

    @property
    def registers(self) -> bool:
        """`register = yes`: this node registers its address with the peer."""
        return ast_true(self.section.value("register"))

    def names(self) -> Iterator[tuple[str, Option]]:
        """Network names the section writes (not `all`), with their lines."""
        for o in self.section.options:
            if (
                o.name.lower() in ("include", "noinclude", "permit", "deny")
                and o.value.lower() != "all"
            ):
                yield o.value, o


@dataclass(frozen=True)
class MappingLine:
    """A `[mappings]` line: `network => context,weight,tech,destination[,options]`."""

    network: str
    option: Option
    fields: tuple[str, ...]

    def part(self, index: int) -> str:
        return self.fields[index] if len(self.fields) >= 4 else ""


@dataclass(frozen=True)
class LintNode:
    """One node's files, with what pbx_dundi and the dialplan make of them."""

    files: NodeFiles
    eid: str
    general: Section | None
    peers: tuple[LintPeer, ...]
    mappings: tuple[MappingLine, ...]
    contexts: dict[str, tuple[Extension, ...]]
    switches: tuple[tuple[str, str, Option], ...]  # (context, network, `switch => DUNDi/…`)

    @classmethod
    def of(cls, files: NodeFiles) -> LintNode:
        general, mappings = files.dundi.section("general"), files.dundi.section("mappings")
        ext = files.extensions.browse() if files.extensions else ()
        return cls(
            files=files,
            eid=ast_eid(general.value("entityid") if general else ""),
            general=general,
            peers=tuple(LintPeer.of(s) for s in files.dundi.browse() if EID_PATTERN.match(s.name)),
            mappings=tuple(
                MappingLine(o.name, o, tuple(f.strip() for f in o.value.split(",")))
                for o in (mappings.options if mappings else ())
            ),
            contexts=dialplan(files.extensions) if files.extensions else {},
            switches=tuple(
                (s.name, o.value.split("/", 1)[1].strip(), o)
                for s in ext
                for o in s.all("switch")
                if o.value.lower().startswith("dundi/")
            ),
        )

    @property
    def where(self) -> tuple[str, int | None]:
        """Where a finding about [general] goes: that section, else the file."""
        return self.files.dundi.path, self.general.line if self.general else None

    def networks(self) -> dict[str, Option]:
        """Every network name this node writes, with the first line that writes it."""
        used: dict[str, Option] = {}
        pairs = [(m.network, m.option) for m in self.mappings] + [
            x for p in self.peers for x in p.names()
        ]
        for name, option in pairs + [(net, o) for _, net, o in self.switches]:
            used.setdefault(name, option)
        return used

    def peer_for(self, eid: str) -> LintPeer | None:
        return next((p for p in self.peers if p.eid == eid), None)

    def context(self, name: str) -> tuple[Extension, ...] | None:
        """The extensions of context `name` (case-insensitive, as Asterisk), None if undefined."""
        return next((e for c, e in self.contexts.items() if c.lower() == name.lower()), None)


@dataclass
class LintLab:
    """The nodes linted together, their number length, and the public keys read so far."""

    nodes: tuple[LintNode, ...]
    number_length: int
    _keys: dict[tuple[str, str], rsa.RSAPublicNumbers | None] = field(default_factory=dict)

    def by_eid(self, eid: str, other_than: LintNode) -> LintNode | None:
        return next((n for n in self.nodes if eid and n.eid == eid and n is not other_than), None)

    def lab_peers(self, node: LintNode) -> Iterator[tuple[LintPeer, LintNode]]:
        """This node's peer sections that name another node of the lab."""
        for peer in node.peers:
            if (other := self.by_eid(peer.eid, node)) is not None:
                yield peer, other

    def public_numbers(self, node: LintNode, name: str) -> rsa.RSAPublicNumbers | None:
        """The public numbers of key file `name` in `node`'s folder (None: absent or unreadable)."""
        if (node.files.name, name) not in self._keys:
            key = (node.files.keys or {}).get(name)
            self._keys[(node.files.name, name)] = public_numbers(key) if key else None
        return self._keys[(node.files.name, name)]

    def length_problem(self, pattern: str) -> str | None:
        """Why `pattern` cannot match a number of this lab; None if it can, or if it is not
        a number pattern (`s`, `i`, ...)."""
        pattern = pattern.split("/", 1)[0]
        if pattern in _SPECIAL_EXTENS or not (pattern.startswith("_") or pattern.isdigit()):
            return None
        low, high = topology.pattern_lengths(pattern)
        if low <= self.number_length and (high is None or self.number_length <= high):
            return None
        size = f"{low}-digit" if low == high else f"{low}-or-more-digit"
        return (
            f"'{pattern}' matches {size} numbers, and the numbers have {self.number_length} digits"
        )


def _has_permission(entries: Sequence[tuple[str, bool]], network: str) -> bool:
    """pbx_dundi's has_permission: the last entry naming `network` or `all` decides."""
    allowed = False
    for name, allow in entries:
        if name.lower() in ("all", network.lower()):
            allowed = allow
    return allowed


def model_name(bits: int) -> str:
    """`model` bits as the word written in dundi.conf."""
    return {0: "none", IN: "inbound", OUT: "outbound"}.get(bits, "symmetric")


def public_numbers(key: KeyData) -> rsa.RSAPublicNumbers | None:
    """The RSA public numbers in a PEM key file, private or public; None if it cannot be read.
    Nothing else of the file leaves this function."""
    try:
        if key.private:
            public = serialization.load_pem_private_key(key.data, password=None).public_key()
        else:
            public = serialization.load_pem_public_key(key.data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return public.public_numbers() if isinstance(public, rsa.RSAPublicKey) else None
