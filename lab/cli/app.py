"""Shared pieces of the `lab` command: the group, plain-text output, errors, lab names.

User text is data: everything printed here is plain text (never Rich markup), one error per
line as `error: …`, and output that goes to a file or a pipe is never wrapped.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from lab import __version__, topology
from lab.core.events import Event, LintDone, NodeStarted, Note, StageDone
from lab.errors import LabError, LintFailed
from lab.lint import Finding, format_findings
from lab.runtime.protocol import Backend, backend
from lab.topology import Topology, network

DEFAULT_TOPOLOGY = "scenarios/seed-chain.yaml"
_printed: set[Finding] = set()  # lint findings an event printer has shown: not twice


def _plain(text: str) -> str:
    """Text any terminal or file takes: bytes a member's file held that are not UTF-8
    (kept as surrogates) become U+FFFD."""
    return text.encode("utf-8", "replace").decode("utf-8")


def say(text: str = "") -> None:
    """A line of the command's output (stdout)."""
    click.echo(_plain(text))


def note(text: str) -> None:
    """A line about the command's progress (stderr)."""
    click.echo(_plain(text), err=True)


def load_topology(source: str, *, name: str | None = None, subnet: str | None = None) -> Topology:
    """A topology file, or a network folder (its notes on stderr)."""
    if Path(source).is_dir():
        topo, findings = network.load_network(Path(source), name=name, subnet=subnet)
        for finding in findings:
            note(f"network: {finding}")
        return topo
    return topology.load(source, name=name, subnet=subnet)


def fail(message: str, code: int = 1) -> NoReturn:
    report(message)
    raise click.exceptions.Exit(code)


def report(message: str) -> None:
    for line in message.splitlines() or [""]:
        note(f"error: {line}")


class LabGroup(click.Group):
    """Turns LabError into `error: …` lines and exit 1; --debug shows the trace."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabError as exc:
            if ctx.params.get("debug") or os.environ.get("DUNDI_LAB_DEBUG"):
                raise
            if isinstance(exc, LintFailed):
                fresh = [f for f in exc.findings if f not in _printed]
                for line in format_findings(fresh, relative_to=Path.cwd()):
                    note(line)
            report(str(exc))
            for extra in getattr(exc, "__notes__", ()):
                report(extra)
            sys.exit(1)
        except KeyboardInterrupt:
            note("interrupted")
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit):
            raise  # a command's own exit, even one it chose after a Ctrl-C
        except Exception as exc:
            if (
                not _interrupted(exc)
                or ctx.params.get("debug")
                or os.environ.get("DUNDI_LAB_DEBUG")
            ):
                raise
            note("interrupted")
            sys.exit(130)


def _interrupted(exc: BaseException) -> bool:
    """Whether Ctrl-C is behind this error: CPython can turn a KeyboardInterrupt that lands
    inside threading's lock handling into a RuntimeError ('release unlocked lock')."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__context__
    return False


def engine() -> Backend:
    return backend("docker")


def resolve_name(name: str | None) -> str:
    """--name, else $DUNDI_LAB_NAME, else the only lab up, else the default lab."""
    if name:
        return name
    if os.environ.get("DUNDI_LAB_NAME"):
        return os.environ["DUNDI_LAB_NAME"]
    up = sorted(lab for lab, record in engine().labs().items() if record.containers)
    if len(up) == 1:
        return up[0]
    if len(up) > 1:
        fail(f"several labs are up ({', '.join(up)}); choose one with --name")
    return Path(DEFAULT_TOPOLOGY).stem


def name_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--name", "-n", help="Lab name (default: the only lab up).")(f)


def engine_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--engine and --hosts: where a lab runs (this machine's engine, or a swarm's)."""
    f = click.option(
        "--hosts",
        default="",
        help="With --engine swarm: the engines, NAME=URL,… (the first a manager; "
        "default: this machine's engine).",
    )(f)
    return click.option(
        "--engine",
        "engine_name",
        type=click.Choice(["docker", "swarm"]),
        default="docker",
        show_default=True,
        help="docker: this machine's engine; swarm: nodes spread over a swarm's engines.",
    )(f)


def hosts_of(text: str) -> tuple[str, ...]:
    return tuple(h.strip() for h in text.split(",") if h.strip())


def raw_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--raw", is_flag=True, help="Show secrets (DUNDi's rotating secret) unmasked."
    )(f)


def event_printer() -> Callable[[Event], None]:
    """Prints what bringing a lab up reports, one line each, with the time since start."""
    started = time.monotonic()

    def show(event: Event) -> None:
        at = f"{time.monotonic() - started:6.1f}s"
        if isinstance(event, StageDone):
            detail = f": {event.detail}" if event.detail else ""
            note(f"{at} {event.stage} ({event.seconds:.1f} s){detail}")
        elif isinstance(event, NodeStarted):
            note(f"{at} started {event.node} ({event.ip})")
        elif isinstance(event, LintDone):
            _printed.update(event.findings)
            if event.as_written:
                note(f"{at} lint of the members' files as they wrote them (not blocking):")
            for line in format_findings(event.findings, relative_to=Path.cwd()):
                note(("  " if event.as_written else "") + line)
        elif isinstance(event, Note):
            note(f"{at} {event.text}")

    return show


@click.group(cls=LabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dundi-lab")
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
def main(debug: bool) -> None:
    """dundi-lab: a lab of Asterisk servers that route IAX2 calls with DUNDi."""
