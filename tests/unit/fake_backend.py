"""A container engine in memory, for driving `Lab` and the pipeline in milliseconds.

It keeps containers and networks as plain records and answers a node's manager connection
with a small stand-in for Asterisk: login, `core waitfullybooted`, `core show version`,
`dundi show peers` (each peer in the state the test set), `module reload pbx_dundi.so`.
It is the seam the lab talks to, nothing deeper: no SDK call is patched.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lab.asterisk.conf import parse
from lab.asterisk.node import AUDIO
from lab.errors import LabRuntimeError
from lab.runtime.protocol import (
    ROOT_LABEL,
    ContainerSpec,
    ExecResult,
    LabRecord,
    Mount,
    NetworkSpec,
    Progress,
    SubnetTaken,
)
from tests.unit.audio_files import tone_wav


@dataclass
class FakeNode:
    spec: ContainerSpec
    state: str = "running"
    booted: bool = True
    peers: dict[str, str] = field(default_factory=dict)  # peer EID → status in `dundi show peers`
    reloads: int = 0


@dataclass
class FakeNetwork:
    spec: NetworkSpec


@dataclass(frozen=True)
class FakeAnswer:
    """How a test call goes in the engine in memory: where the DUNDi answer sent it, which
    node recorded it under which name, and the tone codes each side heard (None: silence)."""

    host: str = ""  # the address dialled; "" means the lookup found nothing
    node: str = ""  # the node whose audio folder gets the callee's recording ("": none)
    extension: str = ""
    caller_seen: str = ""
    code: str = ""
    codec: str = "ulaw"
    caller_hears: int | None = None
    callee_hears: int | None = None
    dial_status: str = "ANSWER"
    far_cause: str = ""

    @property
    def answered(self) -> bool:
        return bool(self.host) and self.dial_status == "ANSWER"


class FakeBackend:
    """Records what the lab asked for; tests set how nodes behave."""

    name = "fake"

    def __init__(self, used: Sequence[str] = ()) -> None:
        self.used = list(used)  # subnets other networks hold
        self.networks: dict[str, FakeNetwork] = {}
        self.nodes: dict[tuple[str, str], FakeNode] = {}
        self.calls: list[str] = []
        self.refuse_subnets: set[str] = set()  # create_network raises SubnetTaken for these
        self.boot_fails: set[str] = set()  # these nodes exit at once
        # what a node's `dundi show peers` says of a peer (by entity ID)
        self.peer_status: Callable[[FakeNode, str], str] = lambda node, eid: "OK (1 ms)"
        self.held_while_starting: list[bool] = []
        # how a test call to a number goes (default: the lookup finds nothing)
        self.callee: Callable[[str], FakeAnswer] = lambda number: FakeAnswer()
        self._lock = threading.Lock()

    # images: every image exists
    def image_labels(self, ref: str) -> dict[str, str] | None:
        return {"dundi-lab.asterisk-version": "fake"}

    def image_size(self, ref: str) -> int:
        return 1

    def import_image(
        self, tarball: Path, ref: str, *, labels: Mapping[str, str], command: Sequence[str]
    ) -> None:
        raise AssertionError("no image is built in unit tests")

    def remove_image(self, ref: str) -> None:
        pass

    def run_once(
        self,
        ref: str,
        mounts: Sequence[Mount],
        ready: Sequence[str],
        argv: Sequence[str],
        *,
        timeout: float = 60,
    ) -> str:
        raise AssertionError("no image is smoke-checked in unit tests")

    # networks
    def place(self, specs: Sequence[ContainerSpec]) -> list[ContainerSpec]:
        return list(specs)

    def settings(self, lab: str) -> dict[str, object]:
        return {}

    def used_subnets(self) -> list[str]:
        return self.used + [n.spec.subnet for n in self.networks.values()]

    def create_network(self, spec: NetworkSpec) -> str:
        self.calls.append(f"create_network {spec.subnet}")
        if spec.subnet in self.refuse_subnets:
            raise SubnetTaken(f"cannot create network {spec.name}: overlaps")
        for held in self.used_subnets():
            if ipaddress.IPv4Network(held).overlaps(ipaddress.IPv4Network(spec.subnet)):
                raise SubnetTaken(f"cannot create network {spec.name}: overlaps {held}")
        self.networks[spec.lab] = FakeNetwork(spec)
        return spec.name

    # containers
    def start(self, specs: Sequence[ContainerSpec], progress: Progress) -> None:
        for spec in specs:
            self.calls.append(f"start {spec.node}")
            self.held_while_starting.append(
                spec.hold is not None and spec.hold.exists() if spec.hold else True
            )
            if spec.hold is not None:
                spec.hold.touch()
            node = FakeNode(spec, peers=_peers_in(spec))
            if spec.node in self.boot_fails:
                node.state, node.booted = "exited", False
            self.nodes[(spec.lab, spec.node)] = node
            progress(f"started {spec.node} ({spec.ip})")

    def release(self, specs: Sequence[ContainerSpec]) -> None:
        self.calls.append("release")
        for spec in specs:
            if spec.hold is not None:
                spec.hold.unlink(missing_ok=True)

    def exec(self, lab: str, node: str, argv: Sequence[str]) -> ExecResult:
        self.calls.append(f"exec {node} {' '.join(argv)}")
        return ExecResult(0, "")

    def logs(
        self, lab: str, node: str, *, follow: bool = False, tail: int | Literal["all"] = "all"
    ) -> Iterator[str]:
        yield f"fake log of {node}"

    def log_has(self, lab: str, node: str, text: str, tail: int = 400) -> bool:
        return False

    def states(self, lab: str) -> dict[str, str]:
        return {name: n.state for (owner, name), n in self.nodes.items() if owner == lab}

    def stop(self, lab: str, node: str) -> None:
        self.nodes[(lab, node)].state = "exited"

    def start_node(self, lab: str, node: str) -> None:
        self.nodes[(lab, node)].state = "running"

    def remove_node(self, lab: str, node: str) -> None:
        self.nodes.pop((lab, node), None)

    # labs
    def labs(self) -> dict[str, LabRecord]:
        names = {lab for lab, _ in self.nodes} | set(self.networks)
        return {
            lab: LabRecord(
                name=lab,
                root=str(self.networks[lab].spec.labels.get(ROOT_LABEL, ""))
                if lab in self.networks
                else "",
                engine=self.name,
                containers=sum(owner == lab for owner, _ in self.nodes),
                networks=int(lab in self.networks),
            )
            for lab in names
        }

    def remove_lab(self, lab: str) -> tuple[int, int]:
        self.calls.append(f"remove_lab {lab}")
        gone = [key for key in self.nodes if key[0] == lab]
        for key in gone:
            del self.nodes[key]
        had = self.networks.pop(lab, None)
        return len(gone), int(had is not None)

    # inside a node
    def netns_pid(self, lab: str, node: str) -> int | None:
        return None

    def connect(self, lab: str, node: str, ip: str, port: int, timeout: float) -> socket.socket:
        fake = self.nodes.get((lab, node))
        if fake is None or fake.state != "running":
            raise LabRuntimeError(f"cannot connect to node {node} at {ip}:{port}: refused")
        mine, theirs = socket.socketpair()
        threading.Thread(target=self._serve, args=(theirs, fake), daemon=True).start()
        return mine

    def _serve(self, sock: socket.socket, node: FakeNode) -> None:
        """A manager that knows the few commands the lab sends."""
        sock.sendall(b"Asterisk Call Manager/11.0.0\r\n")
        stream = sock.makefile("rb")
        fields: dict[str, str] = {}
        for raw in stream:
            line = raw.decode().rstrip("\r\n")
            if line:
                key, _, value = line.partition(": ")
                fields[key] = value
                continue
            reply = self._answer(fields, node)
            try:
                sock.sendall(reply.encode())
            except OSError:
                return
            fields = {}

    def _answer(self, fields: dict[str, str], node: FakeNode) -> str:
        head = f"ActionID: {fields.get('ActionID', '')}\r\n"
        if fields.get("Action") == "Login":
            return "Response: Success\r\n" + head + "Message: Authentication accepted\r\n\r\n"
        if fields.get("Action") == "Originate":
            self._place(fields["Channel"], node)
            return "Response: Success\r\n" + head + "Message: Originate successfully queued\r\n\r\n"
        command = fields.get("Command", "")
        output: list[str]
        if command == "core waitfullybooted":
            output = ["Asterisk has fully booted."]
        elif command == "core show version":
            output = ["Asterisk 22.0-fake built by a test"]
        elif command == "dundi show peers":
            output = ["EID                  Host   Port   Model      AvgTime  Status"]
            for eid in node.peers:
                status = self.peer_status(node, eid)
                output.append(f"{eid}    10.0.0.1   (S) 4520   Symmetric  Unavail  {status}")
            output.append(f"{len(node.peers)} dundi peers [0 online, 0 offline, 0 unmonitored]")
        elif command.startswith("database deltree labcall "):
            output = ["0 database entries removed."]
        elif command == "module reload pbx_dundi.so":
            with self._lock:
                node.reloads += 1
            output = ["Module 'pbx_dundi.so' reloaded successfully."]
        else:
            return "Response: Error\r\n" + head + f"Output: No such command '{command}'\r\n\r\n"
        body = "".join(f"Output: {line}\r\n" for line in output)
        return (
            "Response: Success\r\n" + head + "Message: Command output follows\r\n" + body + "\r\n"
        )

    def _place(self, channel: str, caller: FakeNode) -> None:
        """A test call as both ends' dialplans leave it: the caller's end line and
        recording, the callee's recording, as `self.callee` says."""
        batch, index, rest = channel.removeprefix("Local/").split("*", 2)
        answer = self.callee(rest.split("@", 1)[0])
        tag = f"lab-{batch}-{index}"
        status = "FOUND" if answer.host else "NOT_FOUND"
        dial = answer.dial_status if answer.host else ""
        answered = "1.02" if answer.answered else ""
        if answer.answered:
            (_audio(caller.spec) / f"out-{tag}.wav").write_bytes(tone_wav(answer.caller_hears))
        if answer.answered and answer.node:
            callee = self.nodes[(caller.spec.lab, answer.node)].spec
            seen = f"{answer.extension}|{answer.caller_seen}|{answer.code}|{answer.codec}|end"
            (_audio(callee) / f"in-{tag}.txt").write_text(seen)
            (_audio(callee) / f"in-{tag}.wav").write_bytes(tone_wav(answer.callee_hears))
        end = f"{status}|16|{dial}|{answer.host}|{answer.far_cause}|1.0|{answered}|1.4|end"
        (_audio(caller.spec) / f"end-{tag}.txt").write_text(end)


def _audio(spec: ContainerSpec) -> Path:
    return next(m.source for m in spec.mounts if m.target == AUDIO)


def _peers_in(spec: ContainerSpec) -> dict[str, str]:
    """The peer sections of the dundi.conf the node mounts, as pbx_dundi would list them."""
    etc = next(m.source for m in spec.mounts if m.target == "/etc/asterisk")
    conf = parse((etc / "dundi.conf").read_text(), "dundi.conf")
    return {s.name: "" for s in conf.browse() if s.name not in ("general", "mappings")}
