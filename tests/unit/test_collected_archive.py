"""A member's archive (dundi-collect's .tar.gz) in a network folder: taken as a member
folder when it is safe, refused with the archive's and the entry's name when it is not, and
its observed/ folder never read as config."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from lab.asterisk import render
from lab.errors import TopologyError
from lab.paths import LabPaths
from lab.topology import network
from lab.topology.collected import Limits, read_collected
from tests.support import ROOT

EXAMPLE = ROOT / "examples/network"


def archive(path: Path, entries: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in entries:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    path.write_bytes(gzip.compress(buffer.getvalue()))
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def member_of(folder: str, source: Path = EXAMPLE / "alpha") -> list[tuple[tarfile.TarInfo, bytes]]:
    """A member folder's files as an archive holds them, under `folder/`."""
    return [(entry(f"{folder}/{p.name}"), p.read_bytes()) for p in sorted(source.glob("*.conf"))]


SAFE = member_of("alpha")


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ([(entry("/etc/passwd"), b"x")], "not a relative name"),
        ([(entry("alpha/../../evil.conf"), b"x")], "'..'"),
        ([(entry("alpha/x.conf", tarfile.SYMTYPE, "/etc/shadow"), b"")], "not a regular file"),
        ([(entry("alpha/y.conf", tarfile.LNKTYPE, "alpha/dundi.conf"), b"")], "not a regular file"),
        ([(entry("alpha/dev", tarfile.CHRTYPE), b"")], "not a regular file"),
        ([(entry("alpha/fifo", tarfile.FIFOTYPE), b"")], "not a regular file"),
        ([(entry("alpha/keys/alpha.key"), b"k")], "private key file"),
        ([(entry("alpha/keys/alpha.pub"), b"-----BEGIN PRIVATE KEY-----")], "private key material"),
        ([(entry("bravo/dundi.conf"), b"")], "one member folder"),
    ],
    ids=["absolute", "dot-dot", "symlink", "hardlink", "device", "fifo", "key-file",
         "private-key-inside", "two-folders"],
)  # fmt: skip
def test_an_unsafe_archive_is_refused_naming_what(
    tmp_path: Path, extra: list[tuple[tarfile.TarInfo, bytes]], why: str
) -> None:
    path = archive(tmp_path / "alpha.tar.gz", SAFE + extra)
    collected, problems = read_collected(path)
    assert collected is None
    assert any(why in str(p) and str(path) in str(p) for p in problems), problems


@pytest.mark.parametrize(
    ("limits", "why"),
    [
        (Limits(entry=100), "larger than 100 bytes"),
        (Limits(unpacked=1000), "unpacks to more than 1000 bytes"),
        (Limits(entries=2), "more than 2 entries"),
        (Limits(compressed=10), "larger than 10 bytes"),
    ],
    ids=["entry", "unpacked", "entries", "compressed"],
)
def test_an_archive_past_a_limit_is_refused(tmp_path: Path, limits: Limits, why: str) -> None:
    path = archive(tmp_path / "alpha.tar.gz", SAFE)
    collected, problems = read_collected(path, limits)
    assert collected is None and why in str(problems[0])


def test_what_is_not_an_archive_of_the_collector_is_said_so(tmp_path: Path) -> None:
    (tmp_path / "junk.tar.gz").write_bytes(b"not gzip at all")
    assert "cannot read it as a .tar.gz" in str(read_collected(tmp_path / "junk.tar.gz")[1][0])
    path = archive(tmp_path / "bundle.tar.gz", [(entry("x/readme.txt"), b"hello")])
    assert "no dundi.conf" in str(read_collected(path)[1][0])


def test_a_folder_of_archives_is_a_network_whose_members_behave_as_folders(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "net"
    folder.mkdir()
    for name in ("alpha", "bravo", "charlie"):  # the archive's folder name does not matter
        observed = [
            (entry("pbx/observed/core-show-version.txt"), b"Asterisk 16.28.0 built by x\n"),
            (entry("pbx/observed/evil.conf"), b"[general]\n"),
            (entry("pbx/keys/x.pub"), b"-----BEGIN PUBLIC KEY-----\n"),
        ]
        archive(folder / f"{name}.tar.gz", member_of("pbx", EXAMPLE / name) + observed)
    assert network.is_network(folder)
    topo, _ = network.load_network(folder)
    from_folders, _ = network.load_network(
        _copy(tmp_path / "folders", ("alpha", "bravo", "charlie"))
    )
    assert [n.name for n in topo.nodes] == ["alpha", "bravo", "charlie"]
    assert [n.peers for n in topo.nodes] == [n.peers for n in from_folders.nodes]
    assert [n.serves for n in topo.nodes] == [n.serves for n in from_folders.nodes]
    alpha = topo.node("alpha")
    assert alpha.version == "16"  # from what the server showed
    assert alpha.imported is not None
    assert "evil.conf" not in dict(alpha.imported.files)
    assert not [n for n, _ in alpha.imported.files if n.startswith(("observed/", "keys/"))]
    assert dict(alpha.imported.observed)["evil.conf"] == "[general]\n"

    paths = LabPaths.of(topo.name, tmp_path / "build")
    render.render_lab(topo, paths).write()
    assert (paths.observed("alpha") / "core-show-version.txt").is_file()
    assert (paths.member_copy("alpha") / "dundi.conf").is_file()
    assert sorted(p.name for p in folder.iterdir()) == [
        "alpha.tar.gz", "bravo.tar.gz", "charlie.tar.gz"
    ]  # fmt: skip


def test_a_member_twice_as_folder_and_archive_is_an_error(tmp_path: Path) -> None:
    folder = _copy(tmp_path / "net", ("alpha", "bravo"))
    archive(folder / "alpha.tar.gz", SAFE)
    with pytest.raises(TopologyError, match="give the node name alpha"):
        network.load_network(folder)


def _copy(folder: Path, members: tuple[str, ...]) -> Path:
    for name in members:
        (folder / name).mkdir(parents=True)
        for p in (EXAMPLE / name).glob("*.conf"):
            (folder / name / p.name).write_bytes(p.read_bytes())
    return folder


def test_an_included_file_in_a_sub_folder_is_followed_and_mounted(tmp_path: Path) -> None:
    folder = tmp_path / "net"
    folder.mkdir()
    for name in ("alpha", "bravo"):
        files = member_of(name, EXAMPLE / name)
        if name == "bravo":  # bravo keeps its peer sections in dundi.d/peers.conf
            dundi = (EXAMPLE / "bravo/dundi.conf").read_text()
            head, _, peers = dundi.partition("\n[00:")
            files = [(i, d) for i, d in files if not i.name.endswith("/dundi.conf")] + [
                (entry("bravo/dundi.conf"), (head + "\n#include dundi.d/peers.conf\n").encode()),
                (entry("bravo/dundi.d/peers.conf"), ("[00:" + peers).encode()),
            ]
        archive(folder / f"{name}.tar.gz", files)
    topo, _ = network.load_network(folder)
    assert [p.peer for p in topo.node("bravo").peers] == ["alpha"]
    paths = LabPaths.of(topo.name, tmp_path / "build")
    render.render_lab(topo, paths).write()
    assert "[00:16:3e:a1:00:01]" in (paths.etc("bravo") / "dundi.d/peers.conf").read_text()
    render.render_lab(topo, paths).write()  # written again over itself: nothing stale breaks
