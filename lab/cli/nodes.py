"""`lab node stop|start|restart|recreate NODE`: one node of a running lab."""

from __future__ import annotations

import click

from lab.cli.app import main, name_option, note, resolve_name
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
