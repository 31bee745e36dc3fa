"""Packet capture of one node's DUNDi and IAX2 traffic, as seen from inside the node.

    result = capture(lab, "b", Path("b.pcap"), seconds=6)
    print("\\n".join(summary(result.path, node_names(lab))))

No tool is added to the Asterisk image. A short-lived thread enters the node's
network namespace (setns on /proc/<pid>/ns/net), opens an AF_PACKET socket on
the node's eth0 and returns to the host's namespace; the socket keeps listening
in the namespace it was opened in. So the capture is the node's own view, and
no helper process or container exists that could be left behind. Frames to or
from UDP 4520 (DUNDi) and 4569 (IAX2) are written as a classic pcap (libpcap,
microsecond timestamps, linktype Ethernet) that Wireshark and tcpdump read.
Needs root (setns needs CAP_SYS_ADMIN, the socket CAP_NET_RAW) and a Docker
engine on this machine (its PIDs must be ours).
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lab.core.running import Lab
from lab.errors import LabError, LabRuntimeError
from lab.observe import dundi_wire
from lab.observe.pcap import SNAPLEN, Datagram, PcapFrame, PcapWriter, read_pcap, udp_datagram

__all__ = [
    "DUNDI_PORT",
    "IAX2_PORT",
    "CaptureResult",
    "Datagram",
    "DundiSeen",
    "PcapFrame",
    "PcapWriter",
    "capture",
    "default_output",
    "node_names",
    "read_dundi",
    "read_pcap",
    "summary",
    "udp_datagram",
]

DUNDI_PORT = 4520
IAX2_PORT = 4569
INTERFACE = "eth0"  # the node's one interface on the lab network
POLL_S = 0.2  # how often a quiet capture checks its deadline
ETH_P_ALL = 0x0003
CLONE_NEWNET = 0x40000000


# ---- capturing ----------------------------------------------------------------


@dataclass(frozen=True)
class CaptureResult:
    node: str
    path: Path
    packets: int
    seconds: float


def default_output(lab: Lab, node: str) -> Path:
    """Where a capture goes unless told: the lab's artifacts folder, stamped."""
    return lab.paths.capture(node, time.strftime("%Y%m%d-%H%M%S"))


def node_names(lab: Lab) -> dict[str, str]:
    """Node name by address, to label summary lines."""
    return {n.ip: n.name for n in lab.topology.nodes}


def capture(
    lab: Lab,
    node: str,
    out: Path,
    *,
    seconds: float = 10.0,
    ports: tuple[int, ...] = (DUNDI_PORT, IAX2_PORT),
    started: Callable[[], None] | None = None,
) -> CaptureResult:
    """Write `node`'s traffic on `ports` to the pcap `out` for `seconds`.

    `started` is called once the socket listens: traffic from then on is captured.
    """
    if os.geteuid() != 0:
        raise LabError(
            "capturing needs root: it enters the node's network namespace and opens a raw "
            "socket there; run it as root (sudo)"
        )
    if seconds <= 0:
        raise LabError(f"the capture must last more than 0 s (got {seconds:g})")
    if node not in {n.name for n in lab.topology.nodes}:
        known = ", ".join(n.name for n in lab.topology.nodes)
        raise LabError(f"no node '{node}' in lab '{lab.name}' (known: {known})")
    pid = lab.backend.netns_pid(lab.name, node)
    if pid is None:
        state = lab.backend.states(lab.name).get(node, "absent")
        if state == "running":  # an engine on another machine: no PID of it here
            raise LabRuntimeError(
                f"node {node} of lab {lab.name} runs on an engine of another machine: "
                "lab capture enters a node's network namespace, so only nodes on this "
                "machine's engines can be captured"
            )
        raise LabRuntimeError(f"node {node} of lab {lab.name} is {state}: nothing to capture")
    sock = _packet_socket(pid, node)
    began = time.monotonic()
    kept = 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as stream:
            writer = PcapWriter(stream)
            if started:
                started()
            while (left := began + seconds - time.monotonic()) > 0:
                if not select.select([sock], [], [], min(left, POLL_S))[0]:
                    continue
                try:
                    frame = sock.recv(SNAPLEN)
                except OSError as exc:
                    state = lab.backend.states(lab.name).get(node, "absent")
                    why = f"node {node} is {state}" if state != "running" else exc.strerror
                    raise LabRuntimeError(
                        f"capture on {node} ended early ({why}); "
                        f"the {kept} packets before that are in {out}"
                    ) from None
                datagram = udp_datagram(frame)
                if datagram and any(datagram.uses(port) for port in ports):
                    writer.write(time.time_ns(), frame)
                    kept += 1
    finally:
        sock.close()
    return CaptureResult(node=node, path=out, packets=kept, seconds=time.monotonic() - began)


def _packet_socket(pid: int, node: str) -> socket.socket:
    """A raw socket on eth0 inside the network namespace of process `pid`.

    setns moves only the calling thread, so a throwaway thread does it; the
    socket stays in the namespace it was opened in after the thread returns.
    """
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture-netns") as pool:
            return pool.submit(_open_in_namespace, pid).result()
    except FileNotFoundError:
        raise LabRuntimeError(
            f"node {node}: no process {pid} on this machine; capture needs the Docker "
            "engine to run here (not a remote or rootless engine)"
        ) from None
    except PermissionError as exc:
        raise LabError(
            f"node {node}: not allowed to capture ({exc.strerror}); run as root"
        ) from None
    except OSError as exc:
        raise LabRuntimeError(f"node {node}: cannot open a capture on {INTERFACE}: {exc}") from None


def _open_in_namespace(pid: int) -> socket.socket:
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(target)
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            try:
                sock.bind((INTERFACE, 0))
            except OSError:
                sock.close()
                raise
        finally:
            _setns(home)  # if this fails, the pool's thread ends here: nothing else runs there
    finally:
        os.close(target)
        os.close(home)
    return sock


def _setns(fd: int) -> None:
    native = getattr(os, "setns", None)  # Python 3.12+
    if native:
        native(fd, CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


# ---- reading a capture back ------------------------------------------------------


@dataclass(frozen=True)
class DundiSeen:
    """A DUNDi message found in a capture."""

    time: float
    datagram: Datagram
    packet: dundi_wire.DundiPacket


def read_dundi(path: Path, port: int = DUNDI_PORT) -> list[DundiSeen]:
    """Every decodable DUNDi message in a pcap file, in capture order."""
    found = []
    for frame in read_pcap(path):
        datagram = udp_datagram(frame.data)
        if datagram and datagram.uses(port):
            try:
                found.append(DundiSeen(frame.time, datagram, dundi_wire.decode(datagram.payload)))
            except dundi_wire.MalformedPacket:
                continue
    return found


# IAX2 full frames: frame types (Asterisk's frame.h), IAX subclasses 1-12 and a few more (iax2.h)
IAX2_FRAME_TYPES = {1: "DTMF_END", 2: "VOICE", 3: "VIDEO", 4: "CONTROL", 6: "IAX", 12: "DTMF_BEGIN"}
IAX2_COMMANDS = {
    1: "NEW",
    2: "PING",
    3: "PONG",
    4: "ACK",
    5: "HANGUP",
    6: "REJECT",
    7: "ACCEPT",
    8: "AUTHREQ",
    9: "AUTHREP",
    10: "INVAL",
    11: "LAGRQ",
    12: "LAGRP",
    18: "VNAK",
    30: "POKE",
    40: "CALLTOKEN",
}
CONTROL = {1: "HANGUP", 2: "RING", 3: "RINGING", 4: "ANSWER", 5: "BUSY", 14: "PROGRESS"}


def iax2_voice(path: Path, names: Mapping[str, str] | None = None) -> Counter[tuple[str, str]]:
    """IAX2 voice frames in a pcap by (from, to): mini frames (every voice frame after the
    first of a call) and full VOICE frames."""
    names = names or {}
    found: Counter[tuple[str, str]] = Counter()
    for frame in read_pcap(path):
        datagram = udp_datagram(frame.data)
        if datagram is None or not datagram.uses(IAX2_PORT) or len(datagram.payload) < 4:
            continue
        payload = datagram.payload
        mini = not payload[0] & 0x80 and (payload[0] or payload[1])  # 0x0000: a meta frame
        full_voice = bool(payload[0] & 0x80) and len(payload) >= 12 and payload[10] == 2
        if mini or full_voice:
            found[
                (names.get(datagram.src, datagram.src), names.get(datagram.dst, datagram.dst))
            ] += 1
    return found


def summary(path: Path, names: Mapping[str, str] | None = None) -> list[str]:
    """One line per DUNDi message and IAX2 full frame; IAX2 media frames are counted."""
    names = names or {}
    frames = read_pcap(path)
    if not frames:
        return [f"{path}: no packets"]
    start = frames[0].time
    lines, dundi, iax_full, iax_media = [], 0, 0, 0
    for frame in frames:
        datagram = udp_datagram(frame.data)
        if datagram is None:
            continue
        where = (
            f"{frame.time - start:8.3f}  {_endpoint(datagram.src, datagram.sport, names)} → "
            f"{_endpoint(datagram.dst, datagram.dport, names)}"
        )
        if datagram.uses(DUNDI_PORT):
            dundi += 1
            lines.append(f"{where}  {_dundi_line(datagram.payload)}")
        elif datagram.uses(IAX2_PORT):
            line = _iax2_line(datagram.payload)
            iax_full += line is not None
            iax_media += line is None
            if line:
                lines.append(f"{where}  {line}")
    began = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start))
    head = (
        f"{path.name}: {dundi} DUNDi, {iax_full} IAX2 full frames, {iax_media} IAX2 media "
        f"frames; first at {began}"
    )
    voice = iax2_voice(path, names)
    if voice:
        ways = ", ".join(f"{a} → {b} {n}" for (a, b), n in sorted(voice.items()))
        lines.append(f"IAX2 voice frames: {ways}")
    return [head, *lines]


def _endpoint(ip: str, port: int, names: Mapping[str, str]) -> str:
    name = names.get(ip, ip)
    return name if port in (DUNDI_PORT, IAX2_PORT) else f"{name}:{port}"


def _dundi_line(payload: bytes) -> str:
    try:
        packet = dundi_wire.decode(payload)
    except dundi_wire.MalformedPacket as exc:
        return f"DUNDi ? {exc}"
    command = packet.command + (" final" if packet.final else "")
    role = " query" if packet.opens_transaction else " reply" if packet.first_reply else ""
    sealed = f"encrypted{role}" if packet.encrypted else "clear"
    ies = ", ".join(_ie_text(ie) for ie in packet.ies if ie.type != dundi_wire.IE_SIGNATURE)
    line = (
        f"{command:<17} strans {packet.strans:5} dtrans {packet.dtrans:5}"
        f"  seq o{packet.oseqno} i{packet.iseqno}"
        f"  {sealed:15}  {ies}"
    )
    return f"{line.rstrip()}  [{packet.problem}]" if packet.problem else line.rstrip()


def _ie_text(ie: dundi_wire.InfoElement) -> str:
    if ie.type == dundi_wire.IE_SHAREDKEY:
        return "new session key (RSA-encrypted + signed)"
    if ie.type == dundi_wire.IE_ENCDATA:
        return f"encdata {ie.value}"
    return f"{ie.name} {ie.value}"


def _iax2_line(payload: bytes) -> str | None:
    """A full frame (signalling) as one line; None for a mini frame (media) or junk."""
    if len(payload) < 12 or not payload[0] & 0x80:
        return None
    source, dest = (int.from_bytes(payload[i : i + 2], "big") & 0x7FFF for i in (0, 2))
    kind, sub = payload[10], payload[11]
    if kind == 6:
        what = IAX2_COMMANDS.get(sub, f"IAX {sub}")
    elif kind == 4:
        what = f"CONTROL {CONTROL.get(sub, sub)}"
    elif kind in (1, 12):
        what = f"{IAX2_FRAME_TYPES[kind]} {chr(sub)!r}"
    else:
        what = f"{IAX2_FRAME_TYPES.get(kind, f'type {kind}')} {sub}"
    return f"IAX2 {what:<15} call {source}→{dest}  seq o{payload[8]} i{payload[9]}"
