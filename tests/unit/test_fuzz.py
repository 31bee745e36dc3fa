"""Property: whatever is done to a valid topology file, loading it gives a valid topology or
a clean error (every line `file:line path: message`), never a traceback.

Two kinds of mutation, from every shipped topology: the bytes of the file (characters
deleted, inserted, swapped; bytes that are not UTF-8; YAML tags and aliases spliced in), and
the data (any value replaced by another of any type, keys added, lists where mappings go).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab import scenario, topology
from lab.errors import TopologyError
from lab.topology.yamlsrc import load_located
from tests.unit.conftest import ROOT

SOURCES = sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if "import:" not in p.read_text())
TEXTS = [p.read_bytes() for p in SOURCES]
# file[:line] [path]: message; a path is one token (odd keys are quoted) or a quoted key
LINE = re.compile(r"^(\S*/)?fuzzed\.yaml(:\d+)?( (\S+|\S*\['.*'\]\S*))?: .+$")
SNIPPETS = [
    b"!!python/name:os.system ",
    b"!custom ",
    b"!!int ",
    b"&a ",
    b"*a ",
    b"? [x, y]\n: 1\n",
    b"\xff\xfe",
    b"\xe9",
    b"\x00",
    b"[",
    b"{",
    b"---\n",
    b"[bold red]",
    b"'; touch pwned; '",
    b"\t",
    b": ",
    b"- ",
    b"\n  ",
    b"9" * 40,
    b"yes",
    b"~",
]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def clean_or_valid(data: bytes, name: str = "fuzzed.yaml") -> None:
    """Load `data` as a topology file: valid, or an error whose every line is clean."""
    try:
        topology.from_located(load_located(data, name))
    except TopologyError as exc:
        lines = str(exc).splitlines()
        assert lines, "an error without a message"
        for line in lines:
            assert LINE.match(line), line
            assert "Traceback" not in line and "object at 0x" not in line, line


@st.composite
def byte_mutations(draw: st.DrawFn) -> bytes:
    text = bytearray(draw(st.sampled_from(TEXTS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "snippet", "duplicate-line"]))
        if kind == "delete" and text:
            end = min(len(text), at + draw(st.integers(1, 12)))
            del text[at:end]
        elif kind == "insert":
            text[at:at] = draw(st.binary(min_size=1, max_size=6))
        elif kind == "snippet":
            text[at:at] = draw(st.sampled_from(SNIPPETS))
        else:
            lines = bytes(text).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            text = bytearray(b"\n".join(lines))
    return bytes(text)


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**12)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(data: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*here, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _paths(value, (*here, i))
    return found


@st.composite
def data_mutations(draw: st.DrawFn) -> bytes:
    data = yaml.safe_load(draw(st.sampled_from(TEXTS)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        value = draw(VALUES)
        if not path:
            data = value
            continue
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = value
    return yaml.safe_dump(data, allow_unicode=True).encode()


@SETTINGS
@given(byte_mutations())
def test_mutated_bytes_load_or_give_a_clean_error(data: bytes) -> None:
    clean_or_valid(data)


@SETTINGS
@given(data_mutations())
def test_mutated_data_loads_or_gives_a_clean_error(data: bytes) -> None:
    clean_or_valid(data)


@SETTINGS
@given(data_mutations())
def test_mutated_scenarios_load_or_give_a_clean_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzzed.yaml"
        path.write_bytes(data)
        try:
            scenario.load(path)
        except TopologyError as exc:
            assert all(LINE.match(line) for line in str(exc).splitlines()), str(exc)


def test_the_fuzzed_sources_are_valid_to_begin_with() -> None:
    assert len(SOURCES) >= 10
    for source in SOURCES:
        topology.load(source)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[repr(s)[2:-1][:20] for s in SNIPPETS])
def test_each_snippet_spliced_into_the_seed_chain_gives_a_clean_outcome(snippet: bytes) -> None:
    text = (ROOT / "scenarios/seed-chain.yaml").read_bytes()
    for at in (0, len(text) // 3, len(text) // 2, len(text) - 1):
        clean_or_valid(text[:at] + snippet + text[at:])
