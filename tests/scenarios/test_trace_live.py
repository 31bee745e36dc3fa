"""`lab trace` on the seed chain: the path a → b → c → d, then where it dies with c stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lab.core.running import Lab
from lab.observe import graph, trace

pytestmark = pytest.mark.docker

D_NUMBER = "555000123"


@pytest.fixture(scope="module")
def lab(running_lab: Callable[..., object]) -> Iterator[Lab]:
    with running_lab("scenarios/seed-chain.yaml", "trace") as started:  # type: ignore[attr-defined]
        yield started


def shown(result: trace.Trace) -> str:
    return "\n".join(trace.format_trace(result))


def frames_logged(lab: Lab, node: str) -> int:
    return sum("pbx_dundi.c: Rx-Frame" in line for line in lab.backend.logs(lab.name, node))


def test_trace_of_d_from_a_goes_a_b_c_d_with_a_time_for_every_hop(lab: Lab) -> None:
    result = trace.run(lab, D_NUMBER, "network1", from_node="a")
    assert result.found and result.path == ("a", "b", "c", "d"), shown(result)
    hops = list(result.walk())
    assert [(h.asker, h.peer, h.outcome) for h in hops] == [
        ("a", "b", "answered"),
        ("b", "c", "answered"),
        ("c", "d", "answered"),
    ], shown(result)
    assert [h.ttl for h in hops] == [32, 31, 30]
    ab, bc, cd = hops
    for outer, inner in ((ab, bc), (bc, cd)):
        assert outer.sent_at and inner.sent_at and inner.closed_at and outer.closed_at
        assert outer.sent_at <= inner.sent_at <= inner.closed_at <= outer.closed_at
    assert all(h.ms is not None and 0 <= h.ms < 2000 for h in hops), shown(result)
    assert result.best is not None and result.best.node == "d"
    assert cd.detail == "1 answer, d answers itself"


def test_trace_leaves_debug_off_and_is_kept_for_the_picture(lab: Lab) -> None:
    result = trace.run(lab, D_NUMBER, "network1", from_node="a")
    before = frames_logged(lab, "b")
    lab.lookup(D_NUMBER, "network1", from_node="a", bypass=True)
    assert frames_logged(lab, "b") == before
    kept = trace.load(trace.save(result, trace.trace_file(lab.paths)))
    assert kept == result
    assert '"c" -> "d" [label="3. ' in graph.to_dot(lab.topology, trace=kept)


def test_with_c_stopped_the_trace_ends_where_b_asks_c(lab: Lab) -> None:
    """Right after c stops, b still thinks c is up: it asks and gives up after the
    2000 ms autokill. If a qualify already marked c UNREACHABLE, b does not ask at
    all. Either way the trace must end at b → c and say why; no 60 s wait."""
    lab.stop_node("c")
    result = trace.run(lab, D_NUMBER, "network1", from_node="a")
    assert not result.found, shown(result)
    assert [(h.asker, h.peer) for h in result.walk()] == [("a", "b"), ("b", "c")], shown(result)
    [dead] = result.dead_ends
    assert dead.outcome in ("no reply", "not asked"), shown(result)
    if dead.outcome == "no reply":
        assert "b gave up after" in dead.detail and "(autokill)" in dead.detail
        assert dead.ms is not None and 1900 <= dead.ms <= 2500, shown(result)
        assert dead.received_at is None
    else:
        assert "b marks c UNREACHABLE" in dead.detail, shown(result)
    assert dead.detail.endswith("c is not running (exited)"), shown(result)
    assert "c is not running (exited)" in result.notes
