"""What one run measures (Plan), from the command line, and the Asterisk version under test."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

VERSION = "22"
SECTIONS = ("build", "up", "chain", "scenario", "network", "swarm")


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]
    up_runs: dict[int, int]
    lookup_runs: int
    call_runs: int
    concurrency: tuple[int, ...]
    batch_runs: dict[int, int]
    cold: bool
    sections: tuple[str, ...]
    network_runs: int = 3
    swarm_nodes: int = 50  # the lab on the 4-engine swarm and on one engine


def plan_from(args: argparse.Namespace) -> Plan:
    sections = tuple(args.only.split(",")) if args.only else SECTIONS
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(
            f"error: unknown section(s) {', '.join(sorted(unknown))} (valid: {', '.join(SECTIONS)})"
        )
    if args.quick:
        plan = Plan((4, 16), {4: 1, 16: 1}, 1, 1, (10,), {10: 1}, args.cold, sections, 1)
    else:
        plan = Plan(
            (4, 16, 50, 100, 200),
            {4: 3, 16: 3, 50: 2, 100: 1, 200: 1},
            5,
            5,
            (10, 50),
            {10: 3, 50: 2},
            args.cold,
            sections,
        )
    if args.sizes:
        sizes = tuple(int(n) for n in args.sizes.split(","))
        plan = replace(plan, sizes=sizes, up_runs={n: plan.up_runs.get(n, 1) for n in sizes})
    if args.calls:
        counts = tuple(int(n) for n in args.calls.split(","))
        plan = replace(
            plan, concurrency=counts, batch_runs={n: plan.batch_runs.get(n, 1) for n in counts}
        )
    return plan
