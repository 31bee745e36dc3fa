"""Asterisk images built from Debian packages with mmdebstrap, no registry needed.

The tag carries a hash of the recipe (images/asterisk.yaml plus the build
command), so a build is skipped when an image for the same inputs exists. The
image records the exact Asterisk version as a label.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from lab import topology
from lab.asterisk import node, render, xmldocs
from lab.asterisk.node import MODULES
from lab.errors import ImageError
from lab.paths import LabPaths
from lab.runtime.protocol import Backend
from lab.runtime.protocol import backend as make_backend

__all__ = ["MODULES", "BuildResult", "build", "image_ref", "recipe"]

RECIPE_FILE = Path(__file__).resolve().parents[2] / "images" / "asterisk.yaml"
REPOSITORY = "dundi-lab/asterisk"
VERSION_LABEL = "dundi-lab.asterisk-version"
INPUTS_LABEL = "dundi-lab.inputs"
_RECIPE_REVISION = "2"  # bump when the build steps below change


@dataclass(frozen=True)
class BuildResult:
    """What `build` did for one Asterisk version."""

    ref: str
    asterisk_version: str
    built: bool
    seconds: float
    size_bytes: int


@cache
def recipe() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RECIPE_FILE.read_text(encoding="utf-8"))
    return data


def _inputs(version: str) -> dict[str, Any]:
    spec = recipe()
    if version not in spec["versions"]:
        raise ImageError(
            f"no image recipe for Asterisk {version} (valid: {', '.join(spec['versions'])})"
        )
    return {
        "revision": _RECIPE_REVISION,
        "mirror": spec["mirror"],
        "packages": spec["packages"],
        "exclude": spec["exclude"],
        "suite": spec["versions"][version]["suite"],
        "modules": MODULES,
        "xmldocs": hashlib.sha256(xmldocs.SOURCE.read_bytes()).hexdigest(),
    }


def image_ref(version: str) -> str:
    """The tag of the image for `version` built from the current recipe."""
    digest = hashlib.sha256(json.dumps(_inputs(version), sort_keys=True).encode()).hexdigest()
    return f"{REPOSITORY}:{version}-{digest[:12]}"


def _mmdebstrap_command(version: str, out: Path, version_file: Path) -> list[str]:
    inputs = _inputs(version)
    cmd = [
        "mmdebstrap",
        "--variant=apt",
        "--quiet",
        '--aptopt=Acquire::Check-Valid-Until "false"',
        '--aptopt=APT::Install-Recommends "false"',
    ]
    cmd += [f"--dpkgopt=path-exclude={path}" for path in inputs["exclude"]]
    cmd += [
        # Asterisk's sound packages refuse to configure without their files, so
        # sounds go after installation; the lab plays tones, not prompts.
        '--customize-hook=rm -rf "$1"/usr/share/asterisk/sounds/* "$1"/var/cache/apt/* '
        '"$1"/var/lib/apt/lists/*',
        '--customize-hook=mkdir -p "$1"/run/asterisk "$1"/var/lib/asterisk/keys',
        # Asterisk keeps its XML documentation in memory: ~33 of a node's ~54 MiB
        f'--customize-hook={shlex.quote(sys.executable)} -m lab.asterisk.xmldocs "$1" '
        + " ".join(MODULES),
        f"--customize-hook=dpkg-query --admindir=\"$1\"/var/lib/dpkg -W -f='${{Version}}' "
        f"asterisk > {version_file}",
        "--include=" + ",".join(inputs["packages"]),
        inputs["suite"],
        str(out),
        inputs["mirror"],
    ]
    return cmd


def build(
    version: str,
    *,
    force: bool = False,
    backend: Backend | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> BuildResult:
    """Build the image for `version` unless one for the same inputs exists; smoke-test it."""
    runtime = backend or make_backend()
    ref = image_ref(version)
    started = time.monotonic()
    existing = runtime.image_labels(ref)
    if existing is not None and not force:
        return BuildResult(
            ref,
            existing.get(VERSION_LABEL, "?"),
            False,
            time.monotonic() - started,
            runtime.image_size(ref),
        )
    if shutil.which("mmdebstrap") is None:
        raise ImageError(
            "mmdebstrap is not installed (apt-get install mmdebstrap, or run `make setup`)"
        )
    with tempfile.TemporaryDirectory(prefix="dundi-lab-image-") as tmp:
        tarball, version_file = Path(tmp) / "rootfs.tar", Path(tmp) / "asterisk-version"
        progress(f"building a Debian {_inputs(version)['suite']} root filesystem with Asterisk")
        done = subprocess.run(
            _mmdebstrap_command(version, tarball, version_file),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).splitlines()[-15:])
            raise ImageError(f"mmdebstrap failed for Asterisk {version}:\n{tail}")
        asterisk_version = version_file.read_text().strip()
        progress(f"importing the image {ref} (Asterisk {asterisk_version})")
        runtime.import_image(
            tarball,
            ref,
            labels={
                VERSION_LABEL: asterisk_version,
                INPUTS_LABEL: ref.rsplit("-", 1)[-1],
                "dundi-lab": "image",
            },
            command=["asterisk", "-f"],
        )
    progress("smoke check: pbx_dundi, res_crypto and chan_iax2 load")
    try:
        smoke_check(ref, runtime)
    except BaseException:
        runtime.remove_image(ref)  # never leave a broken image to be reused
        raise
    return BuildResult(
        ref, asterisk_version, True, time.monotonic() - started, runtime.image_size(ref)
    )


def smoke_check(ref: str, runtime: Backend) -> None:
    """Boot the image with a one-node lab's config; the three modules must be running."""
    version = ref.rsplit(":", 1)[-1].split("-")[0]
    with tempfile.TemporaryDirectory(prefix="dundi-lab-smoke-") as tmp:
        source = Path(tmp) / "smoke-check.yaml"
        source.write_text(
            f"networks: [net]\ndefaults: {{version: '{version}'}}\n"
            "nodes: {smoke: {serves: {net: [_1XXXXXXXX]}}}\n"
        )
        lab = topology.load(source)
        paths = LabPaths.of(lab.name, Path(tmp))
        render.render_lab(lab, paths).write()
        mounts = node.container_spec(lab, lab.nodes[0], paths, ref, "none").mounts
        output = runtime.run_once(ref, mounts, node.BOOTED, node.cli_argv("module show"))
    missing = [
        m
        for m in ("pbx_dundi.so", "res_crypto.so", "chan_iax2.so")
        if not _module_running(output, m)
    ]
    if missing:
        raise ImageError(f"image {ref} does not run {', '.join(missing)}:\n{output}")


def _module_running(output: str, module: str) -> bool:
    return any(line.startswith(module) and "Running" in line for line in output.splitlines())
