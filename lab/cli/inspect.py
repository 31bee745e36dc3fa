"""Commands that look into a lab or its configs: validate, lint, import, trace, graph,
capture."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lab import lint, topology
from lab.asterisk.member import read_member
from lab.cli.app import fail, load_topology, main, name_option, note, resolve_name, say
from lab.core.running import Lab
from lab.errors import TopologyError
from lab.observe import capture, graph, trace
from lab.paths import LabPaths


@main.command()
@click.argument("topology_file", type=click.Path(exists=True))
def validate(topology_file: str) -> None:
    """Check a topology file (or a network folder) and print every problem found."""
    try:
        topo = load_topology(topology_file)
    except TopologyError as exc:
        fail(str(exc))
    say(
        f"{topology_file}: valid ({len(topo.nodes)} nodes, "
        f"{len(topo.edges)} peer entries, networks {', '.join(topo.networks)})"
    )


@main.command("lint")
@click.argument("topology_file", required=False, type=click.Path(exists=True))
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
    """Check the Asterisk configs of TOPOLOGY_FILE (as rendered), of a network folder (the
    members' files as they wrote them) or of --dir for the mistakes that break DUNDi
    networks; exit 1 if there are errors."""
    if (topology_file is None) == (lab_dir is None):
        fail("lint needs a TOPOLOGY_FILE, a network folder or --dir LABDIR (one of them)")
    if lab_dir is not None:
        findings = lint.lint_dir(Path(lab_dir), number_length=number_length, version=version)
    elif Path(str(topology_file)).is_dir():
        findings = lint.lint_members(load_topology(str(topology_file)))
    else:
        findings = lint.lint_topology(topology.load(str(topology_file)))
    for line in lint.format_findings(findings, relative_to=Path.cwd()):
        say(line)
    note(f"lab lint: {lint.summary(findings)}")
    sys.exit(1 if lint.has_errors(findings) else 0)


@main.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--node", "node_name", default="member", show_default=True, help="Name of the node entry."
)
def import_command(folder: str, node_name: str) -> None:
    """Turn a folder of a member's dundi.conf, iax.conf, extensions.conf into a node entry."""
    try:
        member = read_member(Path(folder))
    except OSError as exc:
        fail(f"{folder}: {exc}")
    say("# node entry for the topology's nodes: (dir is relative to the topology file)")
    say(f"  {node_name}:")
    say("    import:")
    say(f"      dir: {folder}")
    if member.peers:
        say("      peers:   # map each peer of the member's dundi.conf to a lab node")
        for peer in member.peers:
            say(f'        "{peer.eid}": NODE   # dundi.conf:{peer.line}, model {peer.model}')
    say(f"# entity ID: {member.entityid or '(unset: the lab assigns one)'}")
    for net, ctx, weight in member.mappings:
        patterns = dict(member.serves).get(net, ())
        say(
            f"# network {net}: mapping context {ctx} (weight {weight}), serves "
            f"{', '.join(patterns) or 'nothing (the context has no extensions)'}"
        )
    for net, ctx in member.lookup:
        outgoing = dict(member.outgoing).get(net, "(none found)")
        say(f"# network {net}: lookups in [{ctx}], outgoing calls from [{outgoing}]")


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
        sys.stdout.write(trace.to_json(result))
    else:
        for line in trace.format_trace(result):
            say(line)
    sys.exit(0 if result.found else 1)


@main.command("graph")
@click.argument("topology_file", required=False, type=click.Path(exists=True))
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
        topo = load_topology(topology_file)
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
        note(f"wrote {out_file} ({fmt})")
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
            started=lambda: note(f"capturing on {node} for {seconds:g} s …"),
        )
    except KeyboardInterrupt:
        note(f"interrupted; what was captured so far is in {path}")
        sys.exit(130)
    note(f"{result.packets} packets in {result.seconds:.1f} s → {result.path}")
    if summary:
        for line in capture.summary(result.path, capture.node_names(lab)):
            say(line)
