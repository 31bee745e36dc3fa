"""Commands for scenarios, generated topologies and images: test, generate, image."""

from __future__ import annotations

import sys
import tempfile
import uuid
from pathlib import Path

import click

from lab import scenario
from lab.asterisk import images
from lab.cli.app import engine_options, event_printer, fail, hosts_of, main, say
from lab.core.events import Note
from lab.errors import TopologyError
from lab.topology.generate import ring_with_chords


def print_step(result: scenario.StepResult) -> None:
    for line in scenario.format_result(result):
        say(f"  {line}")


@main.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--artifacts",
    default="artifacts",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where failed runs leave logs and configs.",
)
@engine_options
def test_command(files: tuple[str, ...], artifacts: str, engine_name: str, hosts: str) -> None:
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
        say(
            f"scenario {item.name} ({item.file}): "
            f"{len(item.topology.nodes)} nodes, {len(item.steps)} steps, lab {lab_name}"
        )
        with tempfile.TemporaryDirectory(prefix="dundi-lab-test-") as root:
            outcome = scenario.execute(
                item,
                lab_name=lab_name,
                root=Path(root),
                artifacts=Path(artifacts).absolute(),
                report=print_step,
                on_event=event_printer(),
                engine=engine_name,
                hosts=hosts_of(hosts),
            )
        for step in item.steps[len(outcome.results) :]:
            say(f"  ----  not run  {step.describe()}")
        if outcome.artifacts:
            say(f"  artifacts: {outcome.artifacts}")
        verdict = "PASS" if outcome.passed else "FAIL"
        say(
            f"{verdict} {item.name}: {len(outcome.results)}/{len(item.steps)} steps "
            f"in {outcome.seconds:.1f} s"
        )
        failed += not outcome.passed
    if len(loaded) > 1:
        say(f"{len(loaded) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


@main.group()
def generate() -> None:
    """Generated topologies (printed as YAML)."""


@generate.command("ring")
@click.option("--nodes", "count", type=click.IntRange(2, 60000), required=True)
@click.option("--chord-every", default=6, show_default=True, help="A chord from every Nth node.")
@click.option(
    "--chord-span",
    type=int,
    help="How far a chord reaches (default: nodes/2 - 1, or the multiple of "
    "--chord-every that keeps every node within 20 hops, past ~160 nodes).",
)
@click.option("--lookups", is_flag=True, help="Add steps: every node looks up its farthest node.")
@click.option("--steps", is_flag=True, help="Add steps: every node calls its farthest node.")
@click.option("--name", "-n", help="Lab name (default: ring-N).")
def generate_ring(
    count: int,
    chord_every: int,
    chord_span: int | None,
    lookups: bool,
    steps: bool,
    name: str | None,
) -> None:
    """A ring of NODES nodes with chords."""
    sys.stdout.write(
        ring_with_chords(
            count,
            chord_every=chord_every,
            chord_span=chord_span,
            steps=steps,
            lookups=lookups,
            lab_name=name,
        )
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
    printer = event_printer()
    for version in versions:
        result = images.build(version, force=force, progress=lambda text: printer(Note(text)))
        verb = "built" if result.built else "up to date:"
        say(
            f"{verb} {result.ref} (Asterisk {result.asterisk_version}, "
            f"{result.size_bytes / 1e6:.0f} MB) in {result.seconds:.1f} s"
        )
