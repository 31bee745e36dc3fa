"""Fault rules: what `partition`, `impair` and `heal` put into the nodes' packet filters,
and how scenario files name them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import scenario
from lab.asterisk.probes import Answer, LookupResult
from lab.core import faults
from lab.errors import TopologyError
from lab.scenario.kinds import Heal, Impair, Lookup, Partition


def test_a_cut_is_the_receivers_rule_both_ways_unless_one_way() -> None:
    both = faults.cuts("a", "c")
    assert [(c.sender, c.receiver) for c in both] == [("a", "c"), ("c", "a")]
    one = faults.cuts("c", "a", oneway=True)
    assert [(c.sender, c.receiver) for c in one] == [("c", "a")]


def test_rules_match_the_peer_the_port_and_drop_refuse_or_lose() -> None:
    drop = faults.Cut("a", "c", only="dundi").rule("10.0.0.2")
    assert drop == [
        *["-s", "10.0.0.2/32", "-p", "udp", "--dport", "4520"],
        *["-m", "comment", "--comment", "dundi-lab:a>c:dundi:drop", "-j", "DROP"],
    ]
    refuse = faults.Cut("a", "c", reject=True).rule("10.0.0.2")
    assert "--dport" not in refuse
    assert refuse[-4:] == ["-j", "REJECT", "--reject-with", "icmp-port-unreachable"]
    lose = faults.Cut("a", "c", only="iax2", loss_pct=20).rule("10.0.0.2")
    assert "4569" in lose
    assert lose[lose.index("--probability") + 1] == "0.2000"
    assert "dundi-lab:a>c:iax2:loss20" in lose


# what `iptables -S INPUT` (nft backend) prints with the lab's rules and one of the member's
LISTING = """-P INPUT ACCEPT
-A INPUT -s 10.0.0.2/32 -p udp -m udp --dport 4520 -m comment --comment "dundi-lab:a>c:dundi:drop" -j DROP
-A INPUT -s 10.0.0.4/32 -m comment --comment "dundi-lab:d>c:all:drop" -j DROP
-A INPUT -s 10.0.0.2/32 -m comment --comment "dundi-lab:a>c:all:reject" -j REJECT --reject-with icmp-port-unreachable
-A INPUT -s 10.0.0.9/32 -m comment --comment "members own rule" -j DROP
-A INPUT -s 10.0.0.8/32 -m comment --comment "a member rule with an unclosed quote -j DROP
"""  # noqa: E501


def test_heal_removes_the_lab_rules_of_the_pair_and_nothing_else() -> None:
    found = faults.ours(LISTING, "a", "c", only=None, oneway=False)
    assert [argv[0] for argv in found] == ["-D", "-D"]
    assert [argv[argv.index("--comment") + 1] for argv in found] == [
        "dundi-lab:a>c:dundi:drop",
        "dundi-lab:a>c:all:reject",
    ]
    dundi_only = faults.ours(LISTING, "a", "c", only="dundi", oneway=False)
    assert len(dundi_only) == 1
    # one way names the sender: c->a heals only what c sends, none of these
    assert faults.ours(LISTING, "c", "a", only=None, oneway=True) == []
    assert len(faults.ours(LISTING, "a", "c", only=None, oneway=True)) == 2


def _steps(tmp_path: Path, steps: str) -> list[object]:
    path = tmp_path / "s.yaml"
    path.write_text("networks: [n1]\nnodes: {a: {peers: [pbx-c]}, pbx-c: {}}\nsteps:\n" + steps)
    return list(scenario.load(path).steps)


def test_scenario_fault_steps_name_the_path_kind_and_way(tmp_path: Path) -> None:
    steps = _steps(
        tmp_path,
        "  - partition: pbx-c->a\n    only: dundi\n    reject: yes\n"
        "  - heal: [a, pbx-c]\n"
        "  - impair: a->pbx-c\n    loss_pct: 20\n    only: iax2\n",
    )
    partition, heal, impair = steps
    assert isinstance(partition, Partition)
    assert (partition.first, partition.second, partition.oneway) == ("pbx-c", "a", True)
    assert partition.only == "dundi" and partition.reject
    assert partition.describe() == "partition pbx-c->a (dundi only) refused"
    assert isinstance(heal, Heal) and not heal.oneway and heal.only is None
    assert isinstance(impair, Impair) and impair.loss_pct == 20 and impair.only == "iax2"
    assert impair.describe() == "impair a->pbx-c (iax2 only) loss 20%"


def test_delay_and_jitter_are_read_for_netem(tmp_path: Path) -> None:
    (impair,) = _steps(tmp_path, "  - impair: [a, pbx-c]\n    delay_ms: 80\n    jitter_ms: 20\n")
    assert isinstance(impair, Impair) and (impair.delay_ms, impair.jitter_ms) == (80, 20)
    assert impair.describe() == "impair a-pbx-c delay 80 ms jitter 20 ms"


def test_a_bad_kind_of_traffic_is_named_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(TopologyError) as raised:
        _steps(tmp_path, "  - partition: a-pbx-c\n    only: sip\n")
    text = str(raised.value)
    assert "s.yaml:4 steps[0].partition: name two nodes" in text
    assert "s.yaml:5 steps[0].only: 'sip' is not a kind of traffic (valid: dundi, iax2)" in text


class _Flaky:
    """A lab whose lookups find nothing every third time (as a lossy hop does)."""

    def __init__(self) -> None:
        self.asked = 0

    def lookup(self, number: str, network: str, **_: object) -> LookupResult:
        self.asked += 1
        lost = self.asked % 3 == 0
        answer = Answer(0, "IAX2", "dundi:x@10.0.0.2/1", ("EXISTS",), "02:00:00:00:00:02", 60)
        return LookupResult(number, network, () if lost else (answer,), 7, 9.0, "")

    def node_for(self, host_or_eid: str) -> None:
        return None


def test_a_repeated_lookup_holds_when_enough_of_its_runs_hold(tmp_path: Path) -> None:
    strict, lenient = _steps(
        tmp_path,
        "  - lookup: 200@n1\n    from: a\n    repeat: 9\n"
        "  - lookup: 200@n1\n    from: a\n    repeat: 9\n    at_least: 6\n",
    )
    assert isinstance(strict, Lookup) and isinstance(lenient, Lookup)
    failed = strict.run(_Flaky())  # type: ignore[arg-type]
    assert not failed.ok
    assert failed.seen.startswith("6/9 held; Asterisk's times 7–7 ms")
    assert failed.expected.startswith("9 of 9 to hold")
    held = lenient.run(_Flaky())  # type: ignore[arg-type]
    assert held.ok and held.seen.startswith("6/9 held")
    assert lenient.describe() == "lookup 200@n1 from a ×9 (≥ 6 must hold)"


def test_at_least_cannot_ask_more_than_the_repeats(tmp_path: Path) -> None:
    with pytest.raises(TopologyError) as raised:
        _steps(tmp_path, "  - lookup: 200@n1\n    from: a\n    repeat: 5\n    at_least: 6\n")
    assert "steps[0].at_least: must be a number from 1 to 5, not '6'" in str(raised.value)
