"""An Asterisk node as a container: what it runs, which folders it sees, how it is reached.

Everything Asterisk-specific about running a node lives here, not in the runtime: the
command (Asterisk in the foreground, held at the lab's start barrier), the two mounts
(/etc/asterisk and the key folder, read-only), what "booted" means, and the manager (AMI)
user the lab controls it with.
"""

from __future__ import annotations

from pathlib import Path

from lab.paths import LabPaths
from lab.runtime.protocol import ROOT_LABEL, ContainerSpec, Mount
from lab.topology import Node, Topology

__all__ = [
    "AMI_PORT",
    "AMI_USER",
    "AUDIO",
    "BOOTED",
    "ETC",
    "HOLD_FILE",
    "KEYS",
    "MODULES",
    "READY_LOG",
    "cli_argv",
    "container_spec",
]

# Every module a node loads (modules.conf has autoload = no); the image keeps the
# XML documentation of these only (lab/xmldocs.py).
MODULES = (
    "res_crypto.so",
    # the dialplan before DUNDi: pbx_dundi pushes (precache) what it finds in the dialplan
    # when it loads; loaded first, it would find none and push nothing until a reload
    "pbx_config.so",
    "pbx_dundi.so",
    "chan_iax2.so",
    "app_dial.so",
    "app_read.so",
    "app_senddtmf.so",
    "app_playtones.so",
    "app_mixmonitor.so",  # each side of a test call records what it hears
    "app_stack.so",
    "func_db.so",
    "func_env.so",  # FILE(): a test call's end record, written where the host reads it
    "func_strings.so",
    "func_cut.so",
    "func_callerid.so",
    "func_channel.so",
    "func_dialplan.so",
    "func_hangupcause.so",  # the far end's reason a call failed (IAX2 REJECT, …)
    "res_clioriginate.so",
    "codec_ulaw.so",
    "codec_alaw.so",
    "codec_gsm.so",
    "format_wav.so",
    "bridge_simple.so",
    "res_timing_timerfd.so",
)

ETC = "/etc/asterisk"
KEYS = "/var/lib/asterisk/keys"
# each side of a test call records here what it hears; the host reads the files as they close
AUDIO = "/var/spool/asterisk/lab-audio"
AMI_PORT = 5038
AMI_USER = "lab"
# Asterisk logs this once it has loaded its modules; `core waitfullybooted` confirms it.
READY_LOG = "Asterisk Ready."
BOOTED = ("asterisk", "-rx", "core waitfullybooted")

# While this file is in the node's /etc/asterisk, its Asterisk waits: the pipeline holds
# every node until the last container runs, so no node probes a peer not started yet.
# The wait ends by itself after 120 s, so a lab whose `up` was killed still boots.
HOLD_FILE = ".lab-hold"
_HOLD_STEPS = 2400  # x 0.05 s
# The wait forks nothing: bash's `read -t` on a pipe nobody writes to is the pause (with
# `sleep`, 200 held nodes started 4000 processes a second and slowed the others' start).
_COMMAND = (
    "bash",
    "-c",
    f"exec 3<> <(:); i=0; while [ -e {ETC}/{HOLD_FILE} ] && [ $i -lt {_HOLD_STEPS} ]; "
    "do read -t 0.05 -u 3; i=$((i+1)); done; exec 3>&-; exec asterisk -f",
)


def cli_argv(command: str) -> list[str]:
    """A CLI command run inside the node through `asterisk -rx` (argv, no shell)."""
    return ["asterisk", "-rx", command]


def container_spec(
    lab: Topology, node: Node, paths: LabPaths, image: str, network: str
) -> ContainerSpec:
    """The container that runs `node`, held at the start barrier."""
    return ContainerSpec(
        lab=lab.name,
        node=node.name,
        image=image,
        command=_COMMAND,
        network=network,
        ip=node.ip,
        mounts=(
            Mount(paths.etc(node.name), ETC),
            Mount(paths.keys(node.name), KEYS),
            Mount(paths.audio(node.name), AUDIO, read_only=False),
        ),
        aliases=node.aliases,
        hold=paths.etc(node.name) / HOLD_FILE,
        placement=node.host,
        labels={ROOT_LABEL: str(paths.root)},
    )


def hold_file(paths: LabPaths, node: str) -> Path:
    return paths.etc(node) / HOLD_FILE
