"""The chain and scenario sections: probe overheads, lookups, calls and concurrent call
batches along a chain of 7 nodes, and the shipped ring-50 scenario."""

from __future__ import annotations

import math
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lab import scenario
from lab.asterisk import images
from lab.asterisk.probes import CallResult
from lab.core.pipeline import start
from lab.core.running import Lab
from lab.core.verdict import judge_call
from lab.errors import LabError
from lab.topology import generate

from _machine import CPU_PARTS, CpuScope, cpu_delta, cpu_note, cpu_of, cpu_times, docker
from _plan import VERSION, Plan
from _results import Results, log, percentile, timed
from _up import unique

CHAIN = 7  # nodes in the lookup/call chain: hops 1..6 from its first node
RING50 = Path(__file__).resolve().parent.parent / "scenarios" / "ring-50.yaml"


# ---- sections -----------------------------------------------------------------


def chain_yaml(length: int) -> str:
    """n01 — n02 — … — n0<length>; each node serves its own 9-digit prefix."""
    lines = ["networks: [network1]", "defaults: {cachetime: 300}", "nodes:"]
    for i in range(length):
        peers = f", peers: [{generate.name(i + 1)}]" if i + 1 < length else ""
        lines.append(f"  {generate.name(i)}: {{serves: {{network1: [_{100 + i}XXXXXX]}}{peers}}}")
    return "\n".join(lines) + "\n"


def bench_chain(res: Results, plan: Plan, tmp: Path, created: set[str]) -> None:
    name = unique("bench-chain")
    source = tmp / f"{name}.yaml"
    source.write_text(chain_yaml(CHAIN))
    created.add(name)
    lab = start(source, name=name, root=tmp)
    try:
        log.print(f"chain of {CHAIN} nodes up: lookups")
        overheads(res, lab, plan.lookup_runs)
        lookups(res, lab, plan.lookup_runs)
        log.print("calls")
        calls(res, lab, plan.call_runs)
        for count in plan.concurrency:
            for batch in range(plan.batch_runs[count]):
                log.print(f"{count} concurrent calls, batch {batch + 1}/{plan.batch_runs[count]}")
                concurrent_batch(res, lab, count)
        summarise_batches(res, plan)
    finally:
        lab.down()


def overheads(res: Results, lab: Lab, runs: int) -> None:
    """What every probe pays before Asterisk does anything."""
    add = res.adder("overheads")
    node, image = lab.topology.nodes[0].name, images.image_ref(VERSION)

    def ms(action: Callable[[], object]) -> list[float]:
        return [timed(action) * 1000 for _ in range(max(3, runs))]

    add(
        "docker exec round trip",
        "true",
        "ms",
        ms(lambda: lab.exec(node, ["true"])),
    )
    add(
        "docker exec + asterisk -rx",
        "core show uptime",
        "ms",
        ms(lambda: lab.exec(node, ["asterisk", "-rx", "core show uptime"])),
    )
    add(
        "control channel (manager) command, what lab.cli uses",
        "core show uptime",
        "ms",
        ms(lambda: lab.cli(node, "core show uptime")),
    )
    scope = CpuScope.of(lab)
    per_exec = cpu_of(scope, lambda: lab.exec(node, ["true"]), 20)
    add(
        "CPU per docker exec",
        "true, ×20",
        "ms",
        [sum(per_exec[p] for p in CPU_PARTS)],
        cpu_note(per_exec),
    )
    loop = (
        "i=0; while [ $i -lt 20 ]; do asterisk -rx 'core show uptime' >/dev/null; i=$((i+1)); done"
    )
    per_rx = {
        k: v / 20 for k, v in cpu_of(scope, lambda: lab.exec(node, ["sh", "-c", loop])).items()
    }
    add(
        "CPU per asterisk -rx",
        "20 in one exec",
        "ms",
        [sum(per_rx[p] for p in CPU_PARTS)],
        cpu_note(per_rx) + " (Lab.call runs one per 50 ms while it waits)",
    )
    add(
        "docker CLI round trip",
        "docker inspect",
        "ms",
        ms(lambda: docker("inspect", image)),
        "paid once per floor container",
    )


def lookups(res: Results, lab: Lab, runs: int) -> None:
    """From n01 to the node `hops` trust hops away; bypass skips every cache on the way."""
    add = res.adder("lookups")
    first = lab.topology.nodes[0].name
    details: list[dict[str, Any]] = []
    res.details["lookups"] = details
    for hops in range(1, CHAIN):
        target, number = lab.topology.nodes[hops], generate.number(hops)
        for bypass in (True, False):
            # warm-up: with bypass it pays the key exchange of a new hop; without, fills the cache
            attempts = [lab.lookup(number, from_node=first, bypass=bypass) for _ in range(runs + 1)]
            details += [
                {
                    "hops": hops,
                    "bypass": bypass,
                    "warmup": i == 0,
                    "found": r.found,
                    "asterisk_ms": r.asterisk_ms,
                    "wall_ms": round(r.wall_ms, 2),
                }
                for i, r in enumerate(attempts)
            ]
            good = [r for r in attempts[1:] if r.best is not None and r.best.eid == target.eid]
            missed = runs - len(good)
            note = f"{missed} of {runs} not answered by {target.name}" if missed else ""
            mode, case = "bypass" if bypass else "cached", f"{hops} hops"
            add(
                f"lookup, Asterisk-reported ({mode})",
                case,
                "ms",
                [float(r.asterisk_ms or 0) for r in good],
                note,
            )
            add(f"lookup, caller wall ({mode})", case, "ms", [r.wall_ms for r in good], note)


def failure(lab: Lab, result: CallResult, number: str, callee_name: str) -> str | None:
    """Why a call did not prove its media path (None: it did), judged as scenarios judge
    `expect: {callee, media: true}`: the shared verdict, and the callee expected."""
    verdict = judge_call(lab.topology, result)
    if not result.answered:
        return verdict.checks[0].seen
    if not verdict.identity_of(callee_name):
        return f"answered by {result.answered_by or result.host}, not {callee_name}"
    failed = verdict.failed()
    return "; ".join(f"{c.name}: {c.seen}" for c in failed) if failed else None


def calls(res: Results, lab: Lab, runs: int) -> None:
    """One call at a time from n01; with the answer cached, or every node's cache flushed."""
    add = res.adder("calls")
    first = lab.topology.nodes[0].name
    walls: list[float] = []
    lengths: list[float] = []
    for hops in (1, 4):
        target, number = lab.topology.nodes[hops], generate.number(hops)
        lab.lookup(number, from_node=first)  # answer cached for the first series
        for flushed in (False, True):
            setups, failures = [], Counter[str]()
            for _ in range(runs):
                if flushed:
                    with ThreadPoolExecutor(max_workers=CHAIN) as pool:
                        list(pool.map(lambda n: lab.cli(n.name, "dundi flush"), lab.topology.nodes))
                started = time.perf_counter()
                result = lab.call(first, number)
                walls.append(time.perf_counter() - started)
                why = failure(lab, result, number, target.name)
                if why:
                    failures[why] += 1
                elif result.setup_ms is not None:
                    setups.append(result.setup_ms)
                    start, end = call_span(result)
                    lengths.append(end - start)
            case = f"{hops} hop{'s' if hops > 1 else ''}, " + (
                "caches flushed" if flushed else "answer cached"
            )
            note = "; ".join(f"{n}× {why}" for why, n in failures.items())
            add("call setup (originate → answered)", case, "ms", setups, note)
    add(
        "call length in Asterisk (start → hangup)",
        "every call above",
        "s",
        lengths,
        "the caller talks 0.5 s after the answer, then hangs up",
    )
    add("Lab.call wall (one docker exec)", "every call above", "s", walls)


def call_span(result: CallResult) -> tuple[float, float]:
    """When the call started and ended by the caller's clock (epoch seconds)."""
    return result.span or (math.nan, math.nan)


def concurrent_batch(res: Results, lab: Lab, count: int) -> None:
    """`count` calls n01 → n07 (6 trust hops) originated at once in one exec (Lab.calls)."""
    first, last = lab.topology.nodes[0].name, lab.topology.nodes[CHAIN - 1]
    number = generate.number(CHAIN - 1)
    lab.lookup(number, from_node=first)  # answer cached: the batch measures the calls

    scope = CpuScope.of(lab)
    busy0, total0 = cpu_times()
    cpu_before = scope.snapshot()
    since, started = time.time(), time.perf_counter()
    try:
        results = lab.calls(first, [number] * count, timeout=60)
        trouble = ""
    except LabError as exc:
        results, trouble = [], f"call script failed: {str(exc).splitlines()[0][:120]}"
    wall = time.perf_counter() - started
    outcomes: list[dict[str, Any]] = (
        [{"ok": False, "why": trouble, "wall_s": wall} for _ in range(count)] if trouble else []
    )
    for result in results:
        why_not = failure(lab, result, number, last.name)
        outcomes.append(
            {
                "ok": why_not is None,
                "why": why_not,
                "span": call_span(result),
                "setup_ms": result.setup_ms,
                "wall_s": wall,
                "status": result.status,
                "cause": result.cause,
                "audio": judge_call(lab.topology, result).audio(),
            }
        )
    cpu = cpu_delta(cpu_before, scope.snapshot())
    busy1, total1 = cpu_times()
    ok = sum(o["ok"] for o in outcomes)
    batch = {
        "n": count,
        "ok": ok,
        "wall_s": wall,
        "cpu_busy_pct": 100 * (busy1 - busy0) / max(1, total1 - total0),
        "cpu_ms_per_call": {k: v * 1000 / count for k, v in cpu.items()},
        "calls": outcomes,
    }
    if ok < count:
        batch["log_warnings"] = warnings_since(lab, since, (first, last.name))
    res.details.setdefault("concurrent", []).append(batch)
    log.print(f"  {ok}/{count} ok in {wall:.1f} s, host CPU {batch['cpu_busy_pct']:.0f}% busy")


def warnings_since(lab: Lab, since: float, nodes: tuple[str, ...]) -> dict[str, int]:
    """WARNING/ERROR lines the nodes logged since `since`, counted by message."""
    found: Counter[str] = Counter()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(since - 1))  # nodes log in UTC
    line_re = re.compile(r"^\[(\S+ \S+)\] (WARNING|ERROR)\[\d+\](?:\[[^\]]*\])?: (.*)$")
    for node in nodes:
        for line in lab.backend.logs(lab.name, node, tail=3000):
            match = line_re.match(line)
            if match and match[1] >= stamp:
                message = re.sub(r"\d+", "N", match[3])[:160]  # alike messages count together
                found[f"{node}: {match[2]} {message}"] += 1
    return dict(found.most_common(10))


def summarise_batches(res: Results, plan: Plan) -> None:
    add = res.adder("concurrent calls n01→n07")
    batches = res.details.get("concurrent", [])
    for count in plan.concurrency:
        mine = [b for b in batches if b["n"] == count]
        if not mine:
            continue
        case = f"N={count}"
        failures = Counter(o["why"] for b in mine for o in b["calls"] if not o["ok"])
        note = "; ".join(f"{n}× {why}" for why, n in failures.most_common(3))
        add(
            "answered, media verified",
            case,
            "calls",
            [b["ok"] for b in mine],
            note or f"all {count}, every batch",
        )
        for pct, label in ((50, "p50"), (90, "p90"), (100, "max")):
            per_batch = []
            for b in mine:
                setups = [o["setup_ms"] for o in b["calls"] if o.get("setup_ms") is not None]
                if setups:
                    per_batch.append(percentile(setups, pct))
            add(f"call setup {label}", case, "ms", per_batch, "of each batch; median over batches")
        add(
            "peak calls up at once in Asterisk",
            case,
            "calls",
            [peak(b["calls"]) for b in mine],
            "from the calls' start/end records",
        )
        add(
            "docker exec per call, p50",
            case,
            "s",
            [percentile([o["wall_s"] for o in b["calls"]], 50) for b in mine],
        )
        add("batch wall (all returned)", case, "s", [b["wall_s"] for b in mine])
        add("host CPU busy during batch", case, "%", [b["cpu_busy_pct"] for b in mine])
        per_call = {
            part: statistics.median(b["cpu_ms_per_call"][part] for b in mine)
            for part in mine[0]["cpu_ms_per_call"]
        }
        add(
            "CPU per call",
            case,
            "ms",
            [sum(b["cpu_ms_per_call"][p] for p in CPU_PARTS) for b in mine],
            cpu_note(per_call),
        )


def peak(calls: list[dict[str, Any]]) -> float:
    """Most calls that were up at the same moment."""
    edges = sorted(
        (t, step)
        for c in calls
        if "span" in c and not any(math.isnan(x) for x in c["span"])
        for t, step in ((c["span"][0], 1), (c["span"][1], -1))
    )
    level = top = 0
    for _, step in edges:
        level += step
        top = max(top, level)
    return float(top)


def bench_scenario(res: Results, tmp: Path, created: set[str]) -> None:
    """The shipped 50-node scenario as `lab test` runs it: up until every trust edge is
    OK, every node looks up its farthest node (bypass), down."""
    add = res.adder("scenario")
    ring = scenario.load(RING50)
    name = unique("bench-ring50")
    created.add(name)
    log.print(f"scenario {ring.name}: {len(ring.topology.nodes)} nodes, {len(ring.steps)} steps")
    outcome = scenario.execute(ring, lab_name=name, root=tmp)
    case = f"{len(ring.topology.nodes)} nodes"
    failed = [r.step.describe() for r in outcome.results if not r.ok]
    note = f"of {len(ring.steps)}" + (f"; failed: {', '.join(failed)}" if failed else "")
    add("ring-50 scenario: steps passed", case, "steps", [sum(r.ok for r in outcome.results)], note)
    add(
        "ring-50 scenario: lookup step (wall)",
        case,
        "ms",
        [r.seconds * 1000 for r in outcome.results],
    )
    add("ring-50 scenario: up + steps + down", case, "s", [outcome.seconds])
