"""scripts/dundi-collect without a server: what it masks, what it never opens, the archive
it writes (read back by tarfile), its manifest and its exit status."""

from __future__ import annotations

import json
import stat
import tarfile
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support import ROOT


def _load() -> ModuleType:
    loader = SourceFileLoader("dundi_collect", str(ROOT / "scripts/dundi-collect"))
    spec = spec_from_loader("dundi_collect", loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


collector = _load()
SECRET = "UiybADB+3kzws6YKRC7SUQ=="


@pytest.mark.parametrize(
    ("line", "masked", "kinds"),
    [
        ("secret = hunter2 ; the pw", "secret = <masked> ; the pw", ["secret"]),
        ("secret=>hunter2", "secret=><masked>", ["secret"]),
        ("  md5secret = 0123abcd", "  md5secret = <masked>", ["md5secret"]),
        ("remotesecret=x", "remotesecret=<masked>", ["remotesecret"]),
        ("dbsecret = dundi/secret", "dbsecret = dundi/secret", []),
        ("dbsecret = pasted-secret", "dbsecret = <masked>", ["dbsecret"]),
        ("register => bob:s3cret@pbx.example.net", "register => bob:<masked>@pbx.example.net",
         ["dial string credentials"]),
        (f"555000123 network1 5 sec 02:00:00:00:00:04 0 IAX2/dundi:{SECRET}@10.0.0.4/555 (EXISTS)",
         "555000123 network1 5 sec 02:00:00:00:00:04 0 IAX2/dundi:<masked>@10.0.0.4/555 (EXISTS)",
         ["dial string credentials"]),
        ("network1 => ctx,0,IAX2,dundi:${SECRET}@10.0.0.4/${NUMBER}",
         "network1 => ctx,0,IAX2,dundi:${SECRET}@10.0.0.4/${NUMBER}", []),
        (f"/dundi/secret      : {SECRET};{SECRET}", "/dundi/secret      : <masked>",
         ["DUNDi secret"]),
        (f"the key is {SECRET} here", "the key is <masked> here", ["DUNDi secret"]),
        ("host = 2001:db8::1", "host = 2001:db8::1", []),
        ("exten => _X.,1,Dial(IAX2/${EXTEN})", "exten => _X.,1,Dial(IAX2/${EXTEN})", []),
    ],
    ids=[
        "secret", "secret-arrow", "md5secret", "remotesecret", "dbsecret-path-kept",
        "dbsecret-value", "registration", "cache-dial-string", "mapping-variable-kept",
        "astdb-line", "bare-dundi-secret", "ipv6-host-kept", "dialplan-kept",
    ],
)  # fmt: skip
def test_a_line_is_masked_by_kind(line: str, masked: str, kinds: list[str]) -> None:
    assert collector.mask_line(line) == (masked, kinds)


def test_the_secret_read_from_the_server_is_masked_whatever_its_shape() -> None:
    text, found = collector.mask_text(
        "a\nsomething odd-shaped-secret inside\n", "x.txt", ("odd-shaped-secret",)
    )
    assert text == "a\nsomething <masked> inside\n"
    assert [str(f) for f in found] == ["x.txt:2 DUNDi secret"]


@pytest.fixture
def server(tmp_path: Path) -> dict[str, Path]:
    """An Asterisk config folder and key folder as on a member's server."""
    etc, keys = tmp_path / "etc", tmp_path / "keys"
    (etc / "dundi.d").mkdir(parents=True)
    keys.mkdir()
    (etc / "dundi.conf").write_text(
        "[general]\nentityid = 00:16:3e:00:00:01\n#include dundi-peers.conf\n"
        "#tryinclude not-there.conf\n#include dundi.d/*.conf\n#exec /bin/false\n"
        f"#include {keys}/alpha.key\n;--\n#include commented-out.conf\n--;\n"
    )
    (etc / "dundi-peers.conf").write_text(
        "[00:16:3e:00:00:02]\nhost = pbx.bravo.example.net\ninkey = bravo\noutkey = alpha\n"
    )
    (etc / "dundi.d" / "more.conf").write_text("; more peers\n")
    (etc / "iax.conf").write_text(
        "[dundi]\ntype=user\ndbsecret=dundi/secret\n[x]\nsecret=hunter2\n"
    )
    (etc / "extensions.conf").write_text("[internal]\nexten => 1,1,Dial(IAX2/u:pw@host/1)\n")
    (etc / "commented-out.conf").write_text("never read\n")
    pem = "-----BEGIN PUBLIC KEY-----\nMIGfMA0G\n-----END PUBLIC KEY-----\n"
    (keys / "bravo.pub").write_text(pem)
    (keys / "alpha.pub").write_text(pem)
    (keys / "alpha.key").write_text(
        "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n"
    )
    return {"etc": etc, "keys": keys, "out": tmp_path / "alpha.tar.gz"}


def run(server: dict[str, Path], *args: str) -> int:
    argv = ["--etc", str(server["etc"]), "--keys", str(server["keys"]), "--member", "alpha"]
    return int(collector.main([*argv, "--out", str(server["out"]), *args]))


def entries(archive: Path, tmp_path: Path) -> dict[str, str]:
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "x", filter="data")  # the strictest filter takes it
        return {
            m.name: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_configs_includes_and_public_keys_are_collected_never_a_private_key(
    server: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    opened: list[str] = []
    real_open = open

    def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(collector, "open", spy, raising=False)
    assert run(server, "--no-live") == 0
    assert opened and not [p for p in opened if p.endswith(".key")]
    found = entries(server["out"], tmp_path)
    assert sorted(found) == [
        "alpha/dundi-peers.conf", "alpha/dundi.conf", "alpha/dundi.d/more.conf",
        "alpha/extensions.conf", "alpha/iax.conf", "alpha/keys/alpha.pub",
        "alpha/keys/bravo.pub", "alpha/observed/manifest.json",
    ]  # fmt: skip
    assert "PRIVATE" not in "".join(found.values())
    assert "secret=<masked>" in found["alpha/iax.conf"]
    assert "dbsecret=dundi/secret" in found["alpha/iax.conf"]
    assert "IAX2/u:<masked>@host" in found["alpha/extensions.conf"]
    manifest = json.loads(found["alpha/observed/manifest.json"])
    assert manifest["masked"] == [
        {"file": "extensions.conf", "line": 2, "kind": "dial string credentials"},
        {"file": "iax.conf", "line": 5, "kind": "secret"},
    ]
    why = {s["what"]: s["why"] for s in manifest["skipped"]}
    assert why["dundi.conf: #exec /bin/false"] == "#exec is never run"
    assert why[str(server["keys"] / "alpha.key")] == "a private key (*.key) is never opened"
    assert manifest["live_state"] == "not collected: skipped (--no-live)"
    out = capsys.readouterr().out
    assert "iax.conf:5 secret" in out and "hunter2" not in out
    assert stat.S_IMODE(server["out"].stat().st_mode) == 0o600


def test_a_server_whose_asterisk_cannot_be_reached_still_gives_its_configs(
    server: dict[str, Path], capsys: Any
) -> None:
    assert run(server, "--asterisk", "/bin/false") == 3
    out = capsys.readouterr().out
    assert "live state: not collected: asterisk -rx failed" in out
    assert server["out"].is_file()


def test_live_state_is_collected_with_the_rotating_secret_masked(
    server: dict[str, Path], tmp_path: Path
) -> None:
    fake = tmp_path / "asterisk"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        f"  'database get dundi secret') echo 'Value: {SECRET}' ;;\n"
        "  'dundi show cache') echo 'Number Context Expiration From Weight Destination (Flags)';"
        f" echo '555000123 network1 9 sec 02:00:00:00:00:04 0 IAX2/dundi:{SECRET}@h/555000123"
        " (EXISTS)'; echo 'Number of entries: 1' ;;\n"
        "  'dundi show hints') echo \"No such command 'dundi show hints'\" ;;\n"
        '  *) echo "Asterisk 22.10.1 said: $2" ;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    assert run(server, "--asterisk", str(fake)) == 0
    found = entries(server["out"], tmp_path)
    assert SECRET not in "".join(found.values())
    assert "IAX2/dundi:<masked>@h/555000123" in found["alpha/observed/dundi-show-cache.txt"]
    manifest = json.loads(found["alpha/observed/manifest.json"])
    assert manifest["observed"]["dundi show hints"]["status"] == "not available on this Asterisk"
    assert manifest["observed"]["dundi show peers"]["status"] == "ok"
    assert {"file": "observed/dundi-show-cache.txt", "line": 2, "kind": "DUNDi secret"} in (
        manifest["masked"]
    )
    assert not [n for n in found if "database" in n]  # the secret's own output is never kept


def test_a_missing_config_folder_or_an_existing_archive_is_an_error(
    server: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    assert collector.main(["--etc", str(tmp_path / "nowhere"), "--no-live"]) == 1
    assert "no config folder" in capsys.readouterr().err
    server["out"].write_text("earlier")
    assert run(server, "--no-live") == 1
    assert "exists" in capsys.readouterr().err
    assert run(server, "--no-live", "--force") == 0


def test_the_manifest_is_json_whatever_the_text() -> None:
    value = {"a": ['q"uote\\', "tab\t", "\udcff", 3, True, None], "": {}}
    assert json.loads(collector.to_json(value)) == {
        "a": ['q"uote\\', "tab\t", "\udcff", 3, True, None],
        "": {},
    }


def test_long_names_use_the_ustar_prefix(tmp_path: Path) -> None:
    name = "m/" + "d" * 90 + "/" + "f" * 90 + ".conf"
    (tmp_path / "a.tar.gz").write_bytes(collector.tar_gz([(name, b"x")], 0))
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        assert tar.getnames() == [name]
