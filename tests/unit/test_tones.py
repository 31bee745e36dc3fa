"""The tone analysis that judges what a test call carried, on synthetic signals: the
frequencies and levels Asterisk's Playtones makes, through G.711 and unfinished WAV files."""

from __future__ import annotations

import pytest

from lab.asterisk import tones
from tests.unit.audio_files import synth, ulaw, wav


@pytest.mark.parametrize("freq", [300, 1004, 1400, 2000, 3400])
def test_the_dominant_frequency_and_its_level_are_measured(freq: int) -> None:
    found = tones.analyse(tones.Recording(synth([freq], 0.3), tones.RATE))
    assert found.dominant_hz is not None and abs(found.dominant_hz - freq) < 2
    assert found.dominant_dbfs is not None and abs(found.dominant_dbfs + 13.1) < 0.5
    assert found.purity is not None and found.purity > 0.95


@pytest.mark.parametrize("dbfs", [-3, -13.1, -30, -40])
def test_levels_survive_ulaw(dbfs: float) -> None:
    found = tones.analyse(tones.parse(ulaw(synth([1004], 0.3, dbfs)), "ulaw"))
    assert found.dominant_hz is not None and abs(found.dominant_hz - 1004) < 2
    assert found.dominant_dbfs is not None and abs(found.dominant_dbfs - dbfs) < 0.7


def test_silence_and_hiss_are_silent_and_name_no_node() -> None:
    silent = tones.parse(ulaw([0.0] * 4000), "ulaw")
    assert tones.analyse(silent).silent and tones.analyse(silent).dominant_hz is None
    assert not tones.identify(silent).heard
    hiss = tones.Recording(synth([], 0.5, noise_dbfs=-60), tones.RATE)
    assert tones.analyse(hiss).silent


def test_a_wav_not_closed_yet_says_so_and_still_reads() -> None:
    samples = synth([2000], 0.2)
    open_file = tones.parse(wav(samples, closed=False), "wav")
    assert not open_file.complete and len(open_file.samples) == len(samples)
    closed = tones.parse(wav(samples), "wav")
    assert closed.complete
    assert abs((tones.analyse(closed).dominant_hz or 0) - 2000) < 2


def test_every_node_code_is_told_apart_in_300_ms_through_ulaw_with_noise() -> None:
    for code in range(256):
        heard = synth(tones.code_tones(code), 0.3, lead_silence=0.05, noise_dbfs=-40)
        identity = tones.identify(tones.parse(ulaw(heard), "ulaw"))
        assert identity.code == code, (code, identity)
        assert identity.margin_db > 20


def test_one_tone_alone_is_no_node_code() -> None:
    assert not tones.identify(tones.Recording(synth([1004], 0.3), tones.RATE)).heard


def test_a_mix_of_two_nodes_pairs_is_no_node_code() -> None:
    one, two = synth(tones.code_tones(1), 0.3), synth(tones.code_tones(2), 0.3)
    both = [a + b for a, b in zip(one, two, strict=True)]
    assert not tones.identify(tones.Recording(both, tones.RATE)).heard


def test_playtones_plays_the_pair_of_the_node_code() -> None:
    assert tones.playtones_arg(tones.tone_code("1")) == "400+1700"
    assert tones.tone_code("257") == 1
    with pytest.raises(ValueError, match=r"outside 0\.\.255"):
        tones.code_tones(256)
