"""The seed's chain A–B–C–D: a lookup crosses three hops and a real IAX2 call lands on D."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner

from lab.cli.commands import main
from lab.core.running import Lab
from lab.core.verdict import judge_call
from lab.errors import LabError

pytestmark = pytest.mark.docker

D_NUMBER = "555000123"


@pytest.fixture(scope="module")
def lab(running_lab: Callable[..., object]) -> Iterator[Lab]:
    with running_lab("scenarios/seed-chain.yaml", "seed") as started:  # type: ignore[attr-defined]
        yield started


def test_every_peer_link_is_usable_once_up_and_ok_after_the_first_probe(lab: Lab) -> None:
    links = [link for state in lab.status() for link in state.links]
    assert len(links) == 6
    assert all(link.usable for link in links), links

    lab.wait_ready(30, wait_links=True)  # pbx_dundi probes each peer 5 s after loading

    links = [link for state in lab.status() for link in state.links]
    assert all(link.ok for link in links), links


def test_lookup_from_a_finds_d_through_three_hops(lab: Lab) -> None:
    result = lab.lookup(D_NUMBER, "network1", from_node="a", bypass=True)
    d = lab.topology.node("d")
    assert result.found, result.raw
    assert [answer.eid for answer in result.answers] == [d.eid]
    assert result.best is not None and result.best.host == d.ip
    assert result.best.number == D_NUMBER
    # a only peers with b: the answer can only have come through b and c
    assert [p.peer for p in lab.topology.node("a").peers] == ["b"]


def test_call_from_a_is_answered_by_d_with_media_verified(lab: Lab) -> None:
    result = lab.call("a", D_NUMBER)
    d = lab.topology.node("d")
    assert result.answered, result
    assert result.host == d.ip
    # d's recording: its place, extension, caller seen and code; and voice both ways
    assert result.answered_by == "d" and result.callee_code == d.code
    assert result.callee_extension == D_NUMBER[-4:]
    assert result.callee_saw_caller == result.caller
    assert result.caller.startswith("034")
    assert result.setup_ms is not None and result.setup_ms > 0
    verdict = judge_call(lab.topology, result)
    assert verdict.verified, verdict.failed()
    assert result.caller_heard and result.caller_heard.code == 4  # d's tones reached a
    assert result.callee_heard and result.callee_heard.code == 1  # a's tones reached d
    assert result.codec == "ulaw"


def test_call_from_d_reaches_a_the_other_way(lab: Lab) -> None:
    result = lab.call("d", "034000777")
    assert result.answered, result
    assert result.callee_code == lab.topology.node("a").code
    assert result.callee_extension == "0777"


def test_number_nobody_serves_is_not_found_quickly_with_a_clear_result(lab: Lab) -> None:
    lookup = lab.lookup("999000123", "network1", from_node="a", bypass=True)
    assert not lookup.found
    assert "no results" in lookup.raw
    call = lab.call("a", "999000123")
    assert not call.answered
    assert call.status == "NOT_FOUND"
    assert call.answered_by is None and call.caller_heard is None
    assert lookup.wall_ms < 5000


def test_number_of_wrong_length_has_no_dial_pattern(lab: Lab) -> None:
    call = lab.call("a", "55500012")
    assert not call.answered
    assert call.status == "NO_DIAL_PATTERN"


def test_twenty_simultaneous_calls_from_a_are_all_answered_by_d_with_media_verified(
    lab: Lab,
) -> None:
    numbers = [f"555{i:06d}" for i in range(100, 120)]
    results = lab.calls("a", numbers)
    d = lab.topology.node("d")
    assert [r.number for r in results] == numbers
    for result in results:
        assert result.answered, result
        assert result.callee_code == d.code
        assert result.callee_extension == result.number[-4:]
        assert result.callee_saw_caller == result.caller
        assert judge_call(lab.topology, result).verified, result
    spans = [r.span for r in results if r.span]
    assert len(spans) == len(results)
    assert max(s for s, _ in spans) < min(e for _, e in spans), "not all up at the same time"


def test_unknown_nodes_networks_and_commands_are_clear_errors(lab: Lab) -> None:
    with pytest.raises(LabError, match=r"no network 'nonet' in lab .* \(known: network1\)"):
        lab.lookup(D_NUMBER, "nonet", from_node="a")
    with pytest.raises(LabError, match=r"no node 'z' in lab .* \(known: a, b, c, d\)"):
        lab.call("z", D_NUMBER)
    with pytest.raises(LabError, match="refused 'bogus command'"):
        lab.cli("a", "bogus command")


def run_cli(lab: Lab, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    """`lab ARGS --name <this lab>` as a user types it; (exit code, stdout + stderr)."""
    monkeypatch.setenv("DUNDI_LAB_HOME", str(lab.paths.root.parent))
    result = CliRunner().invoke(main, [*args, "--name", lab.name])
    return result.exit_code, result.output


def test_a_number_with_shell_text_is_refused_and_runs_nothing_on_the_node(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = "555000123'; touch /tmp/pwned; echo '"
    code, output = run_cli(lab, monkeypatch, "call", "--from", "a", hostile)
    assert code == 1
    assert output.startswith("error: ") and "not a number" in output, output
    with pytest.raises(LabError, match="not a number"):
        lab.call("a", hostile)
    with pytest.raises(LabError, match="not a number"):
        lab.lookup("555$(touch /tmp/pwned)", from_node="a")
    assert lab.exec("a", ["test", "-e", "/tmp/pwned"]).code == 1, "a file was made inside a"


def test_logs_cli_output_and_lookups_mask_the_dundi_secret_unless_raw(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lab.call("a", D_NUMBER).answered
    secret = lab.cli("d", "database get dundi secret").split(":", 1)[1].strip()
    assert len(secret) >= 24, secret
    for args in (
        ("logs", "--all"),
        ("logs", "a"),
        ("cli", "d", "database show dundi"),
        ("lookup", f"{D_NUMBER}@network1", "--from", "a"),
    ):
        code, output = run_cli(lab, monkeypatch, *args)
        assert code == 0, output
        assert "<secret>" in output, (args, output)
        assert secret.split(";")[-1] not in output, args
    code, output = run_cli(lab, monkeypatch, "cli", "d", "database show dundi", "--raw")
    assert secret.split(";")[-1] in output
