"""Commands that run a lab: up, down, status, lookup, call, cli, logs, render, bundle."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import click

from lab.cli.app import (
    DEFAULT_TOPOLOGY,
    engine,
    engine_options,
    event_printer,
    fail,
    hosts_of,
    load_topology,
    main,
    name_option,
    note,
    raw_option,
    resolve_name,
    say,
)
from lab.cli.display import print_status, status_json, status_view
from lab.core import pipeline
from lab.core.running import Lab
from lab.core.state import summary
from lab.core.verdict import judge_call
from lab.errors import LabError, StaleNetworkWarning
from lab.observe import bundle
from lab.paths import LabPaths
from lab.redact import redact
from lab.runtime.protocol import Backend, LabRecord

# `lab status` exit codes, for scripts
DEGRADED = 3  # the lab is up, but a node is not running or a trust edge is not usable


@main.command()
@click.argument("topology_file", default=DEFAULT_TOPOLOGY, type=click.Path())
@click.option(
    "--network",
    "network_dir",
    type=click.Path(exists=True, file_okay=False),
    help="A network folder: one sub-folder per member with its own configs.",
)
@click.option("--name", "-n", help="Lab name (default: the topology's name).")
@click.option("--subnet", help="IPv4 subnet for the lab network (default: from the name).")
@engine_options
@click.option("--encrypted", is_flag=True, help="With --engine swarm: encrypt the overlay.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for ready.")
@click.option("--no-lint", is_flag=True, help="Start even if `lab lint` finds errors.")
@click.option(
    "--wait-links",
    is_flag=True,
    help="Also wait until every trust edge answered pbx_dundi's first probe (5 s after it "
    "loads); without it, links not probed yet count as ready, as pbx_dundi uses them.",
)
@click.option(
    "--bundle",
    "bundle_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Recreate the lab of a `lab bundle` archive (fresh keys).",
)
def up(
    topology_file: str,
    network_dir: str | None,
    name: str | None,
    subnet: str | None,
    engine_name: str,
    hosts: str,
    encrypted: bool,
    timeout: float,
    no_lint: bool,
    wait_links: bool,
    bundle_file: str | None,
) -> None:
    """Validate TOPOLOGY_FILE (or a network folder), lint the files it renders, start its
    nodes and wait until they are ready: every node booted, every trust edge usable
    (answered its probe, or not probed yet)."""
    started = time.monotonic()
    if network_dir:
        topology_file = network_dir
    name = name or os.environ.get("DUNDI_LAB_NAME") or None  # as every other command
    options = pipeline.Options(
        name=name,
        subnet=subnet,
        engine=engine_name,
        hosts=hosts_of(hosts),
        encrypted=encrypted,
        ready_timeout=timeout,
        wait_links=wait_links,
        lint=not no_lint,
    )
    with tempfile.TemporaryDirectory(prefix="dundi-lab-bundle-") as unpacked:
        if bundle_file:
            topology_file = str(bundle.unpack(Path(bundle_file), Path(unpacked)))
            note(f"recreating the lab of {bundle_file} from {Path(topology_file).name}")
        try:
            lab = pipeline.bring_up(topology_file, options, on_event=event_printer())
        except KeyboardInterrupt:
            note("interrupted: the lab was not started, and what `lab up` created was removed")
            sys.exit(130)
    try:
        note(f"lab {lab.name} ready in {time.monotonic() - started:.1f} s")
        print_status(lab.name, lab.status())
    except KeyboardInterrupt:
        note(f"interrupted; lab {lab.name} is up (lab down --name {lab.name} removes it)")
        sys.exit(130)


@main.command()
@name_option
@click.option("--all", "all_labs", is_flag=True, help="Take down every lab.")
def down(name: str | None, all_labs: bool) -> None:
    """Remove a lab's containers and network. A lab already down is not an error; a name
    no lab has is."""
    labs = engine().labs()
    names = sorted(labs) if all_labs else [resolve_name(name)]
    problems = []
    for lab_name in names:  # one lab that cannot be removed does not stop the others
        elsewhere = None if lab_name in labs else Lab.elsewhere(lab_name)
        if elsewhere is not None:  # a swarm this machine's engine is not part of
            labs[lab_name] = LabRecord(lab_name, str(elsewhere.paths.root), "swarm", 1, 1)
        if lab_name not in labs:
            if LabPaths.of(lab_name).state_file.exists():
                note(f"lab {lab_name} is already down")
                continue
            up = ", ".join(sorted(n for n, r in labs.items() if r.containers)) or "none"
            problems.append(f"no lab named '{lab_name}' (labs up: {up})")
            continue
        try:
            with pipeline.claim_lock(lab_name), warnings.catch_warnings(record=True) as left:
                warnings.simplefilter("always", StaleNetworkWarning)
                containers, networks = _engine_of(lab_name, labs[lab_name]).remove_lab(lab_name)
        except LabError as exc:
            problems.append(str(exc))
            continue
        note(f"lab {lab_name}: removed {containers} containers, {networks} networks")
        for warning in left:
            note(f"warning: {warning.message}")
    if problems:
        fail("\n".join(problems))


def _engine_of(name: str, record: LabRecord) -> Backend:
    """The engine that holds a lab: this machine's, or the one its state names (a swarm)."""
    if record.engine in ("", "docker") or not record.root:
        return engine()
    return Lab.from_folder(LabPaths(name, Path(record.root))).backend


@main.command()
@name_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("--watch", "-w", is_flag=True, help="Refresh every 2 s until Ctrl-C.")
def status(name: str | None, fmt: str, watch: bool) -> None:
    """Nodes, addresses, Asterisk versions, and each side's view of every trust edge.

    Exit status: 0 when every node runs and every trust edge is usable, 3 when the lab is
    up but some node or edge is not, 1 on an error (no such lab)."""
    lab = Lab.attach(resolve_name(name))
    if watch:
        from rich.console import Console
        from rich.live import Live

        with Live(
            status_view(lab.name, lab.status()), console=Console(), auto_refresh=False
        ) as live:
            try:
                while True:
                    time.sleep(2)
                    live.update(status_view(lab.name, lab.status()), refresh=True)
            except KeyboardInterrupt:
                return
    states = lab.status()
    if fmt == "json":
        say(json.dumps(status_json(lab.name, states), indent=2))
    else:
        print_status(lab.name, states)
    _, _, down_links, _ = summary(states)
    usable = all(ln.usable for s in states for ln in s.links if ln.mutual)
    healthy = all(s.running for s in states) and not down_links and usable
    sys.exit(0 if healthy else DEGRADED)


@main.command()
@click.argument("target", metavar="NUMBER@NETWORK")
@click.option("--from", "from_node", required=True, help="Node that asks.")
@click.option("--bypass", is_flag=True, help="Skip the DUNDi cache on every hop.")
@raw_option
@name_option
def lookup(target: str, from_node: str, bypass: bool, raw: bool, name: str | None) -> None:
    """Ask the DUNDi network where NUMBER lives, from one node (exit 1: not found)."""
    number, _, network = target.partition("@")
    lab = Lab.attach(resolve_name(name))
    result = lab.lookup(number, network or None, from_node=from_node, bypass=bypass)
    if not result.found:
        took = f"DUNDi: {result.asterisk_ms} ms"
        say(f"{number}@{result.network}: not found from {from_node} ({took})")
        sys.exit(1)
    show = (lambda text: text) if raw else redact
    for answer in result.answers:
        owner = lab.node_for(answer.eid)
        say(
            f"{number}@{result.network}: {show(answer.tech + '/' + answer.dest)}"
            f"  weight {answer.weight}  {'|'.join(answer.flags)}"
        )
        say(
            f"  answered by {answer.eid} ({owner.name if owner else 'not a lab node'}), "
            f"host {answer.host}, expires in {answer.expires} s"
        )
    say(f"lookup took {result.asterisk_ms} ms (DUNDi), {result.wall_ms:.0f} ms (wall)")


@main.command()
@click.argument("number")
@click.option("--from", "from_node", required=True, help="Node that places the call.")
@click.option("--network", help="DUNDi network (default: the lab's first).")
@name_option
def call(number: str, from_node: str, network: str | None, name: str | None) -> None:
    """Place a real IAX2 call through the DUNDi switch: voice both ways, each side's tones
    checked in the other's recording, and the callee's identity (exit 0 only when verified)."""
    lab = Lab.attach(resolve_name(name))
    verdict = judge_call(lab.topology, lab.call(from_node, number, network))
    result = verdict.result
    if not result.answered:
        say(f"call {from_node} → {number}: not answered ({verdict.checks[0].seen})")
        sys.exit(1)
    callee = verdict.callee.name if verdict.callee else result.host
    setup = f"{result.setup_ms:.0f} ms" if result.setup_ms is not None else "? ms"
    say(f"call {from_node} → {number}: answered by {callee} in {setup}")
    if result.answered_by:
        say(
            f"  {result.answered_by} took it: extension {result.callee_extension}, caller seen "
            f"{result.callee_saw_caller}, node code {result.callee_code}"
        )
    else:
        say("  no single lab node wrote that it took the call")
    say(f"  {verdict.audio()}")
    for check in verdict.failed():
        say(f"  ✗ {check.name}: expected {check.expected}, seen {check.seen}")
    took = f" ({result.wall_ms / 1000:.2f} s)" if result.wall_ms is not None else ""
    say(f"  verified: {'yes' if verdict.verified else 'no'}{took}")
    sys.exit(0 if verdict.verified else 1)


@main.command("cli")
@click.argument("node_name", metavar="NODE")
@click.argument("command")
@raw_option
@name_option
def cli_command(node_name: str, command: str, raw: bool, name: str | None) -> None:
    """Run an Asterisk CLI COMMAND on NODE (secrets masked unless --raw); exit 1 when
    Asterisk refuses it."""
    output = Lab.attach(resolve_name(name)).cli(node_name, command)
    click.echo(output if raw else redact(output), nl=False)


@main.command()
@click.argument("node_name", metavar="NODE", required=False)
@click.option("--all", "all_nodes", is_flag=True, help="Every node, lines prefixed by name.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines.")
@raw_option
@name_option
def logs(node_name: str | None, all_nodes: bool, follow: bool, raw: bool, name: str | None) -> None:
    """Print a node's Asterisk log (secrets masked unless --raw)."""
    lab = Lab.attach(resolve_name(name))
    show = (lambda text: text) if raw else redact
    if all_nodes:
        for n in lab.topology.nodes:
            for line in lab.backend.logs(lab.name, n.name):
                say(f"{n.name:>8} | {show(line)}")
        return
    if not node_name:
        fail("name a NODE or use --all")
    lab.node(node_name)  # LabError naming the known nodes
    for line in lab.backend.logs(lab.name, node_name, follow=follow):
        say(show(line))


@main.command("render")
@click.argument("topology_file", default=DEFAULT_TOPOLOGY, type=click.Path(exists=True))
@click.option("--name", "-n", help="Lab name (default: the topology's name).")
@click.option("--subnet", help="IPv4 subnet for the lab network.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Parent folder of the lab folder (default: ./build).",
)
def render_command(
    topology_file: str, name: str | None, subnet: str | None, out_dir: str | None
) -> None:
    """Write every node's configs and keys, and a compose project; start nothing."""
    topo = load_topology(topology_file, name=name, subnet=subnet)
    paths = LabPaths.of(topo.name, Path(out_dir).absolute() if out_dir else None)
    pipeline.render_only(topo, paths)
    say(f"rendered {len(topo.nodes)} nodes into {paths.root}")
    say(f"start without dundi-lab: docker compose -f {paths.compose_file} up -d")


@main.command("bundle")
@name_option
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="Archive to write (default: <lab>-bundle.tar.gz).",
)
def bundle_command(name: str | None, out_file: str | None) -> None:
    """Write a repro archive: topology, configs, public keys, logs, DUNDi/IAX2 state."""
    lab = Lab.attach(resolve_name(name))
    written = bundle.write(lab, Path(out_file or f"{lab.name}-bundle.tar.gz"))
    size = written.stat().st_size / 1024
    say(f"wrote {written} ({size:.0f} KiB); no private keys, secrets masked")
    say(f"recreate it elsewhere: lab up --bundle {written}")
