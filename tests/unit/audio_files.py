"""Recordings as Asterisk writes them, made in memory: tones, G.711, WAV (closed or not)."""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterable

from lab.asterisk import tones


def synth(
    freqs: Iterable[float],
    seconds: float,
    dbfs: float = -13.1,
    lead_silence: float = 0.0,
    noise_dbfs: float | None = None,
) -> list[float]:
    """Sines at `freqs`, each at `dbfs`, after `lead_silence` s, with optional white noise."""
    freqs = list(freqs)
    amp = 10 ** (dbfs / 20)
    out = [0.0] * int(lead_silence * tones.RATE)
    for i in range(int(seconds * tones.RATE)):
        t = i / tones.RATE
        out.append(sum(amp * math.sin(2 * math.pi * f * t + 0.3 * j) for j, f in enumerate(freqs)))
    if noise_dbfs is not None:
        rnd, noise = random.Random(1), 10 ** (noise_dbfs / 20) / math.sqrt(2)
        out = [x + rnd.gauss(0, noise) for x in out]
    return out


def ulaw(samples: list[float]) -> bytes:
    """G.711 mu-law, as a channel in ulaw carries the samples."""

    def encode(sample: float) -> int:
        s = max(-32635, min(32635, int(sample * 32768)))
        sign = 0x80 if s < 0 else 0
        s = abs(s) + 0x84
        exponent = next((e for e in range(7, -1, -1) if s & (0x4000 >> (7 - e))), 0)
        mantissa = (s >> (exponent + 3)) & 0x0F
        return ~(sign | (exponent << 4) | mantissa) & 0xFF

    return bytes(encode(x) for x in samples)


def wav(samples: list[float], *, closed: bool = True) -> bytes:
    """A WAV as format_wav writes it: the sizes are 0 until the file is closed."""
    data = struct.pack(f"<{len(samples)}h", *(int(x * 32767) for x in samples))
    size = len(data) if closed else 0
    header = b"RIFF" + struct.pack("<I", 36 + size if closed else 0) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    return header + b"data" + struct.pack("<I", size) + data


def tone_wav(code: int | None, seconds: float = 0.3) -> bytes:
    """A closed recording of node tone code `code`'s pair (None: silence)."""
    pair = tones.code_tones(code) if code is not None else ()
    return wav(synth(pair, seconds, lead_silence=0.02))
