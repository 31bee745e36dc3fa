"""Shared pieces of the `lab` command: the group, consoles, errors, lab names."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from lab import runtime, scenario
from lab.cli.display import status_view
from lab.core.running import NodeState
from lab.errors import LabError

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
    up = {lab: count for lab, count in runtime.labs().items() if count}
    if len(up) == 1:
        return next(iter(up))
    if len(up) > 1:
        fail(f"several labs are up ({', '.join(sorted(up))}); choose one with --name")
    return Path(DEFAULT_TOPOLOGY).stem


def raw_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--raw", is_flag=True, help="Show secrets (DUNDi's rotating secret) unmasked."
    )(f)


def name_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--name", "-n", help="Lab name (default: the only lab up).")(f)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
def main(debug: bool) -> None:
    """dundi-lab: a lab of Asterisk servers that route IAX2 calls with DUNDi."""


def print_status(name: str, states: list[NodeState]) -> None:
    out.print(status_view(name, states))


def print_step(result: scenario.StepResult) -> None:
    for line in scenario.format_result(result):
        out.print(f"  {line}", markup=False)
