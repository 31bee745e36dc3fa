"""The one owner of where a lab's files live.

    <root>/<lab>/compose.yaml                 standalone compose project
    <root>/<lab>/topology.yaml                the topology it was made from
    <root>/<lab>/state.json                   name and subnet of the running lab
    <root>/<lab>/last-trace.json              the last `lab trace` (JSON), for `lab graph --trace`
    <root>/<lab>/nodes/<node>/etc/asterisk/   that node's configuration
    <root>/<lab>/nodes/<node>/keys/           its private key, its peers' public keys
    <root>/<lab>/artifacts/                   logs and snapshots saved on failure
    <root>/<lab>/<member>/                    a network member's own files, as read
    <root>/<lab>/<member>/observed/           what its server showed (from dundi-collect)

Nobody else joins path strings for lab files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LabPaths", "default_root"]

ETC_IN_CONTAINER = "/etc/asterisk"
KEYS_IN_CONTAINER = "/var/lib/asterisk/keys"


def default_root() -> Path:
    """Where labs live: $DUNDI_LAB_HOME, else ./build."""
    return Path(os.environ.get("DUNDI_LAB_HOME", "build")).absolute()


@dataclass(frozen=True)
class LabPaths:
    """Paths of one lab's files on the host."""

    lab: str
    root: Path

    @classmethod
    def of(cls, lab: str, root: Path | None = None) -> LabPaths:
        return cls(lab=lab, root=(root or default_root()) / lab)

    @property
    def compose_file(self) -> Path:
        return self.root / "compose.yaml"

    @property
    def topology_file(self) -> Path:
        return self.root / "topology.yaml"

    @property
    def state_file(self) -> Path:
        """What `lab up` recorded for later commands: name, subnet, source."""
        return self.root / "state.json"

    @property
    def last_trace(self) -> Path:
        """The last `lab trace` of this lab (JSON), drawn by `lab graph --trace`."""
        return self.root / "last-trace.json"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def node(self, node: str) -> Path:
        return self.root / "nodes" / node

    def etc(self, node: str) -> Path:
        return self.node(node) / "etc" / "asterisk"

    def keys(self, node: str) -> Path:
        return self.node(node) / "keys"

    def audio(self, node: str) -> Path:
        """Where `node`'s Asterisk writes what each side of a test call heard (read-write)."""
        return self.node(node) / "audio"

    def capture(self, node: str, stamp: str) -> Path:
        """A pcap of `node`'s DUNDi and IAX2 traffic."""
        return self.artifacts / f"capture-{node}-{stamp}.pcap"

    def import_report(self, node: str) -> Path:
        """What dundi-lab changed in an imported node's files."""
        return self.node(node) / "import-changes.txt"

    def member_copy(self, written: str) -> Path:
        """A copy of an imported member's own files (its folder's or archive's), beside the
        copy of the topology."""
        return self.root / written

    def observed(self, written: str) -> Path:
        """What a member's server showed when its files were collected (dundi-collect)."""
        return self.member_copy(written) / "observed"

    def private_key(self, node: str) -> Path:
        return self.keys(node) / f"{node}.key"

    def public_key(self, owner: str, key: str) -> Path:
        """`key`'s public key as held in `owner`'s key folder."""
        return self.keys(owner) / f"{key}.pub"

    def relative(self, path: Path) -> str:
        """`path` relative to the lab folder, as compose files write it."""
        return "./" + path.relative_to(self.root).as_posix()
