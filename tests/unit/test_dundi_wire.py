"""DUNDi messages decoded from bytes built by hand from Asterisk's documented layout,
and the pcap files `lab capture` writes and reads.

Layout (include/asterisk/dundi.h): strans (16 bits), dtrans (16), iseqno (8),
oseqno (8), cmdresp (8; 0x40 response, 0x80 final), cmdflags (8), then IEs of
type (8), length (8), data; every number big-endian.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from lab.errors import LabError
from lab.observe import capture, dundi_wire
from lab.observe.dundi_wire import MalformedPacket, decode

EID_A = bytes.fromhex("020000000001")
EID_D = bytes.fromhex("020000000004")


def header(
    strans: int, dtrans: int, iseqno: int, oseqno: int, cmdresp: int, flags: int = 0
) -> bytes:
    return struct.pack("!HHBBBB", strans, dtrans, iseqno, oseqno, cmdresp, flags)


def ie(kind: int, data: bytes) -> bytes:
    return bytes([kind, len(data) % 256]) + data


def short(value: int) -> bytes:
    return struct.pack("!H", value)


def answer(eid: bytes, protocol: int, flags: int, weight: int, dest: bytes) -> bytes:
    return eid + struct.pack("!BHH", protocol, flags, weight) + dest


# What pbx_dundi sends for `dundi lookup 555000123@network1` from a (dundi_discover):
# version, a's EID, the called number and context, the TTL.
DISCOVER = (
    header(0x1234, 0, 0, 0, 1)
    + ie(10, short(1))
    + ie(1, EID_A)
    + ie(3, b"555000123")
    + ie(2, b"network1")
    + ie(6, short(32))
)


# ---- header --------------------------------------------------------------------


def test_a_discover_decodes_header_fields_and_its_clear_ies() -> None:
    packet = decode(DISCOVER)
    assert (packet.strans, packet.dtrans, packet.iseqno, packet.oseqno) == (0x1234, 0, 0, 0)
    assert packet.command == "DPDISCOVER"
    assert not packet.final and not packet.response and not packet.encrypted
    assert packet.first("eid") == "02:00:00:00:00:01"
    assert packet.first("number") == "555000123"
    assert packet.first("context") == "network1"
    assert packet.first("ttl") == "32"
    assert packet.first("version") == "1"
    assert packet.problem is None


@pytest.mark.parametrize(
    ("cmdresp", "name"),
    [
        (0x40, "ACK"),
        (0x01, "DPDISCOVER"),
        (0x42, "DPRESPONSE"),
        (0x03, "EIDQUERY"),
        (0x44, "EIDRESPONSE"),
        (0x05, "PRECACHERQ"),
        (0x46, "PRECACHERP"),
        (0x47, "INVALID"),
        (0x48, "UNKNOWN"),
        (0x09, "NULL"),
        (0x0A, "REGREQ"),
        (0x4B, "REGRESPONSE"),
        (0x0C, "CANCEL"),
        (0x0D, "ENCRYPT"),
        (0x4E, "ENCREJ"),
        (0x0F, "STATUS"),
    ],
    ids=lambda value: value if isinstance(value, str) else f"{value:#04x}",
)
def test_every_command_of_dundi_h_has_its_name(cmdresp: int, name: str) -> None:
    assert decode(header(1, 0, 0, 0, cmdresp)).command == name
    assert decode(header(1, 0, 0, 0, cmdresp | dundi_wire.FINAL)).command == name


def test_the_final_bit_is_a_flag_not_part_of_the_command() -> None:
    packet = decode(header(7, 9, 1, 0, 0x42 | 0x80))
    assert packet.command == "DPRESPONSE"
    assert packet.final and packet.response


def test_an_unknown_command_is_named_by_its_number() -> None:
    assert decode(header(1, 0, 0, 0, 0x21)).command == "CMD0x21"


def test_transaction_ids_are_the_low_15_bits_as_pbx_dundi_reads_them() -> None:
    packet = decode(header(0x8001, 0xFFFF, 0, 0, 0x40))
    assert (packet.strans, packet.dtrans) == (1, 32767)


def test_bytes_shorter_than_a_header_are_malformed() -> None:
    with pytest.raises(MalformedPacket, match="7 bytes"):
        decode(header(1, 0, 0, 0, 1)[:7])


def test_a_bare_ack_has_no_ies() -> None:
    packet = decode(header(3, 4, 1, 1, 0x40 | 0x80))
    assert packet.command == "ACK" and packet.final
    assert packet.ies == ()


# ---- information elements ----------------------------------------------------------


def test_a_response_carries_its_answer_expiration_and_hint() -> None:
    dest = b"dundi:s3cret@10.77.0.13/555000123"
    packet = decode(
        header(0x2222, 0x1234, 1, 0, 0x42 | 0x80)
        + ie(5, answer(EID_D, 1, 0b101, 0, dest))
        + ie(11, short(5))
        + ie(20, short(0b100) + b"")
    )
    assert packet.first("answer") == (
        "IAX2/dundi:s3cret@10.77.0.13/555000123 weight 0 EXISTS|CANMATCH from 02:00:00:00:00:04"
    )
    assert packet.first("expiration") == "5"
    assert packet.first("hint") == "UNAFFECTED"


def test_a_refusal_carries_its_cause_and_text() -> None:
    packet = decode(header(5, 6, 1, 0, 0x42 | 0x80) + ie(14, bytes([3]) + b"Permission denied"))
    assert packet.first("cause") == "NOAUTH Permission denied"


def test_a_dont_ask_hint_names_the_prefix() -> None:
    packet = decode(header(5, 6, 1, 0, 0x42) + ie(20, short(0b010) + b"999"))
    assert packet.first("hint") == "DONTASK 999"


def test_repeated_eids_are_kept_in_order() -> None:
    packet = decode(header(1, 0, 0, 0, 1) + ie(1, EID_A) + ie(4, EID_D) + ie(1, EID_D))
    assert packet.values("eid") == ["02:00:00:00:00:01", "02:00:00:00:00:04"]
    assert packet.values("eid-direct") == ["02:00:00:00:00:04"]


def test_cache_bypass_is_an_empty_ie() -> None:
    assert decode(header(1, 0, 0, 0, 1) + ie(29, b"")).first("cache-bypass") == "yes"


def test_an_unknown_ie_is_kept_with_its_size() -> None:
    packet = decode(header(1, 0, 0, 0, 1) + ie(99, b"abc"))
    assert [(e.name, e.value) for e in packet.ies] == [("ie99", "3 bytes")]


def test_an_ie_longer_than_the_packet_is_reported_not_raised() -> None:
    packet = decode(header(1, 0, 0, 0, 1) + ie(1, EID_A) + bytes([3, 20]) + b"5550")
    assert packet.first("eid") == "02:00:00:00:00:01"
    assert packet.first("number") is None
    assert packet.problem == "number says 20 bytes, only 4 left"


def test_a_wrong_size_eid_says_so() -> None:
    assert decode(header(1, 0, 0, 0, 1) + ie(1, b"\x02\x00")).first("eid") == "<2-byte eid>"


# ---- encryption ----------------------------------------------------------------------


def encrypt_message(blocks: int, *, first: bool, full_key: bool) -> bytes:
    """An ENCRYPT as dundi_encrypt builds it: cmdresp 13 without FINAL, cmdflags 0;
    on a transaction's first message our EID and the session key (full or its CRC32);
    then ENCDATA = IV + blocks, always the rest of the packet."""
    iv, sealed = bytes(range(16)), bytes(16 * blocks)
    seq = (0, 0) if first else (1, 0)
    ies = b""
    if first:
        ies += ie(1, EID_A)
        ies += (
            ie(17, bytes(128)) + ie(18, bytes(128))
            if full_key
            else ie(19, bytes.fromhex("bfd20691"))
        )
    return header(0x0101, 0 if first else 0x0202, *seq, 13) + ies + ie(16, iv + sealed)


def test_an_encrypted_query_shows_who_sent_it_and_the_key_crc_but_not_what_it_asks() -> None:
    packet = decode(encrypt_message(3, first=True, full_key=False))
    assert packet.command == "ENCRYPT" and packet.encrypted
    assert packet.opens_transaction and not packet.first_reply
    assert packet.first("eid") == "02:00:00:00:00:01"
    assert packet.first("keycrc32") == "bfd20691"
    assert packet.first("encdata") == "3 blocks"
    assert packet.first("number") is None


def test_the_first_encrypted_query_to_a_peer_carries_the_session_key_and_signature() -> None:
    packet = decode(encrypt_message(3, first=True, full_key=True))
    assert [e.name for e in packet.ies] == ["eid", "sharedkey", "signature", "encdata"]
    assert packet.problem is None


def test_encdata_past_255_bytes_runs_to_the_end_whatever_its_length_byte_says() -> None:
    # 16 IV + 20 blocks = 336 bytes: the length byte holds 336 % 256 = 80
    packet = decode(encrypt_message(20, first=False, full_key=False))
    assert packet.first("encdata") == "20 blocks"
    assert packet.first_reply and not packet.opens_transaction
    assert packet.problem is None


def test_encdata_that_is_not_iv_plus_whole_blocks_is_flagged() -> None:
    packet = decode(header(1, 2, 1, 0, 13) + ie(16, bytes(20)))
    assert packet.first("encdata") == "<20 bytes, not IV + blocks>"


def test_any_encdata_marks_a_message_encrypted() -> None:
    assert decode(header(1, 2, 1, 0, 0x42) + ie(16, bytes(32))).encrypted


# ---- pcap files (lab/capture.py) -----------------------------------------------------------


def frame(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An Ethernet + IPv4 + UDP frame around `payload` (checksums left 0)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        1,
        0x4000,  # don't fragment
        64,
        17,
        0,
        bytes(int(x) for x in src.split(".")),
        bytes(int(x) for x in dst.split(".")),
    )
    return bytes(6) + bytes(6) + b"\x08\x00" + ip + udp


A, B = "10.77.0.10", "10.77.0.11"


def write_pcap(path: Path, frames: list[tuple[int, bytes]]) -> None:
    with path.open("wb") as stream:
        writer = capture.PcapWriter(stream)
        for stamp, data in frames:
            writer.write(stamp, data)


def test_a_written_pcap_has_the_libpcap_header_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    one = frame(A, B, 4520, 4520, DISCOVER)
    write_pcap(path, [(1_700_000_000_123_456_789, one)])
    magic, major, minor, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", path.read_bytes())
    assert path.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"
    assert (magic, major, minor, snaplen, linktype) == (0xA1B2C3D4, 2, 4, 65535, 1)
    frames = capture.read_pcap(path)
    assert [f.data for f in frames] == [one]
    assert frames[0].time_ns == 1_700_000_000_123_456_000  # microseconds kept


def test_a_big_endian_nanosecond_pcap_reads_too(tmp_path: Path) -> None:
    data = frame(A, B, 4520, 4520, DISCOVER)
    path = tmp_path / "be.pcap"
    path.write_bytes(
        struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
        + struct.pack(">IIII", 10, 5, len(data), len(data))
        + data
    )
    assert [(f.time_ns, f.data) for f in capture.read_pcap(path)] == [(10_000_000_005, data)]


def test_a_record_cut_short_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    write_pcap(path, [(1, frame(A, B, 4520, 4520, DISCOVER))] * 2)
    path.write_bytes(path.read_bytes()[:-5])
    assert len(capture.read_pcap(path)) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x0a\x0d\x0d\x0a" + bytes(40), "pcapng is not supported"),
        (b"hello world, this is not a pcap", "not a pcap file"),
        (b"\xd4\xc3", "only 2 bytes"),
        (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 113), "link type 113"),
    ],
    ids=["pcapng", "text", "short", "linux-cooked"],
)
def test_a_file_that_is_not_an_ethernet_pcap_is_refused_clearly(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(LabError, match=message):
        capture.read_pcap(path)


def test_the_udp_datagram_of_a_frame_ignores_ethernet_padding() -> None:
    padded = frame(A, B, 4520, 4520, header(1, 2, 1, 1, 0x40)) + bytes(10)
    datagram = capture.udp_datagram(padded)
    assert datagram == capture.Datagram(A, 4520, B, 4520, header(1, 2, 1, 1, 0x40))


def test_a_frame_that_is_not_ipv4_udp_has_no_datagram() -> None:
    tcp = bytearray(frame(A, B, 4520, 4520, b"x"))
    tcp[14 + 9] = 6
    assert capture.udp_datagram(bytes(tcp)) is None
    assert capture.udp_datagram(bytes(12) + b"\x86\xdd" + bytes(60)) is None


def squeeze(line: str) -> str:
    """The line with runs of spaces (column padding) as one space."""
    return " ".join(line.split())


def test_the_summary_has_one_line_per_dundi_message_labelled_by_node(tmp_path: Path) -> None:
    path = tmp_path / "s.pcap"
    query = encrypt_message(3, first=True, full_key=False)
    ack = header(0x0202, 0x0101, 1, 0, 0x40)
    iax_new = struct.pack("!HHIBBBB", 0x8003, 0, 0, 0, 0, 6, 1)
    media = struct.pack("!HH", 3, 160) + bytes(160)
    write_pcap(
        path,
        [
            (1_000_000_000, frame(A, B, 4520, 4520, query)),
            (1_250_000_000, frame(B, A, 4520, 4520, ack)),
            (1_500_000_000, frame(A, B, 4569, 4569, iax_new)),
            (1_520_000_000, frame(A, B, 4569, 4569, media)),
        ],
    )
    head, *lines = capture.summary(path, {A: "a", B: "b"})
    assert head.startswith("s.pcap: 2 DUNDi, 1 IAX2 full frames, 1 IAX2 media frames")
    assert [squeeze(line) for line in lines] == [
        "0.000 a → b ENCRYPT strans 257 dtrans 0 seq o0 i0 encrypted query "
        "eid 02:00:00:00:00:01, keycrc32 bfd20691, encdata 3 blocks",
        "0.250 b → a ACK strans 514 dtrans 257 seq o0 i1 clear",
        "0.500 a → b IAX2 NEW call 3→0 seq o0 i0",
        "IAX2 voice frames: a → b 1",  # the mini frame: voice
    ]


def test_read_dundi_returns_decoded_messages_with_addresses(tmp_path: Path) -> None:
    path = tmp_path / "d.pcap"
    write_pcap(path, [(5, frame(A, B, 4520, 4520, DISCOVER)), (6, frame(A, B, 4569, 4569, b""))])
    [seen] = capture.read_dundi(path)
    assert (seen.datagram.src, seen.datagram.dst) == (A, B)
    assert seen.packet.first("number") == "555000123"


def test_a_writer_stream_starts_with_the_header_before_any_packet() -> None:
    stream = io.BytesIO()
    capture.PcapWriter(stream)
    assert len(stream.getvalue()) == 24
