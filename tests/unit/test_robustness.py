"""Careless and hostile input: every bad value is a clear one-line error, never a traceback,
never markup, never a shell; labs of any size get addresses and entity IDs that fit."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import lab
from lab import lint, topology
from lab.asterisk import node, render
from lab.cli.commands import main
from lab.errors import TopologyError
from lab.paths import LabPaths
from lab.runtime import protocol
from lab.topology import Topology, generate
from lab.topology.model import default_eid, default_subnet, prefix_for
from tests.support import unique
from tests.unit.conftest import ROOT
from tests.unit.fake_backend import FakeBackend

ERRORS = ROOT / "tests/unit/errors"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


# ---- errors are plain text, one line each, naming file, line and path ------------------


def test_brackets_in_user_text_print_as_written_not_as_markup() -> None:
    code, output = run("validate", str(ERRORS / "markup-in-names.yaml"))
    assert code == 1
    assert "unknown key '[/x]'" in output
    assert "unknown node '[bold red]b' (known: a, b)" in output
    assert "'e.g. [network1]' is not a dialplan pattern" in output
    assert all(line.startswith("error: ") for line in output.splitlines())
    assert "Traceback" not in output


def test_a_bad_subnet_or_name_on_the_command_line_is_blamed_on_the_option() -> None:
    seed = str(ROOT / "scenarios/seed-chain.yaml")
    code, output = run("up", seed, "--subnet", "300.1.1.0/24")
    assert code == 1
    assert (
        output.strip() == "error: --subnet: '300.1.1.0/24' is not an IPv4 subnet like 10.77.5.0/24"
    )
    code, output = run("up", seed, "--name", "Bad Name")
    assert code == 1
    assert output.strip().startswith("error: --name: lab name 'Bad Name' must be lowercase")


@pytest.mark.parametrize(
    "number",
    ["555000123'; touch pwned; echo '", "abc", "", "1" * 200],
    ids=["shell", "letters", "empty", "200-digits"],
)
def test_a_scenario_step_with_a_number_that_is_not_digits_is_refused_at_load(
    tmp_path: Path, number: str
) -> None:
    from lab import scenario

    path = tmp_path / "s.yaml"
    path.write_text(
        "networks: [n1]\nnodes: {a: {serves: {n1: [_1XXXXXXXX]}}}\n"
        f"steps:\n  - call: {number!r}\n    from: a\n"
    )
    with pytest.raises(TopologyError, match=r"s.yaml:4 steps\[0\]\.call: .* must be a number"):
        scenario.load(path)


def test_ctrl_c_that_python_turns_into_another_error_ends_quietly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(*_: object, **__: object) -> Topology:
        try:  # Ctrl-C inside threading's lock dance (a pool's submit) comes out like this
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("release unlocked lock") from None

    monkeypatch.setattr(topology, "load", interrupted)
    assert run("validate", str(ROOT / "scenarios/seed-chain.yaml")) == (130, "interrupted\n")


def test_the_lab_command_imports_nothing_slow_before_it_can_catch_ctrl_c() -> None:
    # the `lab` script runs `from lab.cli import entry`; entry catches Ctrl-C from then on
    slow = ("importlib.metadata", "click")
    check = f"import sys, lab.cli; print([m for m in {slow!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
    assert run("--version")[1] == f"dundi-lab, version {lab.__version__}\n"


def test_lab_up_names_each_lint_error_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUNDI_LAB_HOME", str(tmp_path))
    monkeypatch.setitem(protocol._BACKENDS, "docker", lambda: FakeBackend())
    seed, name = str(ROOT / "scenarios/seed-chain.yaml"), unique("lint-once")
    assert run("render", seed, "--name", name)[0] == 0
    (tmp_path / name / "nodes/a/keys/a.key").chmod(0o640)  # someone's copy
    code, output = run("up", seed, "--name", name)
    assert code == 1
    assert output.count("error DL105") == 1, output
    assert "error: lab lint: 1 error in the files the lab would mount" in output


# ---- members' files that are not UTF-8 ------------------------------------------------


def latin1_member(tmp_path: Path) -> Path:
    """The seed notes' member, with a Latin-1 `é` in a comment and in a value."""
    folder = tmp_path / "members" / "latin1"
    shutil.copytree(ROOT / "scenarios/members/seed-notes", folder)
    conf = folder / "dundi.conf"
    text = conf.read_bytes().replace(b"locality=New York", b"locality=Montr\xe9al ; caf\xe9")
    assert b"\xe9" in text
    conf.write_bytes(text)
    return folder


def test_a_member_file_that_is_not_utf8_is_imported_byte_for_byte(tmp_path: Path) -> None:
    latin1_member(tmp_path)
    (tmp_path / "lab.yaml").write_text(
        "networks: [network1]\nnodes:\n  c: {peers: [d], serves: {network1: [_310XXXXXX]}}\n"
        "  d:\n    import:\n      dir: members/latin1\n"
        '      peers: {"00:00:00:00:00:00": c}\n'
    )
    lab = topology.load(tmp_path / "lab.yaml")
    rendered = render.render_lab(lab, LabPaths.of(lab.name, tmp_path / "build"))
    rendered.write()
    written = (rendered.paths.etc("d") / "dundi.conf").read_bytes()
    assert b"locality=Montr\xe9al ; caf\xe9" in written  # what Asterisk reads: the same bytes


def test_lint_reads_a_member_folder_that_is_not_utf8(tmp_path: Path) -> None:
    folder = latin1_member(tmp_path)
    findings = lint.lint_dir(folder)
    assert "DL002" not in {f.code for f in findings}  # not "missing or empty"
    assert "DL401" in {f.code for f in findings}  # the seed notes' real mistakes are found
    code, output = run("import", str(folder))
    assert code == 0, output
    assert "00:00:00:00:00:00" in output


# ---- sizes -------------------------------------------------------------------------------


def test_entity_ids_go_on_past_255_nodes() -> None:
    assert default_eid(0) == "02:00:00:00:00:01"
    assert default_eid(254) == "02:00:00:00:00:ff"
    assert default_eid(255) == "02:00:00:00:01:00"
    assert default_eid(9999) == "02:00:00:00:27:10"


@pytest.mark.parametrize(
    ("count", "prefix"), [(1, 24), (244, 24), (245, 23), (500, 23), (501, 22), (10000, 18)]
)
def test_a_lab_gets_a_subnet_large_enough_for_its_nodes(count: int, prefix: int) -> None:
    assert prefix_for(count) == prefix
    net = ipaddress.IPv4Network(default_subnet("big", count))
    assert net.prefixlen == prefix and net.subnet_of(ipaddress.IPv4Network("10.77.0.0/16"))


def test_a_generated_ring_of_ten_thousand_nodes_is_a_valid_topology() -> None:
    lab = topology.parse(generate.ring_with_chords(10000), "ring.yaml")
    assert len(lab.nodes) == 10000
    assert len({n.eid for n in lab.nodes}) == len({n.ip for n in lab.nodes}) == 10000
    assert lab.number_length == 11
    assert lab.node("n10000").serves[0].patterns == ("_19999XXXXXX",)


def test_a_generated_ring_of_up_to_900_nodes_keeps_nine_digit_numbers() -> None:
    lab = topology.parse(generate.ring_with_chords(900), "ring.yaml")
    assert lab.number_length == 9
    assert lab.node("n900").serves[0].patterns == ("_999XXXXXX",)


# ---- what a node's file says is what the topology said -----------------------------------


def test_a_nodes_own_ttl_and_cachetime_reach_its_dundi_conf() -> None:
    lab = topology.parse(
        "networks: [n1]\ndefaults: {ttl: 9, cachetime: 30}\n"
        "nodes:\n  a: {ttl: 3, cachetime: 700, peers: [b]}\n  b: {}\n",
        "lab.yaml",
    )
    text_a = render.render_node(lab, lab.node("a"))[0]["dundi.conf"]
    text_b = render.render_node(lab, lab.node("b"))[0]["dundi.conf"]
    assert "\nttl = 3\n" in text_a and "\ncachetime = 700\n" in text_a
    assert "\nttl = 9\n" in text_b and "\ncachetime = 30\n" in text_b


def test_include_all_is_every_network() -> None:
    lab: Topology = topology.parse(
        "networks: [n1, n2]\nnodes:\n  a: {peers: [{node: b, include: [all]}]}\n  b: {}\n",
        "lab.yaml",
    )
    assert lab.node("a").peers[0].include == ("n1", "n2")


def test_a_node_waits_at_the_barrier_no_longer_than_120_seconds() -> None:
    script = node._COMMAND[-1]
    assert f"[ -e {node.ETC}/{node.HOLD_FILE} ]" in script and "-lt 2400" in script
    assert script.endswith("exec asterisk -f")  # then Asterisk starts, even if no one releases it


def test_a_trailing_line_break_is_not_part_of_a_valid_name(tmp_path: Path) -> None:
    """Python's `$` also matches before a final newline: every name check must not."""
    result = CliRunner().invoke(main, ["up", "scenarios/seed-chain.yaml", "--name", "x\n"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: --name: lab name 'x\\x0a' must be lowercase letters, digits and '-', "
        "at most 40 characters"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text('networks: ["n\\n"]\nnodes:\n  a: {}\n? "0\\n  "\n: null\n')
    result = CliRunner().invoke(main, ["validate", str(bad)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and all(
        line.startswith("error: ") or line.startswith(str(bad)) for line in lines
    )
    assert any("network name 'n\\x0a'" in line for line in lines), lines
    assert any("['0\\x0a  ']: unknown key" in line for line in lines), lines
