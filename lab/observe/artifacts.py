"""What a lab leaves to look at later: each node's log, its DUNDi and IAX2 state, its configs
and public keys, secrets masked. Saved beside a failed scenario, and packed into bundles.

    nodes/<node>/asterisk.log                 the node's log
    nodes/<node>/<command>.txt                dundi show peers/mappings/cache, iax2 show peers
    nodes/<node>/etc/*.conf                   its configs as mounted
    nodes/<node>/keys/*.pub                   public keys only: a private key never leaves its node
"""

from __future__ import annotations

from pathlib import Path

from lab.core.running import Lab
from lab.errors import LabError
from lab.redact import redact

__all__ = ["SNAPSHOTS", "collect", "save"]

SNAPSHOTS = ("dundi show peers", "dundi show mappings", "dundi show cache", "iax2 show peers")


def collect(lab: Lab) -> dict[str, bytes]:
    """Archive path → content, for every node (a stopped node: its files and log only)."""
    files: dict[str, bytes] = {}
    states = lab.backend.states(lab.name)
    for node in lab.topology.nodes:
        base = f"nodes/{node.name}"
        for conf in sorted(lab.paths.etc(node.name).glob("*.conf")):
            files[f"{base}/etc/{conf.name}"] = redact(conf.read_text(errors="replace")).encode()
        for pub in sorted(lab.paths.keys(node.name).glob("*.pub")):
            files[f"{base}/keys/{pub.name}"] = pub.read_bytes()
        try:
            log = "\n".join(lab.backend.logs(lab.name, node.name))
        except LabError as exc:
            log = f"(no log: {exc})"
        files[f"{base}/asterisk.log"] = (redact(log) + "\n").encode()
        if states.get(node.name) != "running":
            continue
        for command in SNAPSHOTS:
            try:
                text = lab.cli(node.name, command)
            except LabError as exc:
                text = f"(not available: {exc})\n"
            files[f"{base}/{command.replace(' ', '-')}.txt"] = redact(text).encode()
    return files


def save(lab: Lab, dest: Path | None = None) -> Path:
    """`collect` into a folder (default: the lab's artifacts folder), one node a folder."""
    dest = dest or lab.paths.artifacts
    for name, data in collect(lab).items():
        path = dest / name.removeprefix("nodes/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return dest
