"""A small reader of Asterisk .conf files that remembers where everything was written.

It reads what `lab lint` needs, the way Asterisk's config loader reads it: `;` comments
(`\\;` is a literal semicolon, `;-- … --;` a block comment), `[section]` headers with
`(!)` (a template, skipped when browsing) and `(name,…)` (inherit a template's options
first) markers, `name = value` and `name => value` options. `#include`/`#exec` lines
are noted, not followed. Lines Asterisk would not understand are kept as `strays`.
Not handled: `[name](+)` (adding to an earlier section) reads as a section of its own.
`dialplan()` turns extensions.conf's `exten =>`/`same =>` lines into `Extension`s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "EID_PATTERN",
    "ConfFile",
    "Directive",
    "Extension",
    "Option",
    "Section",
    "Stray",
    "ast_eid",
    "ast_true",
    "dialplan",
    "load",
    "parse",
]


def ast_true(value: str) -> bool:
    """A yes/no option as Asterisk's ast_true reads it: yes, true, y, t, 1 and on."""
    return value.strip().lower() in ("yes", "true", "y", "t", "1", "on")


# ast_str_to_eid: six bytes, "%2x:%2x:%2x:%2x:%2x:%2x", so one or two hex digits each
EID_PATTERN = re.compile(r"^([0-9a-f]{1,2}:){5}[0-9a-f]{1,2}$", re.IGNORECASE)


def ast_eid(text: str) -> str:
    """An entity ID as Asterisk's ast_str_to_eid reads it (`[2:0:0:0:0:1]` is
    02:00:00:00:00:01), written as pbx_dundi prints it; "" if Asterisk reads none."""
    if not EID_PATTERN.match(text.strip()):
        return ""
    return ":".join(f"{int(part, 16):02x}" for part in text.strip().split(":"))


_HEADER = re.compile(r"^\[(?P<name>[^\]]*)\]\s*(?:\((?P<marks>[^)]*)\))?\s*$")
_DIRECTIVE = re.compile(r"^#\s*(?P<kind>include|tryinclude|exec)\s+(?P<target>.*)$")


@dataclass(frozen=True)
class Option:
    """One `name = value` (or `name => value`) line; `file`/`line` say where it was written."""

    name: str
    value: str
    file: str
    line: int
    arrow: bool = False


@dataclass(frozen=True)
class Section:
    """A `[name]` section; `options` start with those inherited from templates."""

    name: str
    file: str
    line: int
    options: tuple[Option, ...] = ()
    template: bool = False
    inherits: tuple[str, ...] = ()

    def all(self, name: str) -> tuple[Option, ...]:
        """Every option called `name` (case-insensitive, as Asterisk compares), in order."""
        return tuple(o for o in self.options if o.name.lower() == name.lower())

    def get(self, name: str) -> Option | None:
        """The option that takes effect: Asterisk modules keep the last one they read."""
        found = self.all(name)
        return found[-1] if found else None

    def value(self, name: str, default: str = "") -> str:
        option = self.get(name)
        return option.value if option else default


@dataclass(frozen=True)
class Directive:
    """An `#include`, `#tryinclude` or `#exec` line (not followed)."""

    kind: str
    target: str
    file: str
    line: int


@dataclass(frozen=True)
class Stray:
    """A line Asterisk does not understand: it skips it, or (`fatal`) refuses the file."""

    text: str
    reason: str
    file: str
    line: int
    fatal: bool = False


@dataclass(frozen=True)
class ConfFile:
    """One parsed .conf file."""

    path: str
    sections: tuple[Section, ...] = ()
    directives: tuple[Directive, ...] = ()
    strays: tuple[Stray, ...] = ()

    def browse(self) -> tuple[Section, ...]:
        """The sections a module sees: every one but templates, in file order."""
        return tuple(s for s in self.sections if not s.template)

    def section(self, name: str) -> Section | None:
        """The first non-template section called `name` (case-insensitive)."""
        return next((s for s in self.browse() if s.name.lower() == name.lower()), None)

    @property
    def includes(self) -> tuple[Directive, ...]:
        return tuple(d for d in self.directives if d.kind in ("include", "tryinclude"))


@dataclass(frozen=True)
class Extension:
    """One dialplan line: `exten => pattern,priority,App(args)` (or `same => …`)."""

    context: str
    pattern: str
    priority: str
    app: str
    args: tuple[str, ...]
    file: str
    line: int


def load(path: Path) -> ConfFile | None:
    """Parse the file at `path`, following its #includes in its folder; None when there is
    no such file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    folder = path.parent

    def include(target: str) -> tuple[str, str] | None:
        found = folder / target.removeprefix("/etc/asterisk/").lstrip("/")
        try:
            return str(found), found.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    return parse(text, str(path), include=include)


# Reads an included file: (the name it is known by, its text), or None if it is missing.
Includer = Callable[[str], tuple[str, str] | None]
_MAX_INCLUDE_DEPTH = 10  # Asterisk refuses deeper nesting too


def parse(text: str, file: str, *, include: Includer | None = None) -> ConfFile:
    """Parse .conf text; `file` is the name findings will carry. With `include`, `#include`
    and `#tryinclude` lines are followed as Asterisk does: the included lines go on in the
    section they were included from, and each keeps the file and line it came from."""
    sections: list[Section] = []
    directives: list[Directive] = []
    strays: list[Stray] = []
    in_block = False
    for source, number, raw, directive in _lines(text, file, include, ()):
        if directive is not None:
            directives.append(directive)
            continue
        line, in_block = _strip_comment(raw, in_block)
        if not line:
            continue
        if (header := _HEADER.match(line)) is not None:
            sections.append(_section(header, source, number, sections, strays))
        elif "=" not in line:
            strays.append(Stray(line, "no '=' in this line", source, number))
        elif not sections:
            strays.append(Stray(line, "an option before any [section]", source, number, True))
        else:
            name, _, value = line.partition("=")
            arrow = value.startswith(">")
            option = Option(
                name.strip(), value[1:].strip() if arrow else value.strip(), source, number, arrow
            )
            last = sections[-1]
            sections[-1] = Section(
                last.name,
                last.file,
                last.line,
                (*last.options, option),
                last.template,
                last.inherits,
            )
    return ConfFile(file, tuple(sections), tuple(directives), tuple(strays))


def _lines(
    text: str, file: str, include: Includer | None, seen: tuple[str, ...]
) -> Iterator[tuple[str, int, str, Directive | None]]:
    """(file, line number, raw line, directive or None), included files spliced in."""
    for number, raw in enumerate(text.splitlines(), start=1):
        directive = _DIRECTIVE.match(_strip_comment(raw, False)[0])
        if directive is None:
            yield file, number, raw, None
            continue
        target = directive["target"].strip().strip('"<>')
        found = Directive(directive["kind"], target, file, number)
        yield file, number, raw, found
        if include is None or found.kind == "exec" or len(seen) >= _MAX_INCLUDE_DEPTH:
            continue
        included = include(target)
        if included is not None and included[0] not in (*seen, file):
            yield from _lines(included[1], included[0], include, (*seen, file))


def dialplan(conf: ConfFile) -> dict[str, tuple[Extension, ...]]:
    """Context name → its extensions; `same =>` lines take the pattern of the line before."""
    contexts: dict[str, tuple[Extension, ...]] = {}
    for section in conf.browse():
        found: list[Extension] = []
        pattern = ""
        for option in section.options:
            kind = option.name.lower()
            if kind not in ("exten", "same"):
                continue
            fields = _split_top(option.value, limit=2 if kind == "exten" else 1)
            if kind == "exten":
                pattern = fields.pop(0) if fields else ""
            priority = fields[0] if fields else ""
            app, args = _application(fields[1] if len(fields) > 1 else "")
            found.append(
                Extension(section.name, pattern, priority, app, args, option.file, option.line)
            )
        contexts[section.name] = contexts.get(section.name, ()) + tuple(found)
    return contexts


def _strip_comment(raw: str, in_block: bool) -> tuple[str, bool]:
    """The line without comments, and whether a `;--` block comment is still open."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        if in_block:
            end = raw.find("--;", i)
            if end < 0:
                return "".join(out).strip(), True
            i, in_block = end + 3, False
        elif raw.startswith(";--", i):
            in_block, i = True, i + 3
        elif raw[i] == ";":
            break
        elif raw.startswith("\\;", i):
            out.append(";")
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out).strip(), in_block


def _section(
    header: re.Match[str], file: str, number: int, earlier: list[Section], strays: list[Stray]
) -> Section:
    marks = [m.strip() for m in (header["marks"] or "").split(",") if m.strip()]
    name = header["name"].strip()
    inherits = tuple(m for m in marks if m not in ("!", "+"))
    options: tuple[Option, ...] = ()
    for base in inherits:
        found = next((s for s in reversed(earlier) if s.name == base), None)
        if found is None:
            # Asterisk refuses the whole file here; a lint reports it and reads on.
            reason = f"inherits '{base}', which is not defined above"
            strays.append(Stray(f"({base})", reason, file, number, True))
        else:
            options += found.options
    return Section(name, file, number, options, "!" in marks, inherits)


def _split_top(text: str, limit: int) -> list[str]:
    """Split on commas outside (), [] and {}, at most `limit` times."""
    parts: list[str] = []
    depth = 0
    start = 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0 and len(parts) < limit:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _application(text: str) -> tuple[str, tuple[str, ...]]:
    """`Goto(ctx,${EXTEN},1)` → ("Goto", ("ctx", "${EXTEN}", "1"))."""
    name, paren, rest = text.partition("(")
    if not paren:
        name, _, rest = text.partition(",")  # the old `App,args` form
        return name.strip(), tuple(_split_top(rest, limit=99)) if rest else ()
    inner = rest[: rest.rfind(")")] if ")" in rest else rest
    return name.strip(), tuple(_split_top(inner, limit=99)) if inner else ()
