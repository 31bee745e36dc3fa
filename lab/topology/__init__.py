"""Stage 1, load: a topology file → a validated, frozen `Topology`.

Takes YAML (`load`, `parse`); gives the model (`Topology`, `Node`, `Peer`, `Service`) or a
`TopologyError` listing every problem as `file:line path: message`. Nothing is started.
"""

from lab.topology.model import (
    CODECS,
    MODELS,
    ORDERS,
    VERSIONS,
    Imported,
    Node,
    Peer,
    Service,
    Topology,
    default_eid,
    default_subnet,
    pattern_lengths,
)
from lab.topology.validate import SCENARIO_KEYS, from_located, load, parse

__all__ = [
    "CODECS",
    "MODELS",
    "ORDERS",
    "SCENARIO_KEYS",
    "VERSIONS",
    "Imported",
    "Node",
    "Peer",
    "Service",
    "Topology",
    "default_eid",
    "default_subnet",
    "from_located",
    "load",
    "parse",
    "pattern_lengths",
]
