"""`lab up` as one explicit pipeline, the same for the CLI, the Python API and scenarios:

    load → image → resolve → render (in memory) → lint (those bytes, keys included)
         → claim (the network) → write → deploy → boot → links

Nothing outside the lab's folder exists before `claim`; a failure or Ctrl-C from `claim` on
removes what was created (clean-up itself cannot be interrupted). A lab name is claimed on
this machine with a lock, so two `lab up` of one name at once give one lab and one
"already up". Each finished stage is reported as a `StageDone` event.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import os
import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import lint, topology
from lab.asterisk import images, node, render
from lab.core import readiness
from lab.core.events import LintDone, Listener, NodeStarted, Note, StageDone, ignore
from lab.core.running import Lab
from lab.errors import LabError, LabRuntimeError, LintFailed
from lab.paths import LabPaths
from lab.runtime import compose
from lab.runtime.protocol import (
    ENGINE_LABEL,
    ROOT_LABEL,
    Backend,
    ContainerSpec,
    NetworkSpec,
    SubnetTaken,
)
from lab.runtime.protocol import (
    backend as make_backend,
)
from lab.topology import Topology, network
from lab.topology.model import LAB_BLOCK, prefix_for

__all__ = [
    "Options",
    "bring_up",
    "claim_lock",
    "render_files",
    "render_only",
    "start",
    "up",
]


@dataclass(frozen=True)
class Options:
    """How to bring a lab up."""

    name: str | None = None  # instead of the topology's
    subnet: str | None = None  # instead of the topology's (or the one its name derives)
    root: Path | None = None  # parent of the lab's folder (default: $DUNDI_LAB_HOME or ./build)
    engine: str = "docker"  # or "swarm"
    hosts: tuple[str, ...] = ()  # the swarm's engines, NAME=URL (default: this machine's)
    encrypted: bool = False  # the swarm's overlay network encrypted (IPsec)
    ready_timeout: float = 90
    wait_links: bool = False  # every trust edge probed OK, not just usable
    lint: bool = True  # lint errors stop the bring-up
    allow: frozenset[str] = field(default_factory=frozenset)  # lint codes that do not


class _Stages:
    """Times each stage and reports it."""

    def __init__(self, on_event: Listener) -> None:
        self.on_event = on_event
        self.detail = ""

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[_Stages]:
        started = time.monotonic()
        self.detail = ""
        yield self
        self.on_event(StageDone(name, time.monotonic() - started, self.detail))


def start(
    source: Topology | str | Path,
    *,
    backend: Backend | None = None,
    on_event: Listener = ignore,
    **options: Any,
) -> Lab:
    """Bring a lab up; `options` are those of `Options`. On any failure (or Ctrl-C), what
    was created is removed."""
    return bring_up(source, Options(**options), backend=backend, on_event=on_event)


@contextlib.contextmanager
def up(source: Topology | str | Path, **options: Any) -> Iterator[Lab]:
    """A lab for the length of a `with` block (see `start`); always torn down after."""
    lab = start(source, **options)
    try:
        yield lab
    finally:
        lab.down()


def bring_up(
    source: Topology | str | Path,
    options: Options | None = None,
    *,
    backend: Backend | None = None,
    on_event: Listener = ignore,
) -> Lab:
    """Bring a lab up (see the module's docstring); the ready `Lab`."""
    options = options or Options()
    stages = _Stages(on_event)
    with stages.stage("load") as s:
        topo = _load(source, options, on_event)
        s.detail = f"{topo.source}: {len(topo.nodes)} nodes, networks {', '.join(topo.networks)}"
    engine = backend or _engine(options)
    paths = LabPaths.of(topo.name, options.root)
    with claim_lock(topo.name):
        record = engine.labs().get(topo.name)
        if record is not None and record.containers:
            raise LabRuntimeError(
                f"a lab named '{topo.name}' is already up; "
                f"take it down first (lab down --name {topo.name})"
            )
        with stages.stage("image") as s:
            refs = {}
            for version in sorted({n.version for n in topo.nodes}):
                result = images.build(version, backend=engine, progress=lambda t: on_event(Note(t)))
                refs[version] = result.ref
            s.detail = ", ".join(refs.values())
        secret = secrets.token_urlsafe(18)
        tried: set[str] = set()
        created = False
        try:
            while True:
                with stages.stage("resolve") as s:
                    topo = _place(topo, engine, tried)
                    s.detail = f"subnet {topo.subnet}"
                with stages.stage("render") as s:
                    rendered = render.render_lab(topo, paths, control_secret=secret)
                    s.detail = f"configs and keys of {len(topo.nodes)} nodes, in memory"
                with stages.stage("lint") as s:
                    if options.lint:
                        written = tuple(lint.lint_members(topo))
                        if written:
                            on_event(LintDone(written, as_written=True))
                        findings = tuple(lint.lint_rendered(rendered))
                        on_event(LintDone(findings))
                        blocking = [
                            f
                            for f in findings
                            if f.severity == "error" and f.code not in options.allow
                        ]
                        if blocking:
                            raise LintFailed(blocking)
                        s.detail = lint.summary(findings)
                    else:
                        s.detail = "skipped"
                with stages.stage("claim") as s:
                    network = NetworkSpec(
                        topo.name,
                        topo.subnet,
                        {ROOT_LABEL: str(paths.root), ENGINE_LABEL: engine.name},
                        encrypted=options.encrypted,
                    )
                    try:
                        created = True
                        engine.create_network(network)
                    except SubnetTaken:
                        created = False
                        if topo.subnet_fixed:
                            raise
                        tried.add(topo.subnet)
                        continue  # another lab took it meanwhile: the next free one
                    s.detail = f"network {network.name} ({topo.subnet})"
                break
            lab = Lab(topo, paths, engine, secret)
            specs = engine.place(_specs(topo, paths, network.name))
            with stages.stage("write") as s:
                render_files(
                    rendered,
                    network,
                    specs,
                    engine=engine.name,
                    secret=secret,
                    settings=engine.settings(topo.name),
                )
                for name, changed in rendered.nodes.items():
                    if changed.changes:
                        on_event(
                            Note(
                                f"{name}: {len(changed.changes)} lines of the member's files "
                                f"changed for the lab (see {paths.import_report(name)})"
                            )
                        )
                s.detail = str(paths.root)
            with stages.stage("deploy") as s:
                try:
                    engine.start(specs, lambda _: None)
                    for spec in specs:
                        on_event(NodeStarted(spec.node, spec.ip))
                finally:  # every Asterisk starts now, within a moment of the others
                    engine.release(specs)
                s.detail = f"{len(specs)} containers"
            readiness.wait_ready(
                lab, options.ready_timeout, on_event, wait_links=options.wait_links
            )
        except BaseException as failure:
            if created:
                _clean_up(engine, topo.name, failure)
            raise
    return lab


def render_only(topo: Topology, paths: LabPaths, engine: str = "docker") -> render.RenderedLab:
    """Write a lab's files and its compose project, as `lab up` would; start nothing."""
    secret = secrets.token_urlsafe(18)
    rendered = render.render_lab(topo, paths, control_secret=secret)
    network = NetworkSpec(topo.name, topo.subnet)
    render_files(rendered, network, _specs(topo, paths, network.name), engine=engine, secret=secret)
    return rendered


def render_files(
    rendered: render.RenderedLab,
    network: NetworkSpec,
    specs: list[ContainerSpec],
    *,
    engine: str,
    secret: str,
    settings: dict[str, object] | None = None,
) -> None:
    """Write a rendered lab: node folders, compose project and the state later commands read
    (the engine and what recreates it for this lab: a swarm's engines, which runs each node)."""
    paths = rendered.paths
    paths.root.mkdir(parents=True, exist_ok=True)
    rendered.write()
    paths.compose_file.write_text(
        compose.render(network, specs, paths.root, render.banner(rendered.topology)),
        encoding="utf-8",
    )
    state = {
        "name": rendered.topology.name,
        "engine": engine,
        "engine_settings": settings or {},
        "control_secret": secret,
        "source": rendered.topology.source,
        "topology": topology.model.to_json(rendered.topology),
    }
    fd = os.open(paths.state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:  # it holds the control secret
        json.dump(state, out, indent=1)


def _engine(options: Options) -> Backend:
    if options.hosts and options.engine != "swarm":
        raise LabError("--hosts names the engines of a swarm: use it with --engine swarm")
    if options.encrypted and options.engine != "swarm":
        raise LabError("--encrypted encrypts a swarm's overlay: use it with --engine swarm")
    return make_backend(options.engine, **({"hosts": options.hosts} if options.hosts else {}))


def _specs(topo: Topology, paths: LabPaths, network: str) -> list[ContainerSpec]:
    return [
        node.container_spec(topo, n, paths, images.image_ref(n.version), network)
        for n in topo.nodes
    ]


def _load(source: Topology | str | Path, options: Options, on_event: Listener) -> Topology:
    """The topology to bring up: given, read from a file, or inferred from a network folder
    (members' own configs; what was noticed there is reported as notes)."""
    if not isinstance(source, Topology) and Path(source).is_dir():
        topo, findings = network.load_network(
            Path(source), name=options.name, subnet=options.subnet
        )
        for finding in findings:
            on_event(Note(f"network: {finding}"))
        return topo
    if isinstance(source, Topology):
        topo = source
        if options.name and options.name != topo.name:
            topo = topo.renamed(options.name)
        if options.subnet:
            topo = _fixed(topo.placed(options.subnet))
        return topo
    return topology.load(source, name=options.name, subnet=options.subnet)


def _fixed(topo: Topology) -> Topology:
    return dataclasses.replace(topo, subnet_fixed=True)


def _place(topo: Topology, engine: Backend, tried: set[str]) -> Topology:
    """The lab on a subnet no network of the engine uses (its own when that is free or
    fixed): aligned blocks of the size the lab needs, in 10.77.0.0/16, from the one its
    name derives."""
    if topo.subnet_fixed:
        return topo
    used = [ipaddress.IPv4Network(s) for s in engine.used_subnets()]
    wanted = ipaddress.IPv4Network(topo.subnet)
    blocks = list(LAB_BLOCK.subnets(new_prefix=prefix_for(len(topo.nodes))))
    start = next((i for i, b in enumerate(blocks) if b.overlaps(wanted)), 0)
    for step in range(len(blocks)):
        candidate = blocks[(start + step) % len(blocks)]
        if str(candidate) in tried or any(candidate.overlaps(u) for u in used):
            continue
        return topo if candidate == wanted else topo.placed(str(candidate))
    raise LabRuntimeError(
        f"no free /{prefix_for(len(topo.nodes))} in {LAB_BLOCK} for the lab network; "
        "set `subnet:` in the topology or pass --subnet"
    )


def _clean_up(engine: Backend, lab: str, failure: BaseException) -> None:
    """Remove what a failed bring-up created; a second Ctrl-C cannot cut this short."""
    previous = signal.getsignal(signal.SIGINT)
    shielded = _main_thread()
    if shielded:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        engine.remove_lab(lab)
    except LabError as cleanup:  # keep the first error; say what was left
        failure.add_note(f"and cleaning up failed too: {cleanup}")
    finally:
        if shielded:
            signal.signal(signal.SIGINT, previous)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def claim_lock(name: str) -> Iterator[None]:
    """Hold this machine's lock on lab `name`; LabError at once if another command holds it."""
    folder = Path(tempfile.gettempdir()) / "dundi-lab-locks"
    folder.mkdir(mode=0o1777, exist_ok=True)
    path = folder / f"{name}.lock"
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another command"
            raise LabRuntimeError(
                f"lab '{name}' is being brought up or taken down by {holder}; "
                "it is already up once that finishes"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
