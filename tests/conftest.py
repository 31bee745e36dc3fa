"""Shared fixtures: labs that always come down and leave artifacts when a test fails."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from tests.support import ARTIFACTS, ROOT, unique


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("labs")


@pytest.fixture(scope="session")
def running_lab(request: pytest.FixtureRequest, lab_root: Path) -> Callable[..., object]:
    """`with running_lab(topology, prefix) as lab:` always tears down; artifacts on failure."""
    from lab.core import pipeline
    from lab.core.running import Lab
    from lab.observe import artifacts

    @contextmanager
    def start(topology: str | Path, prefix: str, **options: Any) -> Iterator[Lab]:
        failed_before = request.session.testsfailed
        lab = pipeline.start(ROOT / topology, name=unique(prefix), root=lab_root, **options)
        try:
            yield lab
        finally:
            if request.session.testsfailed > failed_before:
                dest = artifacts.save(lab, ARTIFACTS / lab.name)
                print(f"\nartifacts of lab {lab.name}: {dest}")
            lab.down()

    return start
