"""The scenario checks bite: break the behaviour a scenario names and it fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab import scenario
from lab.core.pipeline import up
from tests.support import ROOT, unique

pytestmark = pytest.mark.docker

SEED = ROOT / "scenarios/seed-chain.yaml"


def broken_seed(tmp_path: Path, old: str, new: str, extra: str = "") -> scenario.Scenario:
    """The seed-chain scenario with one line of its topology changed (and `extra` keys)."""
    text = SEED.read_text()
    assert old in text
    path = tmp_path / "seed-chain.yaml"
    path.write_text(text.replace(old, new, 1) + extra)
    return scenario.load(path)


@pytest.mark.parametrize(
    ("c_peers", "extra", "prefix"),
    [
        ("", "", "bite-edge"),
        # lint names the wrong key (DL106) and would stop the lab: let it through to show
        # that the running network refuses it too
        ("    peers: [{node: d, inkey: b}]\n", "lint: {allow: [DL106]}\n", "bite-key"),
    ],
    ids=["without-the-trust-edge-c-d", "when-c-expects-the-wrong-key-for-d"],
)
def test_the_seed_chain_fails_at_its_first_lookup(
    tmp_path: Path, c_peers: str, extra: str, prefix: str
) -> None:
    broken = broken_seed(tmp_path, "    peers: [d]\n", c_peers, extra)
    outcome = scenario.execute(broken, lab_name=unique(prefix), root=tmp_path)
    assert not outcome.passed
    failed = next(r for r in outcome.results if not r.ok)
    assert failed.step.key == "lookup"
    assert failed.seen.startswith("not found")


def test_the_seed_chain_fails_when_transit_node_b_loses_its_mapping(tmp_path: Path) -> None:
    loaded = scenario.load(SEED)
    with up(loaded.topology.renamed(unique("bite-mapping")), root=tmp_path) as lab:
        conf = lab.paths.etc("b") / "dundi.conf"
        text = conf.read_text()
        assert re.search(r"^network1 => ", text, re.MULTILINE)
        conf.write_text(re.sub(r"^network1 => .*\n", "", text, flags=re.MULTILINE))
        lab.cli("b", "module reload pbx_dundi.so")
        results = scenario.run(loaded, lab)
    assert not results[-1].ok
    assert results[-1].step.key == "lookup"
    assert results[-1].seen.startswith("not found")


@pytest.mark.parametrize(
    ("node", "where", "replace", "failing"),
    [
        # the callee answers but plays nothing: the caller hears silence
        ("d", ("_XXXX", "internal", 1), "NoOp()", "voice to caller"),
        # the callee plays another node's tones (c's, code 3): the wrong voice came back
        ("d", ("_XXXX", "internal", 1), "Playtones(400+1900)", "voice to caller"),
        # the caller says nothing once answered: the callee hears silence
        ("a", ("s", "lab-checker", 5), "NoOp()", "voice to callee"),
    ],
    ids=["callee-silent", "callee-plays-c", "caller-silent"],
)
def test_a_call_without_the_right_voice_both_ways_is_not_verified(
    tmp_path: Path, node: str, where: tuple[str, str, int], replace: str, failing: str
) -> None:
    """Real Asterisk, one side's dialplan changed at run time: the call is answered by the
    right node, and fails exactly the check of what the other side heard."""
    from lab.core.verdict import judge_call

    exten, context, priority = where
    loaded = scenario.load(SEED)
    with up(loaded.topology.renamed(unique("bite-voice")), root=tmp_path) as lab:
        good = judge_call(lab.topology, lab.call("a", "555000123"))
        assert good.verified, good.failed()
        lab.cli(node, f"dialplan remove extension {exten}@{context} {priority}")
        lab.cli(node, f"dialplan add extension {exten},{priority},{replace} into {context}")
        judged = judge_call(lab.topology, lab.call("a", "555000123"))
    assert judged.answered and judged.identity_of("d")
    assert [c.name for c in judged.failed()] == [failing], judged.failed()
