"""`lab lint`: static checks of Asterisk configs for the mistakes that break DUNDi networks.

Input: a lab folder written by `render.write_lab`, one member's folder (dundi.conf, iax.conf,
extensions.conf, keys/), or a folder of member folders. Each check reads the files the way
pbx_dundi, res_crypto and chan_iax2 (Asterisk 22 source) read them and yields `Finding`s.
What every code means, and how to fix it, is the table `RULES`:

    DL0xx files · DL1xx keys · DL2xx entity IDs and trust · DL3xx peer sections
    DL4xx mappings and networks · DL5xx [general] and dialplan · DL6xx the IAX2 user
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import render, topology
from .asterisk_conf import ConfFile, Extension, Option, Section, Stray, dialplan, load, parse
from .errors import LabError
from .paths import LabPaths
from .topology import Topology

__all__ = [
    "RULES",
    "Finding",
    "NodeFiles",
    "format_findings",
    "has_errors",
    "lint_dir",
    "lint_nodes",
    "lint_topology",
    "summary",
]

Severity = Literal["error", "warning"]
DEFAULT_NUMBER_LENGTH = 9
DEFAULT_VERSION = "22"
CONF_FILES = ("dundi.conf", "iax.conf", "extensions.conf")
SECRET_DB = "dundi/secret"  # pbx_dundi keeps its rotating secret in AstDB dundi/secret

# code → (severity, message, fix); {names} are filled in by the check.
RULES: dict[str, tuple[Severity, str, str]] = {
    "DL001": (
        "warning",
        "Asterisk skips '{text}': {reason}",
        "write 'name = value' inside a [section], or comment it out with ';'",
    ),
    "DL002": (
        "error",
        "dundi.conf is missing or empty: pbx_dundi declines to load without it",
        "write [general] with entityid, [mappings] and a section per peer",
    ),
    "DL003": (
        "error",
        "Asterisk refuses to load this file at all: {reason} ('{text}')",
        "{hint}",
    ),
    "DL101": (
        "error",
        "{problem}",
        "{hint}",
    ),
    "DL102": (
        "error",
        "inkey '{name}' has no public key file {name}.pub in the node's keys folder",
        "put the peer's public key there as {name}.pub (res_crypto reads NAME.pub as a public "
        "key and NAME.key as a private one; .pem files are ignored)",
    ),
    "DL103": (
        "error",
        "{problem}",
        "make a 1024-bit pair with astgenkey -n NAME (or let lab render write it)",
    ),
    "DL104": (
        "error",
        "private key is encrypted: res_crypto shows it as [Needs Passcode] and DUNDi cannot use "
        "it until someone types 'keys init'",
        "store it unencrypted (openssl pkey -in {name} -out NEW.key) or make a new pair with "
        "astgenkey -n",
    ),
    "DL105": (
        "error",
        "private key has mode {mode:04o}: res_crypto refuses it ('Private key file has bad "
        "permissions') and DUNDi runs without it",
        "chmod 600 {name} (a bind mount keeps the host's mode)",
    ),
    "DL106": (
        "error",
        "{name}.pub is not the public half of {peer}'s private key {key}.key: {peer}'s messages "
        "fail the signature check and are dropped without a NOTICE",
        "copy {peer}'s {key}.pub here as {name}.pub (or re-render the lab)",
    ),
    "DL107": (
        "warning",
        "peer {eid} has no inkey: its messages are not authenticated and ours to it are not "
        "encrypted, so any host can claim this entity ID",
        "add inkey = <the peer's key name> and put its .pub in the keys folder",
    ),
    "DL201": (
        "warning",
        "entityid is not set in [general]: Asterisk falls back to a MAC address, which Docker "
        "changes with every new container, and peers' [EID] sections stop matching",
        "set entityid = 02:00:00:00:00:NN, unique in the network, in [general]",
    ),
    "DL202": (
        "error",
        "'{value}' is not an entity ID: pbx_dundi ignores it ('Invalid global endpoint "
        "identifier') and uses a MAC address",
        "write six hex pairs separated by ':', e.g. 02:00:00:00:00:0a",
    ),
    "DL203": (
        "error",
        "entity ID {eid} is also node {peer}'s: peers cannot tell the two apart, and answers and "
        "trust go to the wrong one",
        "give every node its own entityid",
    ),
    "DL204": (
        "warning",
        "trust is one-sided: {peer} ({eid}) has no [{own}] section, so it refuses this node's "
        "queries and never asks it",
        "add a [{own}] section to {peer}'s dundi.conf, or remove this one",
    ),
    "DL301": (
        "error",
        "[{name}] is not an entity ID: pbx_dundi ignores the whole section ('Ignoring invalid EID "
        "entry')",
        "name a peer section by the peer's entity ID, e.g. [02:00:00:00:00:0b]",
    ),
    "DL302": (
        "error",
        "peer {eid} has no model (the default is none) and no precache: pbx_dundi discards it "
        "('lacks a model or pcmodel, discarding!')",
        "add model = symmetric (or inbound/outbound)",
    ),
    "DL303": (
        "error",
        "{name} '{value}' is not valid: pbx_dundi warns and ignores it",
        "use {valid}",
    ),
    "DL304": (
        "error",
        "peer {eid} mixes model {model} with precache {precache}: pbx_dundi discards it ('may not "
        "be both ...')",
        "pair an outbound model with outbound precache, or inbound with inbound",
    ),
    "DL305": (
        "error",
        "peer {eid} has include= but model {model}: pbx_dundi never asks it, warns 'supposed to "
        "be included in outbound searches but isn't an outbound peer' and neither qualifies nor "
        "registers it",
        "use model = outbound or symmetric, or remove include=",
    ),
    "DL306": (
        "error",
        "peer {eid} has permit= but model {model}: pbx_dundi refuses its queries, warns 'supposed "
        "to have permission for some inbound searches but isn't an inbound peer' and neither "
        "qualifies nor registers it",
        "use model = inbound or symmetric, or remove permit=",
    ),
    "DL307": (
        "error",
        "peer {eid} has no host: pbx_dundi has no address to {verb} to",
        "add host = <its IP address>, or host = dynamic if it registers (register = yes on its "
        "side)",
    ),
    "DL308": (
        "warning",
        "pbx_dundi does not know '{name}' and ignores it without a word",
        "{hint}",
    ),
    "DL309": (
        "error",
        "[00:00:00:00:00:00] is the empty entity ID: pbx_dundi never asks, qualifies or "
        "registers a peer by it, and only a message claiming that ID would match it",
        "name the section by the peer's real entity ID (its [general] entityid)",
    ),
    "DL401": (
        "error",
        "peers may ask this node about {network}, but [mappings] has no line for it: pbx_dundi "
        "answers and forwards only networks it maps, so every query on it stops here",
        "add '{network} =>' to [mappings] (a mapping with no context is enough to forward)",
    ),
    "DL402": (
        "warning",
        "lookups on {network} ask no peer: no peer section has include = {network} (or all) with "
        "model outbound or symmetric",
        "add include = {network} to the peers this node should ask",
    ),
    "DL404": (
        "error",
        "{user} names context {context}, which {state}",
        "{hint}define [{context}] in extensions.conf",
    ),
    "DL405": (
        "error",
        "{label}: {problem}, so no number of this network ever matches it",
        "use a pattern of {length} digits, e.g. _{xs}",
    ),
    "DL406": (
        "warning",
        "${{IPADDR}} is this host's name resolved (gethostname), not bindaddr: in a container or "
        "on a multi-homed host callers get an address they may not reach",
        "write the node's IP address literally",
    ),
    "DL407": (
        "warning",
        "{problem}: DUNDi matches network names exactly",
        "use one spelling of the network name everywhere",
    ),
    "DL408": (
        "error",
        "mapping for {network}: {problem}",
        "write network => context,weight(0-59999),IAX2,destination[,options]",
    ),
    "DL409": (
        "warning",
        "this node asks {peer} about {network}, but {peer}'s [{own}] section does not permit it "
        "(model inbound or symmetric, and permit=), so {peer} refuses those queries",
        "add permit = {network} there, or noinclude = {network} here",
    ),
    "DL501": (
        "error",
        "ttl '{value}' is out of range: pbx_dundi warns ('is not a valid TTL') and keeps the "
        "default 120",
        "use a whole number from 1 to 119",
    ),
    "DL502": (
        "error",
        "calls through 'switch => {switch}' ({at}) fail on Asterisk {version}: outgoing_sip_tech "
        "{state}, and the switch then refuses every answer, IAX2 included ('PJSIP calls require "
        "an endpoint to be specified explicitly')",
        "add outgoing_sip_tech = SIP to [general] (DUNDILOOKUP() with Dial() is unaffected)",
    ),
    "DL503": (
        "error",
        "calls go to the DUNDi lookup context {context} through a pattern that cannot match a "
        "network number: {problem}",
        "use a pattern of {length} digits, e.g. _{xs}",
    ),
    "DL504": (
        "warning",
        "Goto() to context {context}, which extensions.conf does not define: the call ends there",
        "define [{context}] or correct the name",
    ),
    "DL601": (
        "error",
        "the mapping tells callers to log in as IAX2 user '{user}', but {where}: chan_iax2 checks "
        "a call that names a user only against the section of that name, so every call from this "
        "answer is rejected",
        "{hint}add [{user}] with type = user, dbsecret = dundi/secret, context = <incoming "
        "context>",
    ),
    "DL602": (
        "error",
        "IAX2 user [{user}] {what}: calls placed from DUNDi answers fail authentication",
        "write type = user and dbsecret = dundi/secret in [{user}]",
    ),
}
RULES["DL603"] = ("error", RULES["DL404"][1], RULES["DL404"][2])

_IN, _OUT = 1, 2  # pbx_dundi's DUNDI_MODEL_INBOUND / _OUTBOUND bits
_MODELS = {"none": 0, "inbound": _IN, "outbound": _OUT, "symmetric": _IN | _OUT}
_EID = re.compile(r"^([0-9a-f]{1,2}:){5}[0-9a-f]{1,2}$", re.IGNORECASE)
_DEST = re.compile(r"^(?P<user>[^:@/]+)(?::(?P<secret>[^@]*))?@")
_SPECIAL_EXTENS = {"s", "i", "h", "t", "T", "o", "a", "e"}
_TECHS = ("iax", "iax2", "sip", "h323", "pjsip")
_MAP_OPTIONS = (
    "nounsolicited",
    "nocomunsolicit",
    "residential",
    "commercial",
    "mobile",
    "nopartial",
)
# What pbx_dundi's set_config ([general]) and build_peer (peer sections) read; nothing else.
_GENERAL_OPTIONS = (
    "port",
    "bindaddr",
    "bindaddr2",
    "authdebug",
    "ttl",
    "autokill",
    "entityid",
    "tos",
    "department",
    "organization",
    "locality",
    "stateprov",
    "country",
    "email",
    "phone",
    "storehistory",
    "outgoing_sip_tech",
    "pjsip_outgoing_endpoint",
    "cachetime",
)
_PEER_OPTIONS = (
    "inkey",
    "outkey",
    "port",
    "host",
    "ustothem",
    "include",
    "permit",
    "noinclude",
    "deny",
    "register",
    "order",
    "qualify",
    "model",
    "precache",
)
_CHOICES = {
    "model": tuple(_MODELS),
    "precache": tuple(_MODELS),
    "order": ("primary", "secondary", "tertiary", "quartiary"),
}


@dataclass(frozen=True)
class Finding:
    """One problem: where, how bad, a short code, what is wrong and how to fix it."""

    file: str
    line: int | None
    severity: Severity
    code: str
    message: str
    fix: str

    def format(self, relative_to: Path | None = None) -> str:
        """`path:line: severity CODE message (fix: ...)`; the path relative if it can be."""
        path = Path(self.file)
        if relative_to is not None and path.is_relative_to(relative_to):
            path = path.relative_to(relative_to)
        where = f"{path.as_posix()}:{self.line}" if self.line else path.as_posix()
        return f"{where}: {self.severity} {self.code} {self.message} (fix: {self.fix})"


@dataclass(frozen=True)
class NodeFiles:
    """One Asterisk server's parsed files; `keys` None skips the key-file checks."""

    name: str
    dundi: ConfFile
    iax: ConfFile | None
    extensions: ConfFile | None
    keys: Path | None
    version: str = DEFAULT_VERSION


def lint_dir(
    folder: Path,
    lab: Topology | None = None,
    *,
    number_length: int | None = None,
    version: str = DEFAULT_VERSION,
) -> list[Finding]:
    """Lint a lab folder (its topology.yaml, or `lab`, names the nodes, their versions and
    the number length), one member's folder or a folder of member folders."""
    topology_file = LabPaths(folder.name, folder).topology_file
    if lab is None and topology_file.is_file():
        lab = topology.load(topology_file)
    if lab is not None:
        paths = LabPaths(lab.name, folder)
        nodes = [_read(n.name, paths.etc(n.name), paths.keys(n.name), n.version) for n in lab.nodes]
        return lint_nodes(nodes, number_length or lab.number_length)
    if (folder / "dundi.conf").is_file():
        members = [folder]
    else:
        members = sorted(p for p in folder.glob("*") if (p / "dundi.conf").is_file())
    if not members:
        raise LabError(f"{folder}: not a lab folder, and no dundi.conf in it or its subfolders")
    nodes = [_read(m.name, m, m / "keys", version) for m in members]
    return lint_nodes(nodes, number_length or DEFAULT_NUMBER_LENGTH)


def lint_topology(lab: Topology, root: Path | None = None) -> list[Finding]:
    """Lint the configs `lab` renders, in memory; findings name the files where `write_lab`
    puts them. Keys are not checked: `write_lab` makes them."""
    paths = LabPaths.of(lab.name, root)
    nodes = []
    for node in lab.nodes:
        text = render.render_node(lab, node)
        conf = {f: parse(text[f], str(paths.etc(node.name) / f)) for f in CONF_FILES}
        nodes.append(
            NodeFiles(
                node.name,
                conf["dundi.conf"],
                conf["iax.conf"],
                conf["extensions.conf"],
                None,
                node.version,
            )
        )
    return lint_nodes(nodes, lab.number_length)


def lint_nodes(
    nodes: Sequence[NodeFiles], number_length: int = DEFAULT_NUMBER_LENGTH
) -> list[Finding]:
    """Every finding for these nodes, each checked alone and against the others."""
    lab = _Lab(tuple(_Node.of(n) for n in nodes), number_length)
    found = {f for node in lab.nodes for check in _CHECKS for f in check(node, lab)}
    return sorted(found, key=lambda f: (f.file, f.line or 0, f.code, f.message))


def format_findings(findings: Sequence[Finding], relative_to: Path | None = None) -> list[str]:
    return [f.format(relative_to) for f in findings]


def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def summary(findings: Sequence[Finding]) -> str:
    """`2 errors, 1 warning`."""
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def _read(name: str, etc: Path, keys: Path | None, version: str) -> NodeFiles:
    conf = {f: load(etc / f) for f in CONF_FILES}
    dundi = conf["dundi.conf"] or ConfFile(str(etc / "dundi.conf"))
    return NodeFiles(name, dundi, conf["iax.conf"], conf["extensions.conf"], keys, version)


# ---- the configs as pbx_dundi reads them ----------------------------------------------------


@dataclass(frozen=True)
class _Peer:
    """A `[EID]` section: model bits and permission lists as build_peer keeps them."""

    eid: str
    section: Section
    model: int
    precache: int
    include: tuple[tuple[str, bool], ...]  # (network or "all", allowed) in file order
    permit: tuple[tuple[str, bool], ...]

    @classmethod
    def of(cls, section: Section) -> _Peer:
        def entries(yes: str, no: str) -> tuple[tuple[str, bool], ...]:
            return tuple(
                (o.value, o.name.lower() == yes)
                for o in section.options
                if o.name.lower() in (yes, no)
            )

        model, precache = (_MODELS.get(section.value(k).lower(), 0) for k in ("model", "precache"))
        return cls(
            _eid(section.name),
            section,
            model,
            precache,
            entries("include", "noinclude"),
            entries("permit", "deny"),
        )

    def includes(self, network: str) -> bool:
        """This node asks the peer about `network`."""
        return bool(self.model & _OUT) and _has_permission(self.include, network)

    def permits(self, network: str) -> bool:
        """The peer may ask this node about `network`."""
        return bool(self.model & _IN) and _has_permission(self.permit, network)

    def names(self) -> Iterator[tuple[str, Option]]:
        """Network names the section writes (not `all`), with their lines."""
        for o in self.section.options:
            if (
                o.name.lower() in ("include", "noinclude", "permit", "deny")
                and o.value.lower() != "all"
            ):
                yield o.value, o


@dataclass(frozen=True)
class _Mapping:
    """A `[mappings]` line: `network => context,weight,tech,destination[,options]`."""

    network: str
    option: Option
    fields: tuple[str, ...]

    def part(self, index: int) -> str:
        return self.fields[index] if len(self.fields) >= 4 else ""


@dataclass(frozen=True)
class _Node:
    files: NodeFiles
    eid: str
    general: Section | None
    peers: tuple[_Peer, ...]
    mappings: tuple[_Mapping, ...]
    contexts: dict[str, tuple[Extension, ...]]
    switches: tuple[tuple[str, str, Option], ...]  # (context, network, `switch => DUNDi/…`)

    @classmethod
    def of(cls, files: NodeFiles) -> _Node:
        general, mappings = files.dundi.section("general"), files.dundi.section("mappings")
        ext = files.extensions.browse() if files.extensions else ()
        return cls(
            files=files,
            eid=_eid(general.value("entityid") if general else ""),
            general=general,
            peers=tuple(_Peer.of(s) for s in files.dundi.browse() if _EID.match(s.name)),
            mappings=tuple(
                _Mapping(o.name, o, tuple(f.strip() for f in o.value.split(",")))
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

    def peer_for(self, eid: str) -> _Peer | None:
        return next((p for p in self.peers if p.eid == eid), None)

    def context(self, name: str) -> tuple[Extension, ...] | None:
        """The extensions of context `name` (case-insensitive, as Asterisk), None if undefined."""
        return next((e for c, e in self.contexts.items() if c.lower() == name.lower()), None)


@dataclass
class _Lab:
    nodes: tuple[_Node, ...]
    number_length: int
    _keys: dict[Path, rsa.RSAPublicNumbers | None] = field(default_factory=dict)

    def by_eid(self, eid: str, other_than: _Node) -> _Node | None:
        return next((n for n in self.nodes if eid and n.eid == eid and n is not other_than), None)

    def lab_peers(self, node: _Node) -> Iterator[tuple[_Peer, _Node]]:
        """This node's peer sections that name another node of the lab."""
        for peer in node.peers:
            if (other := self.by_eid(peer.eid, node)) is not None:
                yield peer, other

    def public_numbers(self, path: Path) -> rsa.RSAPublicNumbers | None:
        if path not in self._keys:
            self._keys[path] = _public_numbers(path)
        return self._keys[path]

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


# ---- the checks: each yields the findings of one node, looking at the others where needed ----

_Where = Option | Section | Stray | tuple[str, int | None]


def _found(code: str, at: _Where, /, **values: object) -> Finding:
    severity, message, fix = RULES[code]
    file, line = at if isinstance(at, tuple) else (at.file, at.line)
    return Finding(file, line, severity, code, message.format(**values), fix.format(**values))


def _warning(finding: Finding) -> Finding:
    """The same finding, as a warning (the case where Asterisk may still cope)."""
    return replace(finding, severity="warning")


def _strays(node: _Node, lab: _Lab) -> Iterator[Finding]:
    """DL002: no dundi.conf to speak of; DL001: lines Asterisk skips; DL003: lines that make
    it refuse the whole file."""
    if not node.files.dundi.sections:
        yield _found("DL002", (node.files.dundi.path, None))
    for conf in (node.files.dundi, node.files.iax, node.files.extensions):
        for stray in conf.strays if conf else ():
            if not stray.fatal:
                yield _found("DL001", stray, text=stray.text, reason=stray.reason)
                continue
            hint = "move the line into a [section]"
            if stray.text.startswith("("):
                hint = f"define the template [{stray.text.strip('()')}](!) above this section"
            yield _found("DL003", stray, text=stray.text, reason=stray.reason, hint=hint)


def _keys(node: _Node, lab: _Lab) -> Iterator[Finding]:
    """DL101, DL102, DL107: the key each peer section names exists; DL103-DL105 per key file."""
    folder = node.files.keys
    for peer in node.peers:
        inkey, outkey = peer.section.get("inkey"), peer.section.get("outkey")
        if inkey is None:
            yield _found("DL107", peer.section, eid=peer.section.name)
        elif outkey is None:
            problem = (
                f"peer {peer.section.name} has an inkey but no outkey: "
                "pbx_dundi cannot sign the key it sends"
            )
            yield _found("DL101", inkey, problem=problem, hint="add outkey = <this node's key>")
        if folder is None:
            continue
        if outkey is not None and not (folder / f"{outkey.value}.key").is_file():
            name = outkey.value
            problem = (
                f"outkey '{name}' has no private key file {name}.key in the node's keys folder"
            )
            hint = f"put this node's private key there as {name}.key"
            yield _found("DL101", outkey, problem=problem, hint=hint)
        if inkey is not None and not (folder / f"{inkey.value}.pub").is_file():
            yield _found("DL102", inkey, name=inkey.value)
    for path in sorted([*folder.glob("*.key"), *folder.glob("*.pub")]) if folder else ():
        yield from _key_file(path)


def _key_file(path: Path) -> Iterator[Finding]:
    where, private = (str(path), None), path.suffix == ".key"
    mode = path.stat().st_mode & 0o7777
    if private and mode & ~0o600:  # res_crypto allows owner read/write only
        yield _found("DL105", where, mode=mode, name=path.name)
    if private and b"ENCRYPTED" in path.read_bytes():
        yield _found("DL104", where, name=path.name)
        return
    kind = "private" if private else "public"
    numbers = _public_numbers(path)
    if numbers is None:
        yield _found("DL103", where, problem=f"not a PEM RSA {kind} key res_crypto can load")
    elif (bits := numbers.n.bit_length()) != 1024:
        problem = (
            f"{kind} key is {bits}-bit RSA: DUNDi works in 128-byte blocks "
            "and res_crypto says 'Key ... is not expected size'"
        )
        yield _found("DL103", where, problem=problem)


def _key_pairs(node: _Node, lab: _Lab) -> Iterator[Finding]:
    """DL106: the public key this node checks a lab peer with is the peer's own."""
    for peer, other in lab.lab_peers(node):
        theirs = other.peer_for(node.eid)
        inkey, outkey = peer.section.get("inkey"), theirs.section.get("outkey") if theirs else None
        if inkey is None or outkey is None or node.files.keys is None or other.files.keys is None:
            continue
        held = lab.public_numbers(node.files.keys / f"{inkey.value}.pub")
        signing = lab.public_numbers(other.files.keys / f"{outkey.value}.key")
        if held is not None and signing is not None and held != signing:
            yield _found("DL106", inkey, name=inkey.value, peer=other.files.name, key=outkey.value)


def _identity(node: _Node, lab: _Lab) -> Iterator[Finding]:
    """DL201-DL203: [general] entityid set, valid, unique; DL301: sections pbx_dundi skips."""
    option = node.general.get("entityid") if node.general else None
    first = lab.by_eid(node.eid, node)
    if option is None:
        yield _found("DL201", node.where)
    elif not node.eid:
        yield _found("DL202", option, value=option.value)
    elif first is not None and lab.nodes.index(first) < lab.nodes.index(node):
        yield _found("DL203", option, eid=node.eid, peer=first.files.name)
    for section in node.files.dundi.browse():
        if section.name.lower() not in ("general", "mappings", "*") and not _EID.match(
            section.name
        ):
            yield _found("DL301", section, name=section.name)
    if node.general is not None:
        yield from _unknown_options(node.general, _GENERAL_OPTIONS)


def _trust(node: _Node, lab: _Lab) -> Iterator[Finding]:
    """DL204, DL409: trust and permissions the other side does not return."""
    for peer, other in lab.lab_peers(node):
        if (theirs := other.peer_for(node.eid)) is None:
            yield _found("DL204", peer.section, peer=other.files.name, eid=other.eid, own=node.eid)
            continue
        for network in sorted(node.networks()):
            if peer.includes(network) and not theirs.permits(network):
                yield _found(
                    "DL409", peer.section, peer=other.files.name, network=network, own=node.eid
                )


def _peer_sections(node: _Node, lab: _Lab) -> Iterator[Finding]:
    """DL302-DL309: what build_peer discards, warns about or never reads."""
    for peer in node.peers:
        section, eid = peer.section, peer.section.name
        yield from _unknown_options(section, _PEER_OPTIONS)
        for name, valid in _CHOICES.items():
            for o in section.all(name):
                if o.value.lower() not in valid:
                    yield _found("DL303", o, name=name, value=o.value, valid=", ".join(valid))
        for o in section.all("qualify"):
            if o.value.lower() not in ("yes", "no") and not o.value.isdigit():
                yield _found(
                    "DL303", o, name="qualify", value=o.value, valid="yes, no or milliseconds"
                )
        yield from _model_rules(peer)
        if peer.eid == "00:00:00:00:00:00":
            yield _found("DL309", section)
        if section.get("host") is None:
            outbound = bool(peer.model & _OUT)
            verb = "send queries or qualify" if outbound else "qualify"
            found = _found("DL307", section, eid=eid, verb=verb)
            yield found if outbound else _warning(found)


def _model_rules(peer: _Peer) -> Iterator[Finding]:
    """build_peer's checks, in its order (it logs the first that applies)."""
    model, precache, section = peer.model, peer.precache, peer.section
    names = {"eid": section.name, "model": _model_name(model), "precache": _model_name(precache)}
    where = section.get("model") or section
    if not model and not precache:
        yield _found("DL302", where, **names)
    elif (model & _IN and precache & _OUT) or (model & _OUT and precache & _IN):
        yield _found("DL304", where, **names)
    elif peer.include and not model & _OUT and not precache & _IN:
        yield _found("DL305", (section.all("include") or section.all("noinclude"))[0], **names)
    elif peer.permit and not model & _IN and not precache & _OUT:
        yield _found("DL306", (section.all("permit") or section.all("deny"))[0], **names)


def _unknown_options(section: Section, known: Sequence[str]) -> Iterator[Finding]:
    for o in section.options:
        if o.name.lower() in known:
            continue
        close = difflib.get_close_matches(o.name.lower(), known, n=1)
        hint = (
            f"did you mean {close[0]}?"
            if close
            else f"remove it (pbx_dundi reads {', '.join(known)})"
        )
        if o.name.lower() == "dynamic":
            hint = "write host = dynamic (and register = yes in the peer's section for this node)"
        yield _found("DL308", o, name=o.name, hint=hint)


def _general(node: _Node, lab: _Lab) -> Iterator[Finding]:
    """DL501: ttl; DL502: the DUNDi switch on Asterisk 22 without outgoing_sip_tech = SIP."""
    ttl = node.general.get("ttl") if node.general else None
    digits = re.match(r"\s*-?\d+", ttl.value) if ttl else None
    if ttl is not None and (digits is None or not 1 <= int(digits.group()) <= 119):
        yield _found("DL501", ttl, value=ttl.value)
    iax_answers = any(m.part(2).lower() in ("iax", "iax2") for n in lab.nodes for m in n.mappings)
    tech = node.general.get("outgoing_sip_tech") if node.general else None
    if node.files.version == "16" or not node.switches or not iax_answers:
        return
    if tech is None or tech.value.lower() != "sip":
        _, _, switch = node.switches[0]
        yield _found(
            "DL502",
            tech or node.where,
            switch=switch.value,
            at=f"{Path(switch.file).name}:{switch.line}",
            version=node.files.version,
            state="defaults to PJSIP" if tech is None else f"is {tech.value}",
        )


def _mappings(node: _Node, lab: _Lab) -> Iterator[Finding]:
    """DL408: each [mappings] line as build_mapping reads it; DL404: its context; DL406."""
    for m in node.mappings:
        if m.fields == ("",):
            continue  # `network =>`: a transit node's mapping, valid
        if len(m.fields) < 4:
            problem = (
                f"{len(m.fields)} of 4 fields: "
                "pbx_dundi drops it ('Expected at least 4 arguments in map')"
            )
            yield _found("DL408", m.option, network=m.network, problem=problem)
            continue
        weight, tech = m.fields[1], m.fields[2]
        if not ((weight.isdigit() and int(weight) <= 59999) or re.fullmatch(r"\$\{.*\}", weight)):
            problem = f"weight '{weight}' is not 0..59999: pbx_dundi deletes the mapping"
            yield _found("DL408", m.option, network=m.network, problem=problem)
        if tech.lower() not in _TECHS:
            problem = (
                f"tech '{tech}' is unknown: answers carry tech 'Unknown' and cannot be dialled"
            )
            yield _found("DL408", m.option, network=m.network, problem=problem)
        for extra in (x for x in m.fields[4:] if x.lower() not in _MAP_OPTIONS):
            problem = f"option '{extra}' is unknown: pbx_dundi ignores it"
            yield _warning(_found("DL408", m.option, network=m.network, problem=problem))
        if "${IPADDR}" in m.fields[3].upper():
            yield _found("DL406", m.option)
        if node.context(m.fields[0]) is None:
            yield _missing_context(
                "DL404", node, m.option, m.fields[0], f"the mapping for {m.network}"
            )


def _missing_context(code: str, node: _Node, where: Option, context: str, user: str) -> Finding:
    ext = node.files.extensions
    close = difflib.get_close_matches(context, list(node.contexts), n=1)
    hint = f"did you mean [{close[0]}]? or " if close else ""
    if ext is None:
        return _found(
            code,
            where,
            user=user,
            context=context,
            state="has no extensions.conf next to it",
            hint=hint,
        )
    if ext.includes:  # #include is not followed: the context may be there
        where_text = f"is not in {Path(ext.path).name} (it may be in a file it #includes)"
        return _warning(
            _found(code, where, user=user, context=context, state=where_text, hint=hint)
        )
    return _found(
        code, where, user=user, context=context, state="extensions.conf does not define", hint=hint
    )


def _networks(node: _Node, lab: _Lab) -> Iterator[Finding]:
    """DL401: a network peers may ask about without a mapping; DL402: one nobody is asked
    about; DL407: a name neither the peers nor [mappings] know, but a similar one exists."""
    mapped = {m.network.lower() for m in node.mappings}
    done: set[str] = set()
    for peer in node.peers:
        for o in peer.section.all("permit"):
            networks = list(node.networks()) if o.value.lower() == "all" else [o.value]
            for network in networks:
                if peer.permits(network) and network.lower() not in mapped | done:
                    done.add(network.lower())
                    yield _found("DL401", o, network=network)
    asked = [(m.network, m.option) for m in node.mappings] + [(n, o) for _, n, o in node.switches]
    for network, o in asked if node.peers else ():
        if network.lower() not in done and not any(p.includes(network) for p in node.peers):
            done.add(network.lower())
            yield _found("DL402", o, network=network)
    peers = [other for _, other in lab.lab_peers(node)]
    theirs = {n: other.files.name for other in peers for n in other.networks()}
    for network, o in node.networks().items():
        if theirs and network not in theirs:
            close = difflib.get_close_matches(network, sorted(theirs), n=1, cutoff=0.75)
            problem = f"no peer of this node writes network '{network}', but {{}} writes '{{}}'"
            if close:
                yield _found("DL407", o, problem=problem.format(theirs[close[0]], close[0]))
        elif network.lower() not in mapped:
            names = sorted({m.network for m in node.mappings} - {network})
            close = difflib.get_close_matches(network, names, n=1, cutoff=0.75)
            problem = f"network '{network}' has no [mappings] line, but '{{}}' has"
            if close:
                yield _found("DL407", o, problem=problem.format(close[0]))


def _dialplan(node: _Node, lab: _Lab) -> Iterator[Finding]:
    """DL405: number patterns where network numbers arrive; DL503: patterns that send calls
    to the DUNDi lookup context; DL504: Goto() into an undefined context."""
    length = {"length": lab.number_length, "xs": "X" * lab.number_length}
    receiving = {m.part(0): f"mapping context {m.part(0)}" for m in node.mappings if m.part(0)}
    for section in _incoming_users(node):
        if context := section.value("context"):
            receiving.setdefault(context, f"incoming context {context}")
    for context, label in receiving.items():
        for pattern, ext in {e.pattern: e for e in reversed(node.context(context) or ())}.items():
            if (problem := lab.length_problem(pattern)) is not None:
                yield _found("DL405", (ext.file, ext.line), label=label, problem=problem, **length)
    lookups = {c.lower() for c, _, _ in node.switches}
    includes = node.files.extensions is not None and bool(node.files.extensions.includes)
    for ext in (e for exts in node.contexts.values() for e in exts):
        target = ext.args[0] if ext.app.lower() == "goto" and len(ext.args) == 3 else ""
        where = (ext.file, ext.line)
        if target.lower() in lookups and (problem := lab.length_problem(ext.pattern)) is not None:
            yield _found("DL503", where, context=target, problem=problem, **length)
        elif target and "$" not in target and node.context(target) is None and not includes:
            yield _found("DL504", where, context=target)


def _iax_user(node: _Node, lab: _Lab) -> Iterator[Finding]:
    """DL601-DL603: the iax.conf user that takes calls authenticated with DUNDi's secret."""
    iax = node.files.iax
    for user, (mapping, section) in _secret_users(node).items():
        if section is None:
            close = difflib.get_close_matches(
                user, [s.name for s in iax.browse()] if iax else [], n=1, cutoff=0.5
            )
            where = "there is no iax.conf" if iax is None else f"iax.conf has no [{user}]"
            hint = f"rename [{close[0]}] to [{user}], or " if close else ""
            yield _found("DL601", mapping.option, user=user, where=where, hint=hint)
            continue
        kind, dbsecret = section.value("type").lower(), section.get("dbsecret")
        if kind not in ("user", "friend"):
            yield _found(
                "DL602",
                section.get("type") or section,
                user=user,
                what=f"has type = {kind or '(none)'}, so it takes no calls",
            )
        elif dbsecret is None:
            yield _found(
                "DL602",
                section,
                user=user,
                what="has no dbsecret (callers bring DUNDi's rotating secret)",
            )
        elif dbsecret.value != SECRET_DB:
            yield _found(
                "DL602",
                dbsecret,
                user=user,
                what=f"reads its secret from {dbsecret.value}, not {SECRET_DB}",
            )
    for section in _incoming_users(node):
        context = section.get("context")
        if context is not None and node.context(context.value) is None:
            yield _missing_context(
                "DL603", node, context, context.value, f"IAX2 user [{section.name}]"
            )


def _incoming_users(node: _Node) -> list[Section]:
    """iax.conf sections that take DUNDi's calls: named by a mapping, or reading its secret."""
    named = {user for user, (_, section) in _secret_users(node).items() if section is not None}
    iax = node.files.iax.browse() if node.files.iax else ()
    return [s for s in iax if s.name in named or s.value("dbsecret") == SECRET_DB]


def _secret_users(node: _Node) -> dict[str, tuple[_Mapping, Section | None]]:
    """IAX2 user → (first mapping that logs in as it with ${SECRET}, its iax.conf section)."""
    users: dict[str, tuple[_Mapping, Section | None]] = {}
    for m in node.mappings:
        dest = _DEST.match(m.part(3))
        if m.part(2).lower() in ("iax", "iax2") and dest and "${SECRET}" in (dest["secret"] or ""):
            section = node.files.iax.section(dest["user"]) if node.files.iax else None
            users.setdefault(dest["user"], (m, section))
    return users


_CHECKS: tuple[Callable[[_Node, _Lab], Iterator[Finding]], ...] = (
    _strays,
    _keys,
    _key_pairs,
    _identity,
    _trust,
    _peer_sections,
    _general,
    _mappings,
    _networks,
    _dialplan,
    _iax_user,
)


# ---- helpers --------------------------------------------------------------------------------


def _has_permission(entries: Sequence[tuple[str, bool]], network: str) -> bool:
    """pbx_dundi's has_permission: the last entry naming `network` or `all` decides."""
    allowed = False
    for name, allow in entries:
        if name.lower() in ("all", network.lower()):
            allowed = allow
    return allowed


def _model_name(bits: int) -> str:
    return {0: "none", _IN: "inbound", _OUT: "outbound"}.get(bits, "symmetric")


def _eid(text: str) -> str:
    """An entity ID as pbx_dundi prints it (lowercase, two digits a byte), or "" if invalid."""
    if not _EID.match(text.strip()):
        return ""
    return ":".join(f"{int(part, 16):02x}" for part in text.strip().split(":"))


def _public_numbers(path: Path) -> rsa.RSAPublicNumbers | None:
    """The RSA public numbers in a PEM key file, private or public; None if it cannot be read.
    Nothing else of the file leaves this function."""
    try:
        data = path.read_bytes()
        if path.suffix == ".key":
            public = serialization.load_pem_private_key(data, password=None).public_key()
        else:
            public = serialization.load_pem_public_key(data)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return public.public_numbers() if isinstance(public, rsa.RSAPublicKey) else None
