"""Stage 1, load: a topology file → a validated, frozen `Topology`.

Takes YAML (`load`, `parse`); gives the model (`Topology`, `Node`, `Peer`, `Service`) or a
`TopologyError` listing every problem as `file:line path: message`. Nothing is started.
"""

from lab.topology.validate import (
    MODELS,
    ORDERS,
    SCENARIO_KEYS,
    VERSIONS,
    Imported,
    Node,
    Peer,
    Service,
    Topology,
    default_subnet,
    from_located,
    load,
    parse,
    pattern_lengths,
)

__all__ = [
    "MODELS",
    "ORDERS",
    "SCENARIO_KEYS",
    "VERSIONS",
    "Imported",
    "Node",
    "Peer",
    "Service",
    "Topology",
    "default_subnet",
    "from_located",
    "load",
    "parse",
    "pattern_lengths",
]
