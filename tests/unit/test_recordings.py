"""What a test call leaves in the nodes' audio folders, read back on the host: the end line,
the recordings once closed, the callee's name for itself, and a whole batch collected."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lab.asterisk import recordings
from lab.core.calls import GRACE_S, collect
from lab.paths import LabPaths
from tests.unit.audio_files import synth, tone_wav, wav


def test_the_end_line_gives_how_the_call_ended_and_its_setup_time() -> None:
    end = recordings.parse_end(
        "FOUND|16|ANSWER|10.77.0.13||1795697239.487541|1795697239.510723|1795697239.9|end"
    )
    assert end is not None and (end.status, end.cause, end.dial_status) == ("FOUND", "16", "ANSWER")
    assert end.host == "10.77.0.13" and end.setup_ms is not None and round(end.setup_ms) == 23
    refused = recordings.parse_end("FOUND|34|CHANUNAVAIL|10.77.0.13|IAX2 REJECT (58)|1.0||1.1|end")
    assert refused is not None and refused.far_cause == "IAX2 REJECT (58)"
    assert refused.setup_ms is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "FOUND|16|ANSWER|10.77.0.13||1.0|1.02|1.4",
        "FOUND|16|end",
        "FOUND|16|ANSWER|x||a|b|c|d|end",
    ],
)
def test_an_end_line_not_completely_written_is_not_read(text: str) -> None:
    assert recordings.parse_end(text) is None


def test_a_recording_counts_once_asterisk_closed_it(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    assert recordings.closed_wav(path) is None
    path.write_bytes(wav(synth([1004], 0.1), closed=False))
    assert recordings.closed_wav(path) is None
    path.write_bytes(wav(synth([1004], 0.1)))
    assert recordings.closed_wav(path) is not None


def test_the_callee_line_names_node_extension_caller_code_and_codec(tmp_path: Path) -> None:
    folder = tmp_path / "nodes" / "d" / "audio"
    folder.mkdir(parents=True)
    mark = folder / "in-lab-00001234-0.txt"
    assert recordings.callee_of(mark) is None
    mark.write_text("0123|034111111|4|ulaw|e")  # still being written
    assert recordings.callee_of(mark) is None
    mark.write_text("0123|034111111|4|ulaw|end")
    callee = recordings.callee_of(mark)
    assert callee is not None
    assert (callee.node, callee.extension, callee.caller_seen, callee.code, callee.codec) == (
        "d",
        "0123",
        "034111111",
        "4",
        "ulaw",
    )


def test_what_was_heard_names_the_pair_or_says_silence() -> None:
    heard = recordings.heard_in(tone_wav(4))
    assert heard.code == 4 and (heard.low_hz, heard.high_hz) == (400, 2000)
    assert heard.describe() == "400+2000 Hz -13 dBFS"
    quiet = recordings.heard_in(tone_wav(None))
    assert quiet.code is None and quiet.silent and quiet.describe().startswith("silence in")


def _lab(tmp_path: Path) -> LabPaths:
    paths = LabPaths("x", tmp_path)
    for node in ("a", "b", "d"):
        paths.audio(node).mkdir(parents=True)
    return paths


def test_a_batch_is_read_as_its_files_close_then_removed(tmp_path: Path) -> None:
    paths = _lab(tmp_path)
    batch, caller = "00000042", paths.audio("a")
    (caller / "end-lab-00000042-0.txt").write_text("FOUND|16|ANSWER|10.0.0.13||1.0|1.02|1.4|end")
    (caller / "out-lab-00000042-0.wav").write_bytes(tone_wav(4))
    (paths.audio("d") / "in-lab-00000042-0.txt").write_text("0123|034111111|4|ulaw|end")
    (paths.audio("d") / "in-lab-00000042-0.wav").write_bytes(tone_wav(1))
    (caller / "end-lab-00000042-1.txt").write_text("NOT_FOUND|1||||1.0||1.01|end")
    started = time.monotonic()
    found, missing = collect(
        paths, ["a", "b", "d"], "a", "034111111", batch, ["555000123", "999000123"],
        deadline=started + 5, started=started,
    )  # fmt: skip
    assert time.monotonic() - started < 1
    assert found.answered and found.answered_by == "d" and found.caller_heard is not None
    assert found.caller_heard.code == 4 and found.callee_heard and found.callee_heard.code == 1
    assert (found.codec, found.setup_ms is not None) == ("ulaw", True)
    assert not missing.answered and missing.status == "NOT_FOUND"
    assert not any(any(p.iterdir()) for p in (caller, paths.audio("d")))


def test_a_side_that_heard_nothing_has_no_recording_and_the_wait_is_short(
    tmp_path: Path,
) -> None:
    paths = _lab(tmp_path)
    (paths.audio("a") / "end-lab-5-0.txt").write_text("FOUND|16|ANSWER|10.0.0.13||1.0|1.02|1.4|end")
    (paths.audio("a") / "out-lab-5-0.wav").write_bytes(tone_wav(4))
    (paths.audio("d") / "in-lab-5-0.txt").write_text("0123|034111111|4|ulaw|end")
    started = time.monotonic()
    [result] = collect(
        paths, ["a", "b", "d"], "a", "034111111", "5", ["555000123"],
        deadline=started + 20, started=started,
    )  # fmt: skip
    assert GRACE_S <= time.monotonic() - started < GRACE_S + 1
    assert result.answered_by == "d" and result.callee_heard is None


def test_a_call_that_never_ends_is_a_timeout_at_the_deadline(tmp_path: Path) -> None:
    paths = _lab(tmp_path)
    started = time.monotonic()
    [result] = collect(
        paths, ["a", "b", "d"], "a", "034111111", "7", ["555000123"],
        deadline=started + 0.2, started=started,
    )  # fmt: skip
    assert result.status == "TIMEOUT" and not result.answered
    assert 0.2 <= time.monotonic() - started < 1


def test_two_nodes_recording_one_call_answer_for_no_single_node(tmp_path: Path) -> None:
    paths = _lab(tmp_path)
    (paths.audio("a") / "end-lab-9-0.txt").write_text("FOUND|16|ANSWER|10.0.0.13||1.0|1.02|1.4|end")
    (paths.audio("a") / "out-lab-9-0.wav").write_bytes(tone_wav(4))
    for node in ("b", "d"):
        (paths.audio(node) / "in-lab-9-0.txt").write_text("0123|034111111|4|ulaw|end")
        (paths.audio(node) / "in-lab-9-0.wav").write_bytes(tone_wav(1))
    started = time.monotonic()
    [result] = collect(
        paths, ["a", "b", "d"], "a", "034111111", "9", ["555000123"],
        deadline=started + 1, started=started,
    )  # fmt: skip
    assert result.answered and result.answered_by is None
