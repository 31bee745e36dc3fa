"""Traces built from real `dundi set debug on` output, saved under tests/unit/trace/.

Each folder there is one lookup as Asterisk 22.10.1 logged it: every node's log
lines of the lookup's window (`<node>.log`), `dundi show peers` right after
(`<node>.peers.txt`), the origin's `dundi lookup` output and capture.json (lab,
topology, subnet, window, container states). `trace.txt` is the rendered trace.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from lab import topology
from lab.errors import LabError
from lab.observe import trace
from lab.observe.dundi_debug import parse_answer, parse_log, parse_time
from lab.observe.trace import Capture, Hop, Trace
from tests.unit.conftest import ROOT, GoldenCheck

DATA = Path(__file__).parent / "trace"
CASES = (
    "seed-found",
    "seed-not-found",
    "seed-c-stopped",
    "seed-c-unreachable",
    "seed-c-restarted",
    "mesh-two-answers",
    "ttl-expired",
    "rogue-key-rejected",
    "rogue-one-sided",
)


def capture(case: str) -> Capture:
    folder = DATA / case
    meta = json.loads((folder / "capture.json").read_text())
    topo = topology.load(ROOT / meta["topology"], name=meta["lab"], subnet=meta["subnet"])
    logs = {p.stem: tuple(p.read_text().splitlines()) for p in folder.glob("*.log")}
    return Capture(
        lab=meta["lab"],
        number=meta["number"],
        network=meta["network"],
        origin=meta["origin"],
        started_at=parse_time(meta["started_at"]),
        ended_at=parse_time(meta["ended_at"]),
        lookup_output=(folder / "lookup.txt").read_text(),
        wall_ms=0.0,
        logs=logs,
        peers={p.name.split(".")[0]: p.read_text() for p in folder.glob("*.peers.txt")},
        states={n.name: meta["states"].get(n.name, "running") for n in topo.nodes},
    )


def traced(case: str) -> Trace:
    meta = json.loads((DATA / case / "capture.json").read_text())
    topo = topology.load(ROOT / meta["topology"], name=meta["lab"], subnet=meta["subnet"])
    return trace.build(topo, capture(case))


def pairs(result: Trace) -> list[tuple[str, str]]:
    return [(hop.asker, hop.peer) for hop in result.walk()]


def log_of(case: str, node: str) -> list[str]:
    return (DATA / case / f"{node}.log").read_text().splitlines()


# ---- the frames ------------------------------------------------------------


def test_interleaved_threads_are_assembled_into_whole_frames() -> None:
    frames, notices = parse_log("b", log_of("seed-found", "b"))
    queries = [f for f in frames if f.command == "DPDISCOVER"]
    assert [(f.view, f.ip) for f in queries] == [("Erx", "10.77.250.10"), ("ETx", "10.77.250.12")]
    onward = queries[1]
    assert onward.ie("TTL") == "31"
    assert onward.ie("CALLED NUMBER") == "555000123"
    # the path so far, b first: the root a is never asked again
    assert onward.eids == ("02:00:00:00:00:02", "02:00:00:00:00:01")
    assert onward.ie("CBYPASS") == "Bypass Caches"
    assert notices == []


def test_the_thread_that_answers_a_query_is_the_one_that_asked_onward() -> None:
    frames, _ = parse_log("b", log_of("seed-found", "b"))
    onward = next(f for f in frames if f.command == "DPDISCOVER" and f.sent)
    reply = next(f for f in frames if f.command == "DPRESPONSE" and f.sent)
    received = next(f for f in frames if f.command == "DPDISCOVER" and not f.sent)
    assert onward.thread == reply.thread != received.thread
    assert reply.dtrans == received.strans and reply.final


def test_acks_carry_no_elements_and_wire_frames_are_kept_apart() -> None:
    frames, _ = parse_log("a", log_of("seed-found", "a"))
    acks = [f for f in frames if f.command == "ACK"]
    assert acks and all(f.ies == () and f.view in ("Tx", "Rx") for f in acks)
    assert {f.view for f in frames if f.command == "ENCRYPT"} == {"Tx", "Rx"}


def test_a_retransmission_is_not_a_second_query_and_autokill_is_noticed() -> None:
    frames, notices = parse_log("b", log_of("seed-c-stopped", "b"))
    to_c = [f for f in frames if f.ip == "10.77.250.12" and f.strans == 31298]
    assert [f.command for f in to_c] == ["DPDISCOVER", "ENCRYPT", "ENCRYPT"]
    assert (to_c[2].at - to_c[1].at).total_seconds() == pytest.approx(1.0, abs=0.01)
    [autokill] = notices
    assert autokill.kind == "autokill" and autokill.eid == "02:00:00:00:00:03"
    assert autokill.at == datetime(2026, 11, 26, 13, 15, 54, 388000)


def test_an_answer_element_says_where_to_call_and_who_said_so() -> None:
    answer = parse_answer(
        "[EXISTS|CANMATCH] 0 <IAX/dundi:7B+JKDNeHFkzsLwZX2nZIw==@10.77.250.13/555000123> "
        "from [02:00:00:00:00:04]"
    )
    assert answer is not None
    assert (answer.tech, answer.weight, answer.eid) == ("IAX2", 0, "02:00:00:00:00:04")
    assert answer.flags == ("EXISTS", "CANMATCH")
    assert answer.dest.endswith("@10.77.250.13/555000123")
    assert parse_answer("[DONTASK|UNAFFECTED] 9") is None


# ---- the hops ---------------------------------------------------------------


def test_found_lookup_goes_a_b_c_d_and_each_hop_is_inside_the_one_before() -> None:
    result = traced("seed-found")
    assert result.found and result.path == ("a", "b", "c", "d")
    assert pairs(result) == [("a", "b"), ("b", "c"), ("c", "d")]
    ab, bc, cd = result.walk()
    assert [h.ttl for h in (ab, bc, cd)] == [32, 31, 30]
    assert all(h.outcome == "answered" for h in (ab, bc, cd))
    assert cd.detail == "1 answer, d answers itself"
    assert bc.detail == "1 answer, from d"
    for outer, inner in ((ab, bc), (bc, cd)):
        assert outer.sent_at and inner.sent_at and outer.closed_at and inner.closed_at
        assert outer.sent_at <= inner.sent_at <= inner.closed_at <= outer.closed_at
        assert inner.received_at is not None and inner.sent_at <= inner.received_at
    assert ab.ms == pytest.approx(23) and cd.ms == pytest.approx(3)
    assert result.best is not None and result.best.node == "d"


def test_not_found_lookup_reaches_d_and_every_node_finds_nothing() -> None:
    result = traced("seed-not-found")
    assert not result.found
    assert pairs(result) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert {h.outcome for h in result.walk()} == {"no answer"}
    assert result.dead_ends == ()
    assert [h.hint for h in result.walk()][-1] == "[DONTASK|UNAFFECTED] 9"


def test_with_c_stopped_b_asks_c_and_gives_up_after_the_autokill() -> None:
    result = traced("seed-c-stopped")
    assert not result.found
    assert pairs(result) == [("a", "b"), ("b", "c")]
    [dead] = result.dead_ends
    assert (dead.asker, dead.peer, dead.outcome) == ("b", "c", "no reply")
    assert dead.received_at is None and dead.ms == pytest.approx(2000)
    assert dead.detail == (
        "c never acknowledged; b gave up after 2000 ms (autokill); c is not running (exited)"
    )
    ab = result.hops[0]
    assert ab.outcome == "no answer" and ab.ms is not None and ab.ms > 2000


def test_with_c_unreachable_b_does_not_ask_c_at_all() -> None:
    result = traced("seed-c-unreachable")
    [dead] = result.dead_ends
    assert (dead.asker, dead.peer, dead.outcome) == ("b", "c", "not asked")
    assert dead.sent_at is None and dead.ms is None
    assert "b marks c UNREACHABLE (qualify)" in dead.detail
    assert result.hops[0].ms is not None and result.hops[0].ms < 100


def test_a_restarted_peer_asks_for_the_full_key_and_the_query_goes_through() -> None:
    result = traced("seed-c-restarted")
    assert result.path == ("a", "b", "c", "d")
    bc = result.hops[0].hops[0]
    assert (bc.asker, bc.peer, bc.outcome) == ("b", "c", "answered")
    assert "ENCREJ" in bc.detail and bc.received_at is not None
    assert result.dead_ends == ()


def test_in_a_diamond_both_branches_are_asked_and_both_answers_come_back() -> None:
    result = traced("mesh-two-answers")
    assert pairs(result) == [("a", "b"), ("b", "d"), ("a", "c"), ("c", "d"), ("c", "e")]
    assert [(a.node, a.weight) for a in result.answers] == [("d", 10), ("e", 90)]
    assert result.path == ("a", "b", "d")
    # a tells b that it asks c itself, and c that it asks b: d, asked by both, asks no one
    assert all(h.outcome == "answered" for h in result.walk())
    ac = result.hops[1]
    assert ac.detail == "2 answers, from d, e"
    assert ac.replied_at and ac.closed_at and ac.received_at
    # c answered in 32 ms; the answer then waited in a's queue behind b's answer
    assert (ac.replied_at - ac.received_at).total_seconds() * 1000 == pytest.approx(32)
    assert ac.ms is not None and ac.ms > 150


def test_ttl_runs_out_at_d_which_may_not_ask_e() -> None:
    result = traced("ttl-expired")
    assert pairs(result) == [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]
    *_, cd, de = result.walk()
    assert (cd.ttl, cd.outcome) == (1, "ttl expired")
    assert "TTLEXPIRED" in cd.hint
    assert (de.outcome, de.sent_at) == ("ttl expired", None)
    assert result.dead_ends == (de,)
    assert result.hops[0].detail == "b found nothing (the ttl ran out further on)"


def test_a_peer_holding_the_wrong_key_rejects_while_the_chain_still_answers() -> None:
    result = traced("rogue-key-rejected")
    assert pairs(result) == [("a", "b"), ("b", "c"), ("c", "d"), ("b", "w")]
    [dead] = result.dead_ends
    assert (dead.asker, dead.peer, dead.outcome) == ("b", "w", "rejected")
    assert "ENCREJ" in dead.detail


def test_a_one_sided_peer_is_rejected_at_the_first_hop() -> None:
    result = traced("rogue-one-sided")
    assert [(h.asker, h.peer, h.outcome) for h in result.walk()] == [("r", "b", "rejected")]


def test_frames_outside_the_window_are_not_part_of_the_trace() -> None:
    whole = capture("seed-found")
    nothing = Capture(**{**vars(whole), "ended_at": whole.started_at})
    meta = json.loads((DATA / "seed-found" / "capture.json").read_text())
    topo = topology.load(ROOT / meta["topology"], name=meta["lab"], subnet=meta["subnet"])
    [hop] = trace.build(topo, nothing).hops
    assert (hop.asker, hop.peer, hop.outcome) == ("a", "b", "not asked")
    assert hop.detail == "a did not ask b (no reason in the logs)"


# ---- showing and keeping ------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_rendered_trace_matches_its_golden_file(case: str, golden: GoldenCheck) -> None:
    golden(DATA / case / "trace.txt", "\n".join(trace.format_trace(traced(case))) + "\n")


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_a_saved_trace_reads_back_the_same(case: str, tmp_path: Path) -> None:
    result = traced(case)
    assert trace.load(trace.save(result, tmp_path / "last-trace.json")) == result


def test_a_missing_trace_is_a_lab_error_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="run `lab trace` first"):
        trace.load(tmp_path / "nothing.json")


def test_hop_time_is_what_the_asker_waited() -> None:
    sent = datetime(2026, 1, 1, 12, 0, 0)
    hop = Hop("a", "b", "no answer", "", sent_at=sent, closed_at=sent.replace(microsecond=25000))
    assert hop.ms == pytest.approx(25) and not hop.dead


# ---- replies other than an answer that arrives --------------------------------


def edited(case: str, node: str, edit: Callable[[list[str]], list[str]]) -> Trace:
    """The saved trace with one node's log lines changed, as if it had logged that."""
    meta = json.loads((DATA / case / "capture.json").read_text())
    topo = topology.load(ROOT / meta["topology"], name=meta["lab"], subnet=meta["subnet"])
    saved = capture(case)
    logs = dict(saved.logs)
    logs[node] = tuple(edit(list(logs[node])))
    return trace.build(topo, dataclasses.replace(saved, logs=logs))


def without_frame(lines: list[str], command: str, view: str) -> list[str]:
    """The lines with the first `view` block of `command` left out (as if it never came)."""
    start = next(i for i, line in enumerate(lines) if f"{view}-Frame" in line and command in line)
    thread = lines[start].split("VERBOSE[")[1].split("]")[0]
    end = start + 1
    while end < len(lines) and f"VERBOSE[{thread}]" in lines[end] and "Frame --" not in lines[end]:
        end += 1
    return lines[:start] + lines[end:]


def test_an_answer_that_never_reaches_the_asker_is_lost_not_answered() -> None:
    result = edited("seed-found", "b", lambda lines: without_frame(lines, "DPRESPONSE", "Erx"))
    bc = next(h for h in result.walk() if (h.asker, h.peer) == ("b", "c"))
    assert bc.outcome == "answer lost" and bc.dead
    assert bc.detail.startswith("c replied (1 answer); it never reached b")
    assert bc.replied_at is not None and bc.closed_at is None


def test_the_same_answer_arriving_is_answered() -> None:
    result = edited("seed-found", "b", lambda lines: lines)
    bc = next(h for h in result.walk() if (h.asker, h.peer) == ("b", "c"))
    assert bc.outcome == "answered"


def test_a_reply_other_than_an_answer_is_named_as_it_came() -> None:
    def invalid(lines: list[str]) -> list[str]:
        return [line.replace("DPRESPONSE  ", "INVALID     ") for line in lines]

    meta = json.loads((DATA / "seed-found" / "capture.json").read_text())
    topo = topology.load(ROOT / meta["topology"], name=meta["lab"], subnet=meta["subnet"])
    saved = capture("seed-found")
    logs = {node: tuple(invalid(list(lines))) for node, lines in saved.logs.items()}
    result = trace.build(topo, dataclasses.replace(saved, logs=logs))
    ab = result.hops[0]
    assert ab.outcome == "refused"
    assert ab.detail == "b replied INVALID: it holds no such transaction"


def test_a_registration_during_the_lookup_is_noted() -> None:
    a_ip = "10.77.250.10"

    def registers(lines: list[str]) -> list[str]:
        at = lines[0].split("]")[0] + "]"
        return [
            f"{at} VERBOSE[50] pbx_dundi.c:     ETx-Frame -- OSeqno: 000 ISeqno: 000 "
            "Type: REGREQ       (Command)",
            f"{at} VERBOSE[50] pbx_dundi.c:           Flags: 00 STrans: 25237  "
            f"DTrans: 00000 [{a_ip}:4520]",
            f"{at} VERBOSE[50] pbx_dundi.c:         EXPIRATION      : 60",
            *lines,
        ]

    result = edited("seed-found", "b", registers)
    assert any(note.startswith("b registered with a at 13:15:43.") for note in result.notes)
    assert not traced("seed-found").notes


def _frame(at: str, thread: int, view: str, command: str, flags: str, *ies: str) -> list[str]:
    head = f"[2026-11-30 {at}] VERBOSE[{thread}] pbx_dundi.c: "
    kind = "Response" if command.endswith("RP") else "Command"
    return [
        f"{head}    {view}-Frame -- OSeqno: 000 ISeqno: 000 Type: {command:<12} ({kind})",
        f"{head}          Flags: 00 {flags}",
        *(f"{head}        {ie}" for ie in ies),
        head,
    ]


PUSH = (
    "VERSION         : 1",
    "ENTITY IDENT    : 02:00:00:00:00:01",
    "CALLED NUMBER   : 555000999",
    "CALLED CONTEXT  : network1",
    "TTL             : 32",
    "ANSWER          : [EXISTS|CANMATCH] 0 <IAX/dundi:c2VjcmV0@10.66.31.10/555000999> "
    "from [02:00:00:00:00:01]",
    "EXPIRATION      : 30",
)


@pytest.mark.parametrize(
    ("reply", "arrives", "said"),
    [
        (
            ("CAUSE           : NOAUTH: Permission to context denied",),
            True,
            "y refused the query: NOAUTH: Permission to context denied",
        ),
        ((), True, "y took 1 answer (PRECACHERP)"),
        ((), False, "y replied (nothing found); it never reached x: x waited in vain"),
    ],
)
def test_a_precache_push_during_the_lookup_is_noted_with_the_reply_as_it_came(
    tmp_path: Path, reply: tuple[str, ...], arrives: bool, said: str
) -> None:
    (tmp_path / "lab.yaml").write_text(
        "networks: [network1]\nnodes:\n"
        "  x: {eid: '02:00:00:00:00:01', serves: {network1: [_555XXXXXX]}}\n"
        "  y: {eid: '02:00:00:00:00:02', peers: [{node: x}]}\n"
    )
    topo = topology.load(tmp_path / "lab.yaml", name="pc", subnet="10.66.31.0/24")
    assert (topo.node("x").ip, topo.node("y").ip) == ("10.66.31.10", "10.66.31.11")
    query = "STrans: 04526  DTrans: 00000"
    answer = "STrans: 28702  DTrans: 04526"
    x_log = _frame("04:31:40.309", 51, "ETx", "PRECACHERQ", f"{query} [10.66.31.11:4520]", *PUSH)
    if arrives:
        x_log += _frame(
            "04:31:40.311", 51, "Erx", "PRECACHERP", f"{answer} [10.66.31.11:4520]", *reply
        )
    y_log = _frame(
        "04:31:40.310", 50, "Erx", "PRECACHERQ", f"{query} [10.66.31.10:4520]", *PUSH
    ) + _frame("04:31:40.310", 50, "ETx", "PRECACHERP", f"{answer} [10.66.31.10:4520]", *reply)
    window = (parse_time("2026-11-30 04:31:40.000"), parse_time("2026-11-30 04:31:41.000"))
    capture = Capture(
        lab="pc",
        number="555000999",
        network="network1",
        origin="y",
        started_at=window[0],
        ended_at=window[1],
        lookup_output="DUNDi lookup returned no results.\nDUNDi lookup completed in 3 ms\n",
        wall_ms=1.0,
        logs={"x": tuple(x_log), "y": tuple(y_log)},
        peers={
            "y": "EID                  Host          Port   Model      AvgTime  Status\n"
            "02:00:00:00:00:01    10.66.31.10  (S) 4520   Symmetric  1 ms     OK (1 ms)\n"
            "1 dundi peers [1 online, 0 offline, 0 unmonitored]\n"
        },
        states={"x": "running", "y": "running"},
    )
    result = trace.build(topo, capture)
    assert result.hops == () or all(h.peer != "y" for h in result.walk())
    assert result.notes == (f"x pushed 555000999 to y (precache) at 04:31:40.309: {said}",)
