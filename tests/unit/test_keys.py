"""Key pairs in res_crypto's format, and which node folder holds which key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab.asterisk import keys, render
from lab.paths import LabPaths
from lab.topology import Topology


def write_lab(lab: Topology, paths: LabPaths) -> None:
    render.render_lab(lab, paths).write()


@pytest.fixture(scope="module")
def pair() -> tuple[bytes, bytes]:
    return keys.generate_pair()


@pytest.fixture
def paths(seed_chain: Topology, tmp_path: Path) -> LabPaths:
    return LabPaths.of(seed_chain.name, tmp_path)


def key_files(paths: LabPaths) -> dict[str, bytes]:
    """Every file under the lab's node folders, by path relative to the lab."""
    return {
        paths.relative(p): p.read_bytes() for p in (paths.root / "nodes").rglob("*") if p.is_file()
    }


def rsa_private(pem: bytes) -> rsa.RSAPrivateKey:
    """The key in `pem`, read without a password (it fails if the key is encrypted)."""
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def test_a_pair_is_a_1024_bit_rsa_key_with_exponent_65537(pair: tuple[bytes, bytes]) -> None:
    private = rsa_private(pair[0])
    assert private.key_size == 1024
    assert private.public_key().public_numbers().e == 65537


def test_the_private_key_is_unencrypted_pkcs8_pem(pair: tuple[bytes, bytes]) -> None:
    assert pair[0].startswith(b"-----BEGIN PRIVATE KEY-----\n")
    rsa_private(pair[0])


def test_the_public_key_is_spki_pem_of_the_private_key(pair: tuple[bytes, bytes]) -> None:
    public = serialization.load_pem_public_key(pair[1])
    assert pair[1].startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.public_numbers() == rsa_private(pair[0]).public_key().public_numbers()


def test_a_private_key_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "a.key"
    keys.write_private(path, b"secret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == b"secret"


def test_rewriting_a_world_readable_private_key_makes_it_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "a.key"
    path.write_bytes(b"old")
    path.chmod(0o644)
    keys.write_private(path, b"new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ("a", {"a.key", "a.pub", "b.pub"}),
        ("b", {"b.key", "b.pub", "a.pub", "c.pub"}),
        ("c", {"c.key", "c.pub", "b.pub", "d.pub"}),
        ("d", {"d.key", "d.pub", "c.pub"}),
    ],
    ids=["a", "b", "c", "d"],
)
def test_a_node_holds_its_own_key_and_the_public_keys_of_itself_and_its_peers(
    seed_chain: Topology, paths: LabPaths, node: str, expected: set[str]
) -> None:
    write_lab(seed_chain, paths)
    assert {p.name for p in paths.keys(node).iterdir()} == expected


def test_no_node_folder_holds_another_nodes_private_key(
    seed_chain: Topology, paths: LabPaths
) -> None:
    write_lab(seed_chain, paths)
    private = sorted(paths.relative(p) for p in (paths.root / "nodes").rglob("*.key"))
    assert private == [f"./nodes/{n}/keys/{n}.key" for n in ("a", "b", "c", "d")]


def test_a_peer_public_key_is_a_copy_of_the_peers_own(
    seed_chain: Topology, paths: LabPaths
) -> None:
    write_lab(seed_chain, paths)
    assert paths.public_key("a", "b").read_bytes() == paths.public_key("b", "b").read_bytes()


def test_every_node_has_a_different_key(seed_chain: Topology, paths: LabPaths) -> None:
    write_lab(seed_chain, paths)
    assert len({paths.private_key(n.name).read_bytes() for n in seed_chain.nodes}) == 4


def test_writing_the_lab_again_keeps_every_existing_key(
    seed_chain: Topology, paths: LabPaths
) -> None:
    write_lab(seed_chain, paths)
    before = key_files(paths)
    write_lab(seed_chain, paths)
    assert key_files(paths) == before


def test_the_public_key_of_a_node_no_longer_a_peer_is_removed(
    seed_chain: Topology, paths: LabPaths
) -> None:
    write_lab(seed_chain, paths)
    paths.public_key("a", "d").write_bytes(paths.public_key("d", "d").read_bytes())
    write_lab(seed_chain, paths)
    assert not paths.public_key("a", "d").exists()
