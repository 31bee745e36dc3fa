"""The `lab` command: bring labs up and down, look numbers up, place calls."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from . import (
    bundle,
    capture,
    graph,
    images,
    importer,
    lint,
    render,
    runtime,
    scenario,
    topology,
    trace,
)
from ._display import status_json, status_view
from .errors import LabError, TopologyError
from .generate import ring_with_chords
from .lifecycle import Lab, NodeState
from .paths import LabPaths

DEFAULT_TOPOLOGY = "scenarios/seed-chain.yaml"
# Not a terminal (CI, pipes): wide enough that tables do not wrap.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False)


def fail(message: str) -> NoReturn:
    raise click.exceptions.Exit(_report(message))


def _report(message: str) -> int:
    for line in message.splitlines() or [""]:
        err.print(f"[red]error:[/red] {line}", markup=True, soft_wrap=True)
    return 1


class _Group(click.Group):
    """Turns LabError into `error: …` lines and exit 1; --debug shows the trace."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabError as exc:
            if ctx.params.get("debug") or os.environ.get("DUNDI_LAB_DEBUG"):
                raise
            sys.exit(_report(str(exc)))
        except KeyboardInterrupt:
            err.print("interrupted; what the command created was removed")
            sys.exit(130)


def progress_printer() -> Callable[[str], None]:
    started = time.monotonic()

    def show(message: str) -> None:
        err.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {message}")

    return show


def resolve_name(name: str | None) -> str:
    """--name, else $DUNDI_LAB_NAME, else the only lab up, else the default lab."""
    if name:
        return name
    if os.environ.get("DUNDI_LAB_NAME"):
        return os.environ["DUNDI_LAB_NAME"]
    up = runtime.labs()
    if len(up) == 1:
        return next(iter(up))
    if len(up) > 1:
        fail(f"several labs are up ({', '.join(sorted(up))}); choose one with --name")
    return Path(DEFAULT_TOPOLOGY).stem


def name_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--name", "-n", help="Lab name (default: the only lab up).")(f)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
def main(debug: bool) -> None:
    """dundi-lab: a lab of Asterisk servers that route IAX2 calls with DUNDi."""


@main.command()
@click.argument("topology_file", default=DEFAULT_TOPOLOGY, type=click.Path(dir_okay=False))
@click.option("--name", "-n", help="Lab name (default: the topology's name).")
@click.option("--subnet", help="IPv4 subnet for the lab network (default: from the name).")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for ready.")
@click.option("--no-lint", is_flag=True, help="Start even if `lab lint` finds errors.")
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
    bundle_file: str | None,
) -> None:
    """Validate TOPOLOGY_FILE, start its nodes and wait until every peer link is OK."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dundi-lab-bundle-") as unpacked:
        if bundle_file:
            topology_file = str(bundle.unpack(Path(bundle_file), Path(unpacked)))
            err.print(f"recreating the lab of {bundle_file} from {Path(topology_file).name}")
        topo = topology.load(topology_file, name=name, subnet=subnet)
        if not no_lint:
            lint_before_start(topo)
        lab = Lab.start(topo, ready_timeout=timeout, progress=progress_printer())
    err.print(f"lab [bold]{lab.name}[/bold] ready in {time.monotonic() - started:.1f} s")
    print_status(lab.name, lab.status())


@main.command()
@name_option
@click.option("--all", "all_labs", is_flag=True, help="Take down every lab.")
def down(name: str | None, all_labs: bool) -> None:
    """Remove a lab's containers and network (safe to repeat)."""
    names = sorted(runtime.labs()) if all_labs else [resolve_name(name)]
    for lab_name in names:
        containers, networks = runtime.remove_lab(lab_name)
        err.print(f"lab {lab_name}: removed {containers} containers, {networks} networks")


@main.command()
@name_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def status(name: str | None, fmt: str) -> None:
    """Nodes, addresses, Asterisk versions and every peer link's state."""
    lab = Lab.attach(resolve_name(name))
    states = lab.status()
    if fmt == "json":
        click.echo(json.dumps(status_json(lab.name, states), indent=2))
    else:
        print_status(lab.name, states)


def print_status(name: str, states: list[NodeState]) -> None:
    out.print(status_view(name, states))


@main.command()
@click.argument("target", metavar="NUMBER@NETWORK")
@click.option("--from", "from_node", required=True, help="Node that asks.")
@click.option("--bypass", is_flag=True, help="Skip the DUNDi cache on every hop.")
@name_option
def lookup(target: str, from_node: str, bypass: bool, name: str | None) -> None:
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
    for answer in result.answers:
        node = lab.node_for(answer.eid)
        out.print(
            f"{number}@{result.network}: {answer.tech}/{answer.dest}  weight {answer.weight}"
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
@name_option
def cli_command(node: str, command: str, name: str | None) -> None:
    """Run an Asterisk CLI COMMAND on NODE."""
    click.echo(Lab.attach(resolve_name(name)).cli(node, command), nl=False)


@main.command()
@click.argument("node", required=False)
@click.option("--all", "all_nodes", is_flag=True, help="Every node, lines prefixed by name.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines.")
@name_option
def logs(node: str | None, all_nodes: bool, follow: bool, name: str | None) -> None:
    """Print a node's Asterisk log."""
    lab = Lab.attach(resolve_name(name))
    if all_nodes:
        for n in lab.topology.nodes:
            for line in runtime.logs(lab.name, n.name):
                click.echo(f"{n.name:>8} | {line}")
        return
    if not node:
        fail("name a NODE or use --all")
    for line in runtime.logs(lab.name, node, follow=follow):
        click.echo(line)


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


def lint_before_start(topo: topology.Topology) -> None:
    """Lint the configs `topo` renders; print what is found; errors stop the start."""
    findings = lint.lint_topology(topo)
    for line in lint.format_findings(findings, relative_to=Path.cwd()):
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    if lint.has_errors(findings):
        fail(f"lab lint: {lint.summary(findings)}; fix them, or start anyway with --no-lint")


@main.command("lint")
@click.argument("topology_file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--dir",
    "lab_dir",
    type=click.Path(exists=True, file_okay=False),
    help="A lab folder (build/<lab>), one member's config folder, or a folder of them.",
)
@click.option(
    "--number-length",
    type=click.IntRange(1, 20),
    help="Digits of a network number, for --dir without a topology (default: 9).",
)
@click.option(
    "--asterisk",
    "version",
    type=click.Choice(topology.VERSIONS),
    default="22",
    show_default=True,
    help="Asterisk version, for --dir without a topology.",
)
def lint_command(
    topology_file: str | None, lab_dir: str | None, number_length: int | None, version: str
) -> None:
    """Check the Asterisk configs of TOPOLOGY_FILE (as rendered) or of --dir for the
    mistakes that break DUNDi networks; exit 1 if there are errors."""
    if (topology_file is None) == (lab_dir is None):
        fail("lint needs a TOPOLOGY_FILE or --dir LABDIR (one of them)")
    if lab_dir is not None:
        findings = lint.lint_dir(Path(lab_dir), number_length=number_length, version=version)
    else:
        findings = lint.lint_topology(topology.load(str(topology_file)))
    for line in lint.format_findings(findings, relative_to=Path.cwd()):
        click.echo(line)
    err.print(f"lab lint: {lint.summary(findings)}")
    sys.exit(1 if lint.has_errors(findings) else 0)


@main.command("trace")
@click.argument("target", metavar="NUMBER@NETWORK")
@click.option("--from", "from_node", required=True, help="Node that asks.")
@click.option("--json", "as_json", is_flag=True, help="Print the trace as JSON.")
@name_option
def trace_command(target: str, from_node: str, as_json: bool, name: str | None) -> None:
    """Show the path a lookup takes: who asked whom, per-hop times, where it ended.

    Turns DUNDi debug on on every running node for one lookup that bypasses the
    caches, then off again. Exits 1 when the number is not found. The trace is
    kept in the lab's folder for `lab graph --trace`.
    """
    number, _, network = target.partition("@")
    lab = Lab.attach(resolve_name(name))
    result = trace.run(lab, number, network or None, from_node=from_node)
    trace.save(result, trace.trace_file(lab.paths))
    if as_json:
        click.echo(trace.to_json(result), nl=False)
    else:
        for line in trace.format_trace(result):
            click.echo(line)
    sys.exit(0 if result.found else 1)


@main.command("graph")
@click.argument("topology_file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(graph.FORMATS),
    help="Default: from --out's suffix (.svg .png .dot .mmd), else mermaid.",
)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Write to this file.")
@click.option("--trace", "with_trace", is_flag=True, help="Draw the last `lab trace` on top.")
@name_option
def graph_command(
    topology_file: str | None,
    fmt: str | None,
    out_file: str | None,
    with_trace: bool,
    name: str | None,
) -> None:
    """Draw a topology: nodes, prefixes, Asterisk versions and trust edges.

    Without TOPOLOGY_FILE, the lab that is up (with the Asterisk versions it runs).
    """
    versions: dict[str, str] = {}
    if topology_file:
        topo = topology.load(topology_file)
    else:
        lab = Lab.attach(resolve_name(name))
        topo = lab.topology
        versions = {s.node.name: s.asterisk_version for s in lab.status() if s.asterisk_version}
    last = trace.load(trace.trace_file(LabPaths.of(resolve_name(name)))) if with_trace else None
    fmt = fmt or graph.format_for(out_file)
    picture = graph.render(topo, fmt, versions=versions, trace=last)
    if out_file:
        Path(out_file).parent.mkdir(parents=True, exist_ok=True)
        Path(out_file).write_bytes(picture)
        err.print(f"wrote {out_file} ({fmt})")
    elif fmt == "png" and sys.stdout.isatty():
        fail("a PNG is not for the terminal: add --out FILE.png")
    else:
        sys.stdout.buffer.write(picture)


@main.command("capture")
@click.argument("node")
@click.option(
    "--seconds",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True, max=3600),
    help="How long to capture; it stops by itself.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="pcap file to write (default: the lab's artifacts folder).",
)
@click.option("--summary", is_flag=True, help="Then print one line per DUNDi message.")
@name_option
def capture_command(
    node: str, seconds: float, out_file: Path | None, summary: bool, name: str | None
) -> None:
    """Capture NODE's DUNDi (4520/udp) and IAX2 (4569/udp) traffic into a pcap file.

    Seen from inside the node (its own network namespace); needs root.
    """
    lab = Lab.attach(resolve_name(name))
    path = out_file or capture.default_output(lab, node)
    try:
        result = capture.capture(
            lab,
            node,
            path,
            seconds=seconds,
            started=lambda: err.print(f"capturing on {node} for {seconds:g} s …"),
        )
    except KeyboardInterrupt:
        err.print(f"interrupted; what was captured so far is in {path}")
        sys.exit(130)
    err.print(f"{result.packets} packets in {result.seconds:.1f} s → {result.path}")
    if summary:
        for line in capture.summary(result.path, capture.node_names(lab)):
            click.echo(line)


@main.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--node", "node_name", default="member", show_default=True, help="Name of the node entry."
)
def import_command(folder: str, node_name: str) -> None:
    """Turn a folder of a member's dundi.conf, iax.conf, extensions.conf into a node entry."""
    try:
        member = importer.read_member(Path(folder))
    except OSError as exc:
        fail(f"{folder}: {exc}")
    click.echo("# node entry for the topology's nodes: (dir is relative to the topology file)")
    click.echo(f"  {node_name}:")
    click.echo("    import:")
    click.echo(f"      dir: {folder}")
    if member.peers:
        click.echo("      peers:   # map each peer of the member's dundi.conf to a lab node")
        for peer in member.peers:
            click.echo(f'        "{peer.eid}": NODE   # dundi.conf:{peer.line}, model {peer.model}')
    click.echo(f"# entity ID: {member.entityid or '(unset: the lab assigns one)'}")
    for net, ctx, weight in member.mappings:
        patterns = dict(member.serves).get(net, ())
        click.echo(
            f"# network {net}: mapping context {ctx} (weight {weight}), serves "
            f"{', '.join(patterns) or 'nothing (the context has no extensions)'}"
        )
    for net, ctx in member.lookup:
        outgoing = dict(member.outgoing).get(net, "(none found)")
        click.echo(f"# network {net}: lookups in [{ctx}], outgoing calls from [{outgoing}]")


@main.command()
@click.argument("topology_file", type=click.Path(dir_okay=False))
def validate(topology_file: str) -> None:
    """Check a topology file and print every problem found."""
    try:
        topo = topology.load(topology_file)
    except TopologyError as exc:
        fail(str(exc))
    out.print(
        f"{topology_file}: valid ({len(topo.nodes)} nodes, "
        f"{len(topo.edges)} peer entries, networks {', '.join(topo.networks)})"
    )


@main.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--artifacts",
    default="artifacts",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where failed runs leave logs and configs.",
)
def test_command(files: tuple[str, ...], artifacts: str) -> None:
    """Run scenario FILES: each in its own lab, a PASS/FAIL line per step."""
    loaded = []
    problems = []
    for file in files:  # validate every file before starting any lab
        try:
            loaded.append(scenario.load(file))
        except TopologyError as exc:
            problems.append(str(exc))
    if problems:
        fail("\n".join(problems))
    failed = 0
    for item in loaded:
        lab_name = f"{item.name[:30]}-{uuid.uuid4().hex[:4]}"
        out.print(
            f"[bold]scenario {item.name}[/bold] ({item.file}): "
            f"{len(item.topology.nodes)} nodes, {len(item.steps)} steps, lab {lab_name}"
        )
        with tempfile.TemporaryDirectory(prefix="dundi-lab-test-") as root:
            outcome = scenario.execute(
                item,
                lab_name=lab_name,
                root=Path(root),
                artifacts=Path(artifacts).absolute(),
                report=print_step,
                progress=progress_printer(),
            )
        for step in item.steps[len(outcome.results) :]:
            out.print(f"  ----  not run  {step.describe()}", markup=False)
        if outcome.artifacts:
            out.print(f"  artifacts: {outcome.artifacts}")
        verdict = "[green]PASS[/green]" if outcome.passed else "[red]FAIL[/red]"
        out.print(
            f"{verdict} {item.name}: {len(outcome.results)}/{len(item.steps)} steps "
            f"in {outcome.seconds:.1f} s"
        )
        failed += not outcome.passed
    if len(loaded) > 1:
        out.print(f"{len(loaded) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def print_step(result: scenario.StepResult) -> None:
    for line in scenario.format_result(result):
        out.print(f"  {line}", markup=False)


@main.group()
def generate() -> None:
    """Generated topologies (printed as YAML)."""


@generate.command("ring")
@click.option("--nodes", "count", type=click.IntRange(2, 250), required=True)
@click.option("--chord-every", default=6, show_default=True, help="A chord from every Nth node.")
@click.option("--chord-span", type=int, help="How far a chord reaches (default: nodes/2 - 1).")
@click.option("--steps", is_flag=True, help="Add steps: every node calls its farthest node.")
@click.option("--name", "-n", help="Lab name (default: ring-N).")
def generate_ring(
    count: int, chord_every: int, chord_span: int | None, steps: bool, name: str | None
) -> None:
    """A ring of NODES nodes with chords."""
    click.echo(
        ring_with_chords(
            count, chord_every=chord_every, chord_span=chord_span, steps=steps, lab_name=name
        ),
        nl=False,
    )


@main.group()
def image() -> None:
    """Asterisk images built from Debian packages."""


@image.command("build")
@click.option(
    "--version",
    "versions",
    multiple=True,
    default=["22"],
    show_default=True,
    type=click.Choice(sorted(images.recipe()["versions"])),
)
@click.option("--force", is_flag=True, help="Rebuild even when the image exists.")
def image_build(versions: tuple[str, ...], force: bool) -> None:
    """Build the Asterisk image (skipped when one for the same inputs exists)."""
    for version in versions:
        result = images.build(version, force=force, progress=progress_printer())
        verb = "built" if result.built else "up to date:"
        out.print(
            f"{verb} {result.ref} (Asterisk {result.asterisk_version}, "
            f"{result.size_bytes / 1e6:.0f} MB) in {result.seconds:.1f} s"
        )


if __name__ == "__main__":
    main()
