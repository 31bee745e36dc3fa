"""What `lab status`, `lab call`, `lab cli` and `lab node` say matches what is true, on a real
lab: a stopped or removed node's links are DOWN at once, a removed node comes back alone,
exit codes mean something, a lab is found from any folder, and one name gives one lab."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.cli.commands import main
from lab.core import pipeline
from lab.core.running import Lab
from lab.errors import LabError
from tests.support import ROOT, engine, nothing_left, unique

pytestmark = pytest.mark.docker

D_NUMBER = "555000123"


@pytest.fixture(scope="module")
def lab(running_lab: Callable[..., object]) -> Iterator[Lab]:
    with running_lab("scenarios/seed-chain.yaml", "truth", wait_links=True) as started:  # type: ignore[attr-defined]
        yield started


def cli(lab: Lab, *args: str, cwd: Path | None = None) -> tuple[int, str]:
    """`lab ARGS --name <lab>` as typed in a shell, from `cwd` (any folder)."""
    runner = CliRunner()
    with contextlib.chdir(cwd) if cwd else contextlib.nullcontext():
        result = runner.invoke(main, [*args, "--name", lab.name])
    return result.exit_code, result.output


def status(lab: Lab, cwd: Path) -> tuple[int, dict[str, object]]:
    code, output = cli(lab, "status", "--format", "json", cwd=cwd)
    return code, json.loads(output)


def test_a_lab_is_found_and_healthy_from_any_folder(lab: Lab, tmp_path: Path) -> None:
    code, shown = status(lab, tmp_path)  # not the folder the lab was started from
    assert code == 0, shown
    assert shown["links"] == {"ok": 6, "total": 6, "down": 0, "not_probed": 0}


def test_a_stopped_node_shows_down_links_at_once_and_status_exits_3(
    lab: Lab, tmp_path: Path
) -> None:
    engine().stop(lab.name, "c")  # as `docker stop` does, behind the lab's back
    try:
        code, shown = status(lab, tmp_path)
        assert code == 3
        nodes = {n["name"]: n for n in shown["nodes"]}  # type: ignore[attr-defined]
        assert nodes["c"]["state"] == "exited"
        b_links = {ln["peer"]: ln["status"] for ln in nodes["b"]["links"]}
        assert b_links["c"] == "DOWN" and b_links["a"].startswith("OK"), b_links
        assert shown["links"]["down"] == 4  # type: ignore[index]  # b→c, c→b, c→d, d→c
        code, output = cli(lab, "status", cwd=tmp_path)
        assert code == 3 and "4 down (c is exited)" in output
    finally:
        lab.start_node("c")


def test_a_removed_node_is_absent_and_comes_back_alone(lab: Lab, tmp_path: Path) -> None:
    engine().remove_node(lab.name, "d")  # as `docker rm -f` does
    code, shown = status(lab, tmp_path)
    nodes = {n["name"]: n for n in shown["nodes"]}  # type: ignore[attr-defined]
    assert code == 3 and nodes["d"]["state"] == "absent"
    code, output = cli(lab, "node", "recreate", "d", cwd=tmp_path)
    assert code == 0, output
    assert lab.lookup(D_NUMBER, from_node="a", bypass=True).found
    code, output = cli(lab, "call", "--from", "a", D_NUMBER)
    assert code == 0 and "verified: yes" in output, output


def test_lab_call_exits_1_when_the_call_is_not_answered(lab: Lab) -> None:
    code, output = cli(lab, "call", "--from", "a", "999000123")
    assert code == 1
    assert "not answered" in output and "NOT_FOUND" in output


def test_lab_cli_exits_1_when_asterisk_refuses_the_command(lab: Lab) -> None:
    for refused in ("bogus command", "dundi lookup"):  # unknown; its usage text
        code, output = cli(lab, "cli", "a", refused)
        assert code == 1 and output.startswith("error: asterisk on a refused"), output


def test_twenty_lookups_at_once_are_all_read_as_found(lab: Lab) -> None:
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(
            pool.map(lambda _: lab.lookup(D_NUMBER, from_node="a", bypass=True), range(20))
        )
    assert all(r.found and r.asterisk_ms is not None for r in results), [r.raw for r in results]


def test_two_ups_of_one_name_at_once_give_one_lab(tmp_path: Path) -> None:
    name = unique("race")
    outcomes: list[object] = []
    gate = threading.Barrier(2)

    def up() -> None:
        gate.wait()
        try:
            outcomes.append(
                pipeline.start(ROOT / "tests/scenarios/data/pair.yaml", name=name, root=tmp_path)
            )
        except LabError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=up) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        labs = [o for o in outcomes if isinstance(o, Lab)]
        errors = [str(o) for o in outcomes if isinstance(o, LabError)]
        assert len(labs) == 1 and len(errors) == 1, outcomes
        assert "being brought up" in errors[0] or "already up" in errors[0]
        assert engine().labs()[name].containers == 2
    finally:
        engine().remove_lab(name)
    assert nothing_left(name)


def test_status_and_down_of_a_lab_that_is_not_up_are_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    with contextlib.chdir(tmp_path):
        result = runner.invoke(main, ["status", "--name", "no-such-lab"])
        assert result.exit_code == 1 and "no lab named 'no-such-lab' is up" in result.output
        result = runner.invoke(main, ["down", "--name", "no-such-lab"])
        assert result.exit_code == 1 and "no lab named 'no-such-lab'" in result.output
