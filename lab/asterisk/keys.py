"""RSA key pairs in the exact format res_crypto reads (what `astgenkey -n` writes).

`NAME.key` is the private key (PKCS#8 PEM, mode 0600), `NAME.pub` the public
key (SPKI PEM). DUNDi works in fixed 128-byte blocks, so keys are 1024-bit.
A node's folder holds its own private key and only its peers' public keys.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab.paths import LabPaths
from lab.topology.validate import Topology

__all__ = ["KEY_BITS", "ensure_keys", "generate_pair", "write_private"]

KEY_BITS = 1024


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


def ensure_keys(lab: Topology, paths: LabPaths) -> None:
    """Give every node a key pair (kept if it has one) and its peers' public keys."""
    for node in lab.nodes:
        private_path = paths.private_key(node.name)
        own_public = paths.public_key(node.name, node.name)
        if not (private_path.exists() and own_public.exists()):
            private, public = generate_pair()
            write_private(private_path, private)
            own_public.write_bytes(public)
    for node in lab.nodes:
        wanted = {node.name} | {p.key for p in node.peers}
        folder = paths.keys(node.name)
        for stale in folder.glob("*.pub"):
            if stale.stem not in wanted:
                stale.unlink()
        for key in wanted - {node.name}:
            source = paths.public_key(key, key)
            paths.public_key(node.name, key).write_bytes(source.read_bytes())
