"""`lab lint`'s checks of keys (DL1xx), entity IDs and trust (DL2xx): each yields the
findings of one node, looking at the others where needed. The public face is `lab.lint`."""

from __future__ import annotations

from collections.abc import Iterator

from lab.asterisk.conf import Option
from lab.lint.checks import unknown_options
from lab.lint.model import EID_PATTERN, KeyData, LintLab, LintNode, public_numbers
from lab.lint.rules import Finding, finding

__all__ = ["identity", "key_pairs", "keys", "trust"]

# What pbx_dundi's set_config reads from [general]; nothing else.
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


def keys(node: LintNode, lab: LintLab) -> Iterator[Finding]:
    """DL101, DL102, DL107: the key each peer section names exists; DL103-DL105 per key file."""
    folder = node.files.keys
    for peer in node.peers:
        inkey, outkey = peer.section.get("inkey"), peer.section.get("outkey")
        if inkey is None:
            yield finding("DL107", peer.section, eid=peer.section.name)
        elif outkey is None:
            problem = (
                f"peer {peer.section.name} has an inkey but no outkey: "
                "pbx_dundi cannot sign the key it sends"
            )
            yield finding("DL101", inkey, problem=problem, hint="add outkey = <this node's key>")
        yield from _dotted_names(node, (inkey, ".pub"), (outkey, ".key"))
        if folder is None:
            continue
        if outkey is not None and f"{outkey.value}.key" not in folder:
            name = outkey.value
            problem = (
                f"outkey '{name}' has no private key file {name}.key in the node's keys folder"
            )
            hint = f"put this node's private key there as {name}.key"
            yield finding("DL101", outkey, problem=problem, hint=hint)
        if inkey is not None and f"{inkey.value}.pub" not in folder:
            yield finding("DL102", inkey, name=inkey.value)
    for key in sorted((folder or {}).values(), key=lambda k: k.path):
        yield from _key_file(key)


def _dotted_names(node: LintNode, *named: tuple[Option | None, str]) -> Iterator[Finding]:
    """DL108: a key name Asterisk 16's res_crypto cannot load (strstr on the file name)."""
    if node.files.version != "16":
        return
    for option, ext in named:
        if option is None:
            continue
        for part in (".pub", ".key"):
            if part in option.value:
                suggested = option.value.replace(".", "-")
                yield finding(
                    "DL108", option, name=option.value, part=part, ext=ext, suggested=suggested
                )
                break


def _key_file(key: KeyData) -> Iterator[Finding]:
    where, private = (str(key.path), None), key.private
    if private and key.mode & ~0o600:  # res_crypto allows owner read/write only
        yield finding("DL105", where, mode=key.mode, name=key.path.name)
    if private and b"ENCRYPTED" in key.data:
        yield finding("DL104", where, name=key.path.name)
        return
    kind = "private" if private else "public"
    numbers = public_numbers(key)
    if numbers is None:
        yield finding("DL103", where, problem=f"not a PEM RSA {kind} key res_crypto can load")
    elif (bits := numbers.n.bit_length()) != 1024:
        problem = (
            f"{kind} key is {bits}-bit RSA: DUNDi works in 128-byte blocks "
            "and res_crypto says 'Key ... is not expected size'"
        )
        yield finding("DL103", where, problem=problem)


def key_pairs(node: LintNode, lab: LintLab) -> Iterator[Finding]:
    """DL106: the public key this node checks a lab peer with is the peer's own."""
    for peer, other in lab.lab_peers(node):
        theirs = other.peer_for(node.eid)
        inkey, outkey = peer.section.get("inkey"), theirs.section.get("outkey") if theirs else None
        if inkey is None or outkey is None or node.files.keys is None or other.files.keys is None:
            continue
        held = lab.public_numbers(node, f"{inkey.value}.pub")
        signing = lab.public_numbers(other, f"{outkey.value}.key")
        if held is not None and signing is not None and held != signing:
            yield finding("DL106", inkey, name=inkey.value, peer=other.files.name, key=outkey.value)


def identity(node: LintNode, lab: LintLab) -> Iterator[Finding]:
    """DL201-DL203: [general] entityid set, valid, unique; DL301: sections pbx_dundi skips."""
    option = node.general.get("entityid") if node.general else None
    first = lab.by_eid(node.eid, node)
    if option is None:
        yield finding("DL201", node.where)
    elif not node.eid:
        yield finding("DL202", option, value=option.value)
    elif first is not None and lab.nodes.index(first) < lab.nodes.index(node):
        yield finding("DL203", option, eid=node.eid, peer=first.files.name)
    for section in node.files.dundi.browse():
        if section.name.lower() not in ("general", "mappings", "*") and not EID_PATTERN.match(
            section.name
        ):
            yield finding("DL301", section, name=section.name)
    if node.general is not None:
        yield from unknown_options(node.general, _GENERAL_OPTIONS)


def trust(node: LintNode, lab: LintLab) -> Iterator[Finding]:
    """DL204, DL409-DL412: trust, permissions, precache and registration the other side
    does not return."""
    for peer, other in lab.lab_peers(node):
        if (theirs := other.peer_for(node.eid)) is None:
            yield finding("DL204", peer.section, peer=other.files.name, eid=other.eid, own=node.eid)
            continue
        names = {"peer": other.files.name, "own": node.eid}
        for network in sorted(node.networks()):
            if peer.includes(network) and not theirs.permits(network):
                yield finding("DL409", peer.section, network=network, **names)
            if peer.pushes(network) and not theirs.takes_pushes(network):
                yield finding("DL410", peer.section, network=network, **names)
        if peer.dynamic and not theirs.registers:
            yield finding("DL411", peer.section, eid=peer.section.name, **names)
        if peer.registers and not theirs.dynamic:
            yield finding("DL412", peer.section, expiration=60, **names)
