"""The swarm section: a lab on four Docker engines joined in a swarm (this machine's and
three more in network namespaces, as `make test-swarm` starts them) beside the same lab on
this machine's engine alone. Needs root; the host's engine is in swarm mode only for the
length of the section and is left as it was found."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from lab.asterisk import images
from lab.core.pipeline import start
from lab.runtime.swarm import SwarmBackend
from lab.topology import generate

from _machine import ROOT
from _plan import VERSION, Plan
from _results import Results, log, timed
from _up import unique

sys.path.insert(0, str(ROOT))  # tests/engines.py starts the extra engines
from tests.engines import Engines

ENGINES = 3  # beside this machine's


def bench_swarm(res: Results, plan: Plan, tmp: Path, created: set[str]) -> None:
    add = res.adder("swarm")
    count = plan.swarm_nodes
    case = f"{count} nodes"
    source = tmp / f"swarm-{count}.yaml"
    source.write_text(generate.ring_with_chords(count))
    ref = images.build(VERSION).ref

    def up_down(engine: str, **options: Any) -> tuple[float, float]:
        name = unique(f"bench-{engine}{count}")
        created.add(name)
        started = time.perf_counter()
        lab = start(source, name=name, root=tmp, engine=engine, ready_timeout=60 + 3 * count,
                    **options)  # fmt: skip
        up = time.perf_counter() - started
        return up, timed(lab.down)

    one_up, one_down = up_down("docker")
    log.print(f"{case} on one engine: up {one_up:.1f} s, down {one_down:.1f} s")
    with Engines(ENGINES) as engines, engines.swarm(with_host=True) as hosts:
        swarm = SwarmBackend(hosts)
        deliver = timed(lambda: swarm.deliver_image(ref))
        up, down = up_down("swarm", hosts=tuple(hosts))
    log.print(f"{case} on {ENGINES + 1} engines: up {up:.1f} s, down {down:.1f} s")
    note = f"this machine's engine and {ENGINES} more in network namespaces, one swarm"
    add(f"image to {ENGINES} engines (save/load, once)", ref, "s", [deliver])
    add("lab up → ready, one engine", case, "s", [one_up])
    add(f"lab up → ready, swarm of {ENGINES + 1} engines", case, "s", [up], note)
    add("lab down, one engine", case, "s", [one_down])
    add(f"lab down, swarm of {ENGINES + 1} engines", case, "s", [down])
