"""What a test call carried: tones in the recordings Asterisk made, measured on the host.

Each side of a test call plays its node's tone pair (`playtones_arg`) and records what it
hears (MixMonitor, format_wav: RIFF PCM 16-bit 8 kHz; raw .ulaw/.alaw/.sln read too). The
Goertzel filter tells which node's pair a recording holds (`identify`) and the dominant
frequency and level of any recording (`analyse`). Pure Python, no numpy.

Levels are dBFS with a full-scale sine at 0 dBFS (so Asterisk's default tone volume,
7219/32768 peak, reads as -13.1 dBFS).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SILENCE_DBFS",
    "Analysis",
    "Identity",
    "Recording",
    "analyse",
    "code_tones",
    "goertzel",
    "identify",
    "load",
    "parse",
    "playtones_arg",
    "tone_code",
    "tone_dbfs",
]

RATE = 8000
SILENCE_DBFS = -50.0  # below this overall level a recording counts as silent
BLOCK_MS = 20  # Asterisk's frame size; tone presence is judged per block


# ---- decoding -----------------------------------------------------------------


def _ulaw_table() -> list[int]:
    table = []
    for byte in range(256):
        u = ~byte & 0xFF
        sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
        sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
        table.append(-sample if sign else sample)
    return table


def _alaw_table() -> list[int]:
    table = []
    for byte in range(256):
        a = byte ^ 0x55
        sign, exponent, mantissa = a & 0x80, (a >> 4) & 0x07, a & 0x0F
        base = (mantissa << 4) + (8 if exponent == 0 else 0x108)
        sample = base << (exponent - 1) if exponent else base
        table.append(sample if sign else -sample)
    return table


ULAW = _ulaw_table()
ALAW = _alaw_table()


@dataclass(frozen=True)
class Recording:
    samples: list[float]  # -1.0 .. 1.0
    rate: int
    complete: bool = True  # False: a WAV whose header Asterisk has not finalised yet
    source: str = ""

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def _pcm16(data: bytes) -> list[float]:
    count = len(data) // 2
    return [v / 32768.0 for v in struct.unpack(f"<{count}h", data[: count * 2])]


def _wav(data: bytes, source: str) -> Recording:
    """RIFF/WAVE, PCM 16-bit or G.711; tolerant of a header Asterisk has not
    rewritten yet (format_wav writes the sizes on close: 0 until then)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{source}: not a RIFF/WAVE file")
    pos, fmt, rate, bits, chunk = 12, 1, RATE, 16, None
    complete = True
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt, _channels, rate = struct.unpack("<HHI", data[body : body + 8])
            bits = struct.unpack("<H", data[body + 14 : body + 16])[0]
        elif cid == b"data":
            available = len(data) - body
            # format_wav writes the sizes when it closes the file: 0 (or short) until then
            complete = 0 < size <= available
            if not complete:
                size = available
            chunk = data[body : body + size]
            break
        pos = body + size + (size & 1)
    if chunk is None:
        raise ValueError(f"{source}: no data chunk")
    if fmt == 1 and bits == 16:
        samples = _pcm16(chunk)
    elif fmt == 7:
        samples = [ULAW[b] / 32768.0 for b in chunk]
    elif fmt == 6:
        samples = [ALAW[b] / 32768.0 for b in chunk]
    else:
        raise ValueError(f"{source}: WAV format {fmt}/{bits} bit not supported (GSM WAV49?)")
    return Recording(samples, rate, complete, source)


def parse(data: bytes, kind: str, source: str = "") -> Recording:
    """`kind`: wav | ulaw | pcm | alaw | al | sln | slin | raw (file extensions Asterisk uses)."""
    kind = kind.lower().lstrip(".")
    if kind in ("wav", "wav16"):
        return _wav(data, source)
    if kind in ("ulaw", "ul", "pcm", "mu"):
        return Recording([ULAW[b] / 32768.0 for b in data], RATE, True, source)
    if kind in ("alaw", "al"):
        return Recording([ALAW[b] / 32768.0 for b in data], RATE, True, source)
    if kind in ("sln", "slin", "raw"):
        return Recording(_pcm16(data), RATE, True, source)
    if kind in ("sln16",):
        return Recording(_pcm16(data), 16000, True, source)
    raise ValueError(f"{source}: unknown recording format {kind!r}")


def load(path: str | Path) -> Recording:
    path = Path(path)
    return parse(path.read_bytes(), path.suffix, str(path))


# ---- Goertzel ---------------------------------------------------------------


def _hann(n: int) -> list[float]:
    if n < 2:
        return [1.0] * n
    return [0.5 - 0.5 * math.cos(2 * math.pi * i / (n - 1)) for i in range(n)]


def goertzel(samples: Sequence[float], freq: float, rate: int = RATE) -> float:
    """|X(freq)|^2 of `samples` (already windowed if wanted). Non-integer bins are fine."""
    coeff = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def tone_dbfs(windowed: Sequence[float], freq: float, rate: int, gain: float) -> float:
    """Level of a sine at `freq` in dBFS; `gain` is the window's sum (N for rectangular)."""
    power = goertzel(windowed, freq, rate)
    amplitude = 2.0 * math.sqrt(max(power, 0.0)) / gain
    return 20 * math.log10(amplitude) if amplitude > 1e-9 else -200.0


def _rms_dbfs(samples: Sequence[float]) -> float:
    if not samples:
        return -200.0
    rms = math.sqrt(sum(x * x for x in samples) / len(samples))
    return 20 * math.log10(rms * math.sqrt(2)) if rms > 1e-9 else -200.0


@dataclass(frozen=True)
class Analysis:
    seconds: float
    level_dbfs: float  # whole recording, sine-referenced RMS
    active_seconds: float  # 20 ms blocks louder than SILENCE_DBFS
    dominant_hz: float | None
    dominant_dbfs: float | None  # level of that sine alone
    purity: float | None  # share of the active part's power in that sine (0..1)

    @property
    def silent(self) -> bool:
        return self.active_seconds < 0.06 or self.level_dbfs < SILENCE_DBFS


def _active_part(rec: Recording) -> list[float]:
    """The recording from its first to its last block louder than SILENCE_DBFS."""
    block = rec.rate * BLOCK_MS // 1000
    loud = [
        i
        for i in range(0, len(rec.samples) - block + 1, block)
        if _rms_dbfs(rec.samples[i : i + block]) > SILENCE_DBFS
    ]
    if not loud:
        return []
    return rec.samples[loud[0] : loud[-1] + block]


def analyse(rec: Recording, lo: float = 100.0, hi: float = 3900.0) -> Analysis:
    """Dominant frequency and levels. Coarse scan (20 Hz steps on a 50 ms block, the middle
    of the active part), then a Goertzel refinement over the whole active part."""
    active = _active_part(rec)
    block = rec.rate * BLOCK_MS // 1000
    active_seconds = len(active) / rec.rate
    level = _rms_dbfs(rec.samples)
    if len(active) < block * 3:
        return Analysis(rec.seconds, level, active_seconds, None, None, None)
    # coarse: one 50 ms Hann block from the middle, 20 Hz grid (the main lobe is 80 Hz wide)
    n0 = min(len(active), rec.rate // 20)
    mid = len(active) // 2 - n0 // 2
    w0 = _hann(n0)
    seg = [x * w for x, w in zip(active[mid : mid + n0], w0, strict=True)]
    grid = [lo + 20.0 * k for k in range(int((hi - lo) / 20) + 1)]
    coarse = max(grid, key=lambda f: goertzel(seg, f, rec.rate))
    # fine: the whole active part (at most 1 s), Hann, 2 Hz steps ±24 Hz, parabolic peak
    part = active[: rec.rate]
    w = _hann(len(part))
    gain = sum(w)
    wseg = [x * v for x, v in zip(part, w, strict=True)]
    steps = [coarse + 2.0 * k for k in range(-12, 13)]
    powers = [goertzel(wseg, f, rec.rate) for f in steps]
    k = max(range(len(steps)), key=powers.__getitem__)
    freq = steps[k]
    if 0 < k < len(steps) - 1:
        a, b, c = (math.log(max(p, 1e-30)) for p in powers[k - 1 : k + 2])
        denom = a - 2 * b + c
        if denom < 0:
            freq += 2.0 * 0.5 * (a - c) / denom
    dbfs = tone_dbfs(wseg, freq, rec.rate, gain)
    total = _rms_dbfs(part)
    purity = 10 ** ((dbfs - total) / 10)
    return Analysis(
        rec.seconds,
        level,
        active_seconds,
        round(freq, 1),
        round(dbfs, 1),
        round(min(purity, 1.0), 3),
    )


# ---- identity: a tone pair per node code ------------------------------------------

# Two groups of 16 frequencies, 50 Hz apart below 1200 Hz and 100 Hz apart above 1500 Hz,
# chosen clear of DTMF (697-941 / 1209-1633) where it matters little (DTMF is never sent
# during the tone) but mostly clear of each other's harmonics: code c (0..255) plays
# LOW[c // 16] + HIGH[c % 16].
LOW = tuple(400 + 50 * i for i in range(16))  # 400 .. 1150 Hz
HIGH = tuple(1600 + 100 * i for i in range(16))  # 1600 .. 3100 Hz


def code_tones(code: int) -> tuple[int, int]:
    """The (low, high) pair of a tone code, 0..255."""
    if not 0 <= code <= 255:
        raise ValueError(f"tone code {code} outside 0..255")
    return LOW[code // 16], HIGH[code % 16]


def tone_code(node_code: str) -> int:
    """The tone code of a node (its node code; past 255 the pairs repeat, and the recording's
    folder and file name still say which node answered)."""
    return int(node_code) % 256


def playtones_arg(code: int) -> str:
    """The Playtones() argument that plays `code`'s pair continuously."""
    low, high = code_tones(code)
    return f"{low}+{high}"


@dataclass(frozen=True)
class Identity:
    code: int | None
    low_hz: int | None
    high_hz: int | None
    low_dbfs: float
    high_dbfs: float
    margin_db: float  # best minus runner-up in the weaker group
    tone_seconds: float  # blocks in which the identified pair is present
    level_dbfs: float

    @property
    def heard(self) -> bool:
        return self.code is not None


def identify(
    rec: Recording,
    *,
    min_dbfs: float = -35.0,
    min_margin_db: float = 10.0,
    min_tone_seconds: float = 0.1,
) -> Identity:
    """Which code's tone pair is in `rec`. Goertzel at the 32 grid frequencies over the
    active part (Hann); then per 20 ms block, how long the winning pair is present."""
    active = _active_part(rec)
    level = _rms_dbfs(rec.samples)
    none = Identity(None, None, None, -200.0, -200.0, 0.0, 0.0, level)
    if len(active) < rec.rate * BLOCK_MS // 1000 * 3:
        return none
    part = active[: rec.rate]
    w = _hann(len(part))
    gain = sum(w)
    wseg = [x * v for x, v in zip(part, w, strict=True)]
    lows = sorted(((tone_dbfs(wseg, f, rec.rate, gain), f) for f in LOW), reverse=True)
    highs = sorted(((tone_dbfs(wseg, f, rec.rate, gain), f) for f in HIGH), reverse=True)
    margin = min(lows[0][0] - lows[1][0], highs[0][0] - highs[1][0])
    low_db, low_f = lows[0]
    high_db, high_f = highs[0]
    # presence per 40 ms block (bins 25 Hz wide with Hann: enough for 50 Hz spacing)
    block = rec.rate * 40 // 1000
    wb = _hann(block)
    gb = sum(wb)
    present = 0
    for i in range(0, len(active) - block + 1, block):
        seg = [x * v for x, v in zip(active[i : i + block], wb, strict=True)]
        if (
            tone_dbfs(seg, low_f, rec.rate, gb) > min_dbfs
            and tone_dbfs(seg, high_f, rec.rate, gb) > min_dbfs
        ):
            present += 1
    tone_s = present * block / rec.rate
    ok = low_db > min_dbfs and high_db > min_dbfs and margin >= min_margin_db
    ok = ok and tone_s >= min_tone_seconds
    code = LOW.index(low_f) * 16 + HIGH.index(high_f) if ok else None
    return Identity(
        code,
        low_f if ok else None,
        high_f if ok else None,
        round(low_db, 1),
        round(high_db, 1),
        round(margin, 1),
        tone_s,
        round(level, 1),
    )
