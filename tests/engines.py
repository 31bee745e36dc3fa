"""More Docker engines on this machine, each in its own network namespace, and a swarm of
them (with this machine's engine or without it): what the multi-engine tests and the bench
run labs on. The recipe is shared/ENGINE-NOTES.md's, with one change: the namespaces hang
off a bridge inside a namespace of its own (the "switch"), so engine ↔ engine traffic never
crosses the host's packet filter (Docker's FORWARD policy drops it).

    with Engines(3) as engines, engines.swarm(with_host=True) as hosts:
        lab up --engine swarm --hosts ",".join(hosts)

Everything is undone on exit, also after a failure, Ctrl-C or SIGTERM, and at interpreter
exit: the swarm left on every engine (the host's engine as it was found: not in a swarm, no
`docker_gwbridge` or `ingress` it did not have), the engines stopped by their PIDs, their
mounts and folders removed, the namespaces and links deleted.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

__all__ = ["Engine", "Engines", "host_engine_as_found"]

SUBNET = "10.99.{}.0/24"


@dataclass(frozen=True)
class Engine:
    """One extra dockerd: its name, API address and its address on the switch."""

    name: str
    socket: Path
    ip: str
    netns: str
    pidfile: Path
    root: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


def _run(*argv: str, check: bool = True, netns: str = "") -> subprocess.CompletedProcess[str]:
    if netns:
        argv = ("nsenter", f"--net=/run/netns/{netns}", *argv)
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


def _docker(engine: Engine | None, *args: str, check: bool = True) -> str:
    host = ("-H", engine.url) if engine else ()
    return _run("docker", *host, *args, check=check).stdout.strip()


def host_engine_as_found() -> dict[str, object]:
    """What the host's engine looks like now, as far as a swarm changes it."""
    networks = set(_docker(None, "network", "ls", "--format", "{{.Name}}").split())
    swarm = _docker(None, "info", "--format", "{{.Swarm.LocalNodeState}}")
    return {"swarm": swarm, "networks": sorted(networks & {"docker_gwbridge", "ingress"})}


class Engines:
    """`count` extra engines (context manager); `swarm()` joins them."""

    def __init__(self, count: int, *, storage: str = "fuse-overlayfs") -> None:
        self.count = count
        self.storage = storage
        self.tag = uuid.uuid4().hex[:4]
        self.base = Path(tempfile.mkdtemp(prefix=f"dundi-engines-{self.tag}-"))
        self.octet = 100 + int(self.tag, 16) % 100  # 10.99.<octet>.0/24
        self.switch = f"dlsw{self.tag}"
        self.engines: list[Engine] = []
        self.links: list[str] = []
        self.daemons: list[subprocess.Popen[bytes]] = []
        self.host_ip = f"10.99.{self.octet}.1"
        self._in_swarm: list[Engine | None] = []
        self._found: dict[str, object] = {}
        self._closed = False
        self._previous: dict[int, object] = {}

    # ---- the engines ----------------------------------------------------------------

    def __enter__(self) -> Engines:
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._previous[sig] = signal.signal(sig, self._on_signal)
        try:
            self._switch()
            for i in range(1, self.count + 1):
                self.engines.append(self._engine(i))
            for engine in self.engines:
                self._wait(engine)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.close()
        raise SystemExit(128 + signum)

    def _switch(self) -> None:
        """A namespace holding a bridge; the host joins it at .1 over a veth pair."""
        _run("ip", "netns", "add", self.switch)
        _run("ip", "link", "add", "br0", "type", "bridge", netns=self.switch)
        _run("ip", "link", "set", "br0", "up", netns=self.switch)
        _run("ip", "link", "set", "lo", "up", netns=self.switch)
        self._plug(f"dlh{self.tag}", "", self.host_ip)

    def _plug(self, link: str, netns: str, ip: str) -> None:
        """A veth pair from `netns` (the host when empty) to the switch's bridge."""
        peer = f"{link}p"
        _run("ip", "link", "add", link, "type", "veth", "peer", "name", peer)
        self.links.append(link)
        _run("ip", "link", "set", peer, "netns", self.switch)
        _run("ip", "link", "set", peer, "master", "br0", netns=self.switch)
        _run("ip", "link", "set", peer, "up", netns=self.switch)
        if netns:
            _run("ip", "link", "set", link, "netns", netns)
        _run("ip", "addr", "add", f"{ip}/24", "dev", link, netns=netns)
        _run("ip", "link", "set", link, "up", netns=netns)

    def _engine(self, i: int) -> Engine:
        netns = f"dleng{self.tag}{i}"
        root = self.base / f"e{i}"
        for folder in ("data", "exec"):
            (root / folder).mkdir(parents=True)
        engine = Engine(
            name=f"e{i}",
            socket=root / "docker.sock",
            ip=f"10.99.{self.octet}.{i + 1}",
            netns=netns,
            pidfile=root / "docker.pid",
            root=root,
        )
        _run("ip", "netns", "add", netns)
        _run("ip", "link", "set", "lo", "up", netns=netns)
        self._plug(f"dle{self.tag}{i}", netns, engine.ip)
        _run("ip", "route", "add", "default", "via", self.host_ip, netns=netns)
        config = root / "daemon.json"
        config.write_text("{}")
        log = (root / "dockerd.log").open("w")
        daemon = subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{netns}",
                "dockerd",
                "--config-file",
                str(config),
                "--data-root",
                str(root / "data"),
                "--exec-root",
                str(root / "exec"),
                "-H",
                engine.url,
                "--pidfile",
                str(engine.pidfile),
                f"--storage-driver={self.storage}",
                "--bridge=none",
                "--iptables=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C meant for the tests does not kill it first
        )
        self.daemons.append(daemon)
        log.close()
        return engine

    def _wait(self, engine: Engine, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while _docker(engine, "version", "--format", "{{.Server.Version}}", check=False) == "":
            if time.monotonic() > deadline:
                log = (engine.root / "dockerd.log").read_text()[-2000:]
                raise RuntimeError(f"engine {engine.name} did not start:\n{log}")
            time.sleep(0.2)

    # ---- the swarm ------------------------------------------------------------------

    @contextlib.contextmanager
    def swarm(self, *, with_host: bool) -> Iterator[list[str]]:
        """A swarm of the engines (and the host's, as its manager, with `with_host`);
        the `--hosts` entries of its engines, the manager first. Left on exit."""
        members: list[Engine | None] = ([None] if with_host else []) + self.engines
        if with_host:
            self._found = host_engine_as_found()
            if self._found["swarm"] != "inactive":
                raise RuntimeError("the host's engine is in a swarm already: not touching it")
        manager, workers = members[0], members[1:]
        address = self.host_ip if manager is None else manager.ip
        try:
            self._in_swarm.append(manager)
            _docker(manager, "swarm", "init", "--advertise-addr", address)
            token = _docker(manager, "swarm", "join-token", "-q", "worker")
            for worker in workers:
                self._in_swarm.append(worker)
                assert worker is not None
                _docker(worker, "swarm", "join", "--token", token, "--advertise-addr",
                        worker.ip, f"{address}:2377")  # fmt: skip
            self._ready(manager, len(members))
            host = ["host=unix:///var/run/docker.sock"] if with_host else []
            yield host + [f"{e.name}={e.url}" for e in self.engines]
        finally:
            self._leave()

    def _ready(self, manager: Engine | None, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            states = _docker(manager, "node", "ls", "--format", "{{.Status}}").split()
            if states.count("Ready") == count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"swarm nodes not ready: {states}")
            time.sleep(0.5)

    def _leave(self) -> None:
        """Workers first, the manager last; the host's engine back as it was found."""
        for member in reversed(self._in_swarm):
            _docker(member, "swarm", "leave", "--force", check=False)
        if None in self._in_swarm:
            self._restore_host()
        self._in_swarm.clear()

    def _restore_host(self) -> None:
        had = set(self._found.get("networks", []))  # type: ignore[call-overload]
        for network in ("docker_gwbridge", "ingress"):
            if network not in had:
                for _ in range(20):
                    present = _docker(None, "network", "ls", "-q", "--filter", f"name=^{network}$")
                    if (
                        not present
                        or _run("docker", "network", "rm", network, check=False).returncode == 0
                    ):
                        break
                    time.sleep(0.5)

    # ---- undoing it all -------------------------------------------------------------

    def close(self) -> None:
        """Undo everything, in reverse; safe to call again."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._leave()
        _stop(self.daemons)
        for engine in self.engines:
            _unmount_under(engine.root)
            _run("ip", "netns", "del", engine.netns, check=False)
        for link in self.links:
            _run("ip", "link", "del", link, check=False)
        _run("ip", "netns", "del", self.switch, check=False)
        _run("rm", "-rf", "--one-file-system", str(self.base), check=False)
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        atexit.unregister(self.close)


def _stop(daemons: list[subprocess.Popen[bytes]], timeout: float = 20) -> None:
    """Stop the engines (their containers with them), all at once; nsenter ran each
    dockerd in its own process, so its PID is the daemon's."""
    for daemon in daemons:
        daemon.terminate()
    deadline = time.monotonic() + timeout
    for daemon in daemons:
        try:
            daemon.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def _unmount_under(root: Path) -> None:
    """Unmount whatever an engine left mounted under its folder (deepest first)."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(str(root))), reverse=True):
        _run("umount", "-l", point, check=False)
