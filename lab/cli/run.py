"""Commands that run a lab: up, down, status, lookup, call, cli, logs, render, bundle."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import click
from rich.live import Live

from lab import lint, runtime, topology
from lab.asterisk import render
from lab.cli.app import (
    DEFAULT_TOPOLOGY,
    err,
    fail,
    main,
    name_option,
    out,
    print_status,
    progress_printer,
    raw_option,
    resolve_name,
)
from lab.cli.display import status_json, status_view
from lab.core.running import Lab
from lab.errors import LabError
from lab.observe import bundle
from lab.paths import LabPaths
from lab.redact import redact


@main.command()
@click.argument("topology_file", default=DEFAULT_TOPOLOGY, type=click.Path(dir_okay=False))
@click.option("--name", "-n", help="Lab name (default: the topology's name).")
@click.option("--subnet", help="IPv4 subnet for the lab network (default: from the name).")
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
    name: str | None,
    subnet: str | None,
    timeout: float,
    no_lint: bool,
    wait_links: bool,
    bundle_file: str | None,
) -> None:
    """Validate TOPOLOGY_FILE, start its nodes and wait until they are ready: every node
    booted, every trust edge usable (answered its probe, or not probed yet)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dundi-lab-bundle-") as unpacked:
        if bundle_file:
            topology_file = str(bundle.unpack(Path(bundle_file), Path(unpacked)))
            err.print(f"recreating the lab of {bundle_file} from {Path(topology_file).name}")
        topo = topology.load(topology_file, name=name, subnet=subnet)
        if not no_lint:
            lint_before_start(topo)
        lab = Lab.start(
            topo, ready_timeout=timeout, wait_links=wait_links, progress=progress_printer()
        )
    err.print(f"lab [bold]{lab.name}[/bold] ready in {time.monotonic() - started:.1f} s")
    print_status(lab.name, lab.status())


def lint_before_start(topo: topology.Topology) -> None:
    """Lint the configs `topo` renders; print what is found; errors stop the start."""
    findings = lint.lint_topology(topo)
    for line in lint.format_findings(findings, relative_to=Path.cwd()):
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    if lint.has_errors(findings):
        fail(f"lab lint: {lint.summary(findings)}; fix them, or start anyway with --no-lint")


@main.command()
@name_option
@click.option("--all", "all_labs", is_flag=True, help="Take down every lab.")
def down(name: str | None, all_labs: bool) -> None:
    """Remove a lab's containers and network (safe to repeat)."""
    names = sorted(runtime.labs()) if all_labs else [resolve_name(name)]
    problems = []
    for lab_name in names:  # one lab that cannot be removed does not stop the others
        try:
            containers, networks = runtime.remove_lab(lab_name)
        except LabError as exc:
            problems.append(str(exc))
            continue
        err.print(f"lab {lab_name}: removed {containers} containers, {networks} networks")
    if problems:
        fail("\n".join(problems))


@main.command()
@name_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("--watch", "-w", is_flag=True, help="Refresh every 2 s until Ctrl-C.")
def status(name: str | None, fmt: str, watch: bool) -> None:
    """Nodes, addresses, Asterisk versions, and each side's view of every trust edge."""
    lab = Lab.attach(resolve_name(name))
    if watch:
        with Live(status_view(lab.name, lab.status()), console=out, auto_refresh=False) as live:
            try:
                while True:
                    time.sleep(2)
                    live.update(status_view(lab.name, lab.status()), refresh=True)
            except KeyboardInterrupt:
                return
    states = lab.status()
    if fmt == "json":
        click.echo(json.dumps(status_json(lab.name, states), indent=2))
    else:
        print_status(lab.name, states)


@main.command()
@click.argument("target", metavar="NUMBER@NETWORK")
@click.option("--from", "from_node", required=True, help="Node that asks.")
@click.option("--bypass", is_flag=True, help="Skip the DUNDi cache on every hop.")
@raw_option
@name_option
def lookup(target: str, from_node: str, bypass: bool, raw: bool, name: str | None) -> None:
    """Ask the DUNDi network where NUMBER lives, from one node."""
    number, _, network = target.partition("@")
    lab = Lab.attach(resolve_name(name))
    result = lab.lookup(number, network or None, from_node=from_node, bypass=bypass)
    if not result.found:
        out.print(
            f"{number}@{result.network}: not found from {from_node} "
            f"(DUNDi: {result.asterisk_ms} ms)"
        )
        sys.exit(1)
    show = (lambda text: text) if raw else redact
    for answer in result.answers:
        node = lab.node_for(answer.eid)
        out.print(
            f"{number}@{result.network}: {show(answer.tech + '/' + answer.dest)}"
            f"  weight {answer.weight}"
            f"  {'|'.join(answer.flags)}"
        )
        out.print(
            f"  answered by {answer.eid} ({node.name if node else 'not a lab node'}), "
            f"host {answer.host}, expires in {answer.expires} s"
        )
    out.print(f"lookup took {result.asterisk_ms} ms (DUNDi), {result.wall_ms:.0f} ms (wall)")


@main.command()
@click.argument("number")
@click.option("--from", "from_node", required=True, help="Node that places the call.")
@click.option("--network", help="DUNDi network (default: the lab's first).")
@name_option
def call(number: str, from_node: str, network: str | None, name: str | None) -> None:
    """Place a real IAX2 call through the DUNDi switch and verify its media."""
    lab = Lab.attach(resolve_name(name))
    result = lab.call(from_node, number, network)
    if not result.answered:
        out.print(
            f"call {from_node} → {number}: [red]not answered[/red] ({result.status}, "
            f"hangup cause {result.cause or '?'}"
            f"{', dial ' + result.dial_status if result.dial_status else ''})"
        )
        sys.exit(1)
    callee = lab.node_for(result.host or "")
    code_ok = callee is not None and result.callee_code == callee.code
    caller_ok = result.callee_saw_caller == result.caller
    verified = code_ok and caller_ok and result.callee_extension == number[-4:]
    out.print(
        f"call {from_node} → {number}: [green]answered[/green] by "
        f"{callee.name if callee else result.host} in {result.setup_ms:.0f} ms"
    )
    out.print(
        f"  digits from the callee: {result.digits}  (extension {result.callee_extension}, "
        f"caller seen {result.callee_saw_caller}, node code {result.callee_code})"
    )
    out.print(f"  media verified: {'[green]yes[/green]' if verified else '[red]no[/red]'}")
    sys.exit(0 if verified else 1)


@main.command("cli")
@click.argument("node")
@click.argument("command")
@raw_option
@name_option
def cli_command(node: str, command: str, raw: bool, name: str | None) -> None:
    """Run an Asterisk CLI COMMAND on NODE (secrets masked unless --raw)."""
    output = Lab.attach(resolve_name(name)).cli(node, command)
    click.echo(output if raw else redact(output), nl=False)


@main.command()
@click.argument("node", required=False)
@click.option("--all", "all_nodes", is_flag=True, help="Every node, lines prefixed by name.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines.")
@raw_option
@name_option
def logs(node: str | None, all_nodes: bool, follow: bool, raw: bool, name: str | None) -> None:
    """Print a node's Asterisk log (secrets masked unless --raw)."""
    lab = Lab.attach(resolve_name(name))
    show = (lambda text: text) if raw else redact
    if all_nodes:
        for n in lab.topology.nodes:
            for line in runtime.logs(lab.name, n.name):
                click.echo(f"{n.name:>8} | {show(line)}")
        return
    if not node:
        fail("name a NODE or use --all")
    for line in runtime.logs(lab.name, node, follow=follow):
        click.echo(show(line))


@main.command("render")
@click.argument("topology_file", default=DEFAULT_TOPOLOGY, type=click.Path(dir_okay=False))
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
    topo = topology.load(topology_file, name=name, subnet=subnet)
    paths = LabPaths.of(topo.name, Path(out_dir).absolute() if out_dir else None)
    render.write_lab(topo, paths)
    out.print(f"rendered {len(topo.nodes)} nodes into {paths.root}")
    out.print(f"start without dundi-lab: docker compose -f {paths.compose_file} up -d")


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
    out.print(
        f"wrote {written} ({written.stat().st_size / 1024:.0f} KiB); no private keys, "
        "secrets masked"
    )
    out.print(f"recreate it elsewhere: lab up --bundle {written}")
