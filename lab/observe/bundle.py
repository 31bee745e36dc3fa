"""Repro bundles: one archive with everything needed to rerun a lab elsewhere.

    bundle.tar.gz
      MANIFEST.json                         lab name, versions, what is inside
      topology/<file>.yaml                  the topology (or scenario) as written
      nodes/<node>/etc/*.conf               rendered configs
      nodes/<node>/keys/*.pub               public keys only
      nodes/<node>/asterisk.log             the node's log
      nodes/<node>/<command>.txt            dundi show peers/mappings/cache, iax2 show peers

Private keys are never read into a bundle, and the DUNDi secret is masked
wherever a dial string shows it. `lab up --bundle FILE` recreates the lab
from `topology/` with fresh keys.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from pathlib import Path

from lab.core.running import Lab
from lab.errors import LabError
from lab.observe.artifacts import collect

__all__ = ["unpack", "write"]

_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def write(lab: Lab, out: Path) -> Path:
    """Write `lab`'s bundle to `out` (a .tar.gz)."""
    # the topology as written (the lab's copy of it), under the name it was written as
    written = Path(lab.topology.source).name
    copy = lab.paths.topology_file
    files: dict[str, bytes] = {
        f"topology/{written}": (copy if copy.is_file() else Path(lab.topology.source)).read_bytes()
    }
    for node in lab.topology.nodes:  # a member's own files, where the topology expects them
        if node.imported is not None:
            for name, text in node.imported.files:
                files[f"topology/{node.imported.written}/{name}"] = text.encode(
                    "utf-8", "surrogateescape"
                )
    files.update(collect(lab))
    leaked = [
        name for name, data in files.items() if _PRIVATE.search(data.decode(errors="replace"))
    ]
    if leaked:  # a private key must never leave its node
        raise LabError(f"refusing to bundle private key material: {', '.join(leaked)}")
    manifest = {
        "lab": lab.name,
        "topology": f"topology/{written}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nodes": {
            n.name: {"ip": n.ip, "eid": n.eid, "asterisk": n.version} for n in lab.topology.nodes
        },
        "files": sorted(files),
    }
    files["MANIFEST.json"] = json.dumps(manifest, indent=2).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as archive:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = int(time.time())
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(files[name]))
    return out


def unpack(bundle: Path, dest: Path) -> Path:
    """Extract a bundle; the path of the topology file to start the lab from."""
    try:
        with tarfile.open(bundle, "r:gz") as archive:
            archive.extractall(dest, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise LabError(f"{bundle}: not a dundi-lab bundle ({exc})") from None
    manifest_file = dest / "MANIFEST.json"
    if not manifest_file.exists():
        raise LabError(f"{bundle}: not a dundi-lab bundle (no MANIFEST.json)")
    manifest = json.loads(manifest_file.read_text())
    return dest / str(manifest["topology"])
