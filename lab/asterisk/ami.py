"""A small client of the Asterisk Manager Interface: the lab's control channel to a node.

One TCP connection per node, logged in with the lab's own user and secret (manager.conf is
rendered per lab; it permits the lab's subnet only). Actions carry an ActionID, a reader
thread hands each response to the caller waiting for it, so many threads can use one
connection at once (twenty lookups from one node do not queue behind each other).

    ami = Ami.connect(sock, user="lab", secret=..., node="a")
    ok, output = ami.command("dundi lookup 555000123@network1 bypass")

Asterisk 16 and 22 answer a `Command` action with `Output:` lines, and with
`Response: Error` when the CLI refuses the command (unknown, or its usage text).
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from lab.errors import LabRuntimeError

__all__ = ["Ami", "AmiResponse"]

_BANNER = b"Asterisk Call Manager/"


@dataclass(frozen=True)
class AmiResponse:
    """One response: its fields (the last of each name) and its `Output:` lines."""

    fields: dict[str, str]
    output: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.fields.get("Response", "").lower() == "success"

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.output)


class Ami:
    """A logged-in manager connection to one node."""

    def __init__(self, sock: socket.socket, node: str) -> None:
        self.node = node
        self._sock = sock
        self._write = threading.Lock()
        self._pending: dict[str, Future[AmiResponse]] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self._reader = threading.Thread(target=self._read, name=f"ami-{node}", daemon=True)

    @classmethod
    def connect(cls, sock: socket.socket, *, user: str, secret: str, node: str) -> Ami:
        """Read the banner and log in (no events); LabRuntimeError if refused."""
        sock.settimeout(10)
        banner = b""
        while not banner.endswith(b"\n"):
            chunk = sock.recv(1)
            if not chunk:
                raise LabRuntimeError(f"node {node}: the manager closed the connection")
            banner += chunk
        if not banner.startswith(_BANNER):
            raise LabRuntimeError(f"node {node}: not an Asterisk manager ({banner[:40]!r})")
        sock.settimeout(None)
        ami = cls(sock, node)
        ami._reader.start()
        login = ami.action("Login", {"Username": user, "Secret": secret, "Events": "off"})
        if not login.ok:
            ami.close()
            raise LabRuntimeError(
                f"node {node}: the manager refused the lab's login "
                f"({login.fields.get('Message', 'no reason given')})"
            )
        return ami

    def action(
        self, name: str, fields: dict[str, str] | None = None, *, timeout: float = 60
    ) -> AmiResponse:
        """Send one action and wait for its response."""
        action_id = str(next(self._ids))
        waiting: Future[AmiResponse] = Future()
        self._pending[action_id] = waiting
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{key}: {_one_line(value)}" for key, value in (fields or {}).items()]
        try:
            with self._write:
                self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            return waiting.result(timeout)
        except TimeoutError:
            raise LabRuntimeError(
                f"node {self.node}: no answer to {name} within {timeout:.0f} s"
            ) from None
        except OSError as exc:
            raise LabRuntimeError(
                f"node {self.node}: the manager connection broke ({exc})"
            ) from None
        finally:
            self._pending.pop(action_id, None)

    def command(self, cli: str, *, timeout: float = 60) -> tuple[bool, str]:
        """Run one CLI command; (accepted, its output)."""
        response = self.action("Command", {"Command": cli}, timeout=timeout)
        return response.ok, response.text

    @property
    def alive(self) -> bool:
        return not self._closed

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def _read(self) -> None:
        stream = self._sock.makefile("rb")
        fields: dict[str, str] = {}
        output: list[str] = []
        try:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line:
                    key, _, value = line.partition(": ")
                    if key == "Output":
                        output.append(value)
                    else:
                        fields[key] = value
                    continue
                waiting = self._pending.get(fields.get("ActionID", ""))
                if waiting is not None and "Response" in fields:
                    waiting.set_result(AmiResponse(fields, tuple(output)))
                fields, output = {}, []
        except OSError:
            pass
        finally:
            self._closed = True
            broken = LabRuntimeError(f"node {self.node}: the manager connection closed")
            for waiting in list(self._pending.values()):
                if not waiting.done():
                    waiting.set_exception(broken)


def _one_line(value: str) -> str:
    """A field value on one line: a newline would start a new field (or action)."""
    if "\r" in value or "\n" in value:
        raise LabRuntimeError(f"a manager field cannot span lines: {value[:40]!r}")
    return value
