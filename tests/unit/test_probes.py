"""Parsing what Asterisk prints: lookups and peer lists; numbers checked before any command."""

from __future__ import annotations

import pytest

from lab.asterisk import probes
from lab.core.running import LinkState
from lab.errors import LabError

LOOKUP = """\
  1.     0 IAX2/dundi:UiybADB+3kzws6YKRC7SUQ==@10.77.243.13/555000123 (EXISTS|CANMATCH)
     from 02:00:00:00:00:04, expires in 5 s
  2.    90 IAX2/dundi:abc@10.77.243.14/555000123 (EXISTS)
     from 02:00:00:00:00:05, expires in 300 s
DUNDi lookup completed in 19 ms
"""

PEERS = (  # real `dundi show peers` output
    "EID                  Host                                          Port   Model      "
    "AvgTime  Status\n"
    "02:00:00:00:00:02    10.77.243.11                              (S) 4520   Symmetric  Unavail  "
    "OK (6 ms)\n"
    "02:00:00:00:00:03    10.77.243.12                              (S) 4520   Symmetric  523 ms   "
    "LAGGED (2025 ms\n"
    "02:00:00:00:00:04    10.77.243.13                              (S) 4520   Symmetric  Unavail  "
    "UNREACHABLE\n"
    "3 dundi peers [1 online, 2 offline, 0 unmonitored]\n"
)


def test_a_lookup_lists_every_answer_with_who_gave_it_and_the_best_is_the_lowest_weight() -> None:
    result = probes.parse_lookup("555000123", "network1", LOOKUP, 100.0)
    assert [(a.eid, a.weight, a.host) for a in result.answers] == [
        ("02:00:00:00:00:04", 0, "10.77.243.13"),
        ("02:00:00:00:00:05", 90, "10.77.243.14"),
    ]
    assert result.best is not None and result.best.eid == "02:00:00:00:00:04"
    assert result.answers[0].flags == ("EXISTS", "CANMATCH")
    assert result.asterisk_ms == 19


def test_no_results_is_not_found() -> None:
    text = "DUNDi lookup returned no results.\nDUNDi lookup completed in 944 ms\n"
    result = probes.parse_lookup("1", "network1", text, 1000.0)
    assert not result.found and result.best is None and result.asterisk_ms == 944


def test_peer_states_keep_the_latency_even_where_asterisk_cuts_the_column() -> None:
    peers = probes.parse_peers(PEERS)
    assert peers["02:00:00:00:00:02"].ok and peers["02:00:00:00:00:02"].latency_ms == 6
    assert peers["02:00:00:00:00:03"].status.startswith("LAGGED")
    assert peers["02:00:00:00:00:03"].latency_ms == 2025
    assert not peers["02:00:00:00:00:04"].ok and peers["02:00:00:00:00:04"].latency_ms is None


@pytest.mark.parametrize(
    ("status", "usable", "settled"),
    [
        ("OK (1 ms)", True, True),
        ("UNKNOWN", True, False),  # not probed yet: pbx_dundi still sends queries over it
        ("Unmonitored", True, True),  # qualify=no: never probed
        ("UNREACHABLE", False, False),
        ("LAGGED (2100 ms)", False, False),
        ("ABSENT", False, False),  # not in `dundi show peers` at all
    ],
)
def test_a_link_is_ready_when_pbx_dundi_would_use_it(
    status: str, usable: bool, settled: bool
) -> None:
    link = LinkState(node="a", peer="b", status=status, latency_ms=None, mutual=True)
    assert link.usable is usable
    assert link.ready(settled=False) is usable
    assert link.ready(settled=True) is settled


@pytest.mark.parametrize(
    "number",
    [
        "555000123'; touch pwned; echo '",
        "",
        "55500012a",
        "５５５",
        "1" * 25,
        " 555000123",
        "555 000",
    ],
    ids=["shell", "empty", "letter", "fullwidth-digits", "too-long", "leading-space", "space"],
)
def test_a_number_that_is_not_digits_is_refused_before_any_command_is_built(number: str) -> None:
    with pytest.raises(LabError):
        probes.check_number(number)
    with pytest.raises(LabError):
        probes.originate("1", 0, number, "network1")
    with pytest.raises(LabError):
        probes.show_lookup(number, "network1")


def test_numbers_of_up_to_24_digits_are_accepted() -> None:
    assert probes.check_number("1" * 24) == "1" * 24
    assert probes.originate("7", 3, "555000123", "network1") == (
        "channel originate Local/7*3*555000123@lab-call-network1 extension s@lab-checker"
    )


@pytest.mark.parametrize(
    "output",
    [
        "",  # the reply never came
        "  1.     0 IAX2/dundi:x@10.0.0.1/555000123 (EXISTS)\n",  # cut before its 'from' line
        LOOKUP.replace("DUNDi lookup completed in 19 ms\n", ""),  # cut before the end
    ],
    ids=["empty", "cut-after-an-answer", "no-completed-line"],
)
def test_a_lookup_reply_that_cannot_be_read_is_an_error_not_not_found(output: str) -> None:
    with pytest.raises(probes.Unreadable):
        probes.parse_lookup("555000123", "network1", output, 1.0)


def test_a_peer_list_cut_short_is_an_error_not_an_empty_list() -> None:
    with pytest.raises(probes.Unreadable):
        probes.parse_peers(PEERS.rsplit("3 dundi peers", 1)[0])
    assert (
        probes.parse_peers("EID  Host\n0 dundi peers [0 online, 0 offline, 0 unmonitored]\n") == {}
    )
