"""`lab lint`: static checks of Asterisk configs for the mistakes that break DUNDi networks.

Input: a lab folder written by `render.write_lab`, one member's folder (dundi.conf, iax.conf,
extensions.conf, keys/), or a folder of member folders. Each check reads the files the way
pbx_dundi, res_crypto and chan_iax2 (Asterisk 22 source) read them and yields `Finding`s.
What every code means, and how to fix it, is the table `RULES`:

    DL0xx files · DL1xx keys · DL2xx entity IDs and trust · DL3xx peer sections
    DL4xx mappings and networks · DL5xx [general] and dialplan · DL6xx the IAX2 user

This module is the public face. Behind it: `_lint_rules` (the table and `Finding`),
`_lint_model` (the configs as pbx_dundi reads them), `_lint_keys` (DL1xx, DL2xx) and
`_lint_checks` (the other checks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from lab import topology
from lab.asterisk import render
from lab.asterisk.conf import ConfFile, Includer, load, parse
from lab.asterisk.member import includer
from lab.errors import LabError
from lab.lint import checks, key_checks
from lab.lint.model import DEFAULT_VERSION, KeyData, LintLab, LintNode, NodeFiles, keys_in
from lab.lint.rules import RULES, Finding
from lab.paths import LabPaths
from lab.topology import Topology, network

__all__ = [
    "RULES",
    "Finding",
    "NodeFiles",
    "format_findings",
    "has_errors",
    "lint_dir",
    "lint_members",
    "lint_nodes",
    "lint_rendered",
    "lint_topology",
    "summary",
]

DEFAULT_NUMBER_LENGTH = 9
CONF_FILES = ("dundi.conf", "iax.conf", "extensions.conf")

# Each check yields the findings of one node, looking at the others where needed.
_CHECKS: tuple[Callable[[LintNode, LintLab], Iterator[Finding]], ...] = (
    checks.strays,
    key_checks.keys,
    key_checks.key_pairs,
    key_checks.identity,
    key_checks.trust,
    checks.peer_sections,
    checks.general,
    checks.mappings,
    checks.networks,
    checks.dialplan,
    checks.iax_user,
)


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
    # a network folder's network.yaml may give a member's Asterisk version and the length
    versions, length = network.versions(folder)
    # key files are checked where some were given: members' configs alone say nothing of them
    with_keys = any((m / "keys").is_dir() for m in members)
    nodes = [
        _read(m.name, m, m / "keys" if with_keys else None, versions.get(m.name, version))
        for m in members
    ]
    return lint_nodes(nodes, number_length or length or DEFAULT_NUMBER_LENGTH)


def lint_topology(lab: Topology, root: Path | None = None) -> list[Finding]:
    """Lint the configs and keys `lab` renders, in memory (see `lint_rendered`)."""
    return lint_rendered(render.render_lab(lab, LabPaths.of(lab.name, root)))


def lint_rendered(rendered: render.RenderedLab) -> list[Finding]:
    """Lint exactly the files and keys a lab will mount, before anything is written;
    findings name the files where `RenderedLab.write` puts them."""
    paths, nodes = rendered.paths, []
    for node in rendered.topology.nodes:
        files = rendered.nodes[node.name]
        conf = {
            f: parse(files.files[f], str(paths.etc(node.name) / f))
            for f in CONF_FILES
            if f in files.files
        }
        keys = {name: KeyData(k.path, k.data, k.mode) for name, k in files.keys.items()}
        nodes.append(
            NodeFiles(
                node.name,
                conf.get("dundi.conf") or ConfFile(str(paths.etc(node.name) / "dundi.conf")),
                conf.get("iax.conf"),
                conf.get("extensions.conf"),
                keys,
                node.version,
            )
        )
    return lint_nodes(nodes, rendered.topology.number_length)


def lint_members(lab: Topology) -> list[Finding]:
    """The imported nodes' files as the members wrote them, checked together (as
    `lab lint --dir` checks a folder of members): what the members should fix at home, even
    where the lab's changes make the lab run (a `${IPADDR}` the lab replaces, a host the lab
    maps)."""
    members: list[NodeFiles] = []
    for node in lab.nodes:
        if node.imported is None:
            continue
        folder = Path(node.imported.dir)
        texts = dict(node.imported.files)
        include = _member_includes(folder, texts)
        conf = {
            f: parse(texts[f], str(folder / f), include=include) for f in CONF_FILES if f in texts
        }
        files = NodeFiles(
            node.name,
            conf.get("dundi.conf") or ConfFile(str(folder / "dundi.conf")),
            conf.get("iax.conf"),
            conf.get("extensions.conf"),
            None,
            node.version,
        )
        members.append(files)
    return lint_nodes(members, lab.number_length) if members else []


def _member_includes(folder: Path, texts: dict[str, str]) -> Includer:
    """A member's #include targets, read from its files, named by their path in its folder."""
    follow = includer(texts)

    def include(target: str) -> tuple[str, str] | None:
        found = follow(target)
        return (str(folder / found[0]), found[1]) if found else None

    return include


def lint_nodes(
    nodes: Sequence[NodeFiles], number_length: int = DEFAULT_NUMBER_LENGTH
) -> list[Finding]:
    """Every finding for these nodes, each checked alone and against the others."""
    lab = LintLab(tuple(LintNode.of(n) for n in nodes), number_length)
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
    held = keys_in(keys) if keys is not None else None
    return NodeFiles(name, dundi, conf["iax.conf"], conf["extensions.conf"], held, version)
