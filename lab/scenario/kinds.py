"""The step kinds scenario files can use, one class each (see `lab.scenario.steps`)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from lab.asterisk.probes import MAX_DIGITS
from lab.core import faults
from lab.core.running import Lab
from lab.core.verdict import judge_call
from lab.errors import LabError
from lab.redact import redact
from lab.scenario.steps import (
    Context,
    Seen,
    Step,
    check_kinds,
    expectations,
    parse_step,
    register,
    verdict,
)
from lab.topology import CODECS
from lab.topology.yamlsrc import join, shown

LINK_STATES = ("OK", "UNREACHABLE", "UNMONITORED", "LAGGED", "UNKNOWN", "ABSENT")
CALL_STATUSES = ("FOUND", "NOT_FOUND", "NO_DIAL_PATTERN", "TIMEOUT")
_NODE = {"$ref": "#/$defs/nodeName"}
_NODES = {"oneOf": [_NODE, {"type": "array", "items": _NODE}]}
_PATH = {
    "oneOf": [
        {
            "type": "string",
            "pattern": "^[a-z][a-z0-9-]*(-|->)[a-z][a-z0-9-]*$",
            "description": "a-b: both ways; a->b: only what a sends",
        },
        {"type": "array", "items": _NODE, "minItems": 2, "maxItems": 2},
    ]
}
_ONLY = {"enum": list(faults.KINDS), "description": "only DUNDi (UDP 4520) or IAX2 (UDP 4569)"}
_TARGET = {"type": ["string", "integer"], "pattern": r"^[0-9]+(@[a-z][a-z0-9_-]*)?$"}


def _name(lab: Lab, host_or_eid: str) -> str:
    node = lab.node_for(host_or_eid)
    return node.name if node else host_or_eid


def _target(value: Any, entry: dict[str, Any], ctx: Context, where: str) -> tuple[str, str]:
    """NUMBER@NETWORK (or NUMBER, with `network:` or the lab's first network)."""
    text = str(value)
    number, _, network = text.partition("@")
    network = network or str(entry.get("network", ctx.topology.networks[0]))
    if not (number.isascii() and number.isdigit()) or len(number) > MAX_DIGITS:
        ctx.fail(
            where,
            f"{shown(text)} must be a number of 1 to {MAX_DIGITS} digits, optionally @NETWORK",
        )
    if network not in ctx.topology.networks:
        ctx.fail(
            where, f"unknown network {shown(network)} (known: {', '.join(ctx.topology.networks)})"
        )
    return number, network


# ---- checks ---------------------------------------------------------------------


@register
@dataclass(frozen=True)
class Lookup(Step):
    key = "lookup"
    summary = "NUMBER@NETWORK: a DUNDi lookup from one node"
    value_schema: ClassVar[dict[str, Any]] = _TARGET
    modifiers: ClassVar[dict[str, Any]] = {
        "from": _NODE,
        "bypass": {"type": "boolean", "description": "skip the DUNDi cache on every hop"},
        "repeat": {
            "type": "integer",
            "minimum": 1,
            "maximum": 500,
            "description": "do the lookup this many times; every one must hold (times shown)",
        },
        "at_least": {
            "type": "integer",
            "minimum": 1,
            "maximum": 500,
            "description": "with repeat: how many of the lookups must hold (default: all)",
        },
    }
    expects: ClassVar[dict[str, Any]] = {
        "found": {"type": "boolean", "default": True},
        "answered_by": _NODES,
        "best": _NODE,
        "host": _NODE,
        "weight": {"type": "integer", "minimum": 0},
        "answers": {"type": "integer", "minimum": 0},
    }
    check = True

    line: int | None
    number: str
    network: str
    node: str
    bypass: bool = False
    repeat: int = 1
    at_least: int | None = None
    found: bool | None = True
    answered_by: tuple[str, ...] | None = None
    best: str | None = None
    host: str | None = None
    weight: int | None = None
    answers: int | None = None

    @classmethod
    def parse(cls, value: Any, entry: dict[str, Any], ctx: Context, path: str) -> Step:
        number, network = _target(value, entry, ctx, join(path, cls.key))
        e = expectations(cls, entry.get("expect"), ctx, join(path, "expect"))
        repeat = int(ctx.number(entry.get("repeat", 1), join(path, "repeat"), 1, 500))
        where = join(path, "expect")
        answered_by = e.get("answered_by")
        return cls(
            line=ctx.src.line(path),
            number=number,
            network=network,
            node=ctx.node(entry.get("from"), join(path, "from")),
            bypass=ctx.boolean(entry["bypass"], join(path, "bypass"))
            if "bypass" in entry
            else False,
            repeat=repeat,
            at_least=int(ctx.number(entry["at_least"], join(path, "at_least"), 1, repeat))
            if "at_least" in entry
            else None,
            found=ctx.boolean(e["found"], join(where, "found")) if "found" in e else True,
            answered_by=tuple(
                ctx.node(v, join(where, "answered_by"))
                for v in (answered_by if isinstance(answered_by, list) else [answered_by])
            )
            if answered_by is not None
            else None,
            best=ctx.node(e["best"], join(where, "best")) if "best" in e else None,
            host=ctx.node(e["host"], join(where, "host")) if "host" in e else None,
            weight=int(ctx.number(e["weight"], join(where, "weight"), 0, 65535))
            if "weight" in e
            else None,
            answers=int(ctx.number(e["answers"], join(where, "answers"), 0, 65535))
            if "answers" in e
            else None,
        )

    def describe(self) -> str:
        via = " bypass" if self.bypass else ""
        times = f" ×{self.repeat}" if self.repeat > 1 else ""
        if self.at_least is not None:
            times += f" (≥ {self.at_least} must hold)"
        return f"lookup {self.number}@{self.network} from {self.node}{via}{times}"

    def run(self, lab: Lab) -> Seen:
        if self.repeat == 1:
            return self._once(lab)[0]
        runs = [self._once(lab) for _ in range(self.repeat)]
        held = sum(seen.ok for seen, _ in runs)
        ms = sorted(took for _, took in runs)
        first_miss = next((seen for seen, _ in runs if not seen.ok), None)
        seen = (
            f"{held}/{self.repeat} held; Asterisk's times {ms[0]}–{ms[-1]} ms, "
            f"median {ms[len(ms) // 2]} ms"
        )
        if first_miss is not None:
            seen += f"; first miss: {first_miss.seen}"
        needed = self.repeat if self.at_least is None else self.at_least
        if held >= needed:
            return Seen(True, seen)
        expected = first_miss.expected if first_miss else ""
        return Seen(False, seen, f"{needed} of {self.repeat} to hold: {expected}")

    def _once(self, lab: Lab) -> tuple[Seen, int]:
        result = lab.lookup(self.number, self.network, from_node=self.node, bypass=self.bypass)
        by = sorted(_name(lab, a.eid) for a in result.answers)
        best = result.best
        if result.found and best is not None:
            seen = (
                f"found by {', '.join(by)}; best {_name(lab, best.eid)} at {best.host} "
                f"weight {best.weight} ({result.asterisk_ms} ms)"
            )
        else:
            seen = f"not found ({result.asterisk_ms} ms)"
        checks: list[tuple[bool, str]] = []
        if self.found is not None:
            checks.append((result.found == self.found, "found" if self.found else "not found"))
        if self.answered_by is not None:
            checks.append(
                (by == sorted(self.answered_by), f"answered by {', '.join(self.answered_by)}")
            )
        if self.best is not None:
            checks.append(
                (best is not None and _name(lab, best.eid) == self.best, f"best {self.best}")
            )
        if self.host is not None:
            ip = lab.topology.node(self.host).ip
            dialled = lab.topology.node_by_host(best.host) if best is not None else None
            checks.append(
                (dialled is not None and dialled.name == self.host, f"host {self.host} ({ip})")
            )
        if self.weight is not None:
            checks.append(
                (best is not None and best.weight == self.weight, f"weight {self.weight}")
            )
        if self.answers is not None:
            checks.append((len(result.answers) == self.answers, f"{self.answers} answers"))
        took = result.asterisk_ms if result.asterisk_ms is not None else round(result.wall_ms)
        return verdict(checks, seen), took


@register
@dataclass(frozen=True)
class Call(Step):
    key = "call"
    summary = "NUMBER: a real IAX2 call through the DUNDi switch"
    value_schema: ClassVar[dict[str, Any]] = _TARGET
    modifiers: ClassVar[dict[str, Any]] = {"from": _NODE, "network": {"$ref": "#/$defs/network"}}
    expects: ClassVar[dict[str, Any]] = {
        "answered": {"type": "boolean", "default": True},
        "callee": _NODE,
        "media": {
            "type": "boolean",
            "default": True,
            "description": "voice both ways (each side heard the other's tones), and the "
            "callee's recording names it, the extension and the caller",
        },
        "status": {"enum": list(CALL_STATUSES)},
        "codec": {"enum": list(CODECS), "description": "the codec the call arrived in"},
        "cause": {
            "type": "string",
            "description": "text in how the call ended: the hangup cause, the dial status or "
            "the far end's reason (e.g. 'IAX2 REJECT (58)')",
        },
    }
    check = True

    line: int | None
    number: str
    network: str
    node: str
    answered: bool | None = True
    callee: str | None = None
    media: bool | None = True
    status: str | None = None
    codec: str | None = None
    cause: str | None = None

    @classmethod
    def parse(cls, value: Any, entry: dict[str, Any], ctx: Context, path: str) -> Step:
        number, network = _target(value, entry, ctx, join(path, cls.key))
        e = expectations(cls, entry.get("expect"), ctx, join(path, "expect"))
        where = join(path, "expect")
        answered = ctx.boolean(e["answered"], join(where, "answered")) if "answered" in e else True
        media_default = True if answered else None
        return cls(
            line=ctx.src.line(path),
            number=number,
            network=network,
            node=ctx.node(entry.get("from"), join(path, "from")),
            answered=answered,
            callee=ctx.node(e["callee"], join(where, "callee")) if "callee" in e else None,
            media=ctx.boolean(e["media"], join(where, "media")) if "media" in e else media_default,
            status=ctx.choice(e["status"], join(where, "status"), CALL_STATUSES, "call status")
            if "status" in e
            else None,
            codec=ctx.choice(e["codec"], join(where, "codec"), CODECS, "codec")
            if "codec" in e
            else None,
            cause=ctx.text(e["cause"], join(where, "cause")) if "cause" in e else None,
        )

    def describe(self) -> str:
        return f"call {self.number}@{self.network} from {self.node}"

    def run(self, lab: Lab) -> Seen:
        judged = judge_call(lab.topology, lab.call(self.node, self.number, self.network))
        result = judged.result
        if result.answered:
            seen = (
                f"answered by {judged.callee.name if judged.callee else result.host} in "
                f"{result.setup_ms or 0:.0f} ms; {judged.audio()}"
            )
        else:
            seen = judged.checks[0].seen
        checks: list[tuple[bool, str]] = []
        if self.answered is not None:
            checks.append(
                (result.answered == self.answered, "answered" if self.answered else "not answered")
            )
        if self.callee is not None:
            checks.append((judged.identity_of(self.callee), f"answered by {self.callee}"))
        if self.media is not None:
            failed = ", ".join(c.name for c in judged.failed())
            what = (
                "media verified (voice both ways, node code, extension, caller seen)"
                if self.media
                else "media not verified"
            )
            checks.append(
                (
                    judged.verified == self.media,
                    what + (f" [failed: {failed}]" if failed and self.media else ""),
                )
            )
        if self.status is not None:
            checks.append((result.status == self.status, f"status {self.status}"))
        if self.codec is not None:
            checks.append((result.codec == self.codec, f"codec {self.codec}"))
        if self.cause is not None:
            ended = f"{result.cause} {result.dial_status} {result.far_cause}"
            checks.append((self.cause in ended, f"ended with {self.cause!r}"))
        return verdict(checks, seen)


@register
@dataclass(frozen=True)
class Link(Step):
    key = "link"
    summary = "A->B: how A's pbx_dundi sees its peer B"
    value_schema: ClassVar[dict[str, Any]] = {
        "type": "string",
        "pattern": "^[a-z][a-z0-9-]*->[a-z][a-z0-9-]*$",
    }
    expects: ClassVar[dict[str, Any]] = {"status": {"enum": list(LINK_STATES), "default": "OK"}}
    check = True

    line: int | None
    node: str
    peer: str
    status: str = "OK"

    @classmethod
    def parse(cls, value: Any, entry: dict[str, Any], ctx: Context, path: str) -> Step:
        node, peer = ctx.pair(value, join(path, cls.key), "->")
        e = expectations(cls, entry.get("expect"), ctx, join(path, "expect"))
        status = (
            ctx.choice(e["status"], join(path, "expect.status"), LINK_STATES, "link status")
            if "status" in e
            else "OK"
        )
        return cls(line=ctx.src.line(path), node=node, peer=peer, status=status)

    def describe(self) -> str:
        return f"link {self.node}->{self.peer}"

    def run(self, lab: Lab) -> Seen:
        links = {ln.peer: ln for ln in lab.links(self.node)}
        status = links[self.peer].status if self.peer in links else "ABSENT"
        return verdict(
            [(status.upper().startswith(self.status), f"status {self.status}")],
            f"{self.node} sees {self.peer} as {status}",
        )


@register
@dataclass(frozen=True)
class Cli(Step):
    key = "cli"
    summary = "an Asterisk CLI command on `node`; its output must (not) match"
    modifiers: ClassVar[dict[str, Any]] = {"node": _NODE}
    expects: ClassVar[dict[str, Any]] = {
        "match": {"type": "string"},
        "not_match": {"type": "string"},
    }
    check = True

    line: int | None
    node: str
    command: str
    match: str | None = None
    not_match: str | None = None

    @classmethod
    def parse(cls, value: Any, entry: dict[str, Any], ctx: Context, path: str) -> Step:
        e = expectations(cls, entry.get("expect"), ctx, join(path, "expect"))
        where = join(path, "expect")
        return cls(
            line=ctx.src.line(path),
            node=ctx.node(entry.get("node"), join(path, "node")),
            command=str(value),
            match=ctx.pattern(e["match"], join(where, "match")) if "match" in e else None,
            not_match=ctx.pattern(e["not_match"], join(where, "not_match"))
            if "not_match" in e
            else None,
        )

    def describe(self) -> str:
        return f"cli '{self.command}' on {self.node}"

    def run(self, lab: Lab) -> Seen:
        output = redact(lab.cli(self.node, self.command))
        checks: list[tuple[bool, str]] = []
        if self.match is not None:
            checks.append(
                (
                    re.search(self.match, output, re.MULTILINE) is not None,
                    f"output matches /{self.match}/",
                )
            )
        if self.not_match is not None:
            checks.append(
                (
                    re.search(self.not_match, output, re.MULTILINE) is None,
                    f"output does not match /{self.not_match}/",
                )
            )
        lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
        shown_line = next((ln for ln in lines if self.match and re.search(self.match, ln)), None)
        return verdict(checks, (shown_line or " | ".join(lines[:2]))[:160])


# ---- actions --------------------------------------------------------------------


@dataclass(frozen=True)
class _NodeAction(Step):
    value_schema: ClassVar[dict[str, Any]] = _NODE
    line: int | None
    node: str

    @classmethod
    def parse(cls, value: Any, entry: dict[str, Any], ctx: Context, path: str) -> Step:
        return cls(line=ctx.src.line(path), node=ctx.node(value, join(path, cls.key)))

    def describe(self) -> str:
        return f"{self.key} {self.node}"


@register
@dataclass(frozen=True)
class Stop(_NodeAction):
    key = "stop"
    summary = "stop a node's container (its peers notice within ~60 s)"

    def run(self, lab: Lab) -> Seen:
        lab.stop_node(self.node)
        return Seen(True, "done")


@register
@dataclass(frozen=True)
class Start(_NodeAction):
    key = "start"
    summary = "start a stopped node and wait until it is booted"

    def run(self, lab: Lab) -> Seen:
        lab.start_node(self.node)
        return Seen(True, "done")


@register
@dataclass(frozen=True)
class Restart(_NodeAction):
    key = "restart"
    summary = "stop a node, then start it again"

    def run(self, lab: Lab) -> Seen:
        lab.restart_node(self.node)
        return Seen(True, "done")


@dataclass(frozen=True)
class _Fault(Step):
    """partition, heal, impair: between two nodes, `a-b` both ways or `a->b` one way, all
    traffic or `only: dundi|iax2`."""

    value_schema: ClassVar[dict[str, Any]] = _PATH
    line: int | None
    first: str
    second: str
    oneway: bool = False
    only: str | None = None

    @classmethod
    def _path(cls, value: Any, entry: dict[str, Any], ctx: Context, path: str) -> dict[str, Any]:
        """first, second, oneway and only, from the step at `path`."""
        oneway = isinstance(value, str) and "->" in value
        first, second = ctx.pair(
            value.replace("->", ">") if oneway else value,
            join(path, cls.key),
            ">" if oneway else "-",
        )
        only = (
            ctx.choice(entry["only"], join(path, "only"), faults.KINDS, "kind of traffic")
            if "only" in entry
            else None
        )
        return {"first": first, "second": second, "oneway": oneway, "only": only}

    def _between(self) -> str:
        arrow = "->" if self.oneway else "-"
        only = f" ({self.only} only)" if self.only else ""
        return f"{self.first}{arrow}{self.second}{only}"

    def describe(self) -> str:
        return f"{self.key} {self._between()}"


@register
@dataclass(frozen=True)
class Partition(_Fault):
    key = "partition"
    summary = "cut the traffic between two nodes (a-b both ways, a->b one way); both stay up"
    modifiers: ClassVar[dict[str, Any]] = {
        "only": _ONLY,
        "reject": {"type": "boolean", "description": "refuse (ICMP) instead of dropping"},
    }
    reject: bool = False

    @classmethod
    def parse(cls, value: Any, entry: dict[str, Any], ctx: Context, path: str) -> Step:
        reject = ctx.boolean(entry["reject"], join(path, "reject")) if "reject" in entry else False
        return cls(
            line=ctx.src.line(path),
            **cls._path(value, entry, ctx, path),
            reject=reject,
        )

    def describe(self) -> str:
        return f"partition {self._between()}{' refused' if self.reject else ''}"

    def run(self, lab: Lab) -> Seen:
        lab.partition(
            self.first, self.second, only=self.only, oneway=self.oneway, reject=self.reject
        )
        return Seen(True, "done")


@register
@dataclass(frozen=True)
class Heal(_Fault):
    key = "heal"
    summary = "undo partitions and impairments between two nodes (narrowed by only, ->)"
    modifiers: ClassVar[dict[str, Any]] = {"only": _ONLY}

    @classmethod
    def parse(cls, value: Any, entry: dict[str, Any], ctx: Context, path: str) -> Step:
        return cls(line=ctx.src.line(path), **cls._path(value, entry, ctx, path))

    def run(self, lab: Lab) -> Seen:
        lab.heal(self.first, self.second, only=self.only, oneway=self.oneway)
        return Seen(True, "done")


@register
@dataclass(frozen=True)
class Impair(_Fault):
    key = "impair"
    summary = (
        "drop a share of the packets between two nodes at random (packet filter) and/or "
        "delay them (netem; SKIP where the kernel has none)"
    )
    modifiers: ClassVar[dict[str, Any]] = {
        "only": _ONLY,
        "delay_ms": {"type": "integer", "minimum": 0, "maximum": 5000},
        "jitter_ms": {"type": "integer", "minimum": 0, "maximum": 5000},
        "loss_pct": {"type": "number", "minimum": 0, "maximum": 100},
    }
    delay_ms: int = 0
    jitter_ms: int = 0
    loss_pct: float = 0

    @classmethod
    def parse(cls, value: Any, entry: dict[str, Any], ctx: Context, path: str) -> Step:
        return cls(
            line=ctx.src.line(path),
            **cls._path(value, entry, ctx, path),
            delay_ms=int(ctx.number(entry.get("delay_ms", 0), join(path, "delay_ms"), 0, 5000)),
            jitter_ms=int(ctx.number(entry.get("jitter_ms", 0), join(path, "jitter_ms"), 0, 5000)),
            loss_pct=float(ctx.number(entry.get("loss_pct", 0), join(path, "loss_pct"), 0, 100)),
        )

    def describe(self) -> str:
        what = [f"delay {self.delay_ms} ms"] if self.delay_ms else []
        what += [f"jitter {self.jitter_ms} ms"] if self.jitter_ms else []
        what += [f"loss {self.loss_pct:g}%"] if self.loss_pct else []
        return f"impair {self._between()} {' '.join(what) or 'nothing'}"

    def run(self, lab: Lab) -> Seen:
        try:
            lab.impair(
                self.first,
                self.second,
                delay_ms=self.delay_ms,
                jitter_ms=self.jitter_ms,
                loss_pct=self.loss_pct,
                only=self.only,
                oneway=self.oneway,
            )
        except LabError as exc:
            if self.delay_ms or self.jitter_ms:
                return Seen(True, "", "", f"the kernel cannot delay packets here ({exc})")
            raise
        return Seen(True, "done")


@register
@dataclass(frozen=True)
class WaitUntil(Step):
    key = "wait_until"
    summary = "repeat a check (lookup, call, link, cli) until it holds, within a bound"
    value_schema: ClassVar[dict[str, Any]] = {"$ref": "#/$defs/check"}
    modifiers: ClassVar[dict[str, Any]] = {
        "within": {"type": "number", "minimum": 1, "maximum": 600, "default": 90}
    }

    line: int | None
    inner: Step | None
    within: float = 90

    @classmethod
    def parse(cls, value: Any, entry: dict[str, Any], ctx: Context, path: str) -> Step:
        inner = parse_step(value, join(path, cls.key), ctx, allowed=lambda kind: kind.check)
        within = float(ctx.number(entry.get("within", 90), join(path, "within"), 1, 600))
        return cls(line=ctx.src.line(path), inner=inner, within=within)

    def describe(self) -> str:
        inner = self.inner.describe() if self.inner else "?"
        return f"wait until {inner} (≤ {self.within:.0f} s)"

    def run(self, lab: Lab) -> Seen:
        assert self.inner is not None
        deadline = time.monotonic() + self.within
        tries = 0
        while True:
            tries += 1
            outcome = self.inner.run(lab)
            if outcome.ok:
                return Seen(True, f"{outcome.seen} (after {tries} tries)", outcome.expected)
            if time.monotonic() > deadline:
                return Seen(
                    False, f"{outcome.seen} (still, after {self.within:.0f} s)", outcome.expected
                )
            time.sleep(1)


assert set(check_kinds()) == {"lookup", "call", "link", "cli"}
