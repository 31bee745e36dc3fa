"""Stage 4, deploy: the container engine behind a lab, as a protocol.

Takes container specs and a network spec; gives running containers, exec, logs, state,
removal by label and a way into a node's network namespace. `backend("docker")` is the
Docker engine (`lab.runtime.docker`, the only module that imports the Docker SDK);
`compose` writes the same specs as a standalone compose project.
"""

from lab.runtime.protocol import (
    LABEL,
    NODE_LABEL,
    ROOT_LABEL,
    Backend,
    ContainerSpec,
    ExecResult,
    LabRecord,
    Mount,
    NetworkSpec,
    SubnetTaken,
    backend,
    container_name,
    network_name,
    register,
)

__all__ = [
    "LABEL",
    "NODE_LABEL",
    "ROOT_LABEL",
    "Backend",
    "ContainerSpec",
    "ExecResult",
    "LabRecord",
    "Mount",
    "NetworkSpec",
    "SubnetTaken",
    "backend",
    "container_name",
    "network_name",
    "register",
]
