"""The rendered lab is a standalone compose project: `docker compose` starts it
without dundi-lab, and a real IAX2 call crosses the seed chain there.

Needs the Compose v2 CLI plugin (`docker compose`); scripts/install-compose-v2.sh
installs it from Debian packages.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest
from testcontainers.compose import DockerCompose

from lab import topology
from lab.asterisk import images
from lab.core import pipeline
from lab.core.running import Lab
from lab.paths import LabPaths
from tests.support import ROOT, engine, nothing_left, unique

pytestmark = pytest.mark.docker

SEED = ROOT / "scenarios/seed-chain.yaml"
D_NUMBER = "555000123"


def _compose_v2() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return done.returncode == 0


def _free_lab(prefix: str) -> topology.Topology:
    """The seed chain under a fresh name whose (name-derived) subnet no network uses."""
    used = [ipaddress.IPv4Network(s) for s in engine().used_subnets()]
    for _ in range(50):
        topo = topology.load(SEED, name=unique(prefix))
        if not any(ipaddress.ip_network(topo.subnet).overlaps(net) for net in used):
            return topo
    raise AssertionError(f"no free subnet for a lab after 50 names (in use: {used})")


def test_the_rendered_compose_project_runs_a_real_call_without_dundi_lab(tmp_path: Path) -> None:
    if not _compose_v2():
        # a failure, not a skip: a green run must not hide a missing install step
        pytest.fail(
            "`docker compose` (the Compose v2 CLI plugin) is missing; "
            "install it with scripts/install-compose-v2.sh"
        )
    topo = _free_lab("compose")
    for version in sorted({node.version for node in topo.nodes}):
        images.build(version)  # skipped when the image for this recipe exists
    paths = LabPaths.of(topo.name, tmp_path)
    pipeline.render_only(topo, paths)
    assert paths.compose_file.exists()

    try:
        with DockerCompose(
            context=paths.root, compose_file_name="compose.yaml", wait=False
        ) as compose:
            try:
                # dundi-lab only probes here; compose created every container and the network
                lab = Lab.from_folder(paths)
                lab.wait_ready(90)
                result = lab.call("a", D_NUMBER)
                assert result.answered, result
                assert result.callee_code == topo.node("d").code, result
                assert result.callee_extension == "0123", result
                # the callee sent back the caller number it saw, as DTMF over the media path
                assert result.callee_saw_caller == result.caller, result
            except BaseException:
                out, err = compose.get_logs()
                print(f"\n--- docker compose logs ({topo.name}) ---\n{out}{err}")
                raise
        # `docker compose down` (run by the context manager) left nothing behind
        assert nothing_left(topo.name)
    finally:
        # safety net for a failed `up`/`down`; the assertion above has already judged compose
        engine().remove_lab(topo.name)
    assert nothing_left(topo.name)
