"""The rules of `lab lint`: what each code means and how to fix it, and the `Finding` a check
yields. The public face is `lab.lint`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from lab.asterisk.conf import Option, Section, Stray

__all__ = ["RULES", "Finding", "Severity", "Where", "as_warning", "finding"]

Severity = Literal["error", "warning"]

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
    "DL108": (
        "error",
        "key name '{name}' holds '{part}': Asterisk 16 finds a key file by the first '.pub' or "
        "'.key' in its name, so it takes {name}{ext} for no key at all and DUNDi runs without it",
        "use a key name without '.pub' or '.key' in it, e.g. {suggested}",
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
    "DL410": (
        "error",
        "this node pushes {network} to {peer} (precache outbound), but {peer}'s [{own}] section "
        "does not take pushes for it (precache inbound or symmetric, and include=), so {peer} "
        "answers every push with NOAUTH 'Permission to context denied'",
        "add precache = inbound and include = {network} there, or remove precache here",
    ),
    "DL411": (
        "error",
        "peer {eid} has host = dynamic, but {peer}'s [{own}] section has no register = yes: "
        "this node never learns {peer}'s address, so it never asks or qualifies it",
        "add register = yes to {peer}'s [{own}] section, or write {peer}'s address here",
    ),
    "DL412": (
        "error",
        "this node registers with {peer} (register = yes), but {peer}'s [{own}] section has a "
        "fixed host: {peer} refuses the registration with NOAUTH every {expiration} s",
        "write host = dynamic in {peer}'s [{own}] section, or remove register = yes here",
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


# Where a finding points: a parsed line or section, or (file, line) for a whole file or key.
Where = Option | Section | Stray | tuple[str, int | None]


def finding(code: str, at: Where, /, **values: object) -> Finding:
    """The finding of rule `code` at `at`, its message and fix filled in from `values`."""
    severity, message, fix = RULES[code]
    file, line = at if isinstance(at, tuple) else (at.file, at.line)
    return Finding(file, line, severity, code, message.format(**values), fix.format(**values))


def as_warning(found: Finding) -> Finding:
    """The same finding, as a warning (the case where Asterisk may still cope)."""
    return replace(found, severity="warning")
