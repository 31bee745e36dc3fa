"""Classic pcap files (libpcap: microsecond timestamps written, µs or ns read, linktype
Ethernet) and the UDP datagram inside an Ethernet/IPv4 frame. The public face is `lab.capture`."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lab.errors import LabError

__all__ = ["SNAPLEN", "Datagram", "PcapFrame", "PcapWriter", "read_pcap", "udp_datagram"]

SNAPLEN = 65535
PCAP_MAGIC = 0xA1B2C3D4  # microsecond timestamps
PCAP_MAGIC_NS = 0xA1B23C4D  # nanosecond timestamps (read only)
PCAPNG_MAGIC = 0x0A0D0D0A
LINKTYPE_ETHERNET = 1
FILE_HEADER = struct.Struct("<IHHiIII")
RECORD_HEADER = struct.Struct("<IIII")


# ---- pcap files --------------------------------------------------------------


@dataclass(frozen=True)
class PcapFrame:
    """One captured link-layer frame and when it was seen (ns since the epoch)."""

    time_ns: int
    data: bytes

    @property
    def time(self) -> float:
        return self.time_ns / 1e9


class PcapWriter:
    """Writes a classic pcap stream: the file header now, one record per `write`."""

    def __init__(self, stream: BinaryIO, snaplen: int = SNAPLEN) -> None:
        self.stream = stream
        self.snaplen = snaplen
        stream.write(FILE_HEADER.pack(PCAP_MAGIC, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))

    def write(self, time_ns: int, frame: bytes) -> None:
        seconds, rest_ns = divmod(time_ns, 1_000_000_000)
        kept = frame[: self.snaplen]
        self.stream.write(RECORD_HEADER.pack(seconds, rest_ns // 1000, len(kept), len(frame)))
        self.stream.write(kept)


def read_pcap(path: Path) -> list[PcapFrame]:
    """Every frame of a classic Ethernet pcap file (either byte order, µs or ns)."""
    data = path.read_bytes()
    if len(data) < FILE_HEADER.size:
        raise LabError(f"{path}: not a pcap file (only {len(data)} bytes)")
    if int.from_bytes(data[:4], "little") == PCAPNG_MAGIC:
        raise LabError(f"{path}: pcapng is not supported; save it as pcap (libpcap)")
    for order in ("<", ">"):
        magic, _, _, _, _, _, linktype = struct.unpack_from(order + "IHHiIII", data)
        if magic in (PCAP_MAGIC, PCAP_MAGIC_NS):
            break
    else:
        raise LabError(f"{path}: not a pcap file (magic {data[:4].hex()})")
    if linktype != LINKTYPE_ETHERNET:
        raise LabError(f"{path}: link type {linktype}, only Ethernet (1) is read")
    per_unit = 1 if magic == PCAP_MAGIC_NS else 1000
    frames, pos = [], FILE_HEADER.size
    while pos + RECORD_HEADER.size <= len(data):
        seconds, fraction, length, _ = struct.unpack_from(order + "IIII", data, pos)
        pos += RECORD_HEADER.size
        if pos + length > len(data):
            break  # a record cut short (capture interrupted mid-write): keep what is whole
        frames.append(
            PcapFrame(seconds * 1_000_000_000 + fraction * per_unit, data[pos : pos + length])
        )
        pos += length
    return frames


# ---- frames -------------------------------------------------------------------


@dataclass(frozen=True)
class Datagram:
    """The UDP datagram inside an Ethernet/IPv4 frame."""

    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes

    def uses(self, port: int) -> bool:
        return port in (self.sport, self.dport)


def udp_datagram(frame: bytes) -> Datagram | None:
    """The UDP datagram in `frame`, or None (not IPv4 UDP, a later fragment, truncated)."""
    ip = frame[14:]
    if frame[12:14] != b"\x08\x00" or len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    header = (ip[0] & 0x0F) * 4
    if int.from_bytes(ip[6:8], "big") & 0x1FFF or len(ip) < header + 8:
        return None
    udp = ip[header : int.from_bytes(ip[2:4], "big")]  # drops Ethernet padding
    if len(udp) < 8:
        return None
    sport, dport, length = struct.unpack_from("!HHH", udp)
    return Datagram(
        src=socket.inet_ntoa(ip[12:16]),
        sport=sport,
        dst=socket.inet_ntoa(ip[16:20]),
        dport=dport,
        payload=udp[8:length],
    )
