"""`lab partition`, `lab impair` and `lab heal` on a running pair: the rules land in the
receiving node's packet filter, a refused packet comes back as ICMP, heal leaves nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from lab.cli.commands import main
from lab.core.pipeline import start
from lab.core.running import Lab
from tests.support import ROOT, unique

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = start(
        ROOT / "tests/scenarios/data/pair.yaml",
        name=unique("faultcli"),
        root=tmp_path_factory.mktemp("faultcli"),
    )
    try:
        yield lab
    finally:
        lab.down()


def lab_cmd(lab: Lab, *argv: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*argv, "--name", lab.name])
    return result.exit_code, result.output


def rules(lab: Lab, node: str) -> list[str]:
    listing = lab.exec(node, ["iptables", "-S", "INPUT"]).output.splitlines()
    return [line for line in listing if "dundi-lab:" in line]


def unreachables(lab: Lab, node: str) -> int:
    """ICMP destination-unreachable messages `node`'s kernel has received."""
    lines = [ln.split() for ln in lab.exec(node, ["cat", "/proc/net/snmp"]).output.splitlines()]
    names, values = [ln for ln in lines if ln and ln[0] == "Icmp:"][:2]
    return int(values[names.index("InDestUnreachs")])


def test_a_refused_one_way_cut_answers_with_icmp_and_heal_removes_it(pair: Lab) -> None:
    code, out = lab_cmd(pair, "partition", "a", "b", "--only", "dundi", "--oneway", "--reject")
    assert code == 0, out
    assert "cut a->b (dundi only) (refused)" in out
    assert rules(pair, "a") == []  # one way: only b, the receiver, holds a rule
    (rule,) = rules(pair, "b")
    assert "--dport 4520" in rule and "REJECT" in rule
    before = unreachables(pair, "a")
    found = pair.lookup("200000001", "network1", from_node="a", bypass=True)
    assert not found.found
    assert unreachables(pair, "a") > before  # refused, not dropped: ICMP came back

    code, out = lab_cmd(pair, "heal", "a", "b")
    assert code == 0, out
    assert rules(pair, "a") == rules(pair, "b") == []
    assert pair.lookup("200000001", "network1", from_node="a", bypass=True).found


def test_a_silent_drop_sends_nothing_back(pair: Lab) -> None:
    lab_cmd(pair, "partition", "a", "b", "--only", "dundi")
    try:
        assert len(rules(pair, "a")) == len(rules(pair, "b")) == 1
        before = unreachables(pair, "a")
        assert not pair.lookup("200000001", "network1", from_node="a", bypass=True).found
        assert unreachables(pair, "a") == before
    finally:
        lab_cmd(pair, "heal", "a", "b")
    assert rules(pair, "a") == rules(pair, "b") == []


def test_loss_is_a_random_rule_and_heal_narrowed_to_a_kind_keeps_the_other(pair: Lab) -> None:
    code, out = lab_cmd(pair, "impair", "a", "b", "--loss", "25", "--only", "iax2")
    assert code == 0 and "25% loss on a-b (iax2 only)" in out, out
    lab_cmd(pair, "partition", "a", "b", "--only", "dundi")
    (loss, cut) = rules(pair, "b")
    assert "--probability 0.25" in loss and "--dport 4569" in loss
    assert "--dport 4520" in cut
    lab_cmd(pair, "heal", "a", "b", "--only", "iax2")
    assert [("4520" in r) for r in rules(pair, "b")] == [True]
    lab_cmd(pair, "heal", "a", "b")
    assert rules(pair, "a") == rules(pair, "b") == []


def test_bad_fault_input_is_one_line_and_changes_nothing(pair: Lab) -> None:
    code, out = lab_cmd(pair, "partition", "a", "zz")
    assert code != 0
    assert out.strip() == f"error: no node 'zz' in lab '{pair.name}' (known: a, b)"
    code, out = lab_cmd(pair, "impair", "a", "b")
    assert code != 0 and "--loss PCT and/or --delay MS" in out
    code, out = lab_cmd(pair, "impair", "a", "b", "--delay", "20")
    if code != 0:  # a kernel without netem (this machine's): its own reason, one line
        assert out.strip().startswith("error: cannot delay a→b: ")
        assert len(out.strip().splitlines()) == 1
    lab_cmd(pair, "heal", "a", "b")
    assert "qdisc prio" not in pair.exec("a", ["tc", "qdisc", "show", "dev", "eth0"]).output
    assert rules(pair, "a") == rules(pair, "b") == []
