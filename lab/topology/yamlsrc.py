"""YAML loading that remembers where every value came from, and refuses what it cannot read.

`load_located` returns plain Python data (dicts, lists, str, int, float, bool, None) plus
the line of every dotted path (`nodes.a.peers[1]`) and the text the user wrote there, so
validation can say `chain.yaml:14 nodes.a.peers[1]: ...` and quote what was written.

It reads the event stream of the YAML parser itself, one event at a time, never recursing,
so every malformed input becomes a `Problem`, never a traceback: bytes that are not UTF-8,
tags (`!!python/name:…`, `!!binary`, any `!custom`), a list or mapping used as a key,
recursive aliases, aliases that expand beyond the size of the file (an "alias bomb"),
nesting deeper than `MAX_DEPTH`, several documents. Time and memory are linear in the size
of the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab.errors import Problem, TopologyError

__all__ = ["MAX_DEPTH", "Located", "join", "listed", "load_located", "read_located", "shown"]

MAX_DEPTH = 64
MAX_BYTES = 50 * 2**20
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE = "tag:yaml.org,2002:"
# tags a plain YAML file may carry explicitly; their values are read as usual
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null")}
_COLLECTION_TAGS = {f"{_CORE}map", f"{_CORE}seq"}


def shown(text: object, limit: int = 60) -> str:
    """User text quoted for a one-line message: what does not print (control characters,
    line breaks of any kind) escaped, long text cut."""
    value = str(text)
    cut = value if len(value) <= limit else value[:limit] + "…"
    escaped = "".join(c if c.isprintable() else _escape(c) for c in cut)
    return f"'{escaped}'"


def listed(names: list[str], limit: int = 12) -> str:
    """Names for a message (`known: a, b, c`): escaped like `shown`, the first `limit` and how
    many more, or `none`."""
    if not names:
        return "none"
    cut = [shown(n)[1:-1] for n in names[:limit]]
    more = f", … ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(cut) + more


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclass
class Located:
    """Plain data from a YAML file plus the line of every path in it."""

    file: str
    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)  # a scalar's text as written
    problems: list[Problem] = field(default_factory=list)

    def line(self, path: str) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.lines.get("", 1)

    def problem(self, path: str, message: str) -> Problem:
        return Problem(self.file, self.line(path), path, message)

    def written(self, path: str, value: object) -> str:
        """What the user wrote at `path`, quoted (the value itself if it was not a scalar)."""
        return shown(self.raw.get(path, value))


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:+-]*\Z")


def join(path: str, key: str | int) -> str:
    """The dotted path of `key` below `path`; a key that is not a plain name is quoted
    (`nodes['a b']`), so a path always reads as one token."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _PLAIN_KEY.match(key):
        return f"{path}[{shown(key)}]"
    return f"{path}.{key}" if path else key


def read_located(path: Path) -> Located:
    """Read and parse a YAML file; an unreadable file is a TopologyError."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise TopologyError([Problem(str(path), None, "", f"{size} bytes is too large")])
        data = path.read_bytes()
    except OSError as exc:
        problem = Problem(str(path), None, "", f"cannot read: {exc.strerror or exc}")
        raise TopologyError([problem]) from None
    except ValueError as exc:  # a path with a NUL byte
        raise TopologyError([Problem(shown(path), None, "", f"cannot read: {exc}")]) from None
    return load_located(data, str(path))


def load_located(source: str | bytes, file: str) -> Located:
    """Parse `source`; every problem (encoding, syntax, tags, keys, aliases, depth, duplicate
    keys) is collected in `problems`, and `data` is None when nothing usable was read."""
    located = Located(file=file, data=None)
    text = _decode(source, located)
    if text is None:
        return located
    try:
        data = _Builder(located).build(yaml.parse(text, Loader=_Loader))
    except _Stop:
        return located
    except yaml.YAMLError as exc:
        located.problems.append(_syntax_problem(exc, file))
        return located
    if data is _EMPTY:
        located.problems.append(Problem(file, 1, "", "the file is empty"))
        return located
    located.data = data
    return located


def _decode(source: str | bytes, located: Located) -> str | None:
    if isinstance(source, str):
        return source
    try:
        return source.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = source.count(b"\n", 0, exc.start) + 1
        column = exc.start - (source.rfind(b"\n", 0, exc.start) + 1) + 1
        located.problems.append(
            Problem(
                located.file,
                line,
                "",
                f"not UTF-8 text: byte 0x{source[exc.start]:02X} at column {column} "
                "(save the file as UTF-8)",
            )
        )
        return None


def _syntax_problem(exc: yaml.YAMLError, file: str) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark.line + 1 != line:
        reason += f" ({context} started at line {context_mark.line + 1})"
    return Problem(file, line, "", f"not valid YAML: {reason}")


class _Stop(Exception):
    """Reading cannot go on; the problem is recorded."""


_EMPTY = object()
_KEY = object()  # a mapping waiting for its next key


@dataclass
class _Frame:
    value: dict[Any, Any] | list[Any]
    path: str
    anchor: str | None
    size: int = 1
    key: Any = _KEY
    key_line: int = 0


class _Builder:
    """Turns parser events into plain data, one event at a time."""

    def __init__(self, located: Located) -> None:
        self.src = located
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # name -> (value, size in nodes)
        self.open_anchors: set[str] = set()
        self.total = 0  # values read, an alias counting every value it repeats
        self.root: Any = _EMPTY
        self.documents = 0

    def stop(self, line: int, path: str, message: str) -> None:
        self.src.problems.append(Problem(self.src.file, line, path, message))
        raise _Stop

    def build(self, events: Any) -> Any:
        for event in events:
            line = event.start_mark.line + 1
            if isinstance(event, yaml.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    self.stop(line, "", "more than one YAML document (a second '---')")
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                self.open(event, line)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = self.stack.pop()
                if frame.anchor:
                    self.open_anchors.discard(frame.anchor)
                    self.anchors[frame.anchor] = (frame.value, frame.size)
                self.place(frame.value, frame.size, line, frame.path)
            elif isinstance(event, yaml.ScalarEvent):
                self.scalar(event, line)
            elif isinstance(event, yaml.AliasEvent):
                self.alias(event, line)
        return self.root

    def here(self) -> tuple[str, bool]:
        """The path of the next value, and whether it is a mapping's key."""
        if not self.stack:
            return "", False
        top = self.stack[-1]
        if isinstance(top.value, list):
            return join(top.path, len(top.value)), False
        if top.key is _KEY:
            return top.path, True
        return join(top.path, str(top.key)), False

    def open(self, event: Any, line: int) -> None:
        path, is_key = self.here()
        kind = "mapping" if isinstance(event, yaml.MappingStartEvent) else "list"
        if is_key:
            self.stop(line, path, f"a key must be a plain name, not a {kind}")
        self.check_tag(event.tag, _COLLECTION_TAGS, line, path)
        if len(self.stack) >= MAX_DEPTH:
            self.stop(line, path, f"nested more than {MAX_DEPTH} levels deep")
        self.src.lines.setdefault(path, line)
        value: dict[Any, Any] | list[Any] = {} if kind == "mapping" else []
        if event.anchor:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame(value, path, event.anchor))
        self.count(1, line, path)

    def scalar(self, event: Any, line: int) -> None:
        path, is_key = self.here()
        self.check_tag(event.tag, _SCALAR_TAGS, line, path)
        if is_key:
            # keys are names: `1:` or `off:` mean the text, not a number or a boolean
            self.key(event.value, line)
            if event.anchor:
                self.anchors[event.anchor] = (event.value, 1)
            return
        value = self.construct(event, line, path)
        self.src.lines.setdefault(path, line)
        self.src.raw.setdefault(path, event.value)
        if event.anchor:
            self.anchors[event.anchor] = (value, 1)
        self.count(1, line, path)
        self.place(value, 1, line, path)

    def alias(self, event: Any, line: int) -> None:
        path, is_key = self.here()
        if event.anchor in self.open_anchors:
            self.stop(line, path, f"alias *{event.anchor} is inside its own anchor (a loop)")
        if event.anchor not in self.anchors:
            self.stop(line, path, f"alias *{event.anchor} names no anchor above it")
        value, size = self.anchors[event.anchor]
        if is_key:
            if isinstance(value, (dict, list)):
                self.stop(line, path, "a key must be a plain name, not a list or mapping")
            self.key(str(value), line)
            return
        self.src.lines.setdefault(path, line)
        self.count(size, line, path)
        self.place(value, size, line, path)

    def key(self, name: str, line: int) -> None:
        top = self.stack[-1]
        assert isinstance(top.value, dict)
        child = join(top.path, name)
        if name in top.value:
            self.src.problems.append(
                Problem(
                    self.src.file,
                    line,
                    child,
                    f"duplicate key {shown(name)} (first at line {self.src.lines[child]})",
                )
            )
            name = _Duplicate(name)
        else:
            self.src.lines[child] = line
        top.key, top.key_line = name, line

    def place(self, value: Any, size: int, line: int, path: str) -> None:
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.value, list):
            top.value.append(value)
        else:
            if not isinstance(top.key, _Duplicate):
                top.value[top.key] = value
            top.key = _KEY

    def count(self, size: int, line: int, path: str) -> None:
        """An alias may repeat what it names, but the data may not outgrow the file."""
        self.total += size
        if self.total > 10_000 and self.total > 20 * len(self.src.lines):
            self.stop(line, path, "aliases here repeat far more than the file holds (a loop?)")

    def check_tag(self, tag: str | None, allowed: set[str], line: int, path: str) -> None:
        if tag is None or tag == "!" or tag in allowed:
            return
        written = tag.replace(_CORE, "!!")
        self.stop(line, path, f"YAML tag {shown(written)} is not read here (write plain values)")

    def construct(self, event: Any, line: int, path: str) -> Any:
        implicit = event.implicit[0] if event.tag is None else False
        if event.tag in (None, "!") and not implicit:  # quoted: text
            return event.value
        tag = event.tag or _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
        if tag not in _SCALAR_TAGS:  # a timestamp, or anything else: keep the text
            return event.value
        node = yaml.ScalarNode(tag, event.value, style=event.style or None)
        try:
            value = _CONSTRUCTOR.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, IndexError):  # IndexError: `!!int ""`
            self.stop(line, path, f"{shown(event.value)} is not a valid {tag.replace(_CORE, '')}")
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and not event.style  # plain: None from the Python parser, "" from libyaml
            and event.tag is None
            and str(value) != event.value
        ):
            # YAML 1.1 reads 034123456 as octal and 10:00:00:00:00:01 as base 60:
            # keep what the user wrote
            return event.value
        return value


class _Duplicate(str):
    """A key seen twice: its value is read (to keep the lines right) and dropped."""


_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.SafeLoader("")
