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

from lab import runtime
from lab.core.running import Lab
from lab.errors import LabError
from lab.redact import redact

__all__ = ["SNAPSHOTS", "unpack", "write"]

SNAPSHOTS = ("dundi show peers", "dundi show mappings", "dundi show cache", "iax2 show peers")
_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def write(lab: Lab, out: Path) -> Path:
    """Write `lab`'s bundle to `out` (a .tar.gz)."""
    source = Path(lab.topology.source)
    # an attached lab reads its copy (topology.yaml); keep the name it was written under
    state = json.loads(lab.paths.state_file.read_text()) if lab.paths.state_file.exists() else {}
    written = Path(str(state.get("source", source))).name
    files: dict[str, bytes] = {f"topology/{written}": source.read_bytes()}
    for node in lab.topology.nodes:  # a member's own files, where the topology expects them
        if node.imported is not None:
            for conf in sorted(Path(node.imported.dir).glob("*.conf")):
                files[f"topology/{node.imported.written}/{conf.name}"] = conf.read_bytes()
    for node in lab.topology.nodes:
        base = f"nodes/{node.name}"
        for conf in sorted(lab.paths.etc(node.name).glob("*.conf")):
            files[f"{base}/etc/{conf.name}"] = redact(conf.read_text()).encode()
        for pub in sorted(lab.paths.keys(node.name).glob("*.pub")):
            files[f"{base}/keys/{pub.name}"] = pub.read_bytes()
        if runtime.state(lab.name, node.name) == "running":
            log = "\n".join(runtime.logs(lab.name, node.name))
            files[f"{base}/asterisk.log"] = redact(log).encode()
            for command in SNAPSHOTS:
                try:
                    text = lab.cli(node.name, command)
                except LabError as exc:
                    text = f"(not available: {exc})\n"
                files[f"{base}/{command.replace(' ', '-')}.txt"] = redact(text).encode()
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
