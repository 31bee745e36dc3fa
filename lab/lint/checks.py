"""`lab lint`'s checks of files (DL0xx), peer sections (DL3xx), mappings and networks (DL4xx),
[general] and the dialplan (DL5xx) and the IAX2 user (DL6xx): each yields the findings of one
node, looking at the others where needed. The public face is `lab.lint`."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from lab.asterisk.conf import Option, Section
from lab.lint.model import IN, MODELS, OUT, LintLab, LintNode, LintPeer, MappingLine, model_name
from lab.lint.rules import Finding, as_warning, finding

__all__ = [
    "SECRET_DB",
    "dialplan",
    "general",
    "iax_user",
    "mappings",
    "networks",
    "peer_sections",
    "strays",
    "unknown_options",
]

SECRET_DB = "dundi/secret"  # pbx_dundi keeps its rotating secret in AstDB dundi/secret
_DEST = re.compile(r"^(?P<user>[^:@/]+)(?::(?P<secret>[^@]*))?@")
_TECHS = ("iax", "iax2", "sip", "h323", "pjsip")
_MAP_OPTIONS = (
    "nounsolicited",
    "nocomunsolicit",
    "residential",
    "commercial",
    "mobile",
    "nopartial",
)
# What pbx_dundi's build_peer reads from a peer section; nothing else.
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
    "model": tuple(MODELS),
    "precache": tuple(MODELS),
    "order": ("primary", "secondary", "tertiary", "quartiary"),
}


def strays(node: LintNode, lab: LintLab) -> Iterator[Finding]:
    """DL002: no dundi.conf to speak of; DL001: lines Asterisk skips; DL003: lines that make
    it refuse the whole file."""
    if not node.files.dundi.sections:
        yield finding("DL002", (node.files.dundi.path, None))
    for conf in (node.files.dundi, node.files.iax, node.files.extensions):
        for stray in conf.strays if conf else ():
            if not stray.fatal:
                yield finding("DL001", stray, text=stray.text, reason=stray.reason)
                continue
            hint = "move the line into a [section]"
            if stray.text.startswith("("):
                hint = f"define the template [{stray.text.strip('()')}](!) above this section"
            yield finding("DL003", stray, text=stray.text, reason=stray.reason, hint=hint)


def peer_sections(node: LintNode, lab: LintLab) -> Iterator[Finding]:
    """DL302-DL309: what build_peer discards, warns about or never reads."""
    for peer in node.peers:
        section, eid = peer.section, peer.section.name
        yield from unknown_options(section, _PEER_OPTIONS)
        for name, valid in _CHOICES.items():
            for o in section.all(name):
                if o.value.lower() not in valid:
                    yield finding("DL303", o, name=name, value=o.value, valid=", ".join(valid))
        for o in section.all("qualify"):
            if o.value.lower() not in ("yes", "no") and not o.value.isdigit():
                yield finding(
                    "DL303", o, name="qualify", value=o.value, valid="yes, no or milliseconds"
                )
        yield from _model_rules(peer)
        if peer.eid == "00:00:00:00:00:00":
            yield finding("DL309", section)
        if section.get("host") is None:
            outbound = bool(peer.model & OUT)
            verb = "send queries or qualify" if outbound else "qualify"
            found = finding("DL307", section, eid=eid, verb=verb)
            yield found if outbound else as_warning(found)


def _model_rules(peer: LintPeer) -> Iterator[Finding]:
    """build_peer's checks, in its order (it logs the first that applies)."""
    model, precache, section = peer.model, peer.precache, peer.section
    names = {"eid": section.name, "model": model_name(model), "precache": model_name(precache)}
    where = section.get("model") or section
    if not model and not precache:
        yield finding("DL302", where, **names)
    elif (model & IN and precache & OUT) or (model & OUT and precache & IN):
        yield finding("DL304", where, **names)
    elif peer.include and not model & OUT and not precache & IN:
        yield finding("DL305", (section.all("include") or section.all("noinclude"))[0], **names)
    elif peer.permit and not model & IN and not precache & OUT:
        yield finding("DL306", (section.all("permit") or section.all("deny"))[0], **names)


def unknown_options(section: Section, known: Sequence[str]) -> Iterator[Finding]:
    """DL308: options of `section` that pbx_dundi does not read (it reads `known`)."""
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
        yield finding("DL308", o, name=o.name, hint=hint)


def general(node: LintNode, lab: LintLab) -> Iterator[Finding]:
    """DL501: ttl; DL502: the DUNDi switch on Asterisk 22 without outgoing_sip_tech = SIP."""
    ttl = node.general.get("ttl") if node.general else None
    digits = re.match(r"\s*-?\d+", ttl.value) if ttl else None
    if ttl is not None and (digits is None or not 1 <= int(digits.group()) <= 119):
        yield finding("DL501", ttl, value=ttl.value)
    iax_answers = any(m.part(2).lower() in ("iax", "iax2") for n in lab.nodes for m in n.mappings)
    tech = node.general.get("outgoing_sip_tech") if node.general else None
    if node.files.version == "16" or not node.switches or not iax_answers:
        return
    if tech is None or tech.value.lower() != "sip":
        _, _, switch = node.switches[0]
        yield finding(
            "DL502",
            tech or node.where,
            switch=switch.value,
            at=f"{Path(switch.file).name}:{switch.line}",
            version=node.files.version,
            state="defaults to PJSIP" if tech is None else f"is {tech.value}",
        )


def mappings(node: LintNode, lab: LintLab) -> Iterator[Finding]:
    """DL408: each [mappings] line as build_mapping reads it; DL404: its context; DL406."""
    for m in node.mappings:
        if m.fields == ("",):
            continue  # `network =>`: a transit node's mapping, valid
        if len(m.fields) < 4:
            problem = (
                f"{len(m.fields)} of 4 fields: "
                "pbx_dundi drops it ('Expected at least 4 arguments in map')"
            )
            yield finding("DL408", m.option, network=m.network, problem=problem)
            continue
        weight, tech = m.fields[1], m.fields[2]
        if not ((weight.isdigit() and int(weight) <= 59999) or re.fullmatch(r"\$\{.*\}", weight)):
            problem = f"weight '{weight}' is not 0..59999: pbx_dundi deletes the mapping"
            yield finding("DL408", m.option, network=m.network, problem=problem)
        if tech.lower() not in _TECHS:
            problem = (
                f"tech '{tech}' is unknown: answers carry tech 'Unknown' and cannot be dialled"
            )
            yield finding("DL408", m.option, network=m.network, problem=problem)
        for extra in (x for x in m.fields[4:] if x.lower() not in _MAP_OPTIONS):
            problem = f"option '{extra}' is unknown: pbx_dundi ignores it"
            yield as_warning(finding("DL408", m.option, network=m.network, problem=problem))
        if "${IPADDR}" in m.fields[3].upper():
            yield finding("DL406", m.option)
        if node.context(m.fields[0]) is None:
            yield _missing_context(
                "DL404", node, m.option, m.fields[0], f"the mapping for {m.network}"
            )


def _missing_context(code: str, node: LintNode, where: Option, context: str, user: str) -> Finding:
    ext = node.files.extensions
    close = difflib.get_close_matches(context, list(node.contexts), n=1)
    hint = f"did you mean [{close[0]}]? or " if close else ""
    if ext is None:
        return finding(
            code,
            where,
            user=user,
            context=context,
            state="has no extensions.conf next to it",
            hint=hint,
        )
    if ext.includes:  # #include is not followed: the context may be there
        where_text = f"is not in {Path(ext.path).name} (it may be in a file it #includes)"
        return as_warning(
            finding(code, where, user=user, context=context, state=where_text, hint=hint)
        )
    return finding(
        code, where, user=user, context=context, state="extensions.conf does not define", hint=hint
    )


def networks(node: LintNode, lab: LintLab) -> Iterator[Finding]:
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
                    yield finding("DL401", o, network=network)
    asked = [(m.network, m.option) for m in node.mappings] + [(n, o) for _, n, o in node.switches]
    for network, o in asked if node.peers else ():
        if network.lower() not in done and not any(p.includes(network) for p in node.peers):
            done.add(network.lower())
            yield finding("DL402", o, network=network)
    peers = [other for _, other in lab.lab_peers(node)]
    theirs = {n: other.files.name for other in peers for n in other.networks()}
    for network, o in node.networks().items():
        if theirs and network not in theirs:
            close = difflib.get_close_matches(network, sorted(theirs), n=1, cutoff=0.75)
            problem = f"no peer of this node writes network '{network}', but {{}} writes '{{}}'"
            if close:
                yield finding("DL407", o, problem=problem.format(theirs[close[0]], close[0]))
        elif network.lower() not in mapped:
            names = sorted({m.network for m in node.mappings} - {network})
            close = difflib.get_close_matches(network, names, n=1, cutoff=0.75)
            problem = f"network '{network}' has no [mappings] line, but '{{}}' has"
            if close:
                yield finding("DL407", o, problem=problem.format(close[0]))


def dialplan(node: LintNode, lab: LintLab) -> Iterator[Finding]:
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
                yield finding("DL405", (ext.file, ext.line), label=label, problem=problem, **length)
    lookups = {c.lower() for c, _, _ in node.switches}
    includes = node.files.extensions is not None and bool(node.files.extensions.includes)
    for ext in (e for exts in node.contexts.values() for e in exts):
        target = ext.args[0] if ext.app.lower() == "goto" and len(ext.args) == 3 else ""
        where = (ext.file, ext.line)
        if target.lower() in lookups and (problem := lab.length_problem(ext.pattern)) is not None:
            yield finding("DL503", where, context=target, problem=problem, **length)
        elif target and "$" not in target and node.context(target) is None and not includes:
            yield finding("DL504", where, context=target)


def iax_user(node: LintNode, lab: LintLab) -> Iterator[Finding]:
    """DL601-DL603: the iax.conf user that takes calls authenticated with DUNDi's secret."""
    iax = node.files.iax
    for user, (mapping, section) in _secret_users(node).items():
        if section is None:
            close = difflib.get_close_matches(
                user, [s.name for s in iax.browse()] if iax else [], n=1, cutoff=0.5
            )
            where = "there is no iax.conf" if iax is None else f"iax.conf has no [{user}]"
            hint = f"rename [{close[0]}] to [{user}], or " if close else ""
            yield finding("DL601", mapping.option, user=user, where=where, hint=hint)
            continue
        kind, dbsecret = section.value("type").lower(), section.get("dbsecret")
        if kind not in ("user", "friend"):
            yield finding(
                "DL602",
                section.get("type") or section,
                user=user,
                what=f"has type = {kind or '(none)'}, so it takes no calls",
            )
        elif dbsecret is None:
            yield finding(
                "DL602",
                section,
                user=user,
                what="has no dbsecret (callers bring DUNDi's rotating secret)",
            )
        elif dbsecret.value != SECRET_DB:
            yield finding(
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


def _incoming_users(node: LintNode) -> list[Section]:
    """iax.conf sections that take DUNDi's calls: named by a mapping, or reading its secret."""
    named = {user for user, (_, section) in _secret_users(node).items() if section is not None}
    iax = node.files.iax.browse() if node.files.iax else ()
    return [s for s in iax if s.name in named or s.value("dbsecret") == SECRET_DB]


def _secret_users(node: LintNode) -> dict[str, tuple[MappingLine, Section | None]]:
    """IAX2 user → (first mapping that logs in as it with ${SECRET}, its iax.conf section)."""
    users: dict[str, tuple[MappingLine, Section | None]] = {}
    for m in node.mappings:
        dest = _DEST.match(m.part(3))
        if m.part(2).lower() in ("iax", "iax2") and dest and "${SECRET}" in (dest["secret"] or ""):
            section = node.files.iax.section(dest["user"]) if node.files.iax else None
            users.setdefault(dest["user"], (m, section))
    return users
