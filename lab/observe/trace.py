"""Where a DUNDi lookup went: who asked whom, in what order, how long each hop took,
where the answer came from, or where the lookup died.

    trace = run(lab, "555000123", "network1", from_node="a")
    print("\\n".join(format_trace(trace)))

`collect` switches `dundi set debug on` on every running node, looks the number up
with `bypass` from one node, and keeps each node's log lines of that time window
(every container shares the host's clock, so timestamps compare across nodes).
`build` pairs the frames the nodes logged into hops: the asker's DPDISCOVER, the
peer's copy, the peer's DPRESPONSE and the asker's copy of it, matched by
transaction number and address. A peer's own queries are the hop's children: they
come from the thread that sent the peer's response. Configured peers nobody asked
are hops too, with the reason (UNREACHABLE, ttl spent, ...).

A trace leaves debug off on every node, whatever it was before; two traces of
one lab at the same time would switch it off under each other.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lab.core.running import Lab
from lab.errors import LabError
from lab.observe.dundi_debug import parse_time
from lab.observe.trace_model import DEAD, Capture, Hop, Trace, TraceAnswer, build
from lab.paths import LabPaths

__all__ = [
    "DEAD",
    "Capture",
    "Hop",
    "Trace",
    "TraceAnswer",
    "build",
    "collect",
    "format_trace",
    "from_json",
    "load",
    "run",
    "save",
    "to_json",
    "trace_file",
]

# ---- live ------------------------------------------------------------------


def run(lab: Lab, number: str, network: str | None = None, *, from_node: str) -> Trace:
    """Trace a bypass lookup of NUMBER@NETWORK from one node of a running lab."""
    return build(lab.topology, collect(lab, number, network, from_node=from_node))


def collect(
    lab: Lab, number: str, network: str | None = None, *, from_node: str, settle_s: float = 0.2
) -> Capture:
    """Debug on everywhere, one bypass lookup, the logs of its window; debug off again."""
    network = network or lab.topology.networks[0]
    engine = lab.backend.states(lab.name)
    states = {n.name: engine.get(n.name, "absent") for n in lab.topology.nodes}
    if states.get(from_node) != "running":
        known = ", ".join(states)
        raise LabError(
            f"node '{from_node}' of lab '{lab.name}' is {states[from_node]}"
            if from_node in states
            else f"no node '{from_node}' in lab '{lab.name}' (known: {known})"
        )
    running = [name for name, state in states.items() if state == "running"]
    with ThreadPoolExecutor(max_workers=min(8, len(running))) as pool:
        try:
            list(pool.map(lambda n: lab.cli(n, "dundi set debug on"), running))
            clock_read = lab.exec(from_node, ["date", "+%F %T.%3N"])
            now = clock_read.output
            if clock_read.code != 0:
                raise LabError(f"cannot read the clock of node {from_node}: {now.strip()}")
            started_at, clock = parse_time(now), time.monotonic()
            result = lab.lookup(number, network, from_node=from_node, bypass=True)
            time.sleep(settle_s)  # the last ACKs, and the logger writing them
            ended_at = started_at + timedelta(seconds=time.monotonic() - clock)
            logs = pool.map(lambda n: _window(lab.backend.logs(lab.name, n), started_at), running)
            peers = pool.map(lambda n: lab.cli(n, "dundi show peers"), running)
            return Capture(
                lab=lab.name,
                number=number,
                network=network,
                origin=from_node,
                started_at=started_at,
                ended_at=ended_at,
                lookup_output=result.raw,
                wall_ms=round(result.wall_ms, 1),
                logs=dict(zip(running, logs, strict=True)),
                peers=dict(zip(running, peers, strict=True)),
                states=states,
            )
        finally:
            list(pool.map(lambda n: _quietly(lab, n, "dundi set debug off"), running))


def _window(lines: Iterator[str], start: datetime) -> tuple[str, ...]:
    """The log lines from `start` on (the logger's timestamps sort as text)."""
    since = "[" + start.strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
    return tuple(line for line in lines if line[:24] >= since)


def _quietly(lab: Lab, node: str, command: str) -> None:
    with contextlib.suppress(LabError):  # the node died meanwhile; the trace says so
        lab.cli(node, command)


# ---- showing and keeping a trace -------------------------------------------


def format_trace(trace: Trace) -> list[str]:
    """The trace as an indented tree of hops, one line each, then the verdict.

    Per hop: how long the asker waited, how much of it the peer spent (its own
    queries included), when the query left (from the first query) and its ttl.
    """
    if trace.found and trace.best:
        who = trace.best.node or trace.best.eid
        head = f"found, answered by {who} ({trace.best.eid})"
    else:
        head = "not found"
    lines = [
        f"{trace.number}@{trace.network} from {trace.origin} (lab {trace.lab}, bypass): {head}"
        f" in {trace.asterisk_ms} ms"
    ]
    rows = [_row(prefix, hop, trace.started_at) for prefix, hop in _tree(trace.hops, "", top=True)]
    if not rows:
        lines.append(f"{trace.origin} asked no one")
    width = [max((len(row[i]) for row in rows), default=0) for i in range(4)]
    for row in rows:
        label, took, spent, sent, said = row
        lines.append(
            f"{label:<{width[0]}}  {took:>{width[1]}}  {spent:<{width[2]}}  "
            f"{sent:<{width[3]}}  {said}"
        )
    for answer in trace.answers:
        lines.append(f"answer: {answer.describe()} from {answer.node or answer.eid}")
    if trace.found:
        lines.append(f"path: {' → '.join(trace.path)}")
    elif trace.dead_ends:
        lines += [f"dead end: {h.asker} → {h.peer}: {h.outcome}" for h in trace.dead_ends]
    lines += [f"note: {note}" for note in trace.notes]
    return lines


def _row(prefix: str, hop: Hop, start: datetime) -> tuple[str, str, str, str, str]:
    label = f"{prefix}{hop.asker} {'→' if hop.sent_at else '✗'} {hop.peer}"
    took = f"{hop.ms:.0f} ms" if hop.ms is not None else "-"
    spent = sent = ""
    if hop.received_at and hop.replied_at:
        spent = f"({hop.peer} {(hop.replied_at - hop.received_at).total_seconds() * 1000:.0f} ms)"
    if hop.sent_at:
        sent = f"sent +{(hop.sent_at - start).total_seconds() * 1000:.0f} ms, ttl {hop.ttl}"
    return label, took, spent, sent, f"{hop.outcome}: {hop.detail}"


def _tree(hops: tuple[Hop, ...], lead: str, *, top: bool) -> Iterator[tuple[str, Hop]]:
    for i, hop in enumerate(hops):
        last = i == len(hops) - 1
        yield ("" if top else lead + ("└─ " if last else "├─ ")), hop
        yield from _tree(hop.hops, "" if top else lead + ("   " if last else "│  "), top=False)


def trace_file(paths: LabPaths) -> Path:
    """Where a lab keeps its last trace, for `lab graph --trace`."""
    return paths.last_trace


def to_json(trace: Trace) -> str:
    return json.dumps(_jsonable(trace), indent=2, ensure_ascii=False) + "\n"


def from_json(text: str) -> Trace:
    """The trace `to_json` wrote; ValueError, KeyError or TypeError if it is not one."""
    return _trace_from(json.loads(text))


def save(trace: Trace, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(trace), encoding="utf-8")
    return path


def load(path: Path) -> Trace:
    """A trace `save` wrote; LabError if there is none or it is unreadable."""
    try:
        return from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabError(f"no trace at {path} ({exc.strerror}); run `lab trace` first") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise LabError(f"{path} is not a trace dundi-lab wrote ({exc})") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, (Trace, Hop, TraceAnswer)):
        return {key: _jsonable(item) for key, item in vars(value).items()}
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _answer_from(data: dict[str, Any]) -> TraceAnswer:
    return TraceAnswer(**{**data, "flags": tuple(data["flags"])})


def _hop_from(data: dict[str, Any]) -> Hop:
    times = {key: _time(data[key]) for key in ("sent_at", "received_at", "replied_at", "closed_at")}
    answers = tuple(_answer_from(a) for a in data["answers"])
    hops = tuple(_hop_from(h) for h in data["hops"])
    return Hop(**{**data, **times, "answers": answers, "hops": hops})


def _trace_from(data: dict[str, Any]) -> Trace:
    return Trace(
        **{
            **data,
            "started_at": datetime.fromisoformat(data["started_at"]),
            "answers": tuple(_answer_from(a) for a in data["answers"]),
            "hops": tuple(_hop_from(h) for h in data["hops"]),
            "notes": tuple(data["notes"]),
        }
    )
