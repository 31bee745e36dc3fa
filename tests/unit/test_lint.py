"""`lab lint`: the .conf reader, and every check against a golden case that triggers it.

Each lint/<case>/ folder holds member folders (or one member's files) as `lab lint --dir`
reads them, a case.yaml and expected.txt: the findings, one per line, then the summary.
case.yaml may set `number_length`, `version`, and `keys`: the key files each member gets.
Git keeps no file modes and the repository holds no private keys, so the test writes them:

    keys:
      a: [a.key, b.pub]                          # a's private key, b's public key
      b:
        - {file: b.key, mode: "640", encrypted: yes}
        - {file: a.pub, pair: someone-else}      # the public half of another pair
        - {file: c.pub, bits: 2048}              # or `text: ...` for a file that is no key

`.` names the case folder itself. UPDATE_GOLDEN=1 rewrites expected.txt.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab import lint, scenario
from lab.asterisk.conf import dialplan, parse
from lab.core import pipeline
from lab.errors import LabError
from lab.paths import LabPaths
from lab.topology import Topology

CASES_DIR = Path(__file__).parent / "lint"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "case.yaml").is_file())
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
# Scenarios that reproduce a member's broken configs on purpose: lint must find errors there.

GoldenCheck = Callable[[Path, str], None]


# ---- the .conf reader -----------------------------------------------------------------------


def test_options_keep_their_file_and_line_and_how_they_were_written() -> None:
    conf = parse("[general]\n; a comment\nttl = 32 ; hops\nnetwork1 => ctx,0,IAX2,x\n", "d.conf")
    ttl, mapping = conf.sections[0].options
    assert (ttl.name, ttl.value, ttl.file, ttl.line, ttl.arrow) == ("ttl", "32", "d.conf", 3, False)
    assert (mapping.name, mapping.value, mapping.line, mapping.arrow) == (
        "network1",
        "ctx,0,IAX2,x",
        4,
        True,
    )


def test_comments_end_at_a_semicolon_unless_it_is_escaped_and_blocks_span_lines() -> None:
    conf = parse("[s]\na = 1\\;2 ; comment\n;-- b = 2\nc = 3 --;\nd = 4\n", "x.conf")
    assert [(o.name, o.value) for o in conf.sections[0].options] == [("a", "1;2"), ("d", "4")]


def test_a_template_is_skipped_when_browsing_and_its_options_come_first_in_heirs() -> None:
    text = "[base](!)\nmodel = symmetric\nqualify = yes\n[02:00:00:00:00:01](base)\nqualify = no\n"
    conf = parse(text, "dundi.conf")
    (peer,) = conf.browse()
    assert peer.inherits == ("base",)
    assert [(o.name, o.line) for o in peer.options] == [
        ("model", 2),
        ("qualify", 3),
        ("qualify", 5),
    ]
    assert peer.value("qualify") == "no"  # the last one wins, as in build_peer


def test_includes_are_noted_not_followed_and_lines_asterisk_rejects_are_kept() -> None:
    conf = parse('orphan = 1\n#include "more.conf"\n[s]\njust words\n[t](missing)\n', "e.conf")
    assert [(d.kind, d.target, d.line) for d in conf.includes] == [("include", "more.conf", 2)]
    assert [(s.line, s.reason, s.fatal) for s in conf.strays] == [
        (1, "an option before any [section]", True),  # Asterisk refuses such a file
        (4, "no '=' in this line", False),  # and skips such a line
        (5, "inherits 'missing', which is not defined above", True),
    ]


def test_same_lines_take_the_pattern_of_the_exten_line_before() -> None:
    text = "[ctx]\nexten => _420XXXXXX,1,Goto(internal,${EXTEN:-4},1)\n same => n,Hangup()\n"
    (goto, hangup) = dialplan(parse(text, "extensions.conf"))["ctx"]
    assert (goto.pattern, goto.priority, goto.app, goto.args, goto.line) == (
        "_420XXXXXX",
        "1",
        "Goto",
        ("internal", "${EXTEN:-4}", "1"),
        2,
    )
    assert (hangup.pattern, hangup.priority, hangup.app, hangup.line) == (
        "_420XXXXXX",
        "n",
        "Hangup",
        3,
    )


# ---- golden cases: one or more codes each ------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_lint_reports_the_case_as_in_its_expected_file(
    case: str, golden: GoldenCheck, tmp_path: Path
) -> None:
    folder, spec = materialize(case, tmp_path)
    findings = lint.lint_dir(
        folder, number_length=spec.get("number_length"), version=str(spec.get("version", "22"))
    )
    lines = [*lint.format_findings(findings, relative_to=folder), lint.summary(findings)]
    golden(CASES_DIR / case / "expected.txt", "\n".join(lines) + "\n")


def test_every_code_is_triggered_by_some_golden_case() -> None:
    expected = " ".join((CASES_DIR / c / "expected.txt").read_text() for c in CASES)
    assert set(lint.RULES) == set(re.findall(r" (DL\d{3}) ", expected))


def test_the_clean_pair_has_no_findings(tmp_path: Path) -> None:
    folder, _ = materialize("clean-pair", tmp_path)
    assert lint.lint_dir(folder) == []


def test_findings_never_show_what_is_in_a_key_file(tmp_path: Path) -> None:
    folder, _ = materialize("keys-bad", tmp_path)
    shown = "\n".join(lint.format_findings(lint.lint_dir(folder)))
    key_lines = {
        line
        for path in folder.rglob("keys/*")
        for line in path.read_text().splitlines()
        if len(line) > 20
    }
    assert key_lines
    assert not [line for line in key_lines if line in shown]


# ---- labs written by dundi-lab ------------------------------------------------------------------


@pytest.fixture
def seed_lab(seed_chain: Topology, tmp_path: Path) -> LabPaths:
    paths = LabPaths.of(seed_chain.name, tmp_path)
    pipeline.render_only(seed_chain, paths)
    return paths


def test_the_rendered_seed_chain_has_no_findings(seed_chain: Topology, seed_lab: LabPaths) -> None:
    assert lint.lint_dir(seed_lab.root, seed_chain) == []


def test_a_lab_folder_is_read_through_its_own_topology_file(seed_lab: LabPaths) -> None:
    seed_lab.public_key("b", "a").unlink()
    findings = lint.lint_dir(seed_lab.root)
    assert [(f.code, f.format(seed_lab.root).split(":")[0]) for f in findings] == [
        ("DL102", "nodes/b/etc/asterisk/dundi.conf")
    ]


def test_a_private_key_readable_by_the_group_blocks_the_lab(seed_lab: LabPaths) -> None:
    seed_lab.private_key("c").chmod(0o640)
    findings = lint.lint_dir(seed_lab.root)
    assert [(f.severity, f.code, f.file, f.line) for f in findings] == [
        ("error", "DL105", str(seed_lab.private_key("c")), None)
    ]
    assert lint.has_errors(findings)


@pytest.mark.parametrize("name", SCENARIOS, ids=SCENARIOS)
def test_a_shipped_scenario_renders_lint_clean_but_for_the_errors_it_allows(name: str) -> None:
    loaded = scenario.load(ROOT / "scenarios" / f"{name}.yaml")
    findings = lint.lint_topology(loaded.topology, Path("/labs"))
    errors = {f.code for f in findings if f.severity == "error"}
    # an allowed code that lint no longer finds would hide nothing: it must be found
    assert errors == loaded.lint_allow, lint.format_findings(findings)
    assert all(f.file.startswith(f"/labs/{loaded.name}/nodes/") for f in findings)


def test_a_folder_without_configs_is_an_error_a_user_can_act_on(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"no dundi\.conf"):
        lint.lint_dir(tmp_path)


def test_a_finding_prints_as_path_line_severity_code_message_and_fix() -> None:
    finding = lint.Finding("/l/a/dundi.conf", 3, "error", "DL501", "ttl bad", "use 1..119")
    assert finding.format(Path("/l")) == "a/dundi.conf:3: error DL501 ttl bad (fix: use 1..119)"
    assert lint.Finding("/k/a.key", None, "error", "DL105", "m", "f").format() == (
        "/k/a.key: error DL105 m (fix: f)"
    )
    assert lint.summary([finding]) == "1 error, 0 warnings"


# ---- helpers ----------------------------------------------------------------------------------


def materialize(case: str, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A copy of the case folder with the key files its case.yaml asks for."""
    source = CASES_DIR / case
    spec = yaml.safe_load((source / "case.yaml").read_text()) or {}
    folder = tmp_path / case
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("case.yaml", "expected.txt"))
    for member, entries in (spec.get("keys") or {}).items():
        keys = (folder if member == "." else folder / member) / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            write_key(keys, {"file": entry} if isinstance(entry, str) else entry)
    return folder, spec


def write_key(keys: Path, entry: dict[str, Any]) -> None:
    path = keys / entry["file"]
    private = path.suffix == ".key"
    if "text" in entry:
        data = str(entry["text"]).encode()
    else:
        key = key_pair(str(entry.get("pair", path.stem)), int(entry.get("bits", 1024)))
        if private:
            encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
            if entry.get("encrypted"):
                encryption = serialization.BestAvailableEncryption(b"passcode")
            pem = serialization.PrivateFormat.PKCS8
            data = key.private_bytes(serialization.Encoding.PEM, pem, encryption)
        else:
            spki = serialization.PublicFormat.SubjectPublicKeyInfo
            data = key.public_key().public_bytes(serialization.Encoding.PEM, spki)
    path.write_bytes(data)
    path.chmod(int(str(entry.get("mode", "600" if private else "644")), 8))


@functools.cache
def key_pair(name: str, bits: int) -> rsa.RSAPrivateKey:
    """One key pair per name and size for the whole session (2048-bit ones are slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)
