"""RSA key pairs in the exact format res_crypto reads (what `astgenkey -n` writes).

`NAME.key` is the private key (PKCS#8 PEM, mode 0600), `NAME.pub` the public key (SPKI
PEM). DUNDi works in fixed 128-byte blocks, so keys are 1024-bit. A node's folder holds its
own private key and only its peers' public keys.

`plan` decides every node's key folder in memory: a pair already in the lab's folder is kept
(bytes and mode as they are, so lint sees what will be mounted), a missing one is made.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab.paths import LabPaths
from lab.topology import Topology

__all__ = ["KEY_BITS", "KeyFile", "generate_pair", "plan", "write_private"]

KEY_BITS = 1024


@dataclass(frozen=True)
class KeyFile:
    """One file of a node's key folder, as it will be mounted."""

    path: Path
    data: bytes
    mode: int
    kept: bool = False  # already on disk exactly so: not written again

    @property
    def private(self) -> bool:
        return self.path.suffix == ".key"


def generate_pair() -> tuple[bytes, bytes]:
    """A fresh (private PEM, public PEM) pair for one node."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def write_private(path: Path, pem: bytes) -> None:
    """Write a private key readable by its owner only, from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode through os.open
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def write(key: KeyFile) -> None:
    """Put `key` on disk with its mode (nothing to do for a kept one)."""
    if key.kept:
        return
    if key.private:
        write_private(key.path, key.data)
        return
    key.path.parent.mkdir(parents=True, exist_ok=True)
    key.path.write_bytes(key.data)
    key.path.chmod(key.mode)


def plan(lab: Topology, paths: LabPaths) -> dict[str, dict[str, KeyFile]]:
    """Every node's key folder: its own pair (kept if both halves exist), its peers' public
    keys; node → file name → key."""
    pairs: dict[str, tuple[KeyFile, KeyFile]] = {}
    for node in lab.nodes:
        private, public = paths.private_key(node.name), paths.public_key(node.name, node.name)
        if private.is_file() and public.is_file():
            pairs[node.name] = (_kept(private), _kept(public))
        else:
            pem, pub = generate_pair()
            pairs[node.name] = (KeyFile(private, pem, 0o600), KeyFile(public, pub, 0o644))
    folders: dict[str, dict[str, KeyFile]] = {}
    for node in lab.nodes:
        if node.imported is not None and node.imported.keys:
            folders[node.name] = _named(node.imported.keys, node.name, pairs, paths)
            continue
        own_private, own_public = pairs[node.name]
        folder = {own_private.path.name: own_private, own_public.path.name: own_public}
        for key in {p.key for p in node.peers} - {node.name}:
            path = paths.public_key(node.name, key)
            data = pairs[key][1].data
            kept = path.is_file() and path.read_bytes() == data
            folder[path.name] = KeyFile(path, data, 0o644, kept=kept)
        folders[node.name] = folder
    return folders


def _named(
    names: tuple[tuple[str, str], ...],
    node: str,
    pairs: dict[str, tuple[KeyFile, KeyFile]],
    paths: LabPaths,
) -> dict[str, KeyFile]:
    """A network member's key folder under the names its dundi.conf uses: NAME.key for its
    own private key (outkey), NAME.pub for each peer's public key (inkey)."""
    folder = {}
    for name, owner in names:
        path = paths.keys(node) / name
        private, public = pairs[owner]
        key = private if name.endswith(".key") else public
        if name.endswith(".key") and owner != node:
            continue  # never another node's private key
        data = key.data
        kept = path.is_file() and path.read_bytes() == data
        mode = 0o600 if name.endswith(".key") else 0o644
        folder[name] = KeyFile(path, data, _mode(path, mode) if kept else mode, kept=kept)
    return folder


def _mode(path: Path, default: int) -> int:
    return stat.S_IMODE(path.stat().st_mode) if path.exists() else default


def _kept(path: Path) -> KeyFile:
    return KeyFile(path, path.read_bytes(), stat.S_IMODE(path.stat().st_mode), kept=True)
