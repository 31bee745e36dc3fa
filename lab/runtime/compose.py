"""A lab as a standalone compose project, made from the same container specs `lab up` starts.

`docker compose -f build/<lab>/compose.yaml up -d` runs the lab without dundi-lab: same
images, commands, addresses, mounts (relative to the lab folder), labels and network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lab.runtime.protocol import LABEL, NODE_LABEL, ContainerSpec, NetworkSpec

__all__ = ["render"]


def render(network: NetworkSpec, specs: Sequence[ContainerSpec], root: Path, banner: str) -> str:
    """The compose file's text; paths are written relative to `root` (the lab folder)."""
    services: dict[str, Any] = {}
    for spec in specs:
        services[spec.node] = {
            "image": spec.image,
            "container_name": spec.name,
            "hostname": spec.node,
            "init": True,
            "command": list(spec.command),
            "cap_add": list(spec.cap_add),
            "labels": {LABEL: spec.lab, NODE_LABEL: spec.node},
            "volumes": [
                f"{_relative(m.source, root)}:{m.target}{':ro' if m.read_only else ''}"
                for m in spec.mounts
            ],
            "networks": {
                "lab": {
                    "ipv4_address": spec.ip,
                    **({"aliases": list(spec.aliases)} if spec.aliases else {}),
                }
            },
        }
    project = {
        "name": f"dundi-lab-{network.lab}",
        "services": services,
        "networks": {
            "lab": {
                "name": network.name,
                "internal": True,
                "labels": {LABEL: network.lab},
                "ipam": {"config": [{"subnet": network.subnet}]},
            }
        },
    }
    head = (
        f"# {banner}\n"
        "# Start without dundi-lab: docker compose -f compose.yaml up -d\n"
        "# (the image is built by `lab image build`; no registry is needed)\n"
    )
    return head + yaml.safe_dump(project, sort_keys=False, width=100)


def _relative(path: Path, root: Path) -> str:
    return "./" + path.relative_to(root).as_posix()
