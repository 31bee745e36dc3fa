"""A repro bundle carries no private key or secret, and recreates a lab that passes again."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab import scenario
from lab.cli.commands import main
from lab.core.pipeline import start
from lab.core.running import Lab
from tests.support import ROOT, unique

pytestmark = pytest.mark.docker


def test_bundle_then_up_from_bundle_reproduces_a_passing_lab(tmp_path: Path) -> None:
    original = start(ROOT / "scenarios/seed-chain.yaml", name=unique("bundle"), root=tmp_path)
    try:
        assert original.call("a", "555000123").answered
        secret = original.cli("d", "database get dundi secret").split("Value:")[-1].strip()
        assert len(secret) > 8
        archive = tmp_path / "repro.tar.gz"
        made = CliRunner().invoke(
            main,
            ["bundle", "--name", original.name, "--out", str(archive)],
            env={"DUNDI_LAB_HOME": str(tmp_path)},
        )
        assert made.exit_code == 0, made.output
        assert "no private keys" in made.output
    finally:
        original.down()

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        contents = {}
        for n in names:
            member = tar.extractfile(n)
            if member is not None:
                contents[n] = member.read().decode()
    assert "topology/seed-chain.yaml" in names
    assert {f"nodes/{n}/dundi-show-peers.txt" for n in "abcd"} <= set(names)
    assert "nodes/d/dundi-show-cache.txt" in names and "nodes/a/iax2-show-peers.txt" in names
    assert "nodes/a/keys/a.pub" in names and "nodes/a/keys/b.pub" in names
    assert not [n for n in names if n.endswith(".key")]
    assert not [n for n, text in contents.items() if "PRIVATE KEY" in text]
    assert not [n for n, text in contents.items() if secret.split(";")[-1] in text]
    assert any("IAX2/dundi:<secret>@" in text for text in contents.values())

    again = unique("rebundled")
    result = CliRunner().invoke(main, ["up", "--bundle", str(archive), "--name", again])
    assert result.exit_code == 0, result.output
    lab = Lab.attach(again)
    try:
        lab.wait_ready(wait_links=True)  # as scenarios start: every link probed (its last step)
        replayed = scenario.load(lab.paths.topology_file, name=again)
        results = scenario.run(replayed, lab)
        assert all(r.ok for r in results), [r.seen for r in results if not r.ok]
        assert len(results) == len(replayed.steps)
    finally:
        lab.down()
