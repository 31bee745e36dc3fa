"""YAML loading that remembers where every value came from.

`load_located` returns plain Python data plus a map from dotted path
(`nodes.a.peers[1]`) to the line it stands on, so validation can say
`chain.yaml:14 nodes.a.peers[1]: ...` without dragging YAML nodes around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab.errors import Problem, TopologyError


@dataclass
class Located:
    """Plain data from a YAML file plus the line of every path in it."""

    file: str
    data: Any
    lines: dict[str, int] = field(default_factory=dict)
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


def join(path: str, key: str | int) -> str:
    """The dotted path of `key` below `path`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def read_located(path: Path) -> Located:
    """Read and parse a YAML file; an unreadable file is a TopologyError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem(str(path), None, "", f"cannot read: {exc.strerror}")
        raise TopologyError([problem]) from None
    return load_located(text, str(path))


def load_located(text: str, file: str) -> Located:
    """Parse `text`; YAML syntax errors and duplicate keys become problems."""
    located = Located(file=file, data=None)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None and context_mark.line + 1 != line:
            reason += f" ({context} started at line {context_mark.line + 1})"
        located.problems.append(Problem(file, line, "", f"not valid YAML: {reason}"))
        return located
    if root is None:
        located.problems.append(Problem(file, 1, "", "the file is empty"))
        return located
    located.data = _convert(root, "", located)
    return located


def _convert(node: yaml.Node, path: str, located: Located) -> Any:
    located.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # keys are names: `1:` or `off:` mean the text, not a number or a boolean
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else _construct(key_node)
            child = join(path, str(key))
            if key in result:
                located.problems.append(
                    Problem(
                        located.file,
                        key_node.start_mark.line + 1,
                        child,
                        f"duplicate key '{key}' (first at line {located.lines[child]})",
                    )
                )
                continue
            located.lines[child] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, child, located)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, join(path, i), located) for i, item in enumerate(node.value)]
    value = _construct(node)
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and isinstance(node, yaml.ScalarNode)
        and node.style is None
        and str(value) != node.value
    ):
        # YAML 1.1 reads 034123456 as octal and 10:00:00:00:00:01 as base 60:
        # keep what the user wrote
        return node.value
    return value


def _construct(node: yaml.Node) -> Any:
    return yaml.SafeLoader(" ").construct_object(node)
