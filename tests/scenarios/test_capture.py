"""`lab capture`: b's own view of a lookup and a call from a to d that pass through it.

In the seed chain a asks b, b asks c, c asks d; the answer comes back the same
way and a then calls d's address directly. Peers hold keys, so every query and
answer crosses the wire as ENCRYPT (pbx_dundi encrypts DPDISCOVER/DPRESPONSE and
clears the FINAL bit of the outer header); ACKs stay in the clear.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.asterisk import probes
from lab.core.pipeline import start
from lab.core.running import Lab
from lab.observe import capture
from lab.observe.dundi_wire import DundiPacket
from tests.support import ROOT, unique

pytestmark = pytest.mark.docker

D_NUMBER = "555000123"
CAPTURE_S = 6.0


@dataclass(frozen=True)
class Captured:
    """What one capture on b saw, and what was left behind once it returned."""

    lab: Lab
    result: capture.CaptureResult
    lookup: probes.LookupResult
    call: probes.CallResult
    seen: list[capture.DundiSeen]
    summary: list[str]
    wall_s: float
    leftover_threads: list[str]
    leftover_packet_sockets: list[str]
    leftover_children: list[int]
    containers: list[str]

    def ip(self, node: str) -> str:
        return self.lab.topology.node(node).ip

    def between(self, src: str, dst: str) -> list[capture.DundiSeen]:
        return [
            s for s in self.seen if (s.datagram.src, s.datagram.dst) == (self.ip(src), self.ip(dst))
        ]

    def queries(self, src: str, dst: str) -> list[DundiPacket]:
        """Transactions `src` opened with `dst` that carry a query: encrypted, unlike
        pbx_dundi's link probes (a clear NULL), which may fall in the capture too."""
        return [
            s.packet
            for s in self.between(src, dst)
            if s.packet.opens_transaction and s.packet.encrypted
        ]


def child_processes() -> list[int]:
    """PIDs whose parent is this test process."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    root = tmp_path_factory.mktemp("capture")
    lab = start(ROOT / "scenarios/seed-chain.yaml", name=unique("capture"), root=root)
    try:
        listening = threading.Event()
        outcome: dict[str, capture.CaptureResult | BaseException] = {}

        def run() -> None:
            try:
                outcome["result"] = capture.capture(
                    lab, "b", root / "b.pcap", seconds=CAPTURE_S, started=listening.set
                )
            except BaseException as exc:  # handed to the test thread below
                outcome["result"] = exc

        began = time.monotonic()
        worker = threading.Thread(target=run, name="test-capture-b")
        worker.start()
        assert listening.wait(10), f"the capture never started: {outcome}"
        lookup = lab.lookup(D_NUMBER, "network1", from_node="a", bypass=True)
        call = lab.call("a", D_NUMBER)
        worker.join(CAPTURE_S + 10)
        wall_s = time.monotonic() - began
        assert not worker.is_alive(), "the capture did not stop by itself"
        result = outcome["result"]
        if isinstance(result, BaseException):
            raise result
        pid = lab.backend.netns_pid(lab.name, "b")
        assert pid is not None
        sockets = Path(f"/proc/{pid}/net/packet").read_text().splitlines()[1:]
        yield Captured(
            lab=lab,
            result=result,
            lookup=lookup,
            call=call,
            seen=capture.read_dundi(result.path),
            summary=capture.summary(result.path, capture.node_names(lab)),
            wall_s=wall_s,
            leftover_threads=[t.name for t in threading.enumerate() if "capture" in t.name],
            leftover_packet_sockets=sockets,
            leftover_children=child_processes(),
            containers=sorted(lab.backend.states(lab.name)),
        )
    finally:
        lab.down()


def test_the_lookup_and_call_worked_while_b_was_captured(captured: Captured) -> None:
    assert captured.lookup.found, captured.lookup.raw
    assert captured.call.answered, captured.call


def test_the_capture_is_a_classic_pcap_file(captured: Captured) -> None:
    data = captured.result.path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1"  # libpcap, little-endian, microseconds
    assert int.from_bytes(data[20:24], "little") == 1  # linktype Ethernet
    frames = capture.read_pcap(captured.result.path)
    assert len(frames) == captured.result.packets > 0


def test_every_dundi_packet_is_to_or_from_b_and_b_talks_to_both_neighbours(
    captured: Captured,
) -> None:
    b = captured.ip("b")
    assert captured.seen
    assert all(b in (s.datagram.src, s.datagram.dst) for s in captured.seen)
    for src, dst in (("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")):
        assert captured.between(src, dst), f"no DUNDi {src} → {dst}"
    assert not captured.between("a", "d") and not captured.between("c", "d")


def test_queries_and_answers_cross_the_wire_encrypted_never_as_clear_dpdiscover(
    captured: Captured,
) -> None:
    commands = {s.packet.command for s in captured.seen}
    assert "ENCRYPT" in commands
    assert not commands & {"DPDISCOVER", "DPRESPONSE"}, commands
    # a opens a transaction with b: ENCRYPT from a's EID; b's first reply answers it
    query = captured.queries("a", "b")[0]
    assert query.command == "ENCRYPT" and query.encrypted
    assert query.first("eid") == captured.lab.topology.node("a").eid
    assert query.first("number") is None  # the number travels inside ENCDATA
    reply = next(
        s.packet
        for s in captured.between("b", "a")
        if s.packet.first_reply and s.packet.dtrans == query.strans
    )
    assert reply.command == "ENCRYPT" and reply.first("encdata")
    assert not reply.final  # the FINAL bit is inside the encrypted part


def test_b_forwards_the_query_to_c_under_its_own_eid(captured: Captured) -> None:
    forwarded = captured.queries("b", "c")
    assert forwarded
    assert {p.first("eid") for p in forwarded} == {captured.lab.topology.node("b").eid}
    assert any(s.packet.first_reply for s in captured.between("c", "b"))


def test_the_first_query_in_a_fresh_lab_carries_the_session_key(captured: Captured) -> None:
    # pbx_dundi sends the RSA-encrypted AES key and its signature once per peer, then
    # only the key's CRC32; the lab has just started, so the first a → b query has it
    first = captured.queries("a", "b")[0]
    assert [ie.name for ie in first.ies] == ["eid", "sharedkey", "signature", "encdata"]


def test_acks_are_in_the_clear_and_close_each_transaction(captured: Captured) -> None:
    acks = [s.packet for s in captured.seen if s.packet.command == "ACK"]
    assert acks and not any(a.encrypted for a in acks)
    queries = captured.queries("a", "b")
    final_acks = {a.strans for a in (s.packet for s in captured.between("a", "b")) if a.final}
    assert {q.strans for q in queries} <= final_acks


def test_the_call_from_a_to_d_sends_no_iax2_through_b(captured: Captured) -> None:
    assert captured.call.answered
    frames = capture.read_pcap(captured.result.path)
    datagrams = [capture.udp_datagram(f.data) for f in frames]
    assert not [d for d in datagrams if d and d.uses(capture.IAX2_PORT)]


def test_the_summary_has_a_line_per_dundi_packet_named_by_node(captured: Captured) -> None:
    head, *lines = captured.summary
    assert head.startswith(f"b.pcap: {len(captured.seen)} DUNDi, 0 IAX2 full frames")
    assert len(lines) == len(captured.seen)
    assert any("a → b  ENCRYPT" in line and "encrypted query" in line for line in lines)
    assert any("b → a" in line and "encrypted reply" in line for line in lines)
    assert any("b → c" in line and "ACK final" in line and " clear" in line for line in lines)


def test_the_capture_stops_on_time_and_leaves_nothing_running(captured: Captured) -> None:
    assert CAPTURE_S <= captured.result.seconds < CAPTURE_S + 1
    assert captured.wall_s < CAPTURE_S + 5
    assert captured.leftover_threads == []
    assert captured.leftover_packet_sockets == []  # none left open in b's namespace
    assert captured.leftover_children == []
    assert captured.containers == ["a", "b", "c", "d"]  # no helper container was made


def test_a_call_carries_voice_both_ways_as_captured_on_the_callee(
    captured: Captured, tmp_path: Path
) -> None:
    """d's own view of a call from a: IAX2 voice frames both ways, counted by dundi-lab's
    decoder and by tshark, and the call verified by what each side recorded."""
    from lab.core.verdict import judge_call

    lab, out = captured.lab, tmp_path / "d.pcap"
    listening = threading.Event()
    worker = threading.Thread(
        target=lambda: capture.capture(lab, "d", out, seconds=2.0, started=listening.set),
        name="test-capture-d",
    )
    worker.start()
    assert listening.wait(10)
    verdict = judge_call(lab.topology, lab.call("a", D_NUMBER))
    worker.join(15)
    assert verdict.verified, verdict.failed()
    voice = capture.iax2_voice(out, capture.node_names(lab))
    assert voice[("a", "d")] >= 10 and voice[("d", "a")] >= 10, voice  # 20 ms frames, ≥ 0.2 s
    summary = capture.summary(out, capture.node_names(lab))
    assert any(line.startswith("IAX2 voice frames: a → d") for line in summary), summary
    # the same file as Wireshark's dissector reads it: mini voice packets both ways
    seen = subprocess.run(
        ["tshark", "-r", str(out), "-Y", "iax2.packet_type == 0", "-T", "fields",
         "-e", "ip.src", "-e", "ip.dst"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    a, d = captured.ip("a"), captured.ip("d")
    assert seen.count(f"{a}\t{d}") >= 10 and seen.count(f"{d}\t{a}") >= 10, seen
