"""`lab node stop|start|restart|recreate NODE`: one node of a running lab; `lab partition`,
`lab impair` and `lab heal A B`: faults on the path between two nodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from lab.cli.app import fail, main, name_option, note, resolve_name
from lab.core import faults
from lab.core.running import Lab


@main.group()
def node() -> None:
    """Stop, start, restart or recreate one node of the lab that is up."""


@node.command("stop")
@click.argument("node_name", metavar="NODE")
@name_option
def stop(node_name: str, name: str | None) -> None:
    """Stop NODE's container; its address and files stay (its peers notice within 60 s)."""
    lab = Lab.attach(resolve_name(name))
    lab.stop_node(node_name)
    note(f"{node_name} stopped")


@node.command("start")
@click.argument("node_name", metavar="NODE")
@name_option
def start(node_name: str, name: str | None) -> None:
    """Start NODE's stopped container and wait until its Asterisk is fully booted."""
    lab = Lab.attach(resolve_name(name))
    lab.start_node(node_name)
    note(f"{node_name} is up")


@node.command("restart")
@click.argument("node_name", metavar="NODE")
@name_option
def restart(node_name: str, name: str | None) -> None:
    """Stop NODE, then start it again."""
    lab = Lab.attach(resolve_name(name))
    lab.restart_node(node_name)
    note(f"{node_name} restarted")


@node.command("recreate")
@click.argument("node_name", metavar="NODE")
@name_option
def recreate(node_name: str, name: str | None) -> None:
    """Make NODE's container anew from the lab's files, at its address, whatever became of
    the old one (removed with `docker rm -f`, stuck, stopped)."""
    lab = Lab.attach(resolve_name(name))
    lab.recreate_node(node_name)
    note(f"{node_name} recreated and up")


def _fault_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--oneway",
        is_flag=True,
        help="Only what FIRST sends to SECOND is lost (default: both ways).",
    )(f)
    f = click.option(
        "--only",
        type=click.Choice(faults.KINDS),
        help="Only DUNDi (UDP 4520) or only IAX2 (UDP 4569); default: all traffic.",
    )(f)
    f = click.argument("second", metavar="SECOND")(f)
    return click.argument("first", metavar="FIRST")(f)


def _ms_option(flag: str, text: str) -> Callable[..., Any]:
    return click.option(flag, f"{flag[2:]}_ms", type=click.IntRange(0, 5000), default=0, help=text)


def _path(first: str, second: str, only: str | None, oneway: bool) -> str:
    return f"{first}{'->' if oneway else '-'}{second}{f' ({only} only)' if only else ''}"


@main.command()
@_fault_options
@click.option(
    "--reject",
    is_flag=True,
    help="Refuse with ICMP port unreachable, as a rejecting firewall (default: drop silently).",
)
@name_option
def partition(
    first: str, second: str, only: str | None, oneway: bool, reject: bool, name: str | None
) -> None:
    """Cut the traffic between FIRST and SECOND; both stay up. The receiving node's packet
    filter drops (or refuses) the packets, as a firewall on that server would."""
    lab = Lab.attach(resolve_name(name))
    lab.partition(first, second, only=only, oneway=oneway, reject=reject)
    note(f"cut {_path(first, second, only, oneway)}{' (refused)' if reject else ''}")


@main.command()
@_fault_options
@click.option(
    "--loss",
    "loss_pct",
    type=click.FloatRange(0, 100),
    default=0,
    help="Drop this percentage of the packets at random (packet filter; any kernel).",
)
@_ms_option("--delay", "Delay packets by this many ms (netem: only where the kernel has it).")
@_ms_option("--jitter", "Vary the delay by up to this many ms (netem).")
@name_option
def impair(
    first: str,
    second: str,
    only: str | None,
    oneway: bool,
    loss_pct: float,
    delay_ms: int,
    jitter_ms: int,
    name: str | None,
) -> None:
    """Lose and/or delay packets between FIRST and SECOND."""
    if not (loss_pct or delay_ms or jitter_ms):
        fail("say what to do: --loss PCT and/or --delay MS [--jitter MS]")
    lab = Lab.attach(resolve_name(name))
    lab.impair(
        first,
        second,
        loss_pct=loss_pct,
        delay_ms=delay_ms,
        jitter_ms=jitter_ms,
        only=only,
        oneway=oneway,
    )
    what = [f"{loss_pct:g}% loss"] if loss_pct else []
    what += [f"{delay_ms} ms delay"] if delay_ms else []
    what += [f"{jitter_ms} ms jitter"] if jitter_ms else []
    note(f"{' and '.join(what)} on {_path(first, second, only, oneway)}")


@main.command()
@_fault_options
@name_option
def heal(first: str, second: str, only: str | None, oneway: bool, name: str | None) -> None:
    """Remove the cuts, losses and delays the lab put between FIRST and SECOND (narrowed by
    --only and --oneway)."""
    lab = Lab.attach(resolve_name(name))
    lab.heal(first, second, only=only, oneway=oneway)
    note(f"healed {_path(first, second, only, oneway)}")
