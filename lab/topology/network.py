"""A network folder → a `Topology`: every member's own files, matched by entity ID.

    network/
      network.yaml            optional: what configs cannot say (see NETWORK_KEYS)
      alpha/dundi.conf …      a member's files exactly as on its server (#includes followed)
      beta/ …
      gamma.tar.gz            a member's archive made by scripts/dundi-collect (collected.py)

Members are matched by entity ID: a member's `[general] entityid` ↔ the `[EID]` peer
sections of the others. What cannot be matched is reported with file and line and left out,
never guessed. The host names members write (`host = pbx.alpha.example.net`, the same name
in mapping lines) become the members' network aliases, so they resolve in the lab; key names
stay as the members wrote them (the lab makes its own pairs under those names).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.asterisk.conf import Section, ast_eid, parse
from lab.asterisk.member import Member, includer, member_from_texts, peer_of, read_member
from lab.errors import Problem, TopologyError
from lab.topology.collected import (
    ARCHIVE_SUFFIX,
    OBSERVED,
    archive_member,
    is_archive,
    read_collected,
)
from lab.topology.imports import lab_peer
from lab.topology.model import (
    VERSIONS,
    Imported,
    Node,
    Peer,
    Service,
    Topology,
    address,
    default_eid,
    default_subnet,
    pattern_lengths,
)
from lab.topology.yamlsrc import Located, join, read_located, shown

__all__ = ["NETWORK_FILE", "NetworkNote", "is_network", "load_network"]

NETWORK_FILE = "network.yaml"
NETWORK_KEYS = ("name", "description", "subnet", "number_length", "networks", "members")
MEMBER_KEYS = ("version", "numbers", "skip")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}\Z")
_LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}\Z")


@dataclass(frozen=True)
class NetworkNote:
    """Something about the network worth telling: where, and what (a left-out peer, …)."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass
class _Read:
    node: str
    folder: Path  # the member folder, or its archive
    member: Member
    eid: str
    sections: list[Section]  # its [EID] peer sections, includes followed
    mappings: list[tuple[str, str]]  # (network, destination) of each mapping line
    version: str = "22"
    written: str = ""  # the member's name in the network folder
    observed: tuple[tuple[str, str], ...] = ()  # observed/ files: what its server showed


@dataclass
class _Report:
    findings: list[NetworkNote] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def note(self, file: Path | str, line: int | None, message: str) -> None:
        self.findings.append(NetworkNote(str(file), line, message))


def is_network(path: Path) -> bool:
    """A folder with member folders (sub-folders holding a dundi.conf) or members' archives
    (dundi-collect's .tar.gz) in it."""
    return path.is_dir() and any(
        (p.is_dir() and (p / "dundi.conf").is_file()) or is_archive(p) for p in path.iterdir()
    )


def _sources(folder: Path) -> list[tuple[str, Path]]:
    """(member name, folder or archive) of every member, by name."""
    found = [(p.name, p) for p in folder.iterdir() if p.is_dir() and (p / "dundi.conf").is_file()]
    found += [(archive_member(p), p) for p in folder.iterdir() if is_archive(p)]
    return sorted(found)


def load_network(
    folder: Path, *, name: str | None = None, subnet: str | None = None
) -> tuple[Topology, list[NetworkNote]]:
    """The lab a network folder describes, and what was noticed on the way (left-out
    peers, renamed members, …); TopologyError listing every problem."""
    folder = folder.resolve()
    report = _Report()
    settings, located = _settings(folder, report)
    members = _read_members(folder, settings, report)
    if report.problems:
        raise TopologyError(report.problems)
    by_eid: dict[str, _Read] = {}
    for m in members:
        if m.eid in by_eid:
            report.problems.append(
                Problem(
                    str(m.folder / "dundi.conf"),
                    None,
                    "",
                    f"entity ID {m.eid} is also {by_eid[m.eid].node}'s: members are matched "
                    "by entity ID, so each needs its own",
                )
            )
        by_eid[m.eid] = m
    names = _aliases(members, by_eid, report)
    networks = settings.get("networks") or sorted({net for m in members for net, _ in m.mappings})
    lab_name = name or settings.get("name") or _safe(folder.name)
    if not _LAB_NAME.match(lab_name):
        report.problems.append(
            Problem(
                "--name" if name else str(folder),
                None,
                "",
                f"lab name {shown(lab_name)} "
                "must be lowercase letters, digits and '-', at most 40 characters",
            )
        )
    number_length = int(settings.get("number_length") or _number_length(members))
    net = ipaddress.IPv4Network(
        subnet or settings.get("subnet") or default_subnet(lab_name, len(members))
    )
    nodes = []
    for index, m in enumerate(members):
        peers, mapped, keys = _peers(m, by_eid, report)
        nodes.append(
            Node(
                name=m.node,
                index=index,
                ip=address(net, index),
                eid=m.eid,
                version=m.version,
                ttl=_int(m.member, "ttl", 32),
                cachetime=_int(m.member, "cachetime", 3600),
                autokill=True,
                serves=tuple(
                    Service(network=n, patterns=p)
                    for n, p in m.member.serves
                    if p and n in networks
                ),
                peers=peers,
                imported=Imported(
                    dir=str(m.folder),
                    written=m.written,
                    peers=tuple(mapped),
                    files=m.member.texts,
                    keys=tuple(keys),
                    network=True,
                    observed=m.observed,
                ),
                aliases=tuple(sorted(names.get(m.node, ()))),
            )
        )
    if report.problems:
        raise TopologyError(report.problems)
    samples = _samples(settings, located)
    topo = Topology(
        name=lab_name,
        description=str(settings.get("description", "")),
        source=str(folder),
        subnet=str(net),
        number_length=number_length,
        networks=tuple(networks),
        nodes=tuple(nodes),
        subnet_fixed=bool(subnet or settings.get("subnet")),
        samples=samples,
    )
    return topo, report.findings


# ---- network.yaml ------------------------------------------------------------------


def versions(folder: Path) -> tuple[dict[str, str], int | None]:
    """What a network folder's network.yaml says each member runs (folder → "16"/"22"), and
    the number length if it gives one; nothing when there is no network.yaml."""
    report = _Report()
    settings, _ = _settings(folder, report)
    if report.problems:
        raise TopologyError(report.problems)
    found = {
        str(member): str(spec["version"])
        for member, spec in (settings.get("members") or {}).items()
        if isinstance(spec, dict) and "version" in spec
    }
    length = settings.get("number_length")
    return found, int(length) if isinstance(length, int) else None


def _settings(folder: Path, report: _Report) -> tuple[dict[str, Any], Located | None]:
    path = folder / NETWORK_FILE
    if not path.exists():
        return {}, None
    located = read_located(path)
    report.problems += located.problems
    data = located.data if isinstance(located.data, dict) else {}
    if located.data is not None and not isinstance(located.data, dict):
        report.problems.append(located.problem("", "must be a mapping (name, members, …)"))
    for key in data:
        if key not in NETWORK_KEYS:
            report.problems.append(
                located.problem(
                    str(key), f"unknown key {shown(key)} (valid: {', '.join(NETWORK_KEYS)})"
                )
            )
    members = data.get("members") or {}
    if not isinstance(members, dict):
        report.problems.append(located.problem("members", "must map member folders to settings"))
        members = {}
    for member, spec in members.items():
        where = join("members", str(member))
        if not (folder / str(member) / "dundi.conf").is_file() and not is_archive(
            folder / f"{member}{ARCHIVE_SUFFIX}"
        ):
            report.problems.append(
                located.problem(
                    where,
                    f"no member folder {shown(member)} with a dundi.conf here "
                    f"(nor an archive {member}{ARCHIVE_SUFFIX})",
                )
            )
        if spec is None:
            continue
        if not isinstance(spec, dict):
            report.problems.append(
                located.problem(where, f"must be a mapping ({', '.join(MEMBER_KEYS)})")
            )
            continue
        for key, value in spec.items():
            if key not in MEMBER_KEYS:
                report.problems.append(
                    located.problem(
                        join(where, str(key)),
                        f"unknown key {shown(key)} (valid: {', '.join(MEMBER_KEYS)})",
                    )
                )
            elif key == "version" and str(value) not in VERSIONS:
                report.problems.append(
                    located.problem(
                        join(where, key),
                        f"{shown(value)} is not one of the choices (valid: {', '.join(VERSIONS)})",
                    )
                )
    return {**data, "members": members}, located


def _samples(
    settings: dict[str, Any], located: Located | None
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Numbers to try per pattern, from every member's `numbers:`."""
    found: dict[str, list[str]] = {}
    for spec in (settings.get("members") or {}).values():
        for pattern, numbers in ((spec or {}).get("numbers") or {}).items():
            found.setdefault(str(pattern), []).extend(
                str(n) for n in (numbers if isinstance(numbers, list) else [numbers])
            )
    return tuple((p, tuple(n)) for p, n in sorted(found.items()))


# ---- the members ---------------------------------------------------------------------


def _read_members(folder: Path, settings: dict[str, Any], report: _Report) -> list[_Read]:
    members: list[_Read] = []
    specs = settings.get("members") or {}
    taken: set[str] = set()
    for written, sub in _sources(folder):
        spec = specs.get(written) or {}
        if spec.get("skip"):
            report.note(sub, None, "left out (network.yaml: skip)")
            continue
        node = _safe(written)
        if node != written:
            report.note(sub, None, f"runs as node {node} (a node name is lowercase a-z, 0-9, '-')")
        if node in taken:
            report.problems.append(
                Problem(
                    str(sub), None, "", f"two member folders or archives give the node name {node}"
                )
            )
        taken.add(node)
        loaded = _load_member(sub, report)
        if loaded is None:
            continue
        member, observed = loaded
        texts = dict(member.texts)
        dundi = parse(texts["dundi.conf"], "dundi.conf", include=includer(texts))
        general = dundi.section("general")
        option = general.get("entityid") if general else None
        eid = ast_eid(option.value if option else "")
        if not eid:
            eid = default_eid(len(members) + 200)
            where = (sub / "dundi.conf", option.line if option else None)
            report.note(
                *where,
                "no valid entityid in [general]: no member can name it as a peer; "
                f"the lab gives it {eid}",
            )
        mapping = dundi.section("mappings")
        read = _Read(
            node=node,
            folder=sub,
            member=member,
            eid=eid,
            sections=[s for s in dundi.browse() if ast_eid(s.name)],
            mappings=[
                (o.name, ",".join(o.value.split(",")[3:4]))
                for o in (mapping.options if mapping else ())
            ],
            version=str(spec.get("version") or _observed_version(observed) or "22"),
            written=written,
            observed=observed,
        )
        members.append(read)
    if not members and not report.problems:
        report.problems.append(
            Problem(
                str(folder),
                None,
                "",
                "no member folder (a sub-folder with a dundi.conf) or member's archive "
                f"(*{ARCHIVE_SUFFIX} made by dundi-collect) here",
            )
        )
    return members


def _load_member(
    source: Path, report: _Report
) -> tuple[Member, tuple[tuple[str, str], ...]] | None:
    """A member folder's or archive's configs, and what its server showed (observed/)."""
    if is_archive(source):
        collected, problems = read_collected(source)
        report.problems += problems
        if collected is None:
            return None
        try:
            return member_from_texts(source, collected.configs), collected.observed
        except KeyError as exc:
            report.problems.append(
                Problem(str(source), None, "", f"cannot read the member's configs: no {exc}")
            )
            return None
    try:
        return read_member(source), _observed_files(source / OBSERVED)
    except OSError as exc:
        report.problems.append(
            Problem(
                str(source),
                None,
                "",
                f"cannot read the member's configs: {exc.strerror or exc}: {exc.filename}",
            )
        )
        return None


_OBSERVED_MAX = 8 * 1024 * 1024


def _observed_files(folder: Path) -> tuple[tuple[str, str], ...]:
    """A member folder's observed/ files (regular files, as text); never taken as config."""
    if not folder.is_dir():
        return ()
    return tuple(
        (p.name, p.read_bytes().decode("utf-8", "surrogateescape"))
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.is_symlink() and p.stat().st_size <= _OBSERVED_MAX
    )


def _observed_version(observed: tuple[tuple[str, str], ...]) -> str:
    """The major version a collected member ran (observed/core-show-version.txt), if known."""
    seen = dict(observed).get("core-show-version.txt")
    if seen is None:
        return ""
    match = re.search(r"Asterisk (\d+)\.", seen)
    major = match.group(1) if match else ""
    return (
        major
        if major in VERSIONS
        else ("16" if major and int(major) < 20 else "22" if major else "")
    )


def _peers(
    m: _Read, by_eid: dict[str, _Read], report: _Report
) -> tuple[tuple[Peer, ...], list[tuple[str, str]], list[tuple[str, str]]]:
    """The member's peer sections that name another member, as trust edges; (member EID,
    node) pairs; and its key folder: (file name, whose key)."""
    peers, mapped = [], []
    keys = {}
    for s in m.sections:
        eid = ast_eid(s.name)
        other = by_eid.get(eid)
        where = Path(m.folder) / s.file
        if other is None or other is m:
            what = "this member itself" if other is m else "no member of the network"
            report.note(where, s.line, f"[{s.name}]: {what} has entity ID {eid}: left out")
            continue
        peers.append(lab_peer(peer_of(s), other.node))
        mapped.append((eid, other.node))
        if inkey := s.value("inkey"):
            keys[f"{inkey}.pub"] = other.node
        if outkey := s.value("outkey"):
            keys[f"{outkey}.key"] = m.node
            keys[f"{outkey}.pub"] = m.node
    return tuple(peers), mapped, sorted(keys.items())


def _names(section: Section, option: str) -> tuple[str, ...]:
    return tuple(o.value for o in section.all(option))


def _aliases(
    members: list[_Read], by_eid: dict[str, _Read], report: _Report
) -> dict[str, set[str]]:
    """Host names that must resolve to each member: what the others write in `host =` for
    it, and what it writes in its own mapping lines."""
    names: dict[str, set[str]] = {m.node: set() for m in members}
    owner: dict[str, str] = {}

    def claim(name: str, node: str, where: Path, line: int | None) -> None:
        if not name or name.lower() == "dynamic" or "$" in name or _is_ip(name):
            return
        if owner.setdefault(name, node) != node:
            report.problems.append(
                Problem(
                    str(where),
                    line,
                    "",
                    f"host name {shown(name)} means {owner[name]} elsewhere, and {node} here",
                )
            )
            return
        names[node].add(name)

    for m in members:
        for s in m.sections:
            other = by_eid.get(ast_eid(s.name))
            if other is not None and other is not m:
                for o in s.all("host"):
                    claim(o.value, other.node, m.folder / o.file, o.line)
        for _net, dest in m.mappings:
            host = re.search(r"@([^/]+)/", dest)
            if host:
                claim(host.group(1), m.node, m.folder / "dundi.conf", None)
    return names


def _number_length(members: list[_Read]) -> int:
    lengths = Counter(
        low
        for m in members
        for _net, patterns in m.member.serves
        for p in patterns
        if (low := pattern_lengths(p)[0]) == pattern_lengths(p)[1]
    )
    return lengths.most_common(1)[0][0] if lengths else 9


def _int(member: Member, option: str, default: int) -> int:
    general = parse(member.text("dundi.conf"), "dundi.conf").section("general")
    value = general.value(option) if general else ""
    return int(value) if value.isdigit() else default


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _safe(name: str) -> str:
    """A node name from a folder name: lowercase, a-z 0-9 '-', starting with a letter."""
    safe = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:30] or "member"
    return safe if safe[0].isalpha() else f"m-{safe}"[:30]


def describe(topo: Topology, findings: list[NetworkNote]) -> str:
    """The inferred topology as YAML text, for `lab import-network`."""
    import yaml

    data: dict[str, Any] = {
        "name": topo.name,
        "networks": list(topo.networks),
        "number_length": topo.number_length,
        "members": {},
    }
    for n in topo.nodes:
        assert n.imported is not None
        data["members"][n.name] = {
            "folder": n.imported.written,
            "entityid": n.eid,
            "asterisk": n.version,
            "serves": {s.network: list(s.patterns) for s in n.serves},
            "host names": list(n.aliases),
            "peers": [
                {"node": p.peer, "model": p.model}
                | ({"register": True} if p.register else {})
                | ({"host": "dynamic"} if p.dynamic else {})
                | ({"precache": p.precache} if p.precache != "none" else {})
                for p in n.peers
            ],
            "keys": dict(n.imported.keys),
        }
    head = f"# the lab dundi-lab infers from {topo.source}\n"
    notes = "".join(f"# note: {f}\n" for f in findings)
    return head + notes + yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)
