"""DUNDi on the wire: decode a UDP payload into its header and information elements.

The layout is Asterisk's (include/asterisk/dundi.h, pbx/dundi-parser.c):

    0       2       4      5      6        7        8
    | strans | dtrans | iseq | oseq | cmdresp | cflags | IE IE IE ...
    IE = type (1 byte), length (1 byte), data

Every field is big-endian. Transaction ids are 1..32767 and Asterisk reads only
the low 15 bits (dundi.h's RETRANS/RESERVED flags are 1 << 16 and never reach
the wire; a retransmission is a byte-identical copy). cmdresp is the command,
0x40 set for a response, 0x80 (FINAL) set on the last message of a transaction.

Peers with keys send DPDISCOVER, DPRESPONSE, EIDQUERY, ... as ENCRYPT: the
header keeps strans/dtrans/seqnos, cmdresp becomes ENCRYPT (13, without FINAL)
and the IEs are EID, SHAREDKEY + SIGNATURE (first contact) or KEYCRC32, and
ENCDATA (a 16-byte IV, then AES-128-CBC of the zlib-compressed inner cmdresp,
cflags and IEs). ENCDATA always runs to the end of the packet; its length byte
overflows past 255 bytes and is ignored, as Asterisk does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "COMMANDS",
    "FINAL",
    "IE_NAMES",
    "RESPONSE",
    "DundiPacket",
    "InfoElement",
    "MalformedPacket",
    "decode",
    "format_eid",
]

HEADER = struct.Struct("!HHBBBB")
FINAL = 0x80
RESPONSE = 0x40
TRANSACTION_BITS = 0x7FFF

COMMANDS = {
    0x40: "ACK",
    1: "DPDISCOVER",
    0x42: "DPRESPONSE",
    3: "EIDQUERY",
    0x44: "EIDRESPONSE",
    5: "PRECACHERQ",
    0x46: "PRECACHERP",
    0x47: "INVALID",
    0x48: "UNKNOWN",
    9: "NULL",
    10: "REGREQ",
    0x4B: "REGRESPONSE",
    12: "CANCEL",
    13: "ENCRYPT",
    0x4E: "ENCREJ",
    15: "STATUS",
}
ENCRYPT = 13

IE_EID, IE_CALLED_CONTEXT, IE_CALLED_NUMBER, IE_EID_DIRECT, IE_ANSWER, IE_TTL = 1, 2, 3, 4, 5, 6
IE_VERSION, IE_EXPIRATION, IE_UNKNOWN, IE_CAUSE, IE_REQEID = 10, 11, 12, 14, 15
IE_ENCDATA, IE_SHAREDKEY, IE_SIGNATURE, IE_KEYCRC32, IE_HINT = 16, 17, 18, 19, 20
IE_CACHEBYPASS, IE_PEERSTATUS = 29, 30

IE_NAMES = {
    IE_EID: "eid",
    IE_CALLED_CONTEXT: "context",
    IE_CALLED_NUMBER: "number",
    IE_EID_DIRECT: "eid-direct",
    IE_ANSWER: "answer",
    IE_TTL: "ttl",
    IE_VERSION: "version",
    IE_EXPIRATION: "expiration",
    IE_UNKNOWN: "unknown-command",
    IE_CAUSE: "cause",
    IE_REQEID: "requested-eid",
    IE_ENCDATA: "encdata",
    IE_SHAREDKEY: "sharedkey",
    IE_SIGNATURE: "signature",
    IE_KEYCRC32: "keycrc32",
    IE_HINT: "hint",
    21: "department",
    22: "organization",
    23: "locality",
    24: "state",
    25: "country",
    26: "email",
    27: "phone",
    28: "ipaddr",
    IE_CACHEBYPASS: "cache-bypass",
    IE_PEERSTATUS: "peer-status",
}
STRING_IES = {IE_CALLED_CONTEXT, IE_CALLED_NUMBER, *range(21, 29)}
EID_IES = {IE_EID, IE_EID_DIRECT, IE_REQEID}
SHORT_IES = {IE_TTL, IE_VERSION, IE_EXPIRATION}

PROTOCOLS = {0: "None", 1: "IAX2", 2: "SIP", 3: "H323"}
ANSWER_FLAGS = (
    "EXISTS",
    "MATCHMORE",
    "CANMATCH",
    "IGNOREPAT",
    "RESIDENTIAL",
    "COMMERCIAL",
    "MOBILE",
    "NOUNSOLICITED",
    "NOCOMUNSOLICIT",
)
HINT_FLAGS = ("TTLEXPIRED", "DONTASK", "UNAFFECTED")
CAUSES = (
    "SUCCESS",
    "GENERAL",
    "DYNAMIC",
    "NOAUTH",
    "DUPLICATE",
    "TTLEXPIRED",
    "NEEDKEY",
    "BADENCRYPT",
)


class MalformedPacket(ValueError):
    """The bytes are too short to hold a DUNDi header."""


@dataclass(frozen=True)
class InfoElement:
    """One information element: its type, raw data and a readable value."""

    type: int
    data: bytes
    value: str

    @property
    def name(self) -> str:
        return IE_NAMES.get(self.type, f"ie{self.type}")


@dataclass(frozen=True)
class DundiPacket:
    """A decoded DUNDi message; `problem` says what could not be decoded, if anything."""

    strans: int
    dtrans: int
    iseqno: int
    oseqno: int
    cmdresp: int
    cflags: int
    ies: tuple[InfoElement, ...]
    problem: str | None = None

    @property
    def command(self) -> str:
        code = self.cmdresp & ~FINAL
        return COMMANDS.get(code, f"CMD{code:#04x}")

    @property
    def final(self) -> bool:
        return bool(self.cmdresp & FINAL)

    @property
    def response(self) -> bool:
        return bool(self.cmdresp & RESPONSE)

    @property
    def encrypted(self) -> bool:
        """ENCRYPT, or any ENCDATA: the real command and its IEs are not readable."""
        return (self.cmdresp & ~FINAL) == ENCRYPT or any(ie.type == IE_ENCDATA for ie in self.ies)

    @property
    def opens_transaction(self) -> bool:
        """The first message of a transaction (encrypted: a DPDISCOVER, EIDQUERY,
        PRECACHERQ or REGREQ; the wire does not say which)."""
        return self.dtrans == 0 and self.oseqno == 0 and self.iseqno == 0 and not self.response

    @property
    def first_reply(self) -> bool:
        """The other side's first message after the opening one, other than an ACK
        (encrypted: the DPRESPONSE or other response to it)."""
        return self.oseqno == 0 and self.iseqno == 1 and self.command != "ACK"

    def values(self, name: str) -> list[str]:
        """Readable values of every IE called `name` (some IEs repeat, e.g. eid)."""
        return [ie.value for ie in self.ies if ie.name == name]

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None


def decode(payload: bytes) -> DundiPacket:
    """Decode one DUNDi UDP payload; MalformedPacket if it is shorter than a header."""
    if len(payload) < HEADER.size:
        raise MalformedPacket(f"{len(payload)} bytes is shorter than a DUNDi header (8)")
    strans, dtrans, iseqno, oseqno, cmdresp, cflags = HEADER.unpack_from(payload)
    ies, problem = _decode_ies(payload[HEADER.size :])
    return DundiPacket(
        strans=strans & TRANSACTION_BITS,
        dtrans=dtrans & TRANSACTION_BITS,
        iseqno=iseqno,
        oseqno=oseqno,
        cmdresp=cmdresp,
        cflags=cflags,
        ies=tuple(ies),
        problem=problem,
    )


def _decode_ies(data: bytes) -> tuple[list[InfoElement], str | None]:
    ies: list[InfoElement] = []
    pos = 0
    while len(data) - pos >= 2:
        kind, length = data[pos], data[pos + 1]
        if kind == IE_ENCDATA:
            length = len(data) - pos - 2  # the rest of the packet, whatever the length byte says
        body = data[pos + 2 : pos + 2 + length]
        if len(body) < length:
            name = IE_NAMES.get(kind, f"ie{kind}")
            return ies, f"{name} says {length} bytes, only {len(body)} left"
        ies.append(InfoElement(kind, body, _readable(kind, body)))
        pos += 2 + length
    if pos != len(data):
        return ies, f"{len(data) - pos} stray byte(s) after the last IE"
    return ies, None


def format_eid(data: bytes) -> str:
    """An entity ID as Asterisk prints it: 02:00:00:00:00:01."""
    return ":".join(f"{b:02x}" for b in data)


def _flags(value: int, names: tuple[str, ...]) -> str:
    return "|".join(n for bit, n in enumerate(names) if value & (1 << bit)) or "NONE"


def _text(data: bytes) -> str:
    return data.rstrip(b"\0").decode("utf-8", "replace")


def _readable(kind: int, data: bytes) -> str:
    """The IE's data as dundi-parser.c would show it (a length note if malformed)."""
    size = len(data)
    if kind in STRING_IES:
        return _text(data)
    if kind in EID_IES:
        return format_eid(data) if size == 6 else f"<{size}-byte eid>"
    if kind in SHORT_IES:
        return str(struct.unpack("!H", data)[0]) if size == 2 else f"<{size}-byte short>"
    if kind == IE_KEYCRC32:
        return f"{struct.unpack('!I', data)[0]:08x}" if size == 4 else f"<{size}-byte crc>"
    if kind == IE_ANSWER and size >= 11:
        proto, flags, weight = struct.unpack_from("!BHH", data, 6)
        tech = PROTOCOLS.get(proto, f"proto{proto}")
        return (
            f"{tech}/{_text(data[11:])} weight {weight} "
            f"{_flags(flags, ANSWER_FLAGS)} from {format_eid(data[:6])}"
        )
    if kind == IE_HINT and size >= 2:
        hint = _flags(struct.unpack_from("!H", data)[0], HINT_FLAGS)
        return f"{hint} {_text(data[2:])}".strip()
    if kind == IE_CAUSE and size >= 1:
        cause = CAUSES[data[0]] if data[0] < len(CAUSES) else str(data[0])
        return f"{cause} {_text(data[1:])}".strip()
    if kind == IE_UNKNOWN and size == 1:
        return COMMANDS.get(data[0], str(data[0]))
    if kind == IE_ENCDATA:
        blocks, rest = divmod(size - 16, 16)
        return f"{blocks} blocks" if size > 16 and not rest else f"<{size} bytes, not IV + blocks>"
    if kind == IE_PEERSTATUS and size == 14:
        flags, netlag, querylag = struct.unpack_from("!IHH", data)
        return f"{format_eid(data[8:])} flags {flags:#x} netlag {netlag} querylag {querylag}"
    if kind == IE_CACHEBYPASS:
        return "yes"
    return f"{size} bytes"
